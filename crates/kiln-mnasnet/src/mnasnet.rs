//! The MNASNet model, its depth scaling and its variants as data.

use crate::block::{InvertedResidual, StackSpec, conv_bn, run_conv_bn, run_stack};
use burn::{
    config::Config,
    module::Module,
    nn::{
        Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig},
    },
    tensor::{Device, Tensor},
};
use kiln_core::{Backbone, ConvBnAct, FeatureInfo, ImageClassifier, layers::make_divisible, trace};

/// A row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct MnasNetVariant {
    /// Registry name.
    pub name: &'static str,
    /// Depth multiplier.
    pub alpha: f64,
    /// torchvision's parameter count with 1000 classes (its weights' `num_params`).
    pub num_params: usize,
}

/// Every MNASNet of torchvision.
pub const MNASNET_VARIANTS: [MnasNetVariant; 4] = [
    MnasNetVariant {
        name: "mnasnet0_5",
        alpha: 0.5,
        num_params: 2_218_512,
    },
    MnasNetVariant {
        name: "mnasnet0_75",
        alpha: 0.75,
        num_params: 3_170_208,
    },
    MnasNetVariant {
        name: "mnasnet1_0",
        alpha: 1.0,
        num_params: 4_383_312,
    },
    MnasNetVariant {
        name: "mnasnet1_3",
        alpha: 1.3,
        num_params: 6_282_256,
    },
];

/// torchvision's depths before scaling: stem convolution, stem projection, then the output of
/// each of the six stacks.
pub const BASE_DEPTHS: [usize; 8] = [32, 16, 24, 40, 80, 96, 192, 320];

/// The six `_stack`s of MNASNet-B1, in order (their outputs: `depths[2..]`).
pub const STACKS: [StackSpec; 6] = [
    StackSpec {
        kernel: 3,
        stride: 2,
        expansion: 3,
        repeats: 3,
    },
    StackSpec {
        kernel: 5,
        stride: 2,
        expansion: 3,
        repeats: 3,
    },
    StackSpec {
        kernel: 5,
        stride: 2,
        expansion: 6,
        repeats: 3,
    },
    StackSpec {
        kernel: 3,
        stride: 1,
        expansion: 6,
        repeats: 2,
    },
    StackSpec {
        kernel: 5,
        stride: 2,
        expansion: 6,
        repeats: 4,
    },
    StackSpec {
        kernel: 3,
        stride: 1,
        expansion: 6,
        repeats: 1,
    },
];

/// Position of the first stack in torchvision's `layers` `Sequential` (0–7 are the stem).
pub const FIRST_STACK: usize = 8;

/// Position of the final 1×1 convolution in `layers` (its BatchNorm follows).
pub const CONV_HEAD: usize = FIRST_STACK + STACKS.len();

/// Channels of the final 1×1 convolution, the classifier's input (not scaled by alpha).
pub const LAST_CHANNELS: usize = 1280;

/// torchvision's version-1 stem (`MNASNet._version == 1`): convolution to 32, depthwise 32,
/// projection to 16, whatever alpha.
pub const V1_STEM: [usize; 2] = [32, 16];

/// torchvision's `_get_depths`: each base depth times `alpha`, rounded by
/// `_round_to_multiple_of(·, 8)` (round-up bias 0.9), which is `make_divisible(·, 8)`: the
/// nearest multiple of 8, at least 8, never below 90% of the scaled depth.
pub fn depths(alpha: f64) -> [usize; 8] {
    BASE_DEPTHS.map(|d| make_divisible(d as f64 * alpha, 8, None))
}

/// Whether stack `i` ends a resolution (the next one strides, or it is the last).
fn ends_resolution(i: usize) -> bool {
    STACKS.get(i + 1).is_none_or(|next| next.stride == 2)
}

