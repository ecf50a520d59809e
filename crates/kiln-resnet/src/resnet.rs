//! The ResNet model and its variants as data.

use crate::block::{BasicBlock, BlockStyle, Bottleneck, ResidualBlock, Width, bn, conv};
use burn::{
    config::Config,
    module::Module,
    nn::{
        BatchNorm, Linear, LinearConfig, PaddingConfig2d,
        conv::Conv2d,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor, activation::relu},
};
use kiln_core::{Backbone, FeatureInfo, ImageClassifier, trace};
use serde::{Deserialize, Serialize};

/// A row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct ResNetVariant {
    /// Registry name.
    pub name: &'static str,
    /// Bottleneck blocks (50/101/152) rather than basic ones (18/34).
    pub bottleneck: bool,
    /// Blocks per stage.
    pub layers: [usize; 4],
    /// Groups of the bottleneck's 3×3 convolution (ResNeXt's cardinality).
    pub groups: usize,
    /// Channels per group at 64 planes (64 for ResNet, 4 or 8 for ResNeXt, 128 for Wide ResNet).
    pub width_per_group: usize,
}

const fn plain(name: &'static str, bottleneck: bool, layers: [usize; 4]) -> ResNetVariant {
    ResNetVariant {
        name,
        bottleneck,
        layers,
        groups: 1,
        width_per_group: 64,
    }
}

const fn wide(name: &'static str, layers: [usize; 4], groups: usize, width_per_group: usize) -> ResNetVariant {
    ResNetVariant {
        name,
        bottleneck: true,
        layers,
        groups,
        width_per_group,
    }
}

/// Every ResNet, ResNeXt and Wide ResNet of torchvision.
pub const RESNET_VARIANTS: [ResNetVariant; 10] = [
    plain("resnet18", false, [2, 2, 2, 2]),
    plain("resnet34", false, [3, 4, 6, 3]),
    plain("resnet50", true, [3, 4, 6, 3]),
    plain("resnet101", true, [3, 4, 23, 3]),
    plain("resnet152", true, [3, 8, 36, 3]),
    wide("resnext50_32x4d", [3, 4, 6, 3], 32, 4),
    wide("resnext101_32x8d", [3, 4, 23, 3], 32, 8),
    wide("resnext101_64x4d", [3, 4, 23, 3], 64, 4),
    wide("wide_resnet50_2", [3, 4, 6, 3], 1, 128),
    wide("wide_resnet101_2", [3, 4, 23, 3], 1, 128),
];

/// The first layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// 7×7 stride-2 convolution then 3×3 stride-2 max pooling (reduction 4): ImageNet inputs.
    #[default]
    Imagenet,
    /// 3×3 stride-1 convolution, no pooling (reduction 1): 28–32 px inputs such as MNIST and
    /// CIFAR, where the ImageNet stem would leave a 1×1 map after layer4.
    Small,
}

/// Configuration of a [`ResNet`].
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Blocks per stage, e.g. `[3, 4, 6, 3]`.
    pub layers: [usize; 4],
    /// Bottleneck blocks (expansion 4) instead of basic blocks.
    pub bottleneck: bool,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// ImageNet or small-image stem.
    #[config(default = "Stem::Imagenet")]
    pub stem: Stem,
    /// Groups of the bottleneck's 3×3 convolution (ResNeXt).
    #[config(default = 1)]
    pub groups: usize,
    /// Channels per group at 64 planes (Wide ResNet: 128).
    #[config(default = 64)]
    pub width_per_group: usize,
    /// The bottleneck's stride on its first 1×1 convolution (Keras's ResNet v1) rather than on
    /// its 3×3 (torchvision's V1.5). `None` is `false`: an `Option` so that configurations saved
    /// before the field existed still load (Burn's `Config` derive gives a missing field no
    /// default when deserialising; serde reads a missing `Option` as `None`).
    pub stride_in_1x1: Option<bool>,
    /// Every convolution has a bias, the stem's and the shortcuts' included (Keras's ResNet).
    /// `None` is `false` (torchvision's), as for `stride_in_1x1`.
    pub conv_bias: Option<bool>,
    /// Epsilon of every BatchNorm (Keras's ResNet: 1.001e-5). `None` is torchvision's 1e-5, as
    /// for `stride_in_1x1`.
    pub bn_eps: Option<f64>,
}

impl ResNetConfig {
    /// The configuration of a table row.
    pub fn from_variant(v: &ResNetVariant) -> Self {
        Self::new(v.layers, v.bottleneck)
            .with_groups(v.groups)
            .with_width_per_group(v.width_per_group)
    }

