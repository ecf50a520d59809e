//! The VGG model and its configuration table.

use burn::{
    config::Config,
    module::Module,
    nn::{
        BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor, activation::relu, module::max_pool2d_with_indices, ops::MaxPoolOptions},
};
use kiln_core::{Backbone, Encoded, FeatureInfo, ImageClassifier, trace};

/// 0 stands for a 2×2 max pooling ("M" in torchvision's table), any other number for a 3×3
/// convolution with that many output maps.
const M: usize = 0;

/// The paper's configurations A, B, D and E.
const CFG_A: &[usize] = &[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M];
const CFG_B: &[usize] = &[64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M];
const CFG_D: &[usize] = &[
    64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M,
];
const CFG_E: &[usize] = &[
    64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M,
];

/// A row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct VggVariant {
    /// Registry name.
    pub name: &'static str,
    /// Weight layers (11, 13, 16, 19).
    pub depth: usize,
    /// BatchNorm after each convolution.
    pub batch_norm: bool,
}

/// Every VGG of torchvision.
pub const VGG_VARIANTS: [VggVariant; 8] = [
    VggVariant {
        name: "vgg11",
        depth: 11,
        batch_norm: false,
    },
    VggVariant {
        name: "vgg13",
        depth: 13,
        batch_norm: false,
    },
    VggVariant {
        name: "vgg16",
        depth: 16,
        batch_norm: false,
    },
    VggVariant {
        name: "vgg19",
        depth: 19,
        batch_norm: false,
    },
    VggVariant {
        name: "vgg11_bn",
        depth: 11,
        batch_norm: true,
    },
    VggVariant {
        name: "vgg13_bn",
        depth: 13,
        batch_norm: true,
    },
    VggVariant {
        name: "vgg16_bn",
        depth: 16,
        batch_norm: true,
    },
    VggVariant {
        name: "vgg19_bn",
        depth: 19,
        batch_norm: true,
    },
];

/// The layer table of a depth (`M` = 0 for max pooling), or `None` for an unknown depth.
pub fn cfg(depth: usize) -> Option<&'static [usize]> {
    match depth {
        11 => Some(CFG_A),
        13 => Some(CFG_B),
        16 => Some(CFG_D),
        19 => Some(CFG_E),
        _ => None,
    }
}

/// Configuration of a [`Vgg`].
#[derive(Config, Debug)]
pub struct VggConfig {
    /// 11, 13, 16 or 19.
    pub depth: usize,
    /// BatchNorm after each convolution.
    #[config(default = false)]
    pub batch_norm: bool,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Dropout before the first two fully connected layers.
    #[config(default = 0.5)]
    pub dropout: f64,
}

/// VGG: five stages of 3×3 convolutions separated by 2×2 max pooling, adaptive average pooling
/// to 7×7, then 25088 → 4096 → 4096 → classes.
///
/// | variant | parameters (1000 classes) |
/// |---|---|
/// | vgg11 / vgg11_bn | 132,863,336 / 132,868,840 |
/// | vgg13 / vgg13_bn | 133,047,848 / 133,053,736 |
/// | vgg16 / vgg16_bn | 138,357,544 / 138,365,992 |
/// | vgg19 / vgg19_bn | 143,667,240 / 143,678,248 |
#[derive(Module, Debug)]
pub struct Vgg {
    /// The convolutions in order (torchvision's `features.i` at the positions its table gives).
    pub features: Vec<Conv2d>,
    /// One BatchNorm per convolution for the `_bn` variants, empty otherwise.
    pub bn: Vec<BatchNorm>,
    /// For each convolution, whether a 2×2 max pooling follows it.
    pub pool_after: Vec<bool>,
    /// 2×2 stride-2 max pooling.
    pub pool: MaxPool2d,
    /// Adaptive average pooling to 7×7.
    pub avgpool: AdaptiveAvgPool2d,
    /// Dropout before the first two linear layers.
    pub dropout: Dropout,
    /// The three linear layers (torchvision's `classifier.{0,3,6}`).
    pub classifier: Vec<Linear>,
}

impl VggConfig {
    /// The configuration of a table row.
    pub fn from_variant(v: &VggVariant) -> Self {
        Self::new(v.depth).with_batch_norm(v.batch_norm)
    }

    /// Keras's `keras.applications` VGG16 / VGG19 (`depth` 16 or 19; 11 and 13 build the same
    /// way, though Keras publishes no such model): torchvision's VGG without BatchNorm and
    /// **without dropout** in the classifier. At Keras's 224×224 input the adaptive 7×7 average
    /// pooling is the identity, so the model is Keras's; the flatten order of `fc1`'s rows is
    /// the importer's business (see [`crate::keras_layout`]). Parameters as torchvision's
    /// (VGG16 138,357,544, VGG19 143,667,240, as Keras counts them too).
    pub fn keras(depth: usize) -> Self {
        Self::new(depth).with_batch_norm(false).with_dropout(0.0)
    }

