//! Residual blocks: BasicBlock (two 3×3) and Bottleneck (1×1, 3×3, 1×1 with expansion 4), built
//! in torchvision's style (V1.5, bias-free convolutions, BatchNorm epsilon 1e-5) or Keras's
//! ([`BlockStyle`]).

use burn::{
    module::{Module, ModuleDisplay},
    nn::{
        BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
    },
    tensor::{Device, Tensor, activation::relu},
};
use kiln_core::trace;

/// He/Kaiming normal initialisation with fan-out, as torchvision initialises ResNet convolutions.
pub(crate) fn kaiming_fan_out() -> Initializer {
    Initializer::KaimingNormal {
        gain: 2f64.sqrt(),
        fan_out_only: true,
    }
}

/// A `k×k` convolution with "same" padding `k / 2`, with a bias when `bias` (Keras's ResNet)
/// and without (torchvision's).
pub(crate) fn conv(in_c: usize, out_c: usize, k: usize, stride: usize, bias: bool, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([in_c, out_c], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(bias)
        .with_initializer(kaiming_fan_out())
        .init(device)
}

/// The bottleneck's 3×3 convolution: "same" padding, a bias when `bias`, `groups` groups (1 for
/// ResNet, ResNeXt's cardinality).
fn grouped_conv3x3(c: usize, stride: usize, groups: usize, bias: bool, device: &Device) -> Conv2d {
    Conv2dConfig::new([c, c], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_groups(groups)
        .with_bias(bias)
        .with_initializer(kaiming_fan_out())
        .init(device)
}

/// BatchNorm over `c` channels with epsilon `eps` (torchvision 1e-5, Keras's ResNet 1.001e-5).
pub(crate) fn bn(c: usize, eps: f64, device: &Device) -> BatchNorm {
    BatchNormConfig::new(c).with_epsilon(eps).init(device)
}

/// The 1×1 projection of the shortcut when shape changes (torchvision's `downsample`
/// Sequential: index 0 is the convolution, 1 the BatchNorm).
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1×1 convolution with the block's stride.
    pub conv: Conv2d,
    /// BatchNorm.
    pub bn: BatchNorm,
}

impl Downsample {
    fn new(in_c: usize, out_c: usize, stride: usize, style: BlockStyle, device: &Device) -> Self {
        Self {
            conv: conv(in_c, out_c, 1, stride, style.conv_bias, device),
            bn: bn(out_c, style.bn_eps, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        trace::scope("downsample", || {
            let x = trace::conv2d("0", &self.conv, x);
            trace::batch_norm("1", &self.bn, x)
        })
    }
}

/// The inner width of a bottleneck: torchvision's `groups` and `width_per_group` (ResNeXt's
/// cardinality and group width; Wide ResNet's doubled width). `1 × 64` is plain ResNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Width {
    /// Groups of the 3×3 convolution.
    pub groups: usize,
    /// Channels per group at `planes = 64`.
    pub width_per_group: usize,
}

impl Width {
    /// Plain ResNet.
    pub const PLAIN: Width = Width {
        groups: 1,
        width_per_group: 64,
    };

    /// The 3×3 convolution's channels for `planes`: `planes · width_per_group / 64 · groups`.
    pub fn channels(self, planes: usize) -> usize {
        planes * self.width_per_group / 64 * self.groups
    }
}

/// How a block is built: its inner [`Width`] and the details in which torchvision's ResNet (V1.5)
/// and Keras's `keras.applications` ResNet (v1) differ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockStyle {
    /// The bottleneck's inner width (basic blocks have only [`Width::PLAIN`]).
    pub width: Width,
    /// The bottleneck's stride is on its first 1×1 convolution (Keras's ResNet v1, the original
    /// paper's) instead of its 3×3 (torchvision's V1.5). Basic blocks ignore it (their stride is
    /// on their first 3×3 either way).
    pub stride_in_1x1: bool,
    /// Every convolution of the block (the shortcut's too) has a bias (Keras's).
    pub conv_bias: bool,
    /// Epsilon of every BatchNorm of the block (torchvision 1e-5, Keras's ResNet 1.001e-5).
    pub bn_eps: f64,
}

impl BlockStyle {
    /// torchvision's plain ResNet: stride on the 3×3, no biases, epsilon 1e-5.
    pub const TORCHVISION: BlockStyle = BlockStyle {
        width: Width::PLAIN,
        stride_in_1x1: false,
        conv_bias: false,
        bn_eps: 1e-5,
    };

    /// Keras's `keras.applications` ResNet50/101/152 (ResNet v1): stride on the first 1×1,
    /// every convolution with a bias, epsilon 1.001e-5, plain width.
    pub const KERAS: BlockStyle = BlockStyle {
        width: Width::PLAIN,
        stride_in_1x1: true,
        conv_bias: true,
        bn_eps: 1.001e-5,
    };
}

impl From<Width> for BlockStyle {
    /// torchvision's style with this width.
    fn from(width: Width) -> Self {
        Self {
            width,
            ..Self::TORCHVISION
        }
    }
}

/// What `ResNet` needs from a block type.
pub trait ResidualBlock: Module + ModuleDisplay + Sized + 'static {
    /// Output channels per `planes` (1 for BasicBlock, 4 for Bottleneck).
    const EXPANSION: usize;
    /// The block taking `in_c` channels to `planes * EXPANSION`, striding by `stride`, with the
    /// inner `width` (basic blocks have only the plain one), in torchvision's style.
    fn new(in_c: usize, planes: usize, stride: usize, width: Width, device: &Device) -> Self {
        Self::new_styled(in_c, planes, stride, BlockStyle::from(width), device)
    }
    /// The block taking `in_c` channels to `planes * EXPANSION`, striding by `stride`, built in
    /// `style` (width, where the stride goes, biases, BatchNorm epsilon).
    fn new_styled(in_c: usize, planes: usize, stride: usize, style: BlockStyle, device: &Device) -> Self;
    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, planes·EXPANSION, h/stride, w/stride]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4>;
}