    /// Keras's `keras.applications` ResNet50, ResNet101 or ResNet152 (`depth` 50, 101, 152;
    /// `None` otherwise): bottleneck blocks `[3, 4, 6, 3]`, `[3, 4, 23, 3]`, `[3, 8, 36, 3]`,
    /// ImageNet stem, plain width, in Keras's "ResNet v1" style: stride on the first 1×1 of a
    /// block and on its shortcut, a bias on every convolution, BatchNorm epsilon 1.001e-5.
    ///
    /// Parameters with 1000 classes: Burn's `num_params()` counts BatchNorm's running statistics
    /// as Keras's `count_params()` counts its moving ones, and equals Keras's total;
    /// [`kiln_core::count_params`] (PyTorch's count) equals Keras's trainable count:
    ///
    /// | depth | `num_params()` = Keras's total | `count_params` = Keras's trainable |
    /// |---|---|---|
    /// | 50 | 25,636,712 | 25,583,592 |
    /// | 101 | 44,707,176 | 44,601,832 |
    /// | 152 | 60,419,944 | 60,268,520 |
    ///
    /// The trainable counts are torchvision's (25,557,032, 44,549,160, 60,192,808) plus one
    /// convolution bias per BatchNorm channel (26,560, 52,672, 75,712).
    pub fn keras(depth: usize) -> Option<ResNetConfig> {
        let layers = match depth {
            50 => [3, 4, 6, 3],
            101 => [3, 4, 23, 3],
            152 => [3, 8, 36, 3],
            _ => return None,
        };
        let keras = BlockStyle::KERAS;
        Some(
            Self::new(layers, true)
                .with_stride_in_1x1(Some(keras.stride_in_1x1))
                .with_conv_bias(Some(keras.conv_bias))
                .with_bn_eps(Some(keras.bn_eps)),
        )
    }

    fn width(&self) -> Width {
        Width {
            groups: self.groups,
            width_per_group: self.width_per_group,
        }
    }

    /// How the blocks are built: the width and the three style options, with their defaults
    /// (torchvision's) resolved.
    pub fn block_style(&self) -> BlockStyle {
        BlockStyle {
            width: self.width(),
            stride_in_1x1: self.stride_in_1x1.unwrap_or(BlockStyle::TORCHVISION.stride_in_1x1),
            conv_bias: self.conv_bias.unwrap_or(BlockStyle::TORCHVISION.conv_bias),
            bn_eps: self.bn_eps.unwrap_or(BlockStyle::TORCHVISION.bn_eps),
        }
    }
}

/// ResNet with blocks of type `B`.
///
/// | stage | output at 224×224 (ImageNet stem) | at 28×28 (small stem) |
/// |---|---|---|
/// | conv1, bn1, relu | 64×112×112 | 64×28×28 |
/// | maxpool | 64×56×56 | (none) |
/// | layer1 | 64e×56×56 | 64e×28×28 |
/// | layer2 | 128e×28×28 | 128e×14×14 |
/// | layer3 | 256e×14×14 | 256e×7×7 |
/// | layer4 | 512e×7×7 | 512e×4×4 |
/// | avgpool, fc | num_classes | num_classes |
///
/// with `e` the block expansion (1 basic, 4 bottleneck).
#[derive(Module, Debug)]
pub struct ResNet<B: ResidualBlock> {
    /// Stem convolution: 7×7/2 or 3×3/1.
    pub conv1: Conv2d,
    /// Stem BatchNorm.
    pub bn1: BatchNorm,
    /// 3×3/2 max pooling (ImageNet stem only).
    pub maxpool: Option<MaxPool2d>,
    /// Stage 1, stride 1.
    pub layer1: Vec<B>,
    /// Stage 2, stride 2.
    pub layer2: Vec<B>,
    /// Stage 3, stride 2.
    pub layer3: Vec<B>,
    /// Stage 4, stride 2.
    pub layer4: Vec<B>,
    /// Global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// The classifier: `512e → num_classes`.
    pub fc: Linear,
}

fn make_layer<B: ResidualBlock>(
    in_c: &mut usize,
    planes: usize,
    blocks: usize,
    stride: usize,
    style: BlockStyle,
    device: &Device,
) -> Vec<B> {
    (0..blocks)
        .map(|i| {
            let block = B::new_styled(*in_c, planes, if i == 0 { stride } else { 1 }, style, device);
            *in_c = planes * B::EXPANSION;
            block
        })
        .collect()
}

impl ResNetConfig {
    /// Builds a ResNet of basic blocks (ResNet-18/34). `self.bottleneck` must be false, and the
    /// width plain (torchvision: "BasicBlock only supports groups=1 and base_width=64").
    pub fn init_basic(&self, device: &Device) -> ResNet<BasicBlock> {
        assert!(!self.bottleneck, "init_basic on a bottleneck configuration");
        assert!(
            self.width() == Width::PLAIN,
            "BasicBlock only supports groups=1 and width_per_group=64"
        );
        self.init_with(device)
    }

