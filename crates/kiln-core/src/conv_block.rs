//! Convolution → optional BatchNorm → activation.

use crate::{Activation, Init};
use burn::{
    config::Config,
    module::Module,
    nn::{
        BatchNorm, BatchNormConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
    },
    tensor::{Device, Tensor},
};

/// Configuration of a [`ConvBnAct`] block.
#[derive(Config, Debug)]
pub struct ConvBnActConfig {
    /// `[in_channels, out_channels]`.
    pub channels: [usize; 2],
    /// `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// `[sh, sw]`.
    #[config(default = "[1, 1]")]
    pub stride: [usize; 2],
    /// `[ph, pw]`, symmetric zero padding.
    #[config(default = "[0, 0]")]
    pub padding: [usize; 2],
    /// Insert BatchNorm between the convolution and the activation (the convolution then has no
    /// bias, as BatchNorm's beta replaces it).
    #[config(default = true)]
    pub batch_norm: bool,
    /// BatchNorm epsilon (torchvision's Inception uses 1e-3).
    #[config(default = 1e-5)]
    pub eps: f64,
    /// The non-linearity; `None` for a linear block.
    #[config(default = "Some(Activation::Relu)")]
    pub activation: Option<Activation>,
    /// Weight initialisation.
    #[config(default = "Init::Default")]
    pub init: Init,
}

/// Convolution, optional BatchNorm, optional activation. Field names follow torchvision's
/// `BasicConv2d` (`conv`, `bn`) so that checkpoints map onto it by name.
#[derive(Module, Debug)]
pub struct ConvBnAct {
    /// The convolution; weight `[out, in, kh, kw]`.
    pub conv: Conv2d,
    /// BatchNorm over the output channels, when configured.
    pub bn: Option<BatchNorm>,
    /// The activation, when configured.
    #[module(skip)]
    pub activation: Option<Activation>,
}

impl ConvBnActConfig {
    /// Builds the block on `device`.
    pub fn init(&self, device: &Device) -> ConvBnAct {
        let [ph, pw] = self.padding;
        let conv = Conv2dConfig::new(self.channels, self.kernel_size)
            .with_stride(self.stride)
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .with_bias(!self.batch_norm)
            .with_initializer(self.init.initializer(self.activation.unwrap_or(Activation::Sigmoid)))
            .init(device);
        let bn = self.batch_norm.then(|| {
            BatchNormConfig::new(self.channels[1])
                .with_epsilon(self.eps)
                .init(device)
        });
        ConvBnAct {
            conv,
            bn,
            activation: self.activation,
        }
    }
}

impl ConvBnAct {
    /// # Shapes
    /// - input `[batch, in, h, w]`
    /// - output `[batch, out, (h + 2ph - kh) / sh + 1, (w + 2pw - kw) / sw + 1]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = crate::trace::conv2d("conv", &self.conv, x);
        let x = match &self.bn {
            Some(bn) => crate::trace::batch_norm("bn", bn, x),
            None => x,
        };
        match self.activation {
            Some(a) => a.forward(x),
            None => x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace;

    /// The course's formula: N stacked 3×3 stride-1 convolutions see 2N + 1 pixels.
    #[test]
    fn stacked_3x3_receptive_field_is_2n_plus_1() {
        let device = Device::flex();
        let layers: Vec<ConvBnAct> = (0..6)
            .map(|_| ConvBnActConfig::new([2, 2], [3, 3]).with_padding([1, 1]).init(&device))
            .collect();
        let x = Tensor::<4>::zeros([1, 2, 32, 32], &device);
        let (y, records) = trace::collect(|| layers.iter().fold(x, |x, l| l.forward(x)));
        assert_eq!(y.dims(), [1, 2, 32, 32]);
        let convs: Vec<_> = records.iter().filter(|r| r.kind.starts_with("Conv2d")).collect();
        for (n, r) in convs.iter().enumerate() {
            let n = n + 1;
            assert_eq!(r.receptive_field, Some([2 * n + 1, 2 * n + 1]), "after {n} layers");
            assert_eq!(r.macs, (2 * 32 * 32 * 2 * 9) as u64);
        }
    }

    /// Dilation widens the kernel to d(k - 1) + 1 and stride multiplies the jump.
    #[test]
    fn strided_and_dilated_receptive_fields() {
        let device = Device::flex();
        let strided = ConvBnActConfig::new([1, 1], [3, 3]).with_stride([2, 2]).init(&device);
        let mut dilated = ConvBnActConfig::new([1, 1], [3, 3]).init(&device);
        dilated.conv.dilation = [2, 2];
        let x = Tensor::<4>::zeros([1, 1, 32, 32], &device);
        let (_, records) = trace::collect(|| dilated.forward(strided.forward(x)));
        // 3; then a 5-wide kernel at jump 2: 3 + 4·2 = 11.
        let rf: Vec<_> = records
            .iter()
            .filter(|r| r.kind.starts_with("Conv2d"))
            .map(|r| r.receptive_field)
            .collect();
        assert_eq!(rf, [Some([3, 3]), Some([11, 11])]);
    }
}