/// Configuration of an [`MnasNet`].
#[derive(Config, Debug)]
pub struct MnasNetConfig {
    /// Depth multiplier (0.5, 0.75, 1.0, 1.3 for torchvision's weights); must be positive.
    pub alpha: f64,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Dropout probability before the classifier.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// torchvision's version-1 stem: `layers.0` 3→32, `layers.3` depthwise 32, `layers.6`
    /// 32→16, unscaled by alpha (`layers.8` then starts from 16 channels). torchvision builds
    /// the scaled (version-2) stem and patches this one in when it loads a checkpoint saved as
    /// version 1 with alpha ≠ 1; alpha 1 gives the same model either way. A checkpoint's stem
    /// shows which it is: see [`MnasNetConfig::detect_stem_v1`].
    #[config(default = false)]
    pub stem_v1: bool,
}

impl MnasNetConfig {
    /// The configuration of a table row.
    pub fn from_variant(v: &MnasNetVariant) -> Self {
        Self::new(v.alpha)
    }

    /// The channels this configuration builds: `[layers.0 out, layers.6 out, stack outputs..]`
    /// ([`depths`] of alpha, with [`V1_STEM`] for the first two under `stem_v1`).
    pub fn depths(&self) -> [usize; 8] {
        let mut d = depths(self.alpha);
        if self.stem_v1 {
            d[..2].copy_from_slice(&V1_STEM);
        }
        d
    }

    /// Output channels of the first convolution: `layers.0.weight` is
    /// `[first_conv_channels, in_channels, 3, 3]`.
    pub fn first_conv_channels(&self) -> usize {
        self.depths()[0]
    }

    /// Which stem fits a checkpoint whose `layers.0.weight` has `first_conv_out` output channels
    /// (its first dimension): `Some(false)` for the scaled (version-2) stem, `Some(true)` for
    /// the version-1 stem (32 channels where alpha scales to another number), `None` when
    /// neither fits (a checkpoint of another alpha). Where alpha scales the stem to 32 (alpha 1)
    /// both stems are the same model, and the answer is `Some(false)`.
    pub fn detect_stem_v1(&self, first_conv_out: usize) -> Option<bool> {
        let v2 = depths(self.alpha)[0];
        if first_conv_out == v2 {
            Some(false)
        } else if first_conv_out == V1_STEM[0] {
            Some(true)
        } else {
            None
        }
    }

    /// Builds the model.
    ///
    /// # Panics
    /// When `alpha` is not positive (torchvision's check).
    pub fn init(&self, device: &Device) -> MnasNet {
        assert!(
            self.alpha > 0.0,
            "alpha should be greater than 0.0 instead of {}",
            self.alpha
        );
        let d = self.depths();
        let stacks = STACKS
            .iter()
            .enumerate()
            .map(|(i, spec)| spec.build(d[i + 1], d[i + 2], device))
            .collect();
        MnasNet {
            layers: MnasNetLayers {
                stem: conv_bn(self.in_channels, d[0], 3, 2, 1, true, device),
                stem_dw: conv_bn(d[0], d[0], 3, 1, d[0], true, device),
                stem_pw: conv_bn(d[0], d[1], 1, 1, 1, false, device),
                stacks,
                conv_head: conv_bn(d[7], LAST_CHANNELS, 1, 1, 1, true, device),
            },
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: classifier(LAST_CHANNELS, self.num_classes, device),
            depths: d,
        }
    }
}

/// torchvision's classifier initialisation: `kaiming_uniform_(mode="fan_out",
/// nonlinearity="sigmoid")` (bound √(3 / num_classes)), zero bias.
fn classifier(d_in: usize, num_classes: usize, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, num_classes)
        .with_initializer(Initializer::KaimingUniform {
            gain: 1.0,
            fan_out_only: true,
        })
        .init(device);
    linear.bias = Some(Initializer::Zeros.init([num_classes], device));
    linear
}

