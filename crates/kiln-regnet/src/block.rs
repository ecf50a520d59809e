//! RegNet's residual bottleneck block (torchvision's `ResBottleneckBlock` with its
//! `BottleneckTransform`), its stages, and torchvision's RegNet initialisation.

use crate::params::StageParams;
use burn::{
    module::{Module, Param},
    nn::Initializer,
    tensor::{Device, Tensor},
};
use kiln_core::{
    Activation, ConvBnAct, ConvBnActConfig, Init,
    layers::{SqueezeExcitation, SqueezeExcitationConfig},
    trace,
};

/// A convolution weight `[out, in / groups, kh, kw]` drawn as torchvision's RegNet draws every
/// `Conv2d` weight: normal, mean 0, standard deviation `√(2 / (kh · kw · out))`. The fan-out is
/// PyTorch's `kh · kw · out` also for grouped convolutions (Burn's `Conv2d` would divide it by
/// the groups).
pub(crate) fn fan_out_normal(shape: [usize; 4], device: &Device) -> Param<Tensor<4>> {
    let [out_c, in_per_group, kh, kw] = shape;
    Initializer::KaimingNormal {
        gain: 2f64.sqrt(),
        fan_out_only: true,
    }
    .init_with(shape, Some(in_per_group * kh * kw), Some(out_c * kh * kw), device)
}

/// torchvision's `Conv2dNormActivation`: a bias-free `k×k` convolution with padding `(k - 1) / 2`,
/// BatchNorm (eps 1e-5, momentum 0.1) and, when `relu`, a ReLU.
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
        .with_activation(relu.then_some(Activation::Relu))
        .with_init(Init::HeFanOut)
        .init(device);
    if groups > 1 {
        block.conv.weight = fan_out_normal([out_c, in_c / groups, k, k], device);
    }
    block
}

/// `block` forward, traced under torchvision's names: the convolution as `0`, the BatchNorm as
/// `1` (positions in the `Conv2dNormActivation` `Sequential`).
///
/// # Shapes
/// `[b, in, h, w]` → `[b, out, ⌈h / stride⌉, ⌈w / stride⌉]`
pub(crate) fn run_conv_bn(block: &ConvBnAct, x: Tensor<4>) -> Tensor<4> {
    let x = trace::conv2d("0", &block.conv, x);
    let x = match &block.bn {
        Some(bn) => trace::batch_norm("1", bn, x),
        None => x,
    };
    match block.activation {
        Some(a) => a.forward(x),
        None => x,
    }
}

/// torchvision's `BottleneckTransform`: 1×1 to the bottleneck width `w_b`, 3×3 grouped
/// convolution (groups `w_b / group_width`) carrying the stride, squeeze-and-excitation
/// (RegNet Y), 1×1 to the output width without activation.
#[derive(Module, Debug)]
pub struct BottleneckTransform {
    /// `f.a` (+ ReLU): 1×1, `width_in → w_b`.
    pub a: ConvBnAct,
    /// `f.b` (+ ReLU): 3×3 grouped, `w_b → w_b`, stride 1 or 2.
    pub b: ConvBnAct,
    /// `f.se`: squeeze-and-excitation over `w_b` channels, squeezed to
    /// `round(se_ratio · width_in)` (ReLU, sigmoid gate).
    pub se: Option<SqueezeExcitation>,
    /// `f.c`: 1×1, `w_b → width_out`, no activation.
    pub c: ConvBnAct,
}

impl BottleneckTransform {
    /// # Shapes
    /// `[b, width_in, h, w]` → `[b, width_out, ⌈h / stride⌉, ⌈w / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = trace::scope("a", || run_conv_bn(&self.a, x)); // [b, w_b, h, w]
        let mut x = trace::scope("b", || run_conv_bn(&self.b, x)); // [b, w_b, h/s, w/s]
        if let Some(se) = &self.se {
            x = trace::scope("se", || se.forward(x));
        }
        trace::scope("c", || run_conv_bn(&self.c, x)) // [b, width_out, h/s, w/s]
    }
}

/// torchvision's `ResBottleneckBlock`: `relu(shortcut(x) + f(x))`, the shortcut a 1×1
/// convolution + BatchNorm (`proj`) when the width or the resolution changes, else the input.
#[derive(Module, Debug)]
pub struct ResBottleneckBlock {
    /// `proj`: 1×1 `width_in → width_out` with the block's stride, BatchNorm; only where
    /// `width_in ≠ width_out` or stride ≠ 1.
    pub proj: Option<ConvBnAct>,
    /// `f`: the bottleneck transform.
    pub f: BottleneckTransform,
}

