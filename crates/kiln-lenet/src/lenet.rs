//! The LeNet-5 model.

use burn::{
    config::Config,
    module::Module,
    nn::{
        Linear, LinearConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
        pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor},
};
use kiln_core::{Activation, Backbone, FeatureInfo, ImageClassifier, Init, trace};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Sub-sampling between the convolutions.
///
/// The 1998 paper used a trainable average ("sub-sampling"); max pooling is the modern choice
/// and the one the course discusses (its gradient flows only to the maximum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// 2×2 max pooling, stride 2.
    #[default]
    Max,
    /// 2×2 average pooling, stride 2.
    Avg,
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Max => "max",
            Self::Avg => "avg",
        })
    }
}

impl FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "max" => Ok(Self::Max),
            "avg" | "average" => Ok(Self::Avg),
            _ => Err(format!("unknown pooling `{s}`; expected max or avg")),
        }
    }
}

/// Configuration of [`LeNet5`].
#[derive(Config, Debug)]
pub struct LeNet5Config {
    /// Output classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Input channels (1 for MNIST).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Zero padding of the first convolution. 2 turns a 28×28 MNIST digit into the 32×32 input of
    /// the paper, so that the second pooling leaves 16×5×5 features.
    #[config(default = 2)]
    pub input_padding: usize,
    /// The non-linearity after every hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Max or average sub-sampling.
    #[config(default = "Pooling::Max")]
    pub pooling: Pooling,
    /// Weight initialisation of every convolution and linear layer.
    #[config(default = "Init::Default")]
    pub init: Init,
}

/// A pooling layer, max or average.
#[derive(Module, Debug)]
pub enum Pool {
    /// Max pooling.
    Max(MaxPool2d),
    /// Average pooling.
    Avg(AvgPool2d),
}

impl Pool {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Max(p) => trace::max_pool2d("pool", p, x),
            Self::Avg(p) => trace::avg_pool2d("pool", p, x),
        }
    }
}

/// LeNet-5: 61,706 parameters with the default configuration.
///
/// | layer | output (28×28 input, padding 2) | parameters |
/// |---|---|---|
/// | conv1 5×5, 6 maps | 6×28×28 | 156 |
/// | pool 2 | 6×14×14 | 0 |
/// | conv2 5×5, 16 maps | 16×10×10 | 2,416 |
/// | pool 2 | 16×5×5 | 0 |
/// | fc1 | 120 | 48,120 |
/// | fc2 | 84 | 10,164 |
/// | fc3 | 10 | 850 |
///
/// Departures from the paper: conv2 connects to all six maps (the paper's sparse connection
/// table saved compute in 1998), the output layer is a linear layer trained with cross-entropy
/// instead of Euclidean RBF units, and the activation defaults to ReLU instead of the scaled tanh.
#[derive(Module, Debug)]
pub struct LeNet5 {
    /// First convolution; weight `[6, in_channels, 5, 5]`.
    pub conv1: Conv2d,
    /// Second convolution; weight `[16, 6, 5, 5]`.
    pub conv2: Conv2d,
    /// Sub-sampling after each convolution.
    pub pool: Pool,
    /// `16·5·5 → 120`.
    pub fc1: Linear,
    /// `120 → 84`.
    pub fc2: Linear,
    /// `84 → num_classes`.
    pub fc3: Linear,
    /// The hidden non-linearity.
    #[module(skip)]
    pub activation: Activation,
}

impl LeNet5Config {
    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> LeNet5 {
        let init = self.init.initializer(self.activation);
        // The output layer feeds a softmax, not the hidden activation: gain 1.
        let init_out = self.init.initializer(Activation::Sigmoid);
        let p = self.input_padding;
        let pool = match self.pooling {
            Pooling::Max => Pool::Max(MaxPool2dConfig::new([2, 2]).init()),
            Pooling::Avg => Pool::Avg(AvgPool2dConfig::new([2, 2]).init()),
        };
        LeNet5 {
            conv1: Conv2dConfig::new([self.in_channels, 6], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_initializer(init.clone())
                .init(device),
            conv2: Conv2dConfig::new([6, 16], [5, 5])
                .with_initializer(init.clone())
                .init(device),
            pool,
            fc1: LinearConfig::new(16 * 5 * 5, 120)
                .with_initializer(init.clone())
                .init(device),
            fc2: LinearConfig::new(120, 84).with_initializer(init).init(device),
            fc3: LinearConfig::new(84, self.num_classes)
                .with_initializer(init_out)
                .init(device),
            activation: self.activation,
        }
    }
}

impl LeNet5 {
    /// # Shapes
    /// - images `[batch, in_channels, 28, 28]` (any size giving 5×5 after the second pooling
    ///   with the configured padding: 28×28 with padding 2, 32×32 with padding 0)
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let a = self.activation;
        let x = self.forward_features(images).pop().expect("two stages"); // [b, 16, 5, 5]
        let x = x.flatten::<2>(1, 3); // [b, 400]
        let x = a.forward(trace::linear("fc1", &self.fc1, x)); // [b, 120]
        let x = a.forward(trace::linear("fc2", &self.fc2, x)); // [b, 84]
        trace::linear("fc3", &self.fc3, x) // [b, num_classes]
    }
}

impl ImageClassifier for LeNet5 {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.fc3.weight.dims()[1]
    }
}

impl Backbone for LeNet5 {
    fn feature_info(&self) -> Vec<FeatureInfo> {
        vec![FeatureInfo::new("conv1", 6, 2), FeatureInfo::new("conv2", 16, 4)]
    }

    /// The pooled outputs of the two convolutions: `[b, 6, 14, 14]` and `[b, 16, 5, 5]` for a
    /// 28×28 input (the second is smaller than 28/4 because conv2 has no padding).
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let a = self.activation;
        let x = a.forward(trace::conv2d("conv1", &self.conv1, images)); // [b, 6, 28, 28]
        let s1 = self.pool.forward(x); // [b, 6, 14, 14]
        let x = a.forward(trace::conv2d("conv2", &self.conv2, s1.clone())); // [b, 16, 10, 10]
        let s2 = self.pool.forward(x); // [b, 16, 5, 5]
        vec![s1, s2]
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        self.fc3 = LinearConfig::new(84, num_classes).init(device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn shapes_and_parameter_count() {
        let device = Device::flex();
        for pooling in [Pooling::Max, Pooling::Avg] {
            let model = LeNet5Config::new().with_pooling(pooling).init(&device);
            assert_eq!(model.num_params(), 61_706);
            let x = Tensor::<4>::random([3, 1, 28, 28], Distribution::Default, &device);
            let f: Vec<_> = model.forward_features(x.clone()).iter().map(|t| t.dims()).collect();
            assert_eq!(f, [[3, 6, 14, 14], [3, 16, 5, 5]]);
            assert_eq!(model.forward(x).dims(), [3, 10]);
        }
        let rgb = LeNet5Config::new()
            .with_in_channels(3)
            .with_input_padding(0)
            .with_num_classes(100)
            .init(&device);
        let x = Tensor::<4>::zeros([2, 3, 32, 32], &device);
        assert_eq!(rgb.forward(x).dims(), [2, 100]);
        assert_eq!(rgb.num_classes(), 100);
    }

    #[test]
    fn config_round_trips_as_json() {
        let config = LeNet5Config::new()
            .with_activation(Activation::Tanh)
            .with_pooling(Pooling::Avg)
            .with_init(Init::Xavier);
        // `Config`'s Display is its JSON form, which `Config::load` reads back.
        let json = config.to_string();
        assert!(json.contains("\"tanh\"") && json.contains("\"avg\""), "{json}");
    }
}
