//! The ShuffleNet V2 model and its variants as data.

use crate::block::ShuffleUnit;
use burn::{
    config::Config,
    module::Module,
    nn::{
        Linear, LinearConfig, PaddingConfig2d,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor},
};
use kiln_core::{Backbone, ConvBnAct, ConvBnActConfig, FeatureInfo, ImageClassifier, trace};

/// A row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct ShuffleNetVariant {
    /// Registry name.
    pub name: &'static str,
    /// Output channels of conv1, stage2, stage3, stage4 and conv5 (torchvision's
    /// `stages_out_channels`).
    pub stages_out_channels: [usize; 5],
    /// torchvision's `num_params` with 1000 classes.
    pub num_params: usize,
}

/// Units per stage (stage2, stage3, stage4) of every torchvision ShuffleNet V2.
pub const STAGES_REPEATS: [usize; 3] = [4, 8, 4];

/// Every ShuffleNet V2 of torchvision: the width multipliers 0.5, 1.0, 1.5 and 2.0.
pub const SHUFFLENET_VARIANTS: [ShuffleNetVariant; 4] = [
    ShuffleNetVariant {
        name: "shufflenet_v2_x0_5",
        stages_out_channels: [24, 48, 96, 192, 1024],
        num_params: 1_366_792,
    },
    ShuffleNetVariant {
        name: "shufflenet_v2_x1_0",
        stages_out_channels: [24, 116, 232, 464, 1024],
        num_params: 2_278_604,
    },
    ShuffleNetVariant {
        name: "shufflenet_v2_x1_5",
        stages_out_channels: [24, 176, 352, 704, 1024],
        num_params: 3_503_624,
    },
    ShuffleNetVariant {
        name: "shufflenet_v2_x2_0",
        stages_out_channels: [24, 244, 488, 976, 2048],
        num_params: 7_393_996,
    },
];

/// Configuration of a [`ShuffleNetV2`].
#[derive(Config, Debug)]
pub struct ShuffleNetV2Config {
    /// Output channels of conv1, stage2, stage3, stage4 and conv5 (stage widths even).
    pub stages_out_channels: [usize; 5],
    /// Units per stage (stage2, stage3, stage4); [`STAGES_REPEATS`] in every torchvision variant.
    #[config(default = "[4, 8, 4]")]
    pub stages_repeats: [usize; 3],
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
}

impl ShuffleNetV2Config {
    /// The configuration of a table row.
    pub fn from_variant(v: &ShuffleNetVariant) -> Self {
        Self::new(v.stages_out_channels)
    }

    /// Builds the model on `device`, initialised as torchvision's (PyTorch's layer defaults).
    ///
    /// # Panics
    /// When a stage width is odd (torchvision raises on it).
    pub fn init(&self, device: &Device) -> ShuffleNetV2 {
        let c = self.stages_out_channels;
        let conv1 = ConvBnActConfig::new([self.in_channels, c[0]], [3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .init(device);
        let stage = |i: usize| {
            let (in_c, out_c) = (c[i], c[i + 1]);
            (0..self.stages_repeats[i])
                .map(|j| {
                    if j == 0 {
                        ShuffleUnit::new(in_c, out_c, 2, device)
                    } else {
                        ShuffleUnit::new(out_c, out_c, 1, device)
                    }
                })
                .collect::<Vec<_>>()
        };
        ShuffleNetV2 {
            conv1,
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            stage2: stage(0),
            stage3: stage(1),
            stage4: stage(2),
            conv5: ConvBnActConfig::new([c[3], c[4]], [1, 1]).init(device),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(c[4], self.num_classes).init(device),
        }
    }
}

/// ShuffleNet V2 (Ma, Zhang, Zheng, Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN
/// Architecture Design", 2018) as torchvision builds it.
///
/// | stage | output at 224×224 (x1.0) | reduction |
/// |---|---|---|
/// | conv1: 3×3/2 conv, BatchNorm, ReLU | 24×112×112 | 2 |
/// | maxpool 3×3/2 | 24×56×56 | 4 |
/// | stage2: 4 units, the first stride 2 | 116×28×28 | 8 |
/// | stage3: 8 units | 232×14×14 | 16 |
/// | stage4: 4 units | 464×7×7 | 32 |
/// | conv5: 1×1 conv, BatchNorm, ReLU | 1024×7×7 | 32 |
/// | global average pooling, fc | num_classes | |
///
/// The global pooling is torchvision's `x.mean([2, 3])`, written as an adaptive average pooling
/// to 1×1 (the same values).
#[derive(Module, Debug)]
pub struct ShuffleNetV2 {
    /// Stem: 3×3/2 convolution, BatchNorm, ReLU (torchvision's `conv1.0`, `conv1.1`).
    pub conv1: ConvBnAct,
    /// 3×3/2 max pooling, padding 1.
    pub maxpool: MaxPool2d,
    /// Stage 2.
    pub stage2: Vec<ShuffleUnit>,
    /// Stage 3.
    pub stage3: Vec<ShuffleUnit>,
    /// Stage 4.
    pub stage4: Vec<ShuffleUnit>,
    /// 1×1 convolution, BatchNorm, ReLU (torchvision's `conv5.0`, `conv5.1`).
    pub conv5: ConvBnAct,
    /// Global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// The classifier: `stages_out_channels[4] → num_classes`.
    pub fc: Linear,
}

fn run_stage(name: &str, units: &[ShuffleUnit], x: Tensor<4>) -> Tensor<4> {
    trace::scope(name, || {
        units
            .iter()
            .enumerate()
            .fold(x, |x, (i, u)| trace::scope(&i.to_string(), || u.forward(x)))
    })
}

fn out_channels(block: &ConvBnAct) -> usize {
    block.conv.weight.dims()[0]
}

fn stage_channels(units: &[ShuffleUnit]) -> usize {
    // Both branches give half the unit's output; branch2 ends on its second 1×1.
    units.last().map_or(0, |u| 2 * out_channels(&u.branch2.pointwise2))
}

impl ShuffleNetV2 {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("five stages"); // [b, c5, h/32, w/32]
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, c5]
        trace::linear("fc", &self.fc, x)
    }
}