    /// Builds a ResNet of bottleneck blocks (ResNet-50/101/152). `self.bottleneck` must be true.
    pub fn init_bottleneck(&self, device: &Device) -> ResNet<Bottleneck> {
        assert!(self.bottleneck, "init_bottleneck on a basic-block configuration");
        self.init_with(device)
    }

    /// Builds a ResNet with blocks of type `B`.
    pub fn init_with<B: ResidualBlock>(&self, device: &Device) -> ResNet<B> {
        let style = self.block_style();
        let bias = style.conv_bias;
        let (conv1, maxpool) = match self.stem {
            Stem::Imagenet => (
                conv(self.in_channels, 64, 7, 2, bias, device),
                Some(
                    MaxPool2dConfig::new([3, 3])
                        .with_strides([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(),
                ),
            ),
            Stem::Small => (conv(self.in_channels, 64, 3, 1, bias, device), None),
        };
        let mut c = 64;
        let layer1 = make_layer(&mut c, 64, self.layers[0], 1, style, device);
        let layer2 = make_layer(&mut c, 128, self.layers[1], 2, style, device);
        let layer3 = make_layer(&mut c, 256, self.layers[2], 2, style, device);
        let layer4 = make_layer(&mut c, 512, self.layers[3], 2, style, device);
        ResNet {
            conv1,
            bn1: bn(64, style.bn_eps, device),
            maxpool,
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(512 * B::EXPANSION, self.num_classes).init(device),
        }
    }
}

fn run_stage<B: ResidualBlock>(name: &str, blocks: &[B], x: Tensor<4>) -> Tensor<4> {
    trace::scope(name, || {
        blocks
            .iter()
            .enumerate()
            .fold(x, |x, (i, b)| trace::scope(&i.to_string(), || b.forward(x)))
    })
}

impl<B: ResidualBlock> ResNet<B> {
    fn stem(&self, x: Tensor<4>) -> Tensor<4> {
        relu(trace::batch_norm(
            "bn1",
            &self.bn1,
            trace::conv2d("conv1", &self.conv1, x),
        ))
    }

    fn stem_reduction(&self) -> usize {
        if self.maxpool.is_some() { 2 } else { 1 }
    }

    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("five stages");
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3);
        trace::linear("fc", &self.fc, x)
    }
}

impl<B: ResidualBlock> ImageClassifier for ResNet<B> {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }
}

impl<B: ResidualBlock> Backbone for ResNet<B> {
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let e = B::EXPANSION;
        let r = self.stem_reduction();
        vec![
            FeatureInfo::new("act1", 64, r),
            FeatureInfo::new("layer1", 64 * e, 2 * r),
            FeatureInfo::new("layer2", 128 * e, 4 * r),
            FeatureInfo::new("layer3", 256 * e, 8 * r),
            FeatureInfo::new("layer4", 512 * e, 16 * r),
        ]
    }

    /// The stem activation and the four stages.
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let stem = self.stem(images); // [b, 64, h/r, w/r]
        let x = match &self.maxpool {
            Some(p) => trace::max_pool2d("maxpool", p, stem.clone()), // [b, 64, h/4, w/4]
            None => stem.clone(),
        };
        let l1 = run_stage("layer1", &self.layer1, x); // [b, 64e, h/4, w/4]
        let l2 = run_stage("layer2", &self.layer2, l1.clone()); // [b, 128e, h/8, w/8]
        let l3 = run_stage("layer3", &self.layer3, l2.clone()); // [b, 256e, h/16, w/16]
        let l4 = run_stage("layer4", &self.layer4, l3.clone()); // [b, 512e, h/32, w/32]
        vec![stem, l1, l2, l3, l4]
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        let [d_in, _] = self.fc.weight.dims();
        self.fc = LinearConfig::new(d_in, num_classes).init(device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet18_small_stem_on_28px() {
        let device = Device::flex();
        let model = ResNetConfig::from_variant(&RESNET_VARIANTS[0])
            .with_in_channels(1)
            .with_num_classes(10)
            .with_stem(Stem::Small)
            .init_basic(&device);
        let x = Tensor::<4>::zeros([2, 1, 28, 28], &device);
        let features = model.forward_features(x.clone());
        let dims: Vec<[usize; 4]> = features.iter().map(|f| f.dims()).collect();
        assert_eq!(
            dims,
            [
                [2, 64, 28, 28],
                [2, 64, 28, 28],
                [2, 128, 14, 14],
                [2, 256, 7, 7],
                [2, 512, 4, 4]
            ]
        );
        assert_eq!(model.forward(x).dims(), [2, 10]);
    }
}
