//! The DenseNet model, its configuration and its variants as data.

use crate::block::{DenseBlock, Transition, bn, conv};
use burn::{
    config::Config,
    module::Module,
    nn::{
        BatchNorm, Initializer, Linear, LinearConfig, PaddingConfig2d,
        conv::Conv2d,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor, activation::relu},
};
use kiln_core::{Backbone, FeatureInfo, ImageClassifier, trace};

/// A row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct DenseNetVariant {
    /// Registry name.
    pub name: &'static str,
    /// Channels each dense layer adds (`k` in the paper).
    pub growth_rate: usize,
    /// Dense layers in each of the four blocks.
    pub block_config: [usize; 4],
    /// Channels of the first convolution.
    pub num_init_features: usize,
    /// torchvision's parameter count with 1000 classes (its weights' `num_params`).
    pub num_params: usize,
}

/// Every DenseNet of torchvision (`densenet121`, `densenet161`, `densenet169`, `densenet201`).
pub const DENSENET_VARIANTS: [DenseNetVariant; 4] = [
    DenseNetVariant {
        name: "densenet121",
        growth_rate: 32,
        block_config: [6, 12, 24, 16],
        num_init_features: 64,
        num_params: 7_978_856,
    },
    DenseNetVariant {
        name: "densenet161",
        growth_rate: 48,
        block_config: [6, 12, 36, 24],
        num_init_features: 96,
        num_params: 28_681_000,
    },
    DenseNetVariant {
        name: "densenet169",
        growth_rate: 32,
        block_config: [6, 12, 32, 32],
        num_init_features: 64,
        num_params: 14_149_480,
    },
    DenseNetVariant {
        name: "densenet201",
        growth_rate: 32,
        block_config: [6, 12, 48, 32],
        num_init_features: 64,
        num_params: 20_013_928,
    },
];

/// Configuration of a [`DenseNet`] (torchvision's `DenseNet.__init__` arguments, less
/// `memory_efficient`: recomputation is Burn's `Device::gradient_checkpointing`).
#[derive(Config, Debug)]
pub struct DenseNetConfig {
    /// Channels each dense layer adds (`k`).
    pub growth_rate: usize,
    /// Dense layers in each of the four blocks.
    pub block_config: [usize; 4],
    /// Channels of the first convolution.
    pub num_init_features: usize,
    /// Bottleneck width of a dense layer in multiples of `growth_rate`.
    #[config(default = 4)]
    pub bn_size: usize,
    /// Dropout probability after each dense layer (training only); 0 in every builder.
    #[config(default = 0.0)]
    pub drop_rate: f64,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
}

impl DenseNetConfig {
    /// The configuration of a table row.
    pub fn from_variant(v: &DenseNetVariant) -> Self {
        Self::new(v.growth_rate, v.block_config, v.num_init_features)
    }

    /// Channels of each dense block's output: block `i` reads the previous transition's output
    /// (half its input channels; `num_init_features` for the first) and adds
    /// `block_config[i] · growth_rate`.
    pub fn block_channels(&self) -> [usize; 4] {
        let mut c = self.num_init_features;
        let mut out = [0; 4];
        for (i, &n) in self.block_config.iter().enumerate() {
            if i > 0 {
                c /= 2;
            }
            c += n * self.growth_rate;
            out[i] = c;
        }
        out
    }

    /// Channels of `norm5`, the classifier's input.
    pub fn num_features(&self) -> usize {
        self.block_channels()[3]
    }

    /// Builds the model.
    ///
    /// # Panics
    /// When `growth_rate`, `num_init_features`, `bn_size` or `in_channels` is 0, or `drop_rate`
    /// is not in `[0, 1)`.
    pub fn init(&self, device: &Device) -> DenseNet {
        assert!(
            self.growth_rate > 0 && self.num_init_features > 0 && self.bn_size > 0 && self.in_channels > 0,
            "growth_rate, num_init_features, bn_size and in_channels must be positive: {self:?}"
        );
        assert!(
            (0.0..1.0).contains(&self.drop_rate),
            "drop_rate must be in [0, 1), got {}",
            self.drop_rate
        );
        let channels = self.block_channels();
        let mut c = self.num_init_features;
        let mut blocks = Vec::with_capacity(4);
        let mut transitions = Vec::with_capacity(3);
        for (i, &n) in self.block_config.iter().enumerate() {
            blocks.push(DenseBlock::new(
                n,
                c,
                self.growth_rate,
                self.bn_size,
                self.drop_rate,
                device,
            ));
            c = channels[i];
            if i + 1 < self.block_config.len() {
                transitions.push(Transition::new(c, c / 2, device));
                c /= 2;
            }
        }
        DenseNet {
            features: DenseNetFeatures {
                conv0: conv(self.in_channels, self.num_init_features, 7, 2, device),
                norm0: bn(self.num_init_features, device),
                pool0: MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(),
                blocks,
                transitions,
                norm5: bn(c, device),
            },
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            classifier: classifier(c, self.num_classes, device),
            stage_channels: [
                self.num_init_features,
                channels[0],
                channels[1],
                channels[2],
                channels[3],
            ],
        }
    }
}

