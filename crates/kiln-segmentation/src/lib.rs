//! Semantic segmentation: an encoder-decoder whose upsampling is chosen among nearest
//! neighbour, max unpooling with the encoder's pooling indices (SegNet) and transposed
//! convolution (learnable), with optional skip connections (U-Net, FCN).
//!
//! - [`Segmenter`] / [`SegmenterConfig`]: the network over any [`kiln_core::Encoder`];
//!   [`SegArch`] names the three classic designs.
//! - [`max_unpool2d`]: the unpooling operation Burn lacks (a differentiable scatter).
//! - [`pixel_cross_entropy`], [`dice_loss`]: the training losses.
//!
//! Metrics (pixel accuracy, mean IoU) are in `kiln_train::dense`.

mod loss;
mod model;
mod unpool;

pub use loss::{dice_loss, one_hot_map, pixel_cross_entropy};
pub use model::{DecoderStage, SegArch, Segmenter, SegmenterConfig, Skip, Upsample};
pub use unpool::max_unpool2d;

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor};
    use kiln_core::{SmallEncoderConfig};

    /// Every architecture × upsampling that is valid returns logits at the input resolution,
    /// also for sizes that are not multiples of the total reduction.
    #[test]
    fn output_is_at_input_resolution() {
        let device = Device::flex();
        for arch in SegArch::ALL {
            for up in Upsample::ALL {
                let encoder = SmallEncoderConfig::new(1).with_widths(vec![4, 8, 8]).init(&device);
                let model = SegmenterConfig::new(arch, 5).with_upsample(up).init(encoder, &device).unwrap();
                for (h, w) in [(16, 16), (20, 12)] {
                    let y = model.forward(Tensor::<4>::ones([2, 1, h, w], &device));
                    assert_eq!(y.dims(), [2, 5, h, w], "{arch:?} {up:?} {h}×{w}");
                }
            }
        }
    }
}