fn downsample_if_needed(
    in_c: usize,
    out_c: usize,
    stride: usize,
    style: BlockStyle,
    device: &Device,
) -> Option<Downsample> {
    (stride != 1 || in_c != out_c).then(|| Downsample::new(in_c, out_c, stride, style, device))
}

fn shortcut(downsample: &Option<Downsample>, x: Tensor<4>) -> Tensor<4> {
    match downsample {
        Some(d) => d.forward(x),
        None => x,
    }
}

/// Two 3×3 convolutions and an identity (or projected) shortcut: ResNet-18 and -34.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// 3×3, carries the stride.
    pub conv1: Conv2d,
    /// BatchNorm after conv1.
    pub bn1: BatchNorm,
    /// 3×3.
    pub conv2: Conv2d,
    /// BatchNorm after conv2.
    pub bn2: BatchNorm,
    /// Projection of the shortcut when the shape changes.
    pub downsample: Option<Downsample>,
}

impl ResidualBlock for BasicBlock {
    const EXPANSION: usize = 1;

    /// `style.stride_in_1x1` is ignored (the stride is on the first 3×3); biases and epsilon
    /// follow `style`.
    fn new_styled(in_c: usize, planes: usize, stride: usize, style: BlockStyle, device: &Device) -> Self {
        debug_assert_eq!(
            style.width,
            Width::PLAIN,
            "BasicBlock only supports groups=1 and base_width=64"
        );
        let (bias, eps) = (style.conv_bias, style.bn_eps);
        Self {
            conv1: conv(in_c, planes, 3, stride, bias, device),
            bn1: bn(planes, eps, device),
            conv2: conv(planes, planes, 3, 1, bias, device),
            bn2: bn(planes, eps, device),
            downsample: downsample_if_needed(in_c, planes, stride, style, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut paths = trace::branches();
        let out = paths.run(|| {
            let y = relu(trace::batch_norm(
                "bn1",
                &self.bn1,
                trace::conv2d("conv1", &self.conv1, x.clone()),
            ));
            trace::batch_norm("bn2", &self.bn2, trace::conv2d("conv2", &self.conv2, y))
        });
        let identity = paths.run(|| shortcut(&self.downsample, x));
        paths.join();
        relu(out + identity)
    }
}

/// 1×1 reduce, 3×3 (carrying the stride: torchvision's V1.5; grouped for ResNeXt), 1×1 expand ×4:
/// ResNet-50/101/152, ResNeXt, Wide ResNet. In Keras's style ([`BlockStyle::KERAS`]) the first
/// 1×1 carries the stride instead and every convolution has a bias.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1×1 to `planes` (carries the stride in Keras's style).
    pub conv1: Conv2d,
    /// BatchNorm after conv1.
    pub bn1: BatchNorm,
    /// 3×3, carries the stride (torchvision's style).
    pub conv2: Conv2d,
    /// BatchNorm after conv2.
    pub bn2: BatchNorm,
    /// 1×1 to `4·planes`.
    pub conv3: Conv2d,
    /// BatchNorm after conv3.
    pub bn3: BatchNorm,
    /// Projection of the shortcut when the shape changes.
    pub downsample: Option<Downsample>,
}

impl ResidualBlock for Bottleneck {
    const EXPANSION: usize = 4;

    fn new_styled(in_c: usize, planes: usize, stride: usize, style: BlockStyle, device: &Device) -> Self {
        let out = planes * Self::EXPANSION;
        let inner = style.width.channels(planes);
        let (stride1, stride2) = if style.stride_in_1x1 { (stride, 1) } else { (1, stride) };
        let (bias, eps) = (style.conv_bias, style.bn_eps);
        Self {
            conv1: conv(in_c, inner, 1, stride1, bias, device),
            bn1: bn(inner, eps, device),
            conv2: grouped_conv3x3(inner, stride2, style.width.groups, bias, device),
            bn2: bn(inner, eps, device),
            conv3: conv(inner, out, 1, 1, bias, device),
            bn3: bn(out, eps, device),
            downsample: downsample_if_needed(in_c, out, stride, style, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut paths = trace::branches();
        let out = paths.run(|| {
            let y = relu(trace::batch_norm(
                "bn1",
                &self.bn1,
                trace::conv2d("conv1", &self.conv1, x.clone()),
            ));
            let y = relu(trace::batch_norm(
                "bn2",
                &self.bn2,
                trace::conv2d("conv2", &self.conv2, y),
            ));
            trace::batch_norm("bn3", &self.bn3, trace::conv2d("conv3", &self.conv3, y))
        });
        let identity = paths.run(|| shortcut(&self.downsample, x));
        paths.join();
        relu(out + identity)
    }
}