/// torchvision's classifier: PyTorch's default `Linear` weights (uniform in `±1/√d_in`, which is
/// Burn's default) and a zero bias (`nn.init.constant_(m.bias, 0)`).
fn classifier(d_in: usize, num_classes: usize, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, num_classes).init(device);
    linear.bias = Some(Initializer::Zeros.init([num_classes], device));
    linear
}

/// torchvision's `features` `Sequential`, as named fields (its ReLU holds nothing and is left
/// out; the dense blocks and transitions, numbered from 1 there, are lists here).
#[derive(Module, Debug)]
pub struct DenseNetFeatures {
    /// `conv0`: 7×7/2, padding 3, `in_channels → num_init_features`.
    pub conv0: Conv2d,
    /// `norm0` (then `relu0`).
    pub norm0: BatchNorm,
    /// `pool0`: 3×3/2 max pooling, padding 1.
    pub pool0: MaxPool2d,
    /// `denseblock1` … `denseblock4`.
    pub blocks: Vec<DenseBlock>,
    /// `transition1` … `transition3`.
    pub transitions: Vec<Transition>,
    /// `norm5`, the final BatchNorm (the ReLU after it is a function call in torchvision).
    pub norm5: BatchNorm,
}

/// DenseNet-BC (Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional
/// Networks", 2016) as torchvision builds it; parameters 7,978,856 / 28,681,000 / 14,149,480 /
/// 20,013,928 for DenseNet-121 / 161 / 169 / 201 with 1000 classes.
///
/// | torchvision module | layers | output at 224×224, DenseNet-121 |
/// |---|---|---|
/// | `features.conv0`, `norm0`, `relu0` | conv 7×7/2, BN, ReLU | 64×112×112 |
/// | `features.pool0` | max pool 3×3/2 | 64×56×56 |
/// | `features.denseblock1` | 6 dense layers, k = 32 | 256×56×56 |
/// | `features.transition1` | BN, ReLU, conv 1×1, avg pool 2×2/2 | 128×28×28 |
/// | `features.denseblock2` | 12 dense layers | 512×28×28 |
/// | `features.transition2` | | 256×14×14 |
/// | `features.denseblock3` | 24 dense layers | 1024×14×14 |
/// | `features.transition3` | | 512×7×7 |
/// | `features.denseblock4` | 16 dense layers | 1024×7×7 |
/// | `features.norm5`, ReLU | BN, ReLU | 1024×7×7 |
/// | pooling, `classifier` | global average, linear | num_classes |
///
/// A dense layer is BN, ReLU, conv 1×1 to `4k`, BN, ReLU, conv 3×3 to `k`, its output
/// concatenated to its input. Layers are traced under torchvision's module paths
/// (`features.denseblock1.denselayer1.conv1`, `features.transition1.pool`, `classifier`); the
/// global average, a function call in torchvision, is traced as `avgpool`.
///
/// # Shapes
/// - images `[batch, in_channels, h, w]` (`h, w ≥ 29`, torchvision's `min_size`)
/// - stages `[batch, stage_channels[i], ≈h/r, ≈w/r]` for `r` = 2, 4, 8, 16, 32
/// - logits `[batch, num_classes]`
#[derive(Module, Debug)]
pub struct DenseNet {
    /// The convolutional trunk (torchvision's `features`).
    pub features: DenseNetFeatures,
    /// Global average pooling (torchvision's `F.adaptive_avg_pool2d(out, (1, 1))`).
    pub avgpool: AdaptiveAvgPool2d,
    /// `classifier`: `num_features → num_classes`.
    pub classifier: Linear,
    /// Channels of the five stages of [`Backbone::feature_info`]: `num_init_features`, then
    /// [`DenseNetConfig::block_channels`].
    #[module(skip)]
    pub stage_channels: [usize; 5],
}

impl DenseNet {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("five stages"); // [b, c, h/32, w/32]
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, c]
        trace::linear("classifier", &self.classifier, x) // [b, num_classes]
    }
}

impl ImageClassifier for DenseNet {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}