/// torchvision's `layers` `Sequential` (ReLUs, which hold nothing, left out), as named fields.
#[derive(Module, Debug)]
pub struct MnasNetLayers {
    /// `layers.0`, `layers.1` (+ ReLU): 3×3/2 convolution, `in_channels → depths[0]`.
    pub stem: ConvBnAct,
    /// `layers.3`, `layers.4` (+ ReLU): 3×3 depthwise convolution.
    pub stem_dw: ConvBnAct,
    /// `layers.6`, `layers.7`: 1×1 projection to `depths[1]`, no activation.
    pub stem_pw: ConvBnAct,
    /// `layers.8` … `layers.13`: the six stacks of inverted residuals ([`STACKS`]).
    pub stacks: Vec<Vec<InvertedResidual>>,
    /// `layers.14`, `layers.15` (+ ReLU): 1×1 convolution to 1280.
    pub conv_head: ConvBnAct,
}

/// MNASNet-B1 (Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile",
/// 2018) as torchvision builds it; parameters 2,218,512 / 3,170,208 / 4,383,312 / 6,282,256 for
/// alpha 0.5 / 0.75 / 1.0 / 1.3 with 1000 classes.
///
/// | torchvision module | layers | output at 224×224, alpha 1 |
/// |---|---|---|
/// | `layers.0`–`2` | conv 3×3/2, BN, ReLU | 32×112×112 |
/// | `layers.3`–`5` | depthwise 3×3, BN, ReLU | 32×112×112 |
/// | `layers.6`–`7` | conv 1×1, BN | 16×112×112 |
/// | `layers.8` | 3 × inverted residual 3×3/2, expansion 3 | 24×56×56 |
/// | `layers.9` | 3 × 5×5/2, expansion 3 | 40×28×28 |
/// | `layers.10` | 3 × 5×5/2, expansion 6 | 80×14×14 |
/// | `layers.11` | 2 × 3×3/1, expansion 6 | 96×14×14 |
/// | `layers.12` | 4 × 5×5/2, expansion 6 | 192×7×7 |
/// | `layers.13` | 1 × 3×3/1, expansion 6 | 320×7×7 |
/// | `layers.14`–`16` | conv 1×1, BN, ReLU | 1280×7×7 |
/// | mean, `classifier` | global average, dropout, linear | num_classes |
///
/// Other alphas scale every depth but the last 1280 ([`depths`]). Layers are traced under
/// torchvision's module paths (`layers.8.0.layers.3`, `classifier.1`); the global mean, a
/// function call in torchvision, is traced as `avgpool`.
///
/// # Shapes
/// - images `[batch, in_channels, h, w]` (any size; each stride-2 layer gives `⌈h / 2⌉`)
/// - stages `[batch, depths[1] | depths[2] | depths[3] | depths[5] | depths[7], ⌈h/r⌉, ⌈w/r⌉]`
///   for `r` = 2, 4, 8, 16, 32
/// - logits `[batch, num_classes]`
#[derive(Module, Debug)]
pub struct MnasNet {
    /// The convolutional trunk (torchvision's `layers`).
    pub layers: MnasNetLayers,
    /// Global average pooling (torchvision's `x.mean([2, 3])`).
    pub avgpool: AdaptiveAvgPool2d,
    /// Dropout before the classifier (`classifier.0`), active in training only.
    pub dropout: Dropout,
    /// `classifier.1`: `1280 → num_classes`.
    pub classifier: Linear,
    /// The channel plan built ([`MnasNetConfig::depths`]).
    #[module(skip)]
    pub depths: [usize; 8],
}

impl MnasNet {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("five stages"); // [b, d7, h/32, w/32]
        let x = trace::scope("layers", || {
            run_conv_bn(
                &self.layers.conv_head,
                &CONV_HEAD.to_string(),
                &(CONV_HEAD + 1).to_string(),
                x,
            )
        }); // [b, 1280, h/32, w/32]
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, 1280]
        trace::scope("classifier", || {
            trace::linear("1", &self.classifier, self.dropout.forward(x))
        })
    }
}