impl ResBottleneckBlock {
    /// The block from `width_in` to `width_out` channels, as torchvision's constructor:
    /// bottleneck width `w_b = round(width_out · bottleneck_multiplier)`, groups
    /// `w_b / group_width` (integer division), squeeze width `round(se_ratio · width_in)` when
    /// `se_ratio` is set and non-zero (Python's `round`, half to even).
    ///
    /// # Panics
    /// When `group_width` is 0 or the groups do not divide `w_b` (PyTorch's `Conv2d` check).
    pub fn new(
        width_in: usize,
        width_out: usize,
        stride: usize,
        group_width: usize,
        bottleneck_multiplier: f64,
        se_ratio: Option<f64>,
        device: &Device,
    ) -> Self {
        let w_b = (width_out as f64 * bottleneck_multiplier).round_ties_even() as usize;
        let groups = w_b / group_width;
        let se = se_ratio.filter(|&r| r != 0.0).map(|r| {
            let squeeze = (r * width_in as f64).round_ties_even() as usize;
            let mut se = SqueezeExcitationConfig::new(w_b, squeeze)
                .with_activation(Activation::Relu)
                .with_scale_activation(Activation::Sigmoid)
                .init(device);
            // torchvision's RegNet draws these 1×1 convolutions' weights as all others (their
            // biases keep PyTorch's default, which Burn's matches).
            se.fc1.weight = fan_out_normal([squeeze, w_b, 1, 1], device);
            se.fc2.weight = fan_out_normal([w_b, squeeze, 1, 1], device);
            se
        });
        Self {
            proj: (width_in != width_out || stride != 1)
                .then(|| conv_bn(width_in, width_out, 1, stride, 1, false, device)),
            f: BottleneckTransform {
                a: conv_bn(width_in, w_b, 1, 1, 1, true, device),
                b: conv_bn(w_b, w_b, 3, stride, groups, true, device),
                se,
                c: conv_bn(w_b, width_out, 1, 1, 1, false, device),
            },
        }
    }

    /// # Shapes
    /// `[b, width_in, h, w]` → `[b, width_out, ⌈h / stride⌉, ⌈w / stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut paths = trace::branches();
        // torchvision evaluates `self.proj(x) + self.f(x)`: the shortcut first.
        let shortcut = paths.run(|| match &self.proj {
            Some(proj) => trace::scope("proj", || run_conv_bn(proj, x.clone())),
            None => x.clone(),
        });
        let out = paths.run(|| trace::scope("f", || self.f.forward(x)));
        paths.join();
        Activation::Relu.forward(shortcut + out)
    }
}

/// torchvision's `AnyStage`: `stage.depth` blocks of width `stage.width`; the first takes
/// `width_in` channels and carries the stride.
pub fn build_stage(
    width_in: usize,
    stage: &StageParams,
    se_ratio: Option<f64>,
    device: &Device,
) -> Vec<ResBottleneckBlock> {
    (0..stage.depth)
        .map(|i| {
            let (w_in, stride) = if i == 0 {
                (width_in, stage.stride)
            } else {
                (stage.width, 1)
            };
            ResBottleneckBlock::new(
                w_in,
                stage.width,
                stride,
                stage.group_width,
                stage.bottleneck_multiplier,
                se_ratio,
                device,
            )
        })
        .collect()
}

/// The blocks of stage `number` (1-based, as torchvision numbers them) in order, traced as
/// `block{number}.block{number}-{i}`.
///
/// # Shapes
/// `[b, width_in, h, w]` → `[b, width, ⌈h / stride⌉, ⌈w / stride⌉]`
pub(crate) fn run_stage(number: usize, blocks: &[ResBottleneckBlock], x: Tensor<4>) -> Tensor<4> {
    trace::scope(&format!("block{number}"), || {
        blocks.iter().enumerate().fold(x, |x, (i, b)| {
            trace::scope(&format!("block{number}-{i}"), || b.forward(x))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::count_params;

    /// `regnet_y_400mf`'s `block2-0` (48 → 104, stride 2, group width 8, SE 0.25) and `block2-1`
    /// (104 → 104): shapes of torchvision's weights.
    #[test]
    fn y_block_shapes_as_torchvision() {
        let device = Device::flex();
        let first = ResBottleneckBlock::new(48, 104, 2, 8, 1.0, Some(0.25), &device);
        let proj = first.proj.as_ref().expect("width changes");
        assert_eq!(proj.conv.weight.dims(), [104, 48, 1, 1]);
        assert_eq!(proj.conv.stride, [2, 2]);
        assert_eq!(first.f.a.conv.weight.dims(), [104, 48, 1, 1]);
        assert_eq!(first.f.b.conv.weight.dims(), [104, 8, 3, 3]);
        assert_eq!(first.f.b.conv.stride, [2, 2]);
        let se = first.f.se.as_ref().expect("RegNet Y");
        assert_eq!(se.fc1.weight.dims(), [12, 104, 1, 1]);
        assert_eq!(se.fc2.weight.dims(), [104, 12, 1, 1]);
        assert_eq!(first.f.c.conv.weight.dims(), [104, 104, 1, 1]);
        let x = Tensor::<4>::ones([1, 48, 9, 9], &device);
        assert_eq!(first.forward(x).dims(), [1, 104, 5, 5]);

        let second = ResBottleneckBlock::new(104, 104, 1, 8, 1.0, Some(0.25), &device);
        assert!(second.proj.is_none());
        assert_eq!(
            second.f.se.as_ref().map(|se| se.fc1.weight.dims()),
            Some([26, 104, 1, 1])
        );
        // a, b (13 groups of 8), se (26 with bias, 104 with bias), c, three BatchNorms.
        let expected = 104 * 104 + 104 * 8 * 9 + (26 * 104 + 26) + (104 * 26 + 104) + 104 * 104 + 3 * 2 * 104;
        assert_eq!(count_params(&second), expected);
    }

    /// `regnet_x_8gf`'s first block: group width capped at 80, so one group of 80.
    #[test]
    fn x_block_without_se() {
        let device = Device::flex();
        let block = ResBottleneckBlock::new(32, 80, 2, 80, 1.0, None, &device);
        assert!(block.f.se.is_none() && block.proj.is_some());
        assert_eq!(block.f.b.conv.weight.dims(), [80, 80, 3, 3]);
        // se_ratio 0 is "no SE", as torchvision's `if se_ratio:`.
        let block = ResBottleneckBlock::new(32, 80, 1, 80, 1.0, Some(0.0), &device);
        assert!(block.f.se.is_none());
    }
}
