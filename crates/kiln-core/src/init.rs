//! Weight initialisation schemes.

use crate::Activation;
use burn::nn::Initializer;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// How the weights of convolutions and linear layers are drawn.
///
/// Both schemes keep the variance of activations roughly constant across depth, the course's
/// argument: Xavier/Glorot (Var = 2 / (fan_in + fan_out)) suits sigmoid and tanh, He/Kaiming
/// (Var = 2 / fan_in) suits ReLU. The gain follows the layer's [`Activation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Burn's and PyTorch's layer default: Kaiming-uniform with gain 1/sqrt(3), i.e.
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    #[default]
    Default,
    /// Xavier/Glorot uniform with the activation's gain.
    Xavier,
    /// He/Kaiming normal (fan-in) with the activation's gain.
    He,
    /// He/Kaiming normal over the fan-out with gain sqrt(2): how torchvision initialises the
    /// convolutions of ResNet, MobileNet, EfficientNet (`kaiming_normal_(mode="fan_out")`).
    HeFanOut,
}

impl Init {
    /// Every scheme.
    pub const ALL: [Init; 4] = [Self::Default, Self::Xavier, Self::He, Self::HeFanOut];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Xavier => "xavier",
            Self::He => "he",
            Self::HeFanOut => "he-fan-out",
        }
    }

    /// The Burn initializer for a layer followed by `activation`.
    pub fn initializer(self, activation: Activation) -> Initializer {
        let gain = activation.gain();
        match self {
            Self::Default => Initializer::KaimingUniform {
                gain: 1.0 / 3f64.sqrt(),
                fan_out_only: false,
            },
            Self::Xavier => Initializer::XavierUniform { gain },
            Self::He => Initializer::KaimingNormal {
                gain,
                fan_out_only: false,
            },
            Self::HeFanOut => Initializer::KaimingNormal {
                gain: 2f64.sqrt(),
                fan_out_only: true,
            },
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Init {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(Self::Default),
            "xavier" | "glorot" => Ok(Self::Xavier),
            "he" | "kaiming" => Ok(Self::He),
            "he-fan-out" => Ok(Self::HeFanOut),
            _ => Err(format!(
                "unknown initialisation `{s}`; expected one of: default, xavier (glorot), he (kaiming), he-fan-out"
            )),
        }
    }
}
