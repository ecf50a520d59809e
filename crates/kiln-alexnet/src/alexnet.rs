//! The AlexNet model.

use burn::{
    config::Config,
    module::Module,
    nn::{
        Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor, activation::relu},
};
use kiln_core::{Backbone, FeatureInfo, ImageClassifier, trace};

/// `(out_channels, kernel, stride, padding, max-pool after)` of the five convolutions.
const FEATURES: [(usize, usize, usize, usize, bool); 5] = [
    (64, 11, 4, 2, true),
    (192, 5, 1, 2, true),
    (384, 3, 1, 1, false),
    (256, 3, 1, 1, false),
    (256, 3, 1, 1, true),
];

/// Configuration of [`AlexNet`].
#[derive(Config, Debug)]
pub struct AlexNetConfig {
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Dropout probability before the first two fully connected layers.
    #[config(default = 0.5)]
    pub dropout: f64,
}

/// AlexNet: 61,100,840 parameters with 1000 classes.
///
/// | layer | output at 224×224 |
/// |---|---|
/// | features.0 conv 11×11/4, pool 3/2 | 64×27×27 |
/// | features.1 conv 5×5, pool 3/2 | 192×13×13 |
/// | features.2–4 conv 3×3, pool 3/2 | 256×6×6 |
/// | avgpool (adaptive 6×6), classifier 9216→4096→4096→classes | classes |
#[derive(Module, Debug)]
pub struct AlexNet {
    /// The five convolutions (torchvision's `features.{0,3,6,8,10}`).
    pub features: Vec<Conv2d>,
    /// 3×3 stride-2 max pooling after convolutions 1, 2 and 5.
    pub pool: MaxPool2d,
    /// Adaptive average pooling to 6×6.
    pub avgpool: AdaptiveAvgPool2d,
    /// Dropout before `classifier.0` and `classifier.1`.
    pub dropout: Dropout,
    /// The three linear layers (torchvision's `classifier.{1,4,6}`).
    pub classifier: Vec<Linear>,
}

impl AlexNetConfig {
    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> AlexNet {
        let mut in_c = self.in_channels;
        let features = FEATURES
            .iter()
            .map(|&(out, k, s, p, _)| {
                let conv = Conv2dConfig::new([in_c, out], [k, k])
                    .with_stride([s, s])
                    .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                    .init(device);
                in_c = out;
                conv
            })
            .collect();
        AlexNet {
            features,
            pool: MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(),
            avgpool: AdaptiveAvgPool2dConfig::new([6, 6]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: vec![
                LinearConfig::new(256 * 6 * 6, 4096).init(device),
                LinearConfig::new(4096, 4096).init(device),
                LinearConfig::new(4096, self.num_classes).init(device),
            ],
        }
    }
}

impl AlexNet {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]` (h, w ≥ 63)
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("four stages"); // [b, 256, h/32, w/32]
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, 9216]
        trace::scope("classifier", || {
            let x = relu(trace::linear("0", &self.classifier[0], self.dropout.forward(x)));
            let x = relu(trace::linear("1", &self.classifier[1], self.dropout.forward(x)));
            trace::linear("2", &self.classifier[2], x)
        })
    }
}

impl ImageClassifier for AlexNet {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier[2].weight.dims()[1]
    }
}

impl Backbone for AlexNet {
    fn feature_info(&self) -> Vec<FeatureInfo> {
        vec![
            FeatureInfo::new("features.0", 64, 4),
            FeatureInfo::new("features.1", 192, 8),
            FeatureInfo::new("features.4", 256, 16),
            FeatureInfo::new("pool", 256, 32),
        ]
    }

    /// The ReLU outputs of convolutions 1, 2 and 5, then the last max pooling.
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        trace::scope("features", || {
            let mut stages = Vec::new();
            let mut x = images;
            for (i, (conv, &(_, _, _, _, pool))) in self.features.iter().zip(&FEATURES).enumerate() {
                if i > 0 && FEATURES[i - 1].4 {
                    x = trace::max_pool2d("pool", &self.pool, x);
                }
                x = relu(trace::conv2d(&i.to_string(), conv, x));
                if pool {
                    stages.push(x.clone());
                }
            }
            stages.push(trace::max_pool2d("pool", &self.pool, x));
            stages
        })
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        self.classifier[2] = LinearConfig::new(4096, num_classes).init(device);
        self
    }
}
