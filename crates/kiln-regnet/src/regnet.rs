//! The RegNet model, its configuration and torchvision's variants as data.

use crate::{
    block::{ResBottleneckBlock, build_stage, conv_bn, run_conv_bn, run_stage},
    params::BlockParams,
};
use burn::{
    config::Config,
    module::Module,
    nn::{
        Initializer, Linear, LinearConfig,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig},
    },
    tensor::{Device, Tensor},
};
use kiln_core::{Backbone, ConvBnAct, FeatureInfo, ImageClassifier, trace};

/// A row of the variant table: the arguments of torchvision's `BlockParams.from_init_params`
/// in its builder (bottleneck multiplier 1 in all of them) and its weights' metadata.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegNetVariant {
    /// Registry name.
    pub name: &'static str,
    /// Blocks in all stages together.
    pub depth: usize,
    /// Initial width (a multiple of 8).
    pub w_0: usize,
    /// Slope of the linear width ramp.
    pub w_a: f64,
    /// Width multiplier between stages (> 1), the step of the quantisation in log space.
    pub w_m: f64,
    /// Channels per group of the 3×3 convolutions.
    pub group_width: usize,
    /// Squeeze-and-excitation ratio: `Some(0.25)` for RegNet Y, `None` for X.
    pub se_ratio: Option<f64>,
    /// torchvision's parameter count with 1000 classes (its weights' `num_params`).
    pub num_params: usize,
    /// torchvision's published GFLOPS at 224×224 (its weights' `_ops`: multiply-accumulates of
    /// the convolutions and the classifier, in billions).
    pub gflops: f64,
}

const fn regnet_x(
    name: &'static str,
    depth: usize,
    w_0: usize,
    w_a: f64,
    w_m: f64,
    group_width: usize,
) -> RegNetVariant {
    RegNetVariant {
        name,
        depth,
        w_0,
        w_a,
        w_m,
        group_width,
        se_ratio: None,
        num_params: 0,
        gflops: 0.0,
    }
}

const fn regnet_y(
    name: &'static str,
    depth: usize,
    w_0: usize,
    w_a: f64,
    w_m: f64,
    group_width: usize,
) -> RegNetVariant {
    RegNetVariant {
        se_ratio: Some(0.25),
        ..regnet_x(name, depth, w_0, w_a, w_m, group_width)
    }
}

const fn meta(v: RegNetVariant, num_params: usize, gflops: f64) -> RegNetVariant {
    RegNetVariant {
        num_params,
        gflops,
        ..v
    }
}

/// Every RegNet of torchvision under 150 M parameters (`regnet_y_128gf`, 645 M, is left out).
pub const REGNET_VARIANTS: [RegNetVariant; 14] = [
    meta(regnet_x("regnet_x_400mf", 22, 24, 24.48, 2.54, 16), 5_495_976, 0.414),
    meta(regnet_x("regnet_x_800mf", 16, 56, 35.73, 2.28, 16), 7_259_656, 0.8),
    meta(regnet_x("regnet_x_1_6gf", 18, 80, 34.01, 2.25, 24), 9_190_136, 1.603),
    meta(regnet_x("regnet_x_3_2gf", 25, 88, 26.31, 2.25, 48), 15_296_552, 3.177),
    meta(regnet_x("regnet_x_8gf", 23, 80, 49.56, 2.88, 120), 39_572_648, 7.995),
    meta(regnet_x("regnet_x_16gf", 22, 216, 55.59, 2.1, 128), 54_278_536, 15.941),
    meta(regnet_x("regnet_x_32gf", 23, 320, 69.86, 2.0, 168), 107_811_560, 31.736),
    meta(regnet_y("regnet_y_400mf", 16, 48, 27.89, 2.09, 8), 4_344_144, 0.402),
    meta(regnet_y("regnet_y_800mf", 14, 56, 38.84, 2.4, 16), 6_432_512, 0.834),
    meta(regnet_y("regnet_y_1_6gf", 27, 48, 20.71, 2.65, 24), 11_202_430, 1.612),
    meta(regnet_y("regnet_y_3_2gf", 21, 80, 42.63, 2.66, 24), 19_436_338, 3.176),
    meta(regnet_y("regnet_y_8gf", 17, 192, 76.82, 2.19, 56), 39_381_472, 8.473),
    meta(
        regnet_y("regnet_y_16gf", 18, 200, 106.23, 2.48, 112),
        83_590_140,
        15.912,
    ),
    meta(
        regnet_y("regnet_y_32gf", 20, 232, 115.89, 2.53, 232),
        145_046_770,
        32.28,
    ),
];

