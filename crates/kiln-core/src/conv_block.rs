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
            .with_initializer(
                self.init
                    .initializer(self.activation.unwrap_or(Activation::Sigmoid)),
            )
            .init(device);
        let bn = self
            .batch_norm
            .then(|| BatchNormConfig::new(self.channels[1]).with_epsilon(self.eps).init(device));
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
        let x = self.conv.forward(x);
        let x = match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        };
        match self.activation {
            Some(a) => a.forward(x),
            None => x,
        }
    }
}