impl Backbone for DenseNet {
    /// As timm picks DenseNet's stages: the stem after its ReLU (`features.relu0`, reduction 2),
    /// the output of dense blocks 1–3 before their transition (`features.denseblock1` … `3`:
    /// reductions 4, 8, 16), and `norm5` after the final ReLU (`features.norm5`, 32).
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let c = self.stage_channels;
        vec![
            FeatureInfo::new("features.relu0", c[0], 2),
            FeatureInfo::new("features.denseblock1", c[1], 4),
            FeatureInfo::new("features.denseblock2", c[2], 8),
            FeatureInfo::new("features.denseblock3", c[3], 16),
            FeatureInfo::new("features.norm5", c[4], 32),
        ]
    }

    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let f = &self.features;
        trace::scope("features", || {
            let x = trace::conv2d("conv0", &f.conv0, images); // [b, c0, h/2, w/2]
            let stem = relu(trace::batch_norm("norm0", &f.norm0, x));
            let mut x = trace::max_pool2d("pool0", &f.pool0, stem.clone()); // [b, c0, h/4, w/4]
            let mut stages = vec![stem];
            for (i, block) in f.blocks.iter().enumerate() {
                // [b, block_channels[i], h/r, w/r]
                x = trace::scope(&format!("denseblock{}", i + 1), || block.forward(x));
                if let Some(t) = f.transitions.get(i) {
                    stages.push(x.clone());
                    // [b, block_channels[i] / 2, h/2r, w/2r]
                    x = trace::scope(&format!("transition{}", i + 1), || t.forward(x));
                }
            }
            stages.push(relu(trace::batch_norm("norm5", &f.norm5, x))); // [b, c, h/32, w/32]
            stages
        })
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        let [d_in, _] = self.classifier.weight.dims();
        self.classifier = classifier(d_in, num_classes, device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::{count_params, floats};

    /// `sum(p.numel() for p in model.parameters())` of torchvision's builders, which its
    /// weights' `num_params` also state.
    #[test]
    fn parameters_equal_torchvision() {
        let device = Device::flex();
        for v in &DENSENET_VARIANTS {
            let model = DenseNetConfig::from_variant(v).init(&device);
            assert_eq!(count_params(&model), v.num_params, "{}", v.name);
        }
        // torchvision's densenet121(num_classes=10): 1024 · 990 + 990 fewer.
        let model = DenseNetConfig::from_variant(&DENSENET_VARIANTS[0])
            .with_num_classes(10)
            .init(&device);
        assert_eq!(count_params(&model), 6_964_106);
    }

    /// Block outputs as torchvision's `features` children report them.
    #[test]
    fn block_channels_as_torchvision() {
        let channels: Vec<[usize; 4]> = DENSENET_VARIANTS
            .iter()
            .map(|v| DenseNetConfig::from_variant(v).block_channels())
            .collect();
        assert_eq!(
            channels,
            [
                [256, 512, 1024, 1024],
                [384, 768, 2112, 2208],
                [256, 512, 1280, 1664],
                [256, 512, 1792, 1920]
            ]
        );
    }

    #[test]
    fn shapes_and_stages_on_64px() {
        let device = Device::flex();
        let model = DenseNetConfig::from_variant(&DENSENET_VARIANTS[0])
            .with_num_classes(10)
            .init(&device);
        let x = Tensor::<4>::ones([1, 3, 64, 64], &device);
        let dims: Vec<[usize; 4]> = model.forward_features(x.clone()).iter().map(|f| f.dims()).collect();
        // torchvision's densenet121 on 64×64: relu0, denseblock1, 2, 3, norm5.
        assert_eq!(
            dims,
            [
                [1, 64, 32, 32],
                [1, 256, 16, 16],
                [1, 512, 8, 8],
                [1, 1024, 4, 4],
                [1, 1024, 2, 2]
            ]
        );
        let info = model.feature_info();
        let names: Vec<&str> = info.iter().map(|f| f.module.as_str()).collect();
        assert_eq!(
            names,
            [
                "features.relu0",
                "features.denseblock1",
                "features.denseblock2",
                "features.denseblock3",
                "features.norm5"
            ]
        );
        let channels: Vec<usize> = info.iter().map(|f| f.channels).collect();
        assert_eq!(channels, [64, 256, 512, 1024, 1024]);
        let reductions: Vec<usize> = info.iter().map(|f| f.reduction).collect();
        assert_eq!(reductions, [2, 4, 8, 16, 32]);
        let y = model.forward(x.clone());
        assert_eq!(y.dims(), [1, 10]);
        assert!(floats(y).iter().all(|v| v.is_finite()));
        assert_eq!(model.num_classes(), 10);
        let model = model.reset_classifier(7, &device);
        assert_eq!(model.forward(x).dims(), [1, 7]);
        assert_eq!(model.num_classes(), 7);
    }

    /// Feature-info channels of every variant and of a grey-input model.
    #[test]
    fn feature_info_of_every_variant() {
        let device = Device::flex();
        for v in &DENSENET_VARIANTS {
            let config = DenseNetConfig::from_variant(v);
            let model = config.init(&device);
            let channels: Vec<usize> = model.feature_info().iter().map(|f| f.channels).collect();
            let b = config.block_channels();
            assert_eq!(channels, [v.num_init_features, b[0], b[1], b[2], b[3]], "{}", v.name);
            assert_eq!(model.classifier.weight.dims(), [config.num_features(), 1000]);
        }
        let model = DenseNetConfig::from_variant(&DENSENET_VARIANTS[0])
            .with_in_channels(1)
            .with_num_classes(4)
            .init(&device);
        let x = Tensor::<4>::zeros([2, 1, 32, 32], &device);
        assert_eq!(model.forward(x).dims(), [2, 4]);
    }

    /// torchvision's initialisation: convolutions `kaiming_normal_` (fan-in, gain √2),
    /// BatchNorm 1 and 0, classifier bias 0.
    #[test]
    fn initialisation_as_torchvision() {
        let device = Device::flex();
        let model = DenseNetConfig::from_variant(&DENSENET_VARIANTS[0])
            .with_num_classes(10)
            .init(&device);
        let rms = |w: Vec<f32>| (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
        // conv0: 64 · 3 · 7 · 7 = 9408 draws, fan-in 147.
        let s = rms(floats(model.features.conv0.weight.val()));
        let expected = (2.0f32 / 147.0).sqrt();
        assert!((s / expected - 1.0).abs() < 0.05, "conv0 std {s}, expected {expected}");
        // denseblock3.denselayer24.conv2: 32 · 128 · 3 · 3 = 36,864 draws, fan-in 1152.
        let s = rms(floats(model.features.blocks[2].layers[23].conv2.weight.val()));
        let expected = (2.0f32 / 1152.0).sqrt();
        assert!((s / expected - 1.0).abs() < 0.05, "conv2 std {s}, expected {expected}");
        let norm = &model.features.blocks[1].layers[3].norm1;
        assert!(floats(norm.gamma.val()).iter().all(|&g| g == 1.0));
        assert!(floats(norm.beta.val()).iter().all(|&b| b == 0.0));
        let bias = model.classifier.bias.as_ref().expect("bias").val();
        assert!(floats(bias).iter().all(|&b| b == 0.0));
        assert!(
            model
                .features
                .blocks
                .iter()
                .all(|b| b.layers.iter().all(|l| l.dropout.is_none()))
        );
    }

    /// The summary sees every parameter, names layers by torchvision's paths, and counts
    /// torchvision's multiply-accumulates at 224×224 (2.834 GFLOPS published for densenet121;
    /// 2,834,161,664 by forward hooks on its Conv2d and Linear modules).
    #[test]
    fn trace_covers_every_layer() {
        let device = Device::flex();
        let model = DenseNetConfig::from_variant(&DENSENET_VARIANTS[0]).init(&device);
        let x = Tensor::<4>::zeros([1, 3, 224, 224], &device);
        let (y, records) = trace::collect(|| model.forward(x));
        assert_eq!(y.dims(), [1, 1000]);
        let params: usize = records.iter().map(|r| r.params).sum();
        assert_eq!(params, count_params(&model));
        let macs: u64 = records.iter().map(|r| r.macs).sum();
        assert_eq!(macs, 2_834_161_664);
        let paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
        for p in [
            "features.conv0",
            "features.norm0",
            "features.pool0",
            "features.denseblock1.denselayer1.norm1",
            "features.denseblock1.denselayer1.conv1",
            "features.denseblock1.denselayer6.conv2",
            "features.transition1.norm",
            "features.transition1.conv",
            "features.transition1.pool",
            "features.denseblock3.denselayer24.norm2",
            "features.denseblock4.denselayer16.conv2",
            "features.norm5",
            "avgpool",
            "classifier",
        ] {
            assert!(paths.contains(&p), "{p} not traced");
        }
        let convs = records.iter().filter(|r| r.kind.starts_with("Conv2d")).count();
        assert_eq!(convs, 1 + 2 * (6 + 12 + 24 + 16) + 3);
        let norm5 = records.iter().find(|r| r.path == "features.norm5").expect("norm5");
        assert_eq!(norm5.output, [1024, 7, 7]);
        assert_eq!(records.last().and_then(|r| r.receptive_field), None);
    }
}