/// Configuration of a [`RegNet`]: the arguments of torchvision's
/// `BlockParams.from_init_params` and of `RegNet.__init__`.
#[derive(Config, Debug)]
pub struct RegNetConfig {
    /// Blocks in all stages together.
    pub depth: usize,
    /// Initial width; a positive multiple of 8.
    pub w_0: usize,
    /// Slope of the linear width ramp; not negative.
    pub w_a: f64,
    /// Width multiplier between stages; above 1.
    pub w_m: f64,
    /// Channels per group of the 3×3 convolutions (capped at a stage's bottleneck width).
    pub group_width: usize,
    /// Bottleneck channels per output channel of a block.
    #[config(default = 1.0)]
    pub bottleneck_multiplier: f64,
    /// Squeeze-and-excitation ratio of a block's input channels (`Some(0.25)`: RegNet Y).
    #[config(default = "None")]
    pub se_ratio: Option<f64>,
    /// Channels of the stem convolution.
    #[config(default = 32)]
    pub stem_width: usize,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
}

impl RegNetConfig {
    /// The configuration of a table row.
    pub fn from_variant(v: &RegNetVariant) -> Self {
        Self::new(v.depth, v.w_0, v.w_a, v.w_m, v.group_width).with_se_ratio(v.se_ratio)
    }

    /// The stages this configuration builds (torchvision's `BlockParams.from_init_params`).
    ///
    /// # Panics
    /// On torchvision's "Invalid RegNet settings" (see [`BlockParams::from_init_params`]).
    pub fn block_params(&self) -> BlockParams {
        BlockParams::from_init_params(
            self.depth,
            self.w_0,
            self.w_a,
            self.w_m,
            self.group_width,
            self.bottleneck_multiplier,
            self.se_ratio,
        )
    }

    /// Builds the model, initialised as torchvision's RegNet: convolutions normal with standard
    /// deviation `√(2 / fan_out)`, BatchNorm 1 and 0, classifier normal (0, 0.01) with zero bias.
    ///
    /// # Panics
    /// As [`RegNetConfig::block_params`].
    pub fn init(&self, device: &Device) -> RegNet {
        let params = self.block_params();
        let stem = conv_bn(self.in_channels, self.stem_width, 3, 2, 1, true, device);
        let mut width = self.stem_width;
        let trunk_output: Vec<Vec<ResBottleneckBlock>> = params
            .stages()
            .iter()
            .map(|stage| {
                let blocks = build_stage(width, stage, params.se_ratio, device);
                width = stage.width;
                blocks
            })
            .collect();
        RegNet {
            stem,
            trunk_output,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: classifier(width, self.num_classes, device),
        }
    }
}

/// torchvision's RegNet classifier initialisation: weight normal (0, 0.01), bias 0.
fn classifier(d_in: usize, num_classes: usize, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, num_classes)
        .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 })
        .init(device);
    linear.bias = Some(Initializer::Zeros.init([num_classes], device));
    linear
}

