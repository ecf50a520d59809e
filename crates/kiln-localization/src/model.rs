//! The localizer network.

use crate::cxcywh_to_xyxy;
use burn::{
    module::Module,
    nn::{Dropout, DropoutConfig, Linear, LinearConfig},
    tensor::{Device, Tensor, activation, module::adaptive_avg_pool2d},
};
use kiln_core::Encoder;
use serde::{Deserialize, Serialize};

/// Head settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalizerConfig {
    /// Object classes.
    pub num_classes: usize,
    /// The deepest features are average-pooled to `grid × grid` cells and flattened, so that the
    /// head still knows *where* things are (a global pool would discard it).
    pub grid: usize,
    /// Width of the shared fully connected layer.
    pub hidden: usize,
    /// Dropout before the heads.
    pub dropout: f64,
}

impl LocalizerConfig {
    /// A 4×4 grid, 256 hidden units, dropout 0.2.
    pub fn new(num_classes: usize) -> Self {
        Self {
            num_classes,
            grid: 4,
            hidden: 256,
            dropout: 0.2,
        }
    }

    /// Builds the heads on top of `encoder`.
    pub fn init<E: Encoder>(&self, encoder: E, device: &Device) -> Localizer<E> {
        let channels = encoder.stages().last().map(|s| s.channels).unwrap_or(1);
        let flat = channels * self.grid * self.grid;
        Localizer {
            encoder,
            fc: LinearConfig::new(flat, self.hidden).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            class_head: LinearConfig::new(self.hidden, self.num_classes).init(device),
            box_head: LinearConfig::new(self.hidden, 4).init(device),
            grid: self.grid,
            num_classes: self.num_classes,
        }
    }
}

/// What a localizer predicts.
pub struct LocalizerOutput {
    /// `[batch, num_classes]`.
    pub class_logits: Tensor<2>,
    /// `[batch, 4]`: `[cx, cy, w, h]` in 0..1 of the image size.
    pub boxes: Tensor<2>,
}

impl LocalizerOutput {
    /// The boxes as `[x0, y0, x1, y1]`, normalised. `[batch, 4]`.
    pub fn boxes_xyxy(&self) -> Tensor<2> {
        cxcywh_to_xyxy(self.boxes.clone())
    }
}

/// Encoder + shared layer + class head + box head.
#[derive(Module, Debug)]
pub struct Localizer<E> {
    /// The encoder.
    pub encoder: E,
    /// Shared fully connected layer over the pooled grid.
    pub fc: Linear,
    /// Dropout (training only).
    pub dropout: Dropout,
    /// Class logits.
    pub class_head: Linear,
    /// Box regression.
    pub box_head: Linear,
    /// Pooling grid side.
    pub grid: usize,
    /// Classes.
    pub num_classes: usize,
}

impl<E: Encoder> Localizer<E> {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns class logits `[batch, num_classes]` and boxes `[batch, 4]`
    pub fn forward(&self, images: Tensor<4>) -> LocalizerOutput {
        let mut features = self.encoder.encode(images).features;
        let x = features.pop().expect("an encoder returns at least one stage");
        let x = adaptive_avg_pool2d(x, [self.grid, self.grid]); // [b, c, g, g]
        let x: Tensor<2> = x.flatten(1, 3); // [b, c·g·g]
        let x = self.dropout.forward(activation::relu(self.fc.forward(x))); // [b, hidden]
        LocalizerOutput {
            class_logits: self.class_head.forward(x.clone()),
            boxes: activation::sigmoid(self.box_head.forward(x)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::SmallEncoderConfig;

    #[test]
    fn shapes() {
        let device = Device::flex();
        let encoder = SmallEncoderConfig::new(1).with_widths(vec![4, 8]).init(&device);
        let model = LocalizerConfig::new(10).init(encoder, &device);
        let out = model.forward(Tensor::<4>::ones([3, 1, 32, 32], &device));
        assert_eq!(out.class_logits.dims(), [3, 10]);
        assert_eq!(out.boxes.dims(), [3, 4]);
        let b = out.boxes.to_data().try_to_vec::<f32>().unwrap();
        assert!(b.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
