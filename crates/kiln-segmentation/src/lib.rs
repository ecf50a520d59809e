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
    use kiln_core::SmallEncoderConfig;

    /// Every architecture × upsampling that is valid returns logits at the input resolution,
    /// also for sizes that are not multiples of the total reduction.
    #[test]
    fn output_is_at_input_resolution() {
        let device = Device::flex();
        for arch in SegArch::ALL {
            for up in Upsample::ALL {
                let encoder = SmallEncoderConfig::new(1).with_widths(vec![4, 8, 8]).init(&device);
                let model = SegmenterConfig::new(arch, 5)
                    .with_upsample(up)
                    .init(encoder, &device)
                    .unwrap();
                for (h, w) in [(16, 16), (20, 12)] {
                    let y = model.forward(Tensor::<4>::ones([2, 1, h, w], &device));
                    assert_eq!(y.dims(), [2, 5, h, w], "{arch:?} {up:?} {h}×{w}");
                }
            }
        }
    }
}

#[cfg(test)]
mod interpolate_gradient {
    use burn::tensor::{
        Device, Tensor, TensorData,
        module::interpolate,
        ops::{InterpolateMode, InterpolateOptions},
    };

    /// Nearest upsampling's backward pass sums each output gradient into its source pixel
    /// (checked against the forward mapping), so a decoder that upsamples this way trains its
    /// deep stages.
    #[test]
    fn nearest_upsampling_gradient_reaches_the_source() {
        let device = Device::flex();
        let ad = device.clone().autodiff();
        // Batch 2, 3 channels, 5×4 → 10×8; every input value distinct so that the forward
        // output says which input each output copies.
        let n_in = 2 * 3 * 5 * 4;
        let x = Tensor::<4>::from_data(
            TensorData::new((0..n_in).map(|v| v as f32).collect::<Vec<_>>(), [2, 3, 5, 4]),
            &ad,
        )
        .require_grad();
        let n_out = 2 * 3 * 10 * 8;
        let w: Vec<f32> = (0..n_out).map(|i| 1.0 + (i % 17) as f32 * 0.1).collect();
        let wt = Tensor::<4>::from_data(TensorData::new(w.clone(), [2, 3, 10, 8]), &ad);
        let y = interpolate(
            x.clone(),
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([10, 8]),
        );
        let yv = y.clone().to_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let grads = (y * wt).sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .to_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        // Expected: for each source pixel, the sum of w over the outputs that copy it.
        let mut expected = vec![0f32; n_in];
        for (o, v) in yv.iter().enumerate() {
            expected[*v as usize] += w[o];
        }
        for (a, e) in g.iter().zip(expected.iter().copied()) {
            assert!((a - e).abs() < 1e-4, "gradient {g:?} vs {expected:?}");
        }
    }
}