/// RegNet (Radosavovic, Kosaraju, Girshick, He, Dollár, "Designing Network Design Spaces",
/// 2020) as torchvision builds it: a 3×3/2 stem, four stages of residual bottleneck blocks with
/// grouped 3×3 convolutions (and squeeze-and-excitation in RegNet Y) whose widths and depths
/// come from [`BlockParams`], global average pooling and a linear classifier.
///
/// | torchvision module | layers | `regnet_x_400mf` at 224×224 | `regnet_y_400mf` |
/// |---|---|---|---|
/// | `stem` | conv 3×3/2, BN, ReLU | 32×112×112 | 32×112×112 |
/// | `trunk_output.block1` | 1 block, stride 2 | 32×56×56 | 48×56×56 (1 block) |
/// | `trunk_output.block2` | 2 blocks | 64×28×28 | 104×28×28 (3) |
/// | `trunk_output.block3` | 7 blocks | 160×14×14 | 208×14×14 (6) |
/// | `trunk_output.block4` | 12 blocks | 400×7×7 | 440×7×7 (6) |
/// | `avgpool`, `fc` | global average, linear | num_classes | num_classes |
///
/// Field paths follow torchvision's keys where Rust allows: `stem.conv` / `stem.bn` for
/// `stem.0` / `stem.1`, `trunk_output.{s-1}.{i}` for `trunk_output.block{s}.block{s}-{i}`, and
/// `.conv` / `.bn` for the `.0` / `.1` of every `Conv2dNormActivation` (see [`crate::key_rules`]).
/// Layers are traced under torchvision's module paths (`stem.0`,
/// `trunk_output.block2.block2-0.f.se.fc1`), and the stages of [`Backbone::feature_info`] are
/// named by them.
///
/// # Shapes
/// - images `[batch, in_channels, h, w]` (any size; each stride-2 layer gives `⌈h / 2⌉`)
/// - stages `[batch, stem_width | widths[0] | … | widths[3], ⌈h/r⌉, ⌈w/r⌉]` for `r` = 2, 4, 8,
///   16, 32 (`widths` of [`RegNetConfig::block_params`])
/// - logits `[batch, num_classes]`
#[derive(Module, Debug)]
pub struct RegNet {
    /// `stem`: 3×3/2 convolution `in_channels → stem_width`, BatchNorm, ReLU.
    pub stem: ConvBnAct,
    /// `trunk_output`: the stages (`block1` … `block4`), each a list of blocks.
    pub trunk_output: Vec<Vec<ResBottleneckBlock>>,
    /// `avgpool`: global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// `fc`: `widths[3] → num_classes`.
    pub fc: Linear,
}

impl RegNet {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("the stem at least"); // [b, w4, h/32, w/32]
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, w4]
        trace::linear("fc", &self.fc, x)
    }
}

impl ImageClassifier for RegNet {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }
}

