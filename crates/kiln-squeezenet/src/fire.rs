//! The Fire module (squeeze 1×1, then parallel 1×1 and 3×3 expansions, concatenated) and
//! SqueezeNet's convolutions, initialised as torchvision initialises them.

use burn::{
    module::Module,
    nn::{
        Initializer, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
    },
    tensor::{Device, Tensor, activation::relu},
};
use kiln_core::trace;

/// A `k×k` convolution with bias, zero padding `padding`, initialised as torchvision's
/// SqueezeNet: `kaiming_uniform_` weights (PyTorch's defaults: gain √2, fan-in), zero bias.
pub(crate) fn conv(in_c: usize, out_c: usize, k: usize, stride: usize, padding: usize, device: &Device) -> Conv2d {
    let init = Initializer::KaimingUniform {
        gain: 2f64.sqrt(),
        fan_out_only: false,
    };
    let conv = Conv2dConfig::new([in_c, out_c], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
        .with_initializer(init)
        .init(device);
    with_zero_bias(conv, out_c, device)
}

/// The final 1×1 convolution of the classifier: weights drawn from N(0, 0.01²), zero bias
/// (torchvision initialises it apart from the others).
pub(crate) fn final_conv(in_c: usize, num_classes: usize, device: &Device) -> Conv2d {
    let conv = Conv2dConfig::new([in_c, num_classes], [1, 1])
        .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 })
        .init(device);
    with_zero_bias(conv, num_classes, device)
}

fn with_zero_bias(mut conv: Conv2d, out_c: usize, device: &Device) -> Conv2d {
    conv.bias = Some(Initializer::Zeros.init([out_c], device));
    conv
}

/// SqueezeNet's Fire module (torchvision's `Fire(inplanes, squeeze_planes, expand1x1_planes,
/// expand3x3_planes)`, same field names): a 1×1 "squeeze" to few channels, ReLU, then a 1×1 and a
/// 3×3 (padding 1) "expand" side by side, each followed by ReLU, concatenated on channels.
#[derive(Module, Debug)]
pub struct Fire {
    /// 1×1, `in → squeeze`.
    pub squeeze: Conv2d,
    /// 1×1, `squeeze → expand1x1`.
    pub expand1x1: Conv2d,
    /// 3×3 with padding 1, `squeeze → expand3x3`.
    pub expand3x3: Conv2d,
}

impl Fire {
    /// torchvision's `Fire(in_c, squeeze, expand1x1, expand3x3)`.
    pub fn new(in_c: usize, squeeze: usize, expand1x1: usize, expand3x3: usize, device: &Device) -> Self {
        Self {
            squeeze: conv(in_c, squeeze, 1, 1, 0, device),
            expand1x1: conv(squeeze, expand1x1, 1, 1, 0, device),
            expand3x3: conv(squeeze, expand3x3, 3, 1, 1, device),
        }
    }

    /// Output channels: `expand1x1 + expand3x3`.
    pub fn out_channels(&self) -> usize {
        self.expand1x1.weight.dims()[0] + self.expand3x3.weight.dims()[0]
    }

    /// # Shapes
    /// `[b, in, h, w]` → `[b, expand1x1 + expand3x3, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let s = relu(trace::conv2d("squeeze", &self.squeeze, x)); // [b, squeeze, h, w]
        let mut paths = trace::branches();
        let e1 = paths.run(|| relu(trace::conv2d("expand1x1", &self.expand1x1, s.clone())));
        let e3 = paths.run(|| relu(trace::conv2d("expand3x3", &self.expand3x3, s)));
        paths.join();
        Tensor::cat(vec![e1, e3], 1)
    }
}
