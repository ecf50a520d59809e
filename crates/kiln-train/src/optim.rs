//! Optimizer choice and its settings.

use burn::module::ParamGroup;
use burn::optim::{
    AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig, decay::WeightDecayConfig,
    grad_clipping::GradientClippingConfig, momentum::MomentumConfig,
};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The optimizers the course uses: SGD with momentum (AlexNet, VGG, ResNet), RMSProp
/// (Inception v3), Adam, and AdamW (decoupled weight decay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with momentum (PyTorch's convention: no dampening), optionally Nesterov.
    Sgd,
    /// RMSProp (alpha 0.99, eps 1e-8: PyTorch's defaults; momentum from the settings).
    Rmsprop,
    /// Adam (betas 0.9, 0.999; eps 1e-8); weight decay as L2 in the gradient.
    #[default]
    Adam,
    /// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    Adamw,
}

/// Settings shared by the optimizers. Defaults: the optimizer's momentum, no Nesterov, no weight
/// decay, no clipping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimSettings {
    /// Momentum: SGD's (default 0.9) or RMSProp's (default 0, PyTorch's).
    pub momentum: Option<f64>,
    /// Nesterov momentum (SGD).
    pub nesterov: bool,
    /// L2 penalty (SGD, RMSProp, Adam) or decoupled decay (AdamW).
    pub weight_decay: f64,
    /// Exempt biases and BatchNorm's gamma/beta from weight decay (timm's and torchvision's
    /// `norm_weight_decay=0` practice): they get an optimizer group without decay.
    pub no_decay_norm_bias: bool,
    /// Clip the gradient to this L2 norm.
    pub grad_clip: Option<f64>,
}

impl Default for OptimSettings {
    fn default() -> Self {
        Self {
            momentum: None,
            nesterov: false,
            weight_decay: 0.0,
            no_decay_norm_bias: false,
            grad_clip: None,
        }
    }
}

impl OptimizerKind {
    /// Every optimizer.
    pub const ALL: [OptimizerKind; 4] = [Self::Sgd, Self::Rmsprop, Self::Adam, Self::Adamw];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sgd => "sgd",
            Self::Rmsprop => "rmsprop",
            Self::Adam => "adam",
            Self::Adamw => "adamw",
        }
    }

    /// A learning rate that works for small CNNs with this optimizer.
    pub fn default_lr(self) -> f64 {
        match self {
            Self::Sgd => 0.05,
            Self::Rmsprop => 1e-3,
            Self::Adam | Self::Adamw => 2e-3,
        }
    }

    /// Builds the optimizer. With `no_decay_norm_bias`, parameters whose path ends in `.bias`,
    /// `.gamma` or `.beta` are updated by the same optimizer without weight decay.
    pub fn build(self, s: &OptimSettings) -> ModuleOptimizer {
        let clip = s.grad_clip.map(|c| GradientClippingConfig::Norm(c as f32));
        let optim = self.module_optimizer(s, s.weight_decay);
        if !(s.no_decay_norm_bias && s.weight_decay > 0.0) {
            return optim;
        }
        let group = ParamGroup::from_regex(NO_DECAY_PATTERN).expect("a valid pattern");
        let clip = clip.map(|c| c.init());
        match self {
            Self::Sgd => optim.with_group(group, self.sgd(s, 0.0).build(), clip),
            Self::Rmsprop => optim.with_group(group, self.rmsprop(s, 0.0).build(), clip),
            Self::Adam => optim.with_group(group, self.adam(s, 0.0).build(), clip),
            Self::Adamw => optim.with_group(group, self.adamw(s, 0.0).build(), clip),
        }
    }

    fn module_optimizer(self, s: &OptimSettings, decay: f64) -> ModuleOptimizer {
        match self {
            Self::Sgd => self.sgd(s, decay).init(),
            Self::Rmsprop => self.rmsprop(s, decay).init(),
            Self::Adam => self.adam(s, decay).init(),
            Self::Adamw => self.adamw(s, decay).init(),
        }
    }

    fn sgd(self, s: &OptimSettings, decay: f64) -> SgdConfig {
        SgdConfig::new()
            .with_momentum(Some(
                MomentumConfig::new()
                    .with_momentum(s.momentum.unwrap_or(0.9))
                    .with_dampening(0.0)
                    .with_nesterov(s.nesterov),
            ))
            .with_weight_decay(l2(decay))
            .with_gradient_clipping(clip(s))
    }

    fn rmsprop(self, s: &OptimSettings, decay: f64) -> RmsPropConfig {
        RmsPropConfig::new()
            .with_alpha(0.99)
            .with_momentum(s.momentum.unwrap_or(0.0) as f32)
            .with_epsilon(1e-8)
            .with_weight_decay(l2(decay))
            .with_grad_clipping(clip(s))
    }

    fn adam(self, s: &OptimSettings, decay: f64) -> AdamConfig {
        AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(l2(decay))
            .with_grad_clipping(clip(s))
    }

    fn adamw(self, s: &OptimSettings, decay: f64) -> AdamWConfig {
        AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(decay as f32)
            .with_grad_clipping(clip(s))
    }
}

/// Parameter paths exempt from weight decay with `no_decay_norm_bias`: biases and BatchNorm's
/// scale and shift.
pub const NO_DECAY_PATTERN: &str = r"\.(bias|gamma|beta)$";

fn l2(decay: f64) -> Option<WeightDecayConfig> {
    (decay > 0.0).then(|| WeightDecayConfig::new(decay as f32))
}

fn clip(s: &OptimSettings) -> Option<GradientClippingConfig> {
    s.grad_clip.map(|c| GradientClippingConfig::Norm(c as f32))
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
            .ok_or_else(|| format!("unknown optimizer `{s}`; expected sgd, rmsprop, adam or adamw"))
    }
}
