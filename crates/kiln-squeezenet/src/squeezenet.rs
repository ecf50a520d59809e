//! The SqueezeNet model, its two versions and their layer tables.

use crate::fire::{Fire, conv, final_conv};
use burn::{
    config::Config,
    module::Module,
    nn::{
        Dropout, DropoutConfig,
        conv::Conv2d,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor, activation::relu},
};
use kiln_core::{Backbone, FeatureInfo, ImageClassifier, trace};
use serde::{Deserialize, Serialize};

/// `(squeeze, expand)` channels of a Fire module; its 1×1 and 3×3 expansions give `expand` maps
/// each, so it outputs `2 · expand`.
pub type FireSpec = (usize, usize);

/// SqueezeNet 1.0's Fire modules after each of its three max poolings (the paper's fire2–4,
/// fire5–8, fire9).
const V1_0_STAGES: [&[FireSpec]; 3] = [
    &[(16, 64), (16, 64), (32, 128)],
    &[(32, 128), (48, 192), (48, 192), (64, 256)],
    &[(64, 256)],
];

/// SqueezeNet 1.1's: the poolings come earlier (after fire3 and fire5).
const V1_1_STAGES: [&[FireSpec]; 3] = [
    &[(16, 64), (16, 64)],
    &[(32, 128), (32, 128)],
    &[(48, 192), (48, 192), (64, 256), (64, 256)],
];

/// torchvision's `version` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SqueezeNetVersion {
    /// `"1_0"`, the paper's network: 7×7/2 stem convolution with 96 maps.
    #[default]
    #[serde(rename = "1_0")]
    V1_0,
    /// `"1_1"`: 3×3/2 stem convolution with 64 maps and earlier pooling, 2.4× less computation
    /// than 1.0 for the same accuracy.
    #[serde(rename = "1_1")]
    V1_1,
}

impl SqueezeNetVersion {
    /// Output channels and kernel size of the stem convolution (stride 2, no padding).
    pub fn stem(self) -> (usize, usize) {
        match self {
            Self::V1_0 => (96, 7),
            Self::V1_1 => (64, 3),
        }
    }

    /// The Fire modules after each of the three max poolings.
    pub fn stages(self) -> [&'static [FireSpec]; 3] {
        match self {
            Self::V1_0 => V1_0_STAGES,
            Self::V1_1 => V1_1_STAGES,
        }
    }
}

/// A row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct SqueezeNetVariant {
    /// Registry name.
    pub name: &'static str,
    /// The layer table.
    pub version: SqueezeNetVersion,
    /// torchvision's `num_params` with 1000 classes.
    pub num_params: usize,
}

/// Every SqueezeNet of torchvision.
pub const SQUEEZENET_VARIANTS: [SqueezeNetVariant; 2] = [
    SqueezeNetVariant {
        name: "squeezenet1_0",
        version: SqueezeNetVersion::V1_0,
        num_params: 1_248_424,
    },
    SqueezeNetVariant {
        name: "squeezenet1_1",
        version: SqueezeNetVersion::V1_1,
        num_params: 1_235_496,
    },
];

/// Configuration of a [`SqueezeNet`].
#[derive(Config, Debug)]
pub struct SqueezeNetConfig {
    /// 1.0 or 1.1.
    pub version: SqueezeNetVersion,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Dropout probability before the final convolution.
    #[config(default = 0.5)]
    pub dropout: f64,
}

impl SqueezeNetConfig {
    /// The configuration of a table row.
    pub fn from_variant(v: &SqueezeNetVariant) -> Self {
        Self::new(v.version)
    }

