//! EfficientNet V2's Fused-MBConv block.

use burn::{
    config::Config,
    module::Module,
    tensor::{Device, Tensor},
};
use kiln_core::{Activation, ConvBnAct, ConvBnActConfig, Init, layers::StochasticDepth, trace};

/// Configuration of a [`FusedMbConv`].
#[derive(Config, Debug)]
pub struct FusedMbConvConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Expanded channels (equal to the input's: a single k×k convolution to the output).
    pub expanded_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel of the fused convolution.
    pub kernel: usize,
    /// Its stride.
    pub stride: usize,
    /// BatchNorm epsilon.
    #[config(default = 1e-3)]
    pub eps: f64,
    /// BatchNorm momentum.
    #[config(default = 0.1)]
    pub momentum: f64,
    /// Stochastic-depth probability of the residual branch.
    #[config(default = 0.0)]
    pub drop_path: f64,
}

/// k×k convolution to the expanded channels (BatchNorm, SiLU), then a 1×1 projection (BatchNorm);
/// with expansion 1, the k×k convolution goes straight to the output (BatchNorm, SiLU). The input
/// is added when stride is 1 and the channels agree.
#[derive(Module, Debug)]
pub struct FusedMbConv {
    /// The k×k convolution (torchvision's `block.0`).
    pub fused: ConvBnAct,
    /// The 1×1 projection (`block.1`), absent at expansion 1.
    pub project: Option<ConvBnAct>,
    /// Drop-path of the residual branch.
    pub stochastic_depth: StochasticDepth,
    /// Whether the input is added to the output.
    #[module(skip)]
    pub residual: bool,
}

impl FusedMbConvConfig {
    /// Builds the block on `device`.
    pub fn init(&self, device: &Device) -> FusedMbConv {
        let conv = |channels, kernel: usize, stride: usize, activation| {
            ConvBnActConfig::new(channels, [kernel, kernel])
                .with_stride([stride, stride])
                .with_same_padding(true)
                .with_eps(self.eps)
                .with_momentum(self.momentum)
                .with_activation(activation)
                .with_init(Init::HeFanOut)
                .init(device)
        };
        let e = self.expanded_channels;
        let (fused, project) = if e != self.in_channels {
            (
                conv([self.in_channels, e], self.kernel, self.stride, Some(Activation::Silu)),
                Some(conv([e, self.out_channels], 1, 1, None)),
            )
        } else {
            (
                conv(
                    [self.in_channels, self.out_channels],
                    self.kernel,
                    self.stride,
                    Some(Activation::Silu),
                ),
                None,
            )
        };
        FusedMbConv {
            fused,
            project,
            stochastic_depth: StochasticDepth::new(self.drop_path),
            residual: self.stride == 1 && self.in_channels == self.out_channels,
        }
    }
}

impl FusedMbConv {
    /// # Shapes
    /// `[b, in, h, w]` → `[b, out, ⌈h / stride⌉, ⌈w / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut paths = trace::branches();
        let y = paths.run(|| {
            let y = trace::scope("fused", || self.fused.forward(x.clone()));
            match &self.project {
                Some(p) => trace::scope("project", || p.forward(y)),
                None => y,
            }
        });
        if !self.residual {
            return y;
        }
        paths.run(|| ());
        paths.join();
        self.stochastic_depth.forward(y) + x
    }
}
