//! Activation functions as a value, so a model's `Config` can choose one.

use burn::tensor::{Tensor, activation};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The negative slope of [`Activation::LeakyRelu`], PyTorch's and Burn's default.
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

/// A point-wise non-linearity.
///
/// | name | formula | the course's remark |
/// |---|---|---|
/// | `sigmoid` | 1 / (1 + e^-x) | saturates, not zero-centred, gradients vanish |
/// | `tanh` | 2 / (1 + e^-2x) - 1 | zero-centred, still saturates |
/// | `relu` | max(0, x) | fast, no vanishing gradient for x > 0, can die |
/// | `leaky-relu` | max(a x, x), a = 0.01 | does not die |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// max(0, x)
    #[default]
    Relu,
    /// max(0.01 x, x)
    LeakyRelu,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// tanh(x)
    Tanh,
}

impl Activation {
    /// Every activation, in the order the course presents them.
    pub const ALL: [Activation; 4] = [Self::Sigmoid, Self::Tanh, Self::Relu, Self::LeakyRelu];

    /// Applies the activation element-wise; any shape.
    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu => activation::relu(x),
            Self::LeakyRelu => activation::leaky_relu(x, LEAKY_RELU_SLOPE),
            Self::Sigmoid => activation::sigmoid(x),
            Self::Tanh => activation::tanh(x),
        }
    }

    /// The command-line name (`relu`, `leaky-relu`, `sigmoid`, `tanh`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::LeakyRelu => "leaky-relu",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
        }
    }

    /// The gain recommended for initialising the layer feeding this activation
    /// (`torch.nn.init.calculate_gain`): 1 for sigmoid, 5/3 for tanh, sqrt(2) for ReLU,
    /// sqrt(2 / (1 + a^2)) for leaky ReLU.
    pub fn gain(self) -> f64 {
        match self {
            Self::Sigmoid => 1.0,
            Self::Tanh => 5.0 / 3.0,
            Self::Relu => 2f64.sqrt(),
            Self::LeakyRelu => (2.0 / (1.0 + LEAKY_RELU_SLOPE * LEAKY_RELU_SLOPE)).sqrt(),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s || (s == "leaky_relu" && *a == Self::LeakyRelu))
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|a| a.name()).collect();
                format!("unknown activation `{s}`; expected one of: {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        let err = "swish".parse::<Activation>().unwrap_err();
        assert!(err.contains("relu") && err.contains("tanh"), "{err}");
    }
}
