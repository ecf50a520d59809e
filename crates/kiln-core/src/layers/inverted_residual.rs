//! The inverted residual block (MobileNet V2's, with V3's squeeze-and-excitation and
//! EfficientNet's stochastic depth: the "MBConv" block).

use super::{SqueezeExcitation, SqueezeExcitationConfig, StochasticDepth};
use crate::{Activation, ConvBnAct, ConvBnActConfig, Init, trace};
use burn::{
    config::Config,
    module::Module,
    tensor::{Device, Tensor},
};

/// Configuration of an [`InvertedResidual`].
#[derive(Config, Debug)]
pub struct InvertedResidualConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Channels of the depthwise stage (the 1×1 expansion is skipped when equal to the input's).
    pub expanded_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Depthwise kernel size (3 or 5).
    pub kernel: usize,
    /// Stride of the depthwise convolution (1 or 2).
    pub stride: usize,
    /// Dilation of the depthwise convolution (its stride is then 1, as torchvision's).
    #[config(default = 1)]
    pub dilation: usize,
    /// Activation after the expansion and the depthwise convolution.
    #[config(default = "Activation::Relu6")]
    pub activation: Activation,
    /// Squeeze-and-excitation after the depthwise convolution: `(squeeze channels, activation,
    /// gate)`.
    #[config(default = "None")]
    pub se: Option<(usize, Activation, Activation)>,
    /// BatchNorm epsilon.
    #[config(default = 1e-5)]
    pub eps: f64,
    /// BatchNorm momentum.
    #[config(default = 0.1)]
    pub momentum: f64,
    /// Stochastic-depth probability of the residual branch (EfficientNet).
    #[config(default = 0.0)]
    pub drop_path: f64,
}

/// 1×1 expansion (optional) → k×k depthwise → squeeze-and-excitation (optional) → 1×1 linear
/// projection, plus the input when stride is 1 and the channels agree (after stochastic depth,
/// when set).
///
/// torchvision holds these as a `Sequential` (`conv` in MobileNet V2, `block` in V3 and
/// EfficientNet); each family's key rules map its indices onto these fields.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    /// 1×1 convolution to the expanded channels, BatchNorm, activation.
    pub expand: Option<ConvBnAct>,
    /// k×k depthwise convolution (groups = channels), BatchNorm, activation.
    pub depthwise: ConvBnAct,
    /// Channel attention.
    pub se: Option<SqueezeExcitation>,
    /// 1×1 convolution to the output channels, BatchNorm, no activation.
    pub project: ConvBnAct,
    /// Drop-path of the residual branch.
    pub stochastic_depth: StochasticDepth,
    /// Whether the input is added to the output.
    #[module(skip)]
    pub residual: bool,
}

impl InvertedResidualConfig {
    fn conv(&self, channels: [usize; 2], kernel: usize, activation: Option<Activation>) -> ConvBnActConfig {
        ConvBnActConfig::new(channels, [kernel, kernel])
            .with_same_padding(true)
            .with_eps(self.eps)
            .with_momentum(self.momentum)
            .with_activation(activation)
            .with_init(Init::HeFanOut)
    }

    /// Builds the block on `device`.
    pub fn init(&self, device: &Device) -> InvertedResidual {
        let e = self.expanded_channels;
        let expand =
            (e != self.in_channels).then(|| self.conv([self.in_channels, e], 1, Some(self.activation)).init(device));
        let stride = if self.dilation > 1 { 1 } else { self.stride };
        let depthwise = self
            .conv([e, e], self.kernel, Some(self.activation))
            .with_groups(e)
            .with_stride([stride, stride])
            .with_dilation([self.dilation, self.dilation])
            .init(device);
        let se = self.se.map(|(squeeze, activation, gate)| {
            SqueezeExcitationConfig::new(e, squeeze)
                .with_activation(activation)
                .with_scale_activation(gate)
                .init(device)
        });
        InvertedResidual {
            expand,
            depthwise,
            se,
            project: self.conv([e, self.out_channels], 1, None).init(device),
            stochastic_depth: StochasticDepth::new(self.drop_path),
            residual: self.stride == 1 && self.in_channels == self.out_channels,
        }
    }
}

impl InvertedResidual {
    /// # Shapes
    /// `[b, in, h, w]` → `[b, out, ⌈h / stride⌉, ⌈w / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut paths = trace::branches();
        let y = paths.run(|| {
            let mut y = x.clone();
            if let Some(expand) = &self.expand {
                y = trace::scope("expand", || expand.forward(y));
            }
            y = trace::scope("depthwise", || self.depthwise.forward(y));
            if let Some(se) = &self.se {
                y = trace::scope("se", || se.forward(y));
            }
            trace::scope("project", || self.project.forward(y))
        });
        if !self.residual {
            return y;
        }
        paths.run(|| ());
        paths.join();
        self.stochastic_depth.forward(y) + x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count_params;

    /// MobileNet V2's block with t = 6 from 24 to 24 channels: 1×1 24→144, depthwise 3×3 over
    /// 144, 1×1 144→24, three BatchNorms; a residual.
    #[test]
    fn mobilenet_v2_block_parameters_and_shapes() {
        let device = Device::flex();
        let block = InvertedResidualConfig::new(24, 144, 24, 3, 1).init(&device);
        let expected = 24 * 144 + 144 * 9 + 144 * 24 + 2 * (144 + 144 + 24);
        assert_eq!(count_params(&block), expected);
        assert!(block.residual && block.expand.is_some() && block.se.is_none());
        let x = Tensor::<4>::ones([2, 24, 9, 9], &device);
        assert_eq!(block.forward(x).dims(), [2, 24, 9, 9]);

        let strided = InvertedResidualConfig::new(16, 16, 24, 5, 2)
            .with_se(Some((8, Activation::Relu, Activation::HardSigmoid)))
            .init(&device);
        assert!(!strided.residual && strided.expand.is_none() && strided.se.is_some());
        let x = Tensor::<4>::ones([1, 16, 9, 9], &device);
        assert_eq!(strided.forward(x).dims(), [1, 24, 5, 5]);
    }
}
