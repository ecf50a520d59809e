//! Squeeze-and-excitation (Hu et al., 2018), torchvision's `ops.SqueezeExcitation`.

use crate::{Activation, trace};
use burn::{
    config::Config,
    module::Module,
    nn::conv::{Conv2d, Conv2dConfig},
    tensor::{Device, Tensor, module::adaptive_avg_pool2d},
};

/// Configuration of a [`SqueezeExcitation`].
#[derive(Config, Debug)]
pub struct SqueezeExcitationConfig {
    /// Channels of the gated tensor.
    pub channels: usize,
    /// Channels of the bottleneck between `fc1` and `fc2`.
    pub squeeze_channels: usize,
    /// After `fc1`: ReLU (MobileNet V3), SiLU (EfficientNet).
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// The gate: sigmoid (EfficientNet), hard-sigmoid (MobileNet V3).
    #[config(default = "Activation::Sigmoid")]
    pub scale_activation: Activation,
}

/// Channel attention: global average pooling, `fc1` (1×1 convolution with bias) to
/// `squeeze_channels`, activation, `fc2` back to `channels`, gate; the input scaled by the gate.
/// Field names are torchvision's (`fc1`, `fc2`).
///
/// The pooled context reaches every output position, but the summary's receptive field follows
/// the convolution path only (the gate is one number per channel), as receptive fields of SE
/// networks are usually quoted.
#[derive(Module, Debug)]
pub struct SqueezeExcitation {
    /// `[squeeze, channels, 1, 1]` with bias.
    pub fc1: Conv2d,
    /// `[channels, squeeze, 1, 1]` with bias.
    pub fc2: Conv2d,
    /// After `fc1`.
    #[module(skip)]
    pub activation: Activation,
    /// The gate.
    #[module(skip)]
    pub scale_activation: Activation,
}

impl SqueezeExcitationConfig {
    /// Builds the block on `device`.
    pub fn init(&self, device: &Device) -> SqueezeExcitation {
        SqueezeExcitation {
            fc1: Conv2dConfig::new([self.channels, self.squeeze_channels], [1, 1]).init(device),
            fc2: Conv2dConfig::new([self.squeeze_channels, self.channels], [1, 1]).init(device),
            activation: self.activation,
            scale_activation: self.scale_activation,
        }
    }
}

impl SqueezeExcitation {
    /// # Shapes
    /// `[b, c, h, w]` → `[b, c, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let scale = adaptive_avg_pool2d(x.clone(), [1, 1]); // [b, c, 1, 1]
        let scale = self.activation.forward(trace::conv2d("fc1", &self.fc1, scale));
        let scale = self.scale_activation.forward(trace::conv2d("fc2", &self.fc2, scale));
        x * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// One channel pair by hand: mean 2 → fc1 (w 0.5, b 0) → 1 → ReLU → fc2 (w 1, b -1) → 0 →
    /// sigmoid 0.5: the input halved.
    #[test]
    fn gates_by_the_pooled_mean() {
        let device = Device::flex();
        let mut se = SqueezeExcitationConfig::new(1, 1).init(&device);
        let set = |c: &Conv2d, w: f32, b: f32| {
            let mut c = c.clone();
            c.weight = c
                .weight
                .map(|_| Tensor::from_data(TensorData::new(vec![w], [1, 1, 1, 1]), &device));
            c.bias = c
                .bias
                .map(|p| p.map(|_| Tensor::from_data(TensorData::new(vec![b], [1]), &device)));
            c
        };
        se.fc1 = set(&se.fc1, 0.5, 0.0);
        se.fc2 = set(&se.fc2, 1.0, -1.0);
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0, 3.0, 1.0, 3.0], [1, 1, 2, 2]), &device);
        let y: Vec<f32> = se.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, [0.5, 1.5, 0.5, 1.5]);
    }

    /// Its 1×1 convolutions are counted in the summary and leave the receptive field as it was.
    #[test]
    fn traced_without_widening_the_receptive_field() {
        let device = Device::flex();
        let se = SqueezeExcitationConfig::new(8, 2).init(&device);
        let x = Tensor::<4>::zeros([1, 8, 5, 5], &device);
        let (_, records) = trace::collect(|| se.forward(x));
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].macs, 8 * 2);
        assert_eq!(records[1].macs, 2 * 8);
        assert_eq!(records[1].receptive_field, Some([1, 1]));
    }
}
