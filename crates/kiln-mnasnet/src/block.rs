//! MNASNet's building blocks: convolution + BatchNorm (+ ReLU) with torchvision's initialisation
//! and BatchNorm momentum, and the inverted residual (`_InvertedResidual`).

use burn::{
    module::Module,
    nn::Initializer,
    tensor::{Device, Tensor},
};
use kiln_core::{Activation, ConvBnAct, ConvBnActConfig, Init, trace};

/// torchvision's `_BN_MOMENTUM`: the paper's TensorFlow decay 0.9997 in PyTorch's convention
/// (`running = (1 - m)·running + m·batch`), which Burn's BatchNorm shares.
pub const BN_MOMENTUM: f64 = 1.0 - 0.9997;

/// A bias-free `k×k` convolution with padding `k / 2`, BatchNorm (momentum [`BN_MOMENTUM`],
/// eps 1e-5) and, when `relu`, a ReLU: three consecutive entries of torchvision's `Sequential`s.
///
/// Weights are drawn as torchvision draws them (`kaiming_normal_(mode="fan_out")`, gain √2),
/// with PyTorch's fan-out `out · k²` also for grouped convolutions (Burn's `Conv2d` would use
/// `out / groups · k²`, a √groups larger spread for the depthwise layers).
pub(crate) fn conv_bn(
    in_c: usize,
    out_c: usize,
    k: usize,
    stride: usize,
    groups: usize,
    relu: bool,
    device: &Device,
) -> ConvBnAct {
    let mut block = ConvBnActConfig::new([in_c, out_c], [k, k])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_same_padding(true)
        .with_momentum(BN_MOMENTUM)
        .with_activation(relu.then_some(Activation::Relu))
        .with_init(Init::HeFanOut)
        .init(device);
    if groups > 1 {
        block.conv.weight = Initializer::KaimingNormal {
            gain: 2f64.sqrt(),
            fan_out_only: true,
        }
        .init_with(
            [out_c, in_c / groups, k, k],
            Some(in_c / groups * k * k),
            Some(out_c * k * k),
            device,
        );
    }
    block
}

/// `block` forward, traced under torchvision's names: the convolution as `conv`, the BatchNorm
/// as `bn` (positions in the enclosing `Sequential`, e.g. `"0"` and `"1"`).
///
/// # Shapes
/// `[b, in, h, w]` → `[b, out, ⌈h / stride⌉, ⌈w / stride⌉]`
pub(crate) fn run_conv_bn(block: &ConvBnAct, conv: &str, bn: &str, x: Tensor<4>) -> Tensor<4> {
    let x = trace::conv2d(conv, &block.conv, x);
    let x = match &block.bn {
        Some(norm) => trace::batch_norm(bn, norm, x),
        None => x,
    };
    match block.activation {
        Some(a) => a.forward(x),
        None => x,
    }
}

/// torchvision's `_InvertedResidual` (MobileNet V2's block without ReLU6): 1×1 expansion to
/// `in · expansion` channels, `k×k` depthwise convolution carrying the stride, linear 1×1
/// projection; the input is added when the shape is kept (`in == out`, stride 1).
///
/// torchvision holds the six layers in a `Sequential` `layers` (0 conv, 1 BN, 2 ReLU, 3 conv,
/// 4 BN, 5 ReLU, 6 conv, 7 BN); here they are named fields, and the key rules rename.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    /// `layers.0`, `layers.1` (+ ReLU): 1×1, `in → in · expansion`.
    pub expand: ConvBnAct,
    /// `layers.3`, `layers.4` (+ ReLU): `k×k` depthwise, stride 1 or 2.
    pub depthwise: ConvBnAct,
    /// `layers.6`, `layers.7`: 1×1, `in · expansion → out`, no activation.
    pub project: ConvBnAct,
    /// Whether the input is added to the output (`in == out` and stride 1).
    pub residual: bool,
}

impl InvertedResidual {
    /// The block taking `in_c` channels to `out_c`.
    ///
    /// # Panics
    /// When `stride` is not 1 or 2 or `kernel` not 3 or 5 (torchvision's checks).
    pub fn new(in_c: usize, out_c: usize, kernel: usize, stride: usize, expansion: usize, device: &Device) -> Self {
        assert!(
            stride == 1 || stride == 2,
            "stride should be 1 or 2 instead of {stride}"
        );
        assert!(
            kernel == 3 || kernel == 5,
            "kernel_size should be 3 or 5 instead of {kernel}"
        );
        let mid = in_c * expansion;
        Self {
            expand: conv_bn(in_c, mid, 1, 1, 1, true, device),
            depthwise: conv_bn(mid, mid, kernel, stride, mid, true, device),
            project: conv_bn(mid, out_c, 1, 1, 1, false, device),
            residual: in_c == out_c && stride == 1,
        }
    }

    fn body(&self, x: Tensor<4>) -> Tensor<4> {
        trace::scope("layers", || {
            let x = run_conv_bn(&self.expand, "0", "1", x); // [b, mid, h, w]
            let x = run_conv_bn(&self.depthwise, "3", "4", x); // [b, mid, h/s, w/s]
            run_conv_bn(&self.project, "6", "7", x) // [b, out, h/s, w/s]
        })
    }

    /// # Shapes
    /// `[b, in, h, w]` → `[b, out, ⌈h / stride⌉, ⌈w / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if !self.residual {
            return self.body(x);
        }
        let mut paths = trace::branches();
        let out = paths.run(|| self.body(x.clone()));
        let identity = paths.run(|| x);
        paths.join();
        out + identity
    }
}

/// One `_stack` of torchvision: `repeats` inverted residuals of one kernel size and expansion;
/// the first changes the channels and carries the stride, so it has no skip connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackSpec {
    /// Depthwise kernel size (3 or 5).
    pub kernel: usize,
    /// Stride of the first block (1 or 2).
    pub stride: usize,
    /// Expansion factor of the hidden channels.
    pub expansion: usize,
    /// Blocks in the stack.
    pub repeats: usize,
}

impl StackSpec {
    /// The stack from `in_c` to `out_c` channels.
    pub fn build(&self, in_c: usize, out_c: usize, device: &Device) -> Vec<InvertedResidual> {
        assert!(
            self.repeats >= 1,
            "repeats should be >= 1, instead got {}",
            self.repeats
        );
        (0..self.repeats)
            .map(|i| {
                let (c, s) = if i == 0 { (in_c, self.stride) } else { (out_c, 1) };
                InvertedResidual::new(c, out_c, self.kernel, s, self.expansion, device)
            })
            .collect()
    }
}

/// The blocks of a stack in order, each traced under its index.
///
/// # Shapes
/// `[b, in, h, w]` → `[b, out, ⌈h / stride⌉, ⌈w / stride⌉]`
pub(crate) fn run_stack(blocks: &[InvertedResidual], x: Tensor<4>) -> Tensor<4> {
    blocks
        .iter()
        .enumerate()
        .fold(x, |x, (i, b)| trace::scope(&i.to_string(), || b.forward(x)))
}