    /// Builds the model on `device`; `None` for a depth other than 11, 13, 16, 19.
    pub fn init(&self, device: &Device) -> Option<Vgg> {
        let table = cfg(self.depth)?;
        let mut in_c = self.in_channels;
        let (mut features, mut bn, mut pool_after) = (Vec::new(), Vec::new(), Vec::new());
        for &v in table {
            if v == M {
                if let Some(last) = pool_after.last_mut() {
                    *last = true;
                }
                continue;
            }
            // torchvision: kaiming_normal_(fan_out, relu), bias 0.
            features.push(
                Conv2dConfig::new([in_c, v], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_initializer(Initializer::KaimingNormal {
                        gain: 2f64.sqrt(),
                        fan_out_only: true,
                    })
                    .init(device),
            );
            if self.batch_norm {
                bn.push(BatchNormConfig::new(v).init(device));
            }
            pool_after.push(false);
            in_c = v;
        }
        let linear = |i, o| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 })
                .init(device)
        };
        Some(Vgg {
            features,
            bn,
            pool_after,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            avgpool: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: vec![
                linear(512 * 7 * 7, 4096),
                linear(4096, 4096),
                linear(4096, self.num_classes),
            ],
        })
    }
}

impl Vgg {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]` (h, w ≥ 32)
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("five stages"); // [b, 512, h/16, w/16]
        let x = trace::max_pool2d("features.pool", &self.pool, x); // [b, 512, h/32, w/32]
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, 25088]
        trace::scope("classifier", || {
            let x = self.dropout.forward(relu(trace::linear("0", &self.classifier[0], x)));
            let x = self.dropout.forward(relu(trace::linear("1", &self.classifier[1], x)));
            trace::linear("2", &self.classifier[2], x)
        })
    }
}

impl ImageClassifier for Vgg {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier[2].weight.dims()[1]
    }
}

impl Backbone for Vgg {
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut info = Vec::new();
        let mut reduction = 1;
        for (i, conv) in self.features.iter().enumerate() {
            if self.pool_after[i] {
                info.push(FeatureInfo::new(
                    format!("features.{i}"),
                    conv.weight.dims()[0],
                    reduction,
                ));
                reduction *= 2;
            }
        }
        info
    }

    /// The output of each stage's last convolution (after its activation, before the pooling).
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        trace::scope("features", || {
            let mut stages = Vec::new();
            let mut x = images;
            for (i, conv) in self.features.iter().enumerate() {
                if i > 0 && self.pool_after[i - 1] {
                    x = trace::max_pool2d("pool", &self.pool, x);
                }
                x = trace::conv2d(&i.to_string(), conv, x);
                if let Some(bn) = self.bn.get(i) {
                    x = trace::batch_norm(&format!("{i}.bn"), bn, x);
                }
                x = relu(x);
                if self.pool_after[i] {
                    stages.push(x.clone());
                }
            }
            stages
        })
    }

    /// SegNet's encoder (Badrinarayanan et al. 2017 use VGG-16's 13 convolutions): the five
    /// stages and the map after the fifth pool (reduction 32).
    fn pooled_feature_info(&self) -> Option<Vec<FeatureInfo>> {
        let mut info = self.feature_info();
        let last = info.last()?.clone();
        info.push(FeatureInfo::new("features.pool5", last.channels, last.reduction * 2));
        Some(info)
    }

    /// The stages of [`Backbone::forward_features`] and the fifth pool's output, each of VGG's
    /// five 2×2 max pools with its argmax indices.
    fn forward_features_pooled(&self, images: Tensor<4>) -> Option<Encoded> {
        let pool = |x: Tensor<4>| max_pool2d_with_indices(x, MaxPoolOptions::new([2, 2]));
        Some(trace::scope("features", || {
            let (mut features, mut pool_indices) = (Vec::new(), Vec::new());
            let mut x = images;
            for (i, conv) in self.features.iter().enumerate() {
                if i > 0 && self.pool_after[i - 1] {
                    let (pooled, indices) = pool(x);
                    pool_indices.push(Some(indices));
                    x = pooled;
                }
                x = trace::conv2d(&i.to_string(), conv, x);
                if let Some(bn) = self.bn.get(i) {
                    x = trace::batch_norm(&format!("{i}.bn"), bn, x);
                }
                x = relu(x);
                if self.pool_after[i] {
                    features.push(x.clone());
                }
            }
            let (pooled, indices) = pool(x); // [b, 512, h/32, w/32]
            pool_indices.push(Some(indices));
            pool_indices.push(None);
            features.push(pooled);
            Encoded { features, pool_indices }
        }))
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        self.classifier[2] = LinearConfig::new(4096, num_classes)
            .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 })
            .init(device);
        self
    }
}