impl ImageClassifier for MnasNet {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}

impl Backbone for MnasNet {
    /// The stem output (`layers.7`, reduction 2) and the last stack at each later resolution
    /// (`layers.8`, `layers.9`, `layers.11`, `layers.13`: reductions 4, 8, 16, 32), as timm
    /// picks MNASNet's stages.
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut info = vec![FeatureInfo::new(
            format!("layers.{}", FIRST_STACK - 1),
            self.depths[1],
            2,
        )];
        let mut reduction = 2;
        for (i, spec) in STACKS.iter().enumerate() {
            reduction *= spec.stride;
            if ends_resolution(i) {
                info.push(FeatureInfo::new(
                    format!("layers.{}", FIRST_STACK + i),
                    self.depths[i + 2],
                    reduction,
                ));
            }
        }
        info
    }

    /// The stages of [`Backbone::feature_info`]; the final 1×1 convolution (`layers.14`) is
    /// left to the classifier.
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        trace::scope("layers", || {
            let l = &self.layers;
            let x = run_conv_bn(&l.stem, "0", "1", images); // [b, d0, h/2, w/2]
            let x = run_conv_bn(&l.stem_dw, "3", "4", x); // [b, d0, h/2, w/2]
            let mut x = run_conv_bn(&l.stem_pw, "6", "7", x); // [b, d1, h/2, w/2]
            let mut stages = vec![x.clone()];
            for (i, stack) in l.stacks.iter().enumerate() {
                // [b, depths[i + 2], h/r, w/r]
                x = trace::scope(&(FIRST_STACK + i).to_string(), || run_stack(stack, x));
                if ends_resolution(i) {
                    stages.push(x.clone());
                }
            }
            stages
        })
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        self.classifier = classifier(LAST_CHANNELS, num_classes, device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::count_params;

    /// `_get_depths` of torchvision, printed for each alpha.
    #[test]
    fn depths_as_torchvision() {
        assert_eq!(depths(0.5), [16, 8, 16, 24, 40, 48, 96, 160]);
        assert_eq!(depths(0.75), [24, 16, 24, 32, 64, 72, 144, 240]);
        assert_eq!(depths(1.0), BASE_DEPTHS);
        assert_eq!(depths(1.3), [40, 24, 32, 56, 104, 128, 248, 416]);
    }

    /// `sum(p.numel() for p in model.parameters())` of torchvision's builders, which its
    /// weights' `num_params` also state.
    #[test]
    fn parameters_equal_torchvision() {
        let device = Device::flex();
        for v in &MNASNET_VARIANTS {
            let model = MnasNetConfig::from_variant(v).init(&device);
            assert_eq!(count_params(&model), v.num_params, "{}", v.name);
        }
        // 10 classes: 1280·990 fewer.
        let model = MnasNetConfig::new(1.0).with_num_classes(10).init(&device);
        assert_eq!(count_params(&model), 3_115_122);
    }

    /// torchvision's models after loading a version-1 checkpoint (the stem patched in).
    #[test]
    fn version_1_stem() {
        let device = Device::flex();
        for (alpha, params) in [(0.5, 2_220_824), (0.75, 3_170_656), (1.3, 6_279_432)] {
            let config = MnasNetConfig::new(alpha).with_stem_v1(true);
            assert_eq!(config.first_conv_channels(), 32);
            let model = config.init(&device);
            assert_eq!(count_params(&model), params, "alpha {alpha}");
            assert_eq!(model.layers.stem.conv.weight.dims(), [32, 3, 3, 3]);
            assert_eq!(model.layers.stem_pw.conv.weight.dims(), [16, 32, 1, 1]);
            assert_eq!(model.layers.stacks[0][0].expand.conv.weight.dims()[1], 16);
        }
        let v2 = MnasNetConfig::new(0.5);
        assert_eq!(v2.first_conv_channels(), 16);
        assert_eq!(v2.detect_stem_v1(16), Some(false));
        assert_eq!(v2.detect_stem_v1(32), Some(true));
        assert_eq!(v2.detect_stem_v1(40), None);
        assert_eq!(MnasNetConfig::new(1.3).detect_stem_v1(40), Some(false));
        assert_eq!(MnasNetConfig::new(1.0).detect_stem_v1(32), Some(false));
    }

    #[test]
    fn shapes_and_stages_on_64px() {
        let device = Device::flex();
        let model = MnasNetConfig::new(0.5).with_num_classes(10).init(&device);
        let x = Tensor::<4>::ones([1, 3, 64, 64], &device);
        let dims: Vec<[usize; 4]> = model.forward_features(x.clone()).iter().map(|f| f.dims()).collect();
        // torchvision's mnasnet0_5 on 64×64: layers.7, 8, 9, 11, 13.
        assert_eq!(
            dims,
            [
                [1, 8, 32, 32],
                [1, 16, 16, 16],
                [1, 24, 8, 8],
                [1, 48, 4, 4],
                [1, 160, 2, 2]
            ]
        );
        let info = model.feature_info();
        let names: Vec<&str> = info.iter().map(|f| f.module.as_str()).collect();
        assert_eq!(names, ["layers.7", "layers.8", "layers.9", "layers.11", "layers.13"]);
        let channels: Vec<usize> = info.iter().map(|f| f.channels).collect();
        assert_eq!(channels, [8, 16, 24, 48, 160]);
        let reductions: Vec<usize> = info.iter().map(|f| f.reduction).collect();
        assert_eq!(reductions, [2, 4, 8, 16, 32]);
        assert_eq!(model.forward(x.clone()).dims(), [1, 10]);
        assert_eq!(model.num_classes(), 10);
        let model = model.reset_classifier(7, &device);
        assert_eq!(model.forward(x).dims(), [1, 7]);
        assert_eq!(model.num_classes(), 7);
    }

    /// Residual joins where torchvision has them: every block but the first of each stack.
    #[test]
    fn skips_only_where_shape_is_kept() {
        let model = MnasNetConfig::new(1.0).init(&Device::flex());
        for stack in &model.layers.stacks {
            let skips: Vec<bool> = stack.iter().map(|b| b.residual).collect();
            let expected: Vec<bool> = (0..stack.len()).map(|i| i > 0).collect();
            assert_eq!(skips, expected);
        }
    }

    /// The summary sees every parameter, names layers by torchvision's paths, and counts
    /// torchvision's multiply-accumulates at 224×224 (0.104 GFLOPS published for mnasnet0_5;
    /// 104,455,968 by forward hooks on its Conv2d and Linear modules).
    #[test]
    fn trace_covers_every_layer() {
        let device = Device::flex();
        let model = MnasNetConfig::new(0.5).init(&device);
        let x = Tensor::<4>::zeros([1, 3, 224, 224], &device);
        let (y, records) = trace::collect(|| model.forward(x));
        assert_eq!(y.dims(), [1, 1000]);
        let params: usize = records.iter().map(|r| r.params).sum();
        assert_eq!(params, count_params(&model));
        let macs: u64 = records.iter().map(|r| r.macs).sum();
        assert_eq!(macs, 104_455_968);
        let paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
        for p in [
            "layers.0",
            "layers.1",
            "layers.7",
            "layers.8.0.layers.0",
            "layers.8.2.layers.4",
            "layers.12.3.layers.6",
            "layers.13.0.layers.7",
            "layers.14",
            "layers.15",
            "avgpool",
            "classifier.1",
        ] {
            assert!(paths.contains(&p), "{p} not traced: {paths:?}");
        }
        let convs = records.iter().filter(|r| r.kind.starts_with("Conv2d")).count();
        assert_eq!(convs, 3 + 3 * 16 + 1);
        assert_eq!(records.last().and_then(|r| r.receptive_field), None);
    }
}