    /// Builds the model on `device`, initialised as torchvision's.
    pub fn init(&self, device: &Device) -> SqueezeNet {
        let (stem_c, stem_k) = self.version.stem();
        let stages = self.version.stages();
        let mut in_c = stem_c;
        let mut fire = Vec::new();
        for &(squeeze, expand) in stages.iter().copied().flatten() {
            fire.push(Fire::new(in_c, squeeze, expand, expand, device));
            in_c = 2 * expand;
        }
        SqueezeNet {
            conv1: conv(self.in_channels, stem_c, stem_k, 2, 0, device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_ceil_mode(true)
                .init(),
            fire,
            stage_sizes: stages.iter().map(|s| s.len()).collect(),
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: final_conv(in_c, self.num_classes, device),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
        }
    }
}

/// SqueezeNet (Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer, "SqueezeNet: AlexNet-level
/// accuracy with 50x fewer parameters and <0.5MB model size", 2016) as torchvision builds it: no
/// fully connected layer, the classifier is a 1×1 convolution to `num_classes` maps, ReLU, and
/// global average pooling.
///
/// | stage | 1.0 at 224×224 | 1.1 at 224×224 | reduction |
/// |---|---|---|---|
/// | conv1 (no padding), ReLU | 96×109×109 (7×7/2) | 64×111×111 (3×3/2) | 2 |
/// | pool, Fire modules | 256×54×54 (3 Fire) | 128×55×55 (2 Fire) | 4 |
/// | pool, Fire modules | 512×27×27 (4 Fire) | 256×27×27 (2 Fire) | 8 |
/// | pool, Fire modules | 512×13×13 (1 Fire) | 512×13×13 (4 Fire) | 16 |
/// | dropout, classifier 1×1, ReLU, global average pooling | num_classes | num_classes | |
///
/// Every max pooling is 3×3/2 with `ceil_mode` (a last, partial window is kept).
#[derive(Module, Debug)]
pub struct SqueezeNet {
    /// Stem convolution, stride 2, no padding (torchvision's `features.0`).
    pub conv1: Conv2d,
    /// 3×3/2 max pooling in ceil mode, before each group of Fire modules.
    pub pool: MaxPool2d,
    /// The Fire modules in order (torchvision's `features.{3, 4, ...}`, the positions between
    /// the poolings).
    pub fire: Vec<Fire>,
    /// How many Fire modules follow each max pooling.
    pub stage_sizes: Vec<usize>,
    /// Dropout before the classifier.
    pub dropout: Dropout,
    /// The classifier: 1×1 convolution `512 → num_classes` (torchvision's `classifier.1`).
    pub classifier: Conv2d,
    /// Global average pooling of the class maps.
    pub avgpool: AdaptiveAvgPool2d,
}

impl SqueezeNet {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]` (h, w ≥ 21 for 1.0, ≥ 17 for 1.1)
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("four stages"); // [b, 512, h', w']
        let x = self.dropout.forward(x);
        let x = relu(trace::conv2d("classifier", &self.classifier, x)); // [b, classes, h', w']
        trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3) // [b, classes]
    }

    /// The index in `fire` of the last Fire module of each stage.
    fn stage_ends(&self) -> Vec<usize> {
        self.stage_sizes
            .iter()
            .scan(0, |end, n| {
                *end += n;
                Some(*end - 1)
            })
            .collect()
    }
}

impl ImageClassifier for SqueezeNet {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier.weight.dims()[0]
    }
}

impl Backbone for SqueezeNet {
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut info = vec![FeatureInfo::new("conv1", self.conv1.weight.dims()[0], 2)];
        let mut reduction = 2;
        for k in self.stage_ends() {
            reduction *= 2;
            info.push(FeatureInfo::new(
                format!("fire.{k}"),
                self.fire[k].out_channels(),
                reduction,
            ));
        }
        info
    }

    /// The outputs before each max pooling (the stem's ReLU, the last Fire module of the first
    /// two groups) and the last Fire module.
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = relu(trace::conv2d("conv1", &self.conv1, images)); // [b, c0, h/2, w/2]
        let mut stages = vec![x.clone()];
        let mut k = 0;
        for &n in &self.stage_sizes {
            x = trace::max_pool2d("pool", &self.pool, x); // spatial size halved, rounded up
            for _ in 0..n {
                let fire = &self.fire[k];
                x = trace::scope("fire", || trace::scope(&k.to_string(), || fire.forward(x)));
                k += 1;
            }
            stages.push(x.clone());
        }
        stages
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        let in_c = self.classifier.weight.dims()[1];
        self.classifier = final_conv(in_c, num_classes, device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::{count_params, floats, summary::summarize};

    #[test]
    fn parameter_counts_equal_torchvision() {
        let device = Device::flex();
        for v in &SQUEEZENET_VARIANTS {
            let model = SqueezeNetConfig::from_variant(v).init(&device);
            assert_eq!(count_params(&model), v.num_params, "{}", v.name);
        }
    }

    /// At 64×64 the ceil-mode pooling keeps partial windows: 29 → 14 → 7 → 3 (floor mode would
    /// give 14 → 6 → 2).
    #[test]
    fn shapes_and_feature_contract_of_1_0() {
        let device = Device::flex();
        let model = SqueezeNetConfig::new(SqueezeNetVersion::V1_0)
            .with_num_classes(10)
            .init(&device);
        let x = Tensor::<4>::zeros([1, 3, 64, 64], &device);
        let dims: Vec<[usize; 4]> = model.forward_features(x.clone()).iter().map(|f| f.dims()).collect();
        assert_eq!(
            dims,
            [[1, 96, 29, 29], [1, 256, 14, 14], [1, 512, 7, 7], [1, 512, 3, 3]]
        );
        let info: Vec<(String, usize, usize)> = model
            .feature_info()
            .into_iter()
            .map(|f| (f.module, f.channels, f.reduction))
            .collect();
        let expected: [(&str, usize, usize); 4] = [
            ("conv1", 96, 2),
            ("fire.2", 256, 4),
            ("fire.6", 512, 8),
            ("fire.7", 512, 16),
        ];
        assert_eq!(info.len(), expected.len());
        for (got, want) in info.iter().zip(expected) {
            assert_eq!((got.0.as_str(), got.1, got.2), want);
        }
        assert_eq!(model.forward(x.clone()).dims(), [1, 10]);
        let model = model.reset_classifier(7, &device);
        assert_eq!(model.num_classes(), 7);
        assert_eq!(model.forward(x).dims(), [1, 7]);
    }

    #[test]
    fn shapes_and_feature_contract_of_1_1() {
        let device = Device::flex();
        let model = SqueezeNetConfig::new(SqueezeNetVersion::V1_1)
            .with_num_classes(10)
            .init(&device);
        let x = Tensor::<4>::zeros([2, 3, 64, 64], &device);
        let dims: Vec<[usize; 4]> = model.forward_features(x.clone()).iter().map(|f| f.dims()).collect();
        assert_eq!(
            dims,
            [[2, 64, 31, 31], [2, 128, 15, 15], [2, 256, 7, 7], [2, 512, 3, 3]]
        );
        let modules: Vec<String> = model.feature_info().into_iter().map(|f| f.module).collect();
        assert_eq!(modules, ["conv1", "fire.1", "fire.3", "fire.7"]);
        assert_eq!(model.forward(x).dims(), [2, 10]);
    }

    /// Every parameter is traced, and the multiply-accumulates equal those counted on
    /// torchvision's model (forward hooks on every Conv2d, 10 classes, 64×64 input).
    #[test]
    fn summary_matches_torchvision() {
        let device = Device::flex();
        for (version, macs) in [
            (SqueezeNetVersion::V1_0, 49_409_056),
            (SqueezeNetVersion::V1_1, 17_022_656),
        ] {
            let model = SqueezeNetConfig::new(version).with_num_classes(10).init(&device);
            let summary = summarize(&model, [3, 64, 64], &device);
            let traced: usize = summary.layers.iter().map(|l| l.params).sum();
            assert_eq!(traced, count_params(&model), "{version:?}");
            assert_eq!(summary.total_macs, macs, "{version:?}");
            assert_eq!(summary.output, [10]);
        }
    }

    /// torchvision's initialisation: zero biases, the final convolution drawn with std 0.01.
    #[test]
    fn initialisation_as_torchvision() {
        let device = Device::flex();
        let model = SqueezeNetConfig::new(SqueezeNetVersion::V1_1)
            .with_num_classes(10)
            .init(&device);
        let bias = |c: &Conv2d| floats(c.bias.as_ref().expect("bias").val());
        assert!(bias(&model.classifier).iter().all(|&b| b == 0.0));
        assert!(bias(&model.conv1).iter().all(|&b| b == 0.0));
        assert!(bias(&model.fire[3].expand3x3).iter().all(|&b| b == 0.0));
        let w = floats(model.classifier.weight.val()); // 10 · 512 values
        let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
        assert!((std - 0.01).abs() < 0.001, "std {std}");
    }
}