impl Backbone for RegNet {
    /// The stem (`stem`, reduction 2) and each stage (`trunk_output.block1` … `block4`,
    /// reductions 4, 8, 16, 32).
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut info = vec![FeatureInfo::new("stem", self.stem.conv.weight.dims()[0], 2)];
        let mut reduction = 2;
        for (s, blocks) in self.trunk_output.iter().enumerate() {
            let first = blocks.first().expect("a stage has blocks");
            let last = blocks.last().expect("a stage has blocks");
            reduction *= first.f.b.conv.stride[0];
            info.push(FeatureInfo::new(
                format!("trunk_output.block{}", s + 1),
                last.f.c.conv.weight.dims()[0],
                reduction,
            ));
        }
        info
    }

    /// The stem's output and each stage's.
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let stem = trace::scope("stem", || run_conv_bn(&self.stem, images)); // [b, stem_width, h/2, w/2]
        let mut out = vec![stem];
        trace::scope("trunk_output", || {
            for (s, blocks) in self.trunk_output.iter().enumerate() {
                let x = out.last().expect("the stem").clone();
                out.push(run_stage(s + 1, blocks, x)); // [b, widths[s], h/2^(s+2), w/2^(s+2)]
            }
        });
        out
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        let [d_in, _] = self.fc.weight.dims();
        self.fc = classifier(d_in, num_classes, device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::count_params;

    fn variant(name: &str) -> RegNetVariant {
        *REGNET_VARIANTS.iter().find(|v| v.name == name).expect("in the table")
    }

    /// `sum(p.numel() for p in model.parameters())` of torchvision's builders, which its
    /// weights' `num_params` also state.
    #[test]
    fn parameters_equal_torchvision() {
        let device = Device::flex();
        for v in &REGNET_VARIANTS {
            let model = RegNetConfig::from_variant(v).init(&device);
            assert_eq!(count_params(&model), v.num_params, "{}", v.name);
        }
        // 10 classes (torchvision's builders with num_classes=10).
        for (name, params) in [("regnet_x_400mf", 5_098_986), ("regnet_y_400mf", 3_907_554)] {
            let model = RegNetConfig::from_variant(&variant(name))
                .with_num_classes(10)
                .init(&device);
            assert_eq!(count_params(&model), params, "{name}");
        }
    }

    /// Stage outputs of torchvision's models on a 64×64 image, and the feature contract.
    #[test]
    fn shapes_and_stages_on_64px() {
        let device = Device::flex();
        for (name, channels) in [
            ("regnet_x_400mf", [32, 32, 64, 160, 400]),
            ("regnet_y_400mf", [32, 48, 104, 208, 440]),
        ] {
            let model = RegNetConfig::from_variant(&variant(name))
                .with_num_classes(10)
                .init(&device);
            let x = Tensor::<4>::ones([1, 3, 64, 64], &device);
            let dims: Vec<[usize; 4]> = model.forward_features(x.clone()).iter().map(|f| f.dims()).collect();
            let expected: Vec<[usize; 4]> = channels
                .iter()
                .zip([32, 16, 8, 4, 2])
                .map(|(&c, s)| [1, c, s, s])
                .collect();
            assert_eq!(dims, expected, "{name}");
            let info = model.feature_info();
            let names: Vec<&str> = info.iter().map(|f| f.module.as_str()).collect();
            assert_eq!(
                names,
                [
                    "stem",
                    "trunk_output.block1",
                    "trunk_output.block2",
                    "trunk_output.block3",
                    "trunk_output.block4"
                ]
            );
            let info_channels: Vec<usize> = info.iter().map(|f| f.channels).collect();
            assert_eq!(info_channels, channels, "{name}");
            let reductions: Vec<usize> = info.iter().map(|f| f.reduction).collect();
            assert_eq!(reductions, [2, 4, 8, 16, 32]);
            assert_eq!(model.forward(x.clone()).dims(), [1, 10]);
            assert_eq!(model.num_classes(), 10);
            let model = model.reset_classifier(7, &device);
            assert_eq!(model.forward(x).dims(), [1, 7]);
            assert_eq!(model.num_classes(), 7);
        }
    }

    /// The summary sees every parameter, names layers by torchvision's paths, and counts
    /// torchvision's multiply-accumulates at 224×224: forward hooks on its `Conv2d` and `Linear`
    /// modules give 413,812,608 (`regnet_x_400mf`) and 401,842,848 (`regnet_y_400mf`), within
    /// 0.05% of the published 0.414 and 0.402 GFLOPS.
    #[test]
    fn trace_counts_torchvision_mult_adds() {
        let device = Device::flex();
        for (name, exact, convs) in [
            ("regnet_x_400mf", 413_812_608u64, 1 + 22 * 3 + 4),
            ("regnet_y_400mf", 401_842_848, 1 + 16 * 5 + 4),
        ] {
            let v = variant(name);
            let model = RegNetConfig::from_variant(&v).init(&device);
            let x = Tensor::<4>::zeros([1, 3, 224, 224], &device);
            let (y, records) = trace::collect(|| model.forward(x));
            assert_eq!(y.dims(), [1, 1000]);
            let params: usize = records.iter().map(|r| r.params).sum();
            assert_eq!(params, count_params(&model), "{name}");
            let macs: u64 = records.iter().map(|r| r.macs).sum();
            assert_eq!(macs, exact, "{name}");
            let published = v.gflops * 1e9;
            assert!(
                (macs as f64 - published).abs() < 0.02 * published,
                "{name}: {macs} against {published}"
            );
            let count = records.iter().filter(|r| r.kind.starts_with("Conv2d")).count();
            assert_eq!(count, convs, "{name}");
            let paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
            for p in [
                "stem.0",
                "stem.1",
                "trunk_output.block1.block1-0.proj.0",
                "trunk_output.block1.block1-0.proj.1",
                "trunk_output.block1.block1-0.f.a.0",
                "trunk_output.block2.block2-1.f.b.1",
                "trunk_output.block4.block4-5.f.c.0",
                "avgpool",
                "fc",
            ] {
                assert!(paths.contains(&p), "{name}: {p} not traced");
            }
            assert_eq!(
                paths.contains(&"trunk_output.block3.block3-2.f.se.fc2"),
                v.se_ratio.is_some(),
                "{name}"
            );
            assert_eq!(records.last().and_then(|r| r.receptive_field), None);
        }
    }
}
