//! Optimizer choice.

use burn::optim::{
    AdamConfig, ModuleOptimizer, RmsPropConfig, SgdConfig, momentum::MomentumConfig,
};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The optimizers the course uses: SGD with momentum (AlexNet, VGG, ResNet), RMSProp
/// (Inception v3) and Adam.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with momentum 0.9 (PyTorch's convention: no dampening).
    Sgd,
    /// RMSProp (alpha 0.99, no momentum, eps 1e-8: PyTorch's defaults).
    Rmsprop,
    /// Adam (betas 0.9, 0.999; eps 1e-8).
    #[default]
    Adam,
}

impl OptimizerKind {
    /// Every optimizer.
    pub const ALL: [OptimizerKind; 3] = [Self::Sgd, Self::Rmsprop, Self::Adam];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sgd => "sgd",
            Self::Rmsprop => "rmsprop",
            Self::Adam => "adam",
        }
    }

    /// A learning rate that works for small CNNs with this optimizer.
    pub fn default_lr(self) -> f64 {
        match self {
            Self::Sgd => 0.05,
            Self::Rmsprop => 1e-3,
            Self::Adam => 2e-3,
        }
    }

    /// Builds the optimizer.
    pub fn build(self) -> ModuleOptimizer {
        match self {
            Self::Sgd => SgdConfig::new()
                .with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0)))
                .init(),
            Self::Rmsprop => RmsPropConfig::new()
                .with_alpha(0.99)
                .with_momentum(0.0)
                .with_epsilon(1e-8)
                .init(),
            Self::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OptimizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown optimizer `{s}`; expected sgd, rmsprop or adam"))
    }
}