impl ImageClassifier for ShuffleNetV2 {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }
}

impl Backbone for ShuffleNetV2 {
    fn feature_info(&self) -> Vec<FeatureInfo> {
        vec![
            FeatureInfo::new("conv1", out_channels(&self.conv1), 2),
            FeatureInfo::new("stage2", stage_channels(&self.stage2), 8),
            FeatureInfo::new("stage3", stage_channels(&self.stage3), 16),
            FeatureInfo::new("stage4", stage_channels(&self.stage4), 32),
            FeatureInfo::new("conv5", out_channels(&self.conv5), 32),
        ]
    }

    /// The stem activation (before the max pooling), the three stages and conv5.
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let c1 = trace::scope("conv1", || self.conv1.forward(images)); // [b, c0, h/2, w/2]
        let x = trace::max_pool2d("maxpool", &self.maxpool, c1.clone()); // [b, c0, h/4, w/4]
        let s2 = run_stage("stage2", &self.stage2, x); // [b, c1, h/8, w/8]
        let s3 = run_stage("stage3", &self.stage3, s2.clone()); // [b, c2, h/16, w/16]
        let s4 = run_stage("stage4", &self.stage4, s3.clone()); // [b, c3, h/32, w/32]
        let c5 = trace::scope("conv5", || self.conv5.forward(s4.clone())); // [b, c4, h/32, w/32]
        vec![c1, s2, s3, s4, c5]
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
    use kiln_core::{count_params, summary::summarize};

    #[test]
    fn parameter_counts_equal_torchvision() {
        let device = Device::flex();
        for v in &SHUFFLENET_VARIANTS {
            let model = ShuffleNetV2Config::from_variant(v).init(&device);
            assert_eq!(count_params(&model), v.num_params, "{}", v.name);
        }
    }

    #[test]
    fn shapes_and_feature_contract() {
        let device = Device::flex();
        let model = ShuffleNetV2Config::from_variant(&SHUFFLENET_VARIANTS[0])
            .with_num_classes(10)
            .init(&device);
        let x = Tensor::<4>::zeros([1, 3, 64, 64], &device);
        let dims: Vec<[usize; 4]> = model.forward_features(x.clone()).iter().map(|f| f.dims()).collect();
        assert_eq!(
            dims,
            [
                [1, 24, 32, 32],
                [1, 48, 8, 8],
                [1, 96, 4, 4],
                [1, 192, 2, 2],
                [1, 1024, 2, 2]
            ]
        );
        let info: Vec<(usize, usize)> = model.feature_info().iter().map(|f| (f.channels, f.reduction)).collect();
        assert_eq!(info, [(24, 2), (48, 8), (96, 16), (192, 32), (1024, 32)]);
        assert_eq!(model.forward(x.clone()).dims(), [1, 10]);
        let model = model.reset_classifier(7, &device);
        assert_eq!(model.num_classes(), 7);
        assert_eq!(model.forward(x).dims(), [1, 7]);
    }

    /// Every layer with parameters is traced (the summary's layers hold all of them), and the
    /// multiply-accumulates equal those counted on torchvision's model (forward hooks on every
    /// Conv2d and Linear, 10 classes, 64×64 input).
    #[test]
    fn summary_matches_torchvision() {
        let device = Device::flex();
        let model = ShuffleNetV2Config::from_variant(&SHUFFLENET_VARIANTS[0])
            .with_num_classes(10)
            .init(&device);
        let summary = summarize(&model, [3, 64, 64], &device);
        let traced: usize = summary.layers.iter().map(|l| l.params).sum();
        assert_eq!(traced, count_params(&model));
        assert_eq!(summary.total_macs, 3_230_848);
        assert_eq!(summary.output, [10]);
        let first = &summary.layers[0];
        assert_eq!(
            (first.path.as_str(), first.receptive_field),
            ("conv1.conv", Some([3, 3]))
        );
        assert!(
            summary
                .layers
                .iter()
                .any(|l| l.path == "stage2.0.branch1.depthwise.conv"),
            "branch paths follow the fields"
        );
    }
}
