//! Learning-rate schedules.

use burn::optim::lr_scheduler::{
    cosine::CosineAnnealingLrSchedulerConfig, module_lr_scheduler::ModuleLrScheduler,
};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// How the learning rate changes over a run. Burn steps schedulers once per optimizer step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Cosine annealing from the rate to 0 over the whole run (Loshchilov & Hutter 2017,
    /// without restarts).
    #[default]
    Cosine,
}

impl Schedule {
    /// The scheduler for `total_steps` optimizer steps starting at `lr`.
    pub fn build(self, lr: f64, total_steps: usize) -> Result<ModuleLrScheduler, String> {
        match self {
            Self::Constant => Ok(lr.into()),
            Self::Cosine => CosineAnnealingLrSchedulerConfig::new(lr, total_steps.max(1)).init(),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Constant => "constant",
            Self::Cosine => "cosine",
        })
    }
}

impl FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(Self::Constant),
            "cosine" => Ok(Self::Cosine),
            _ => Err(format!("unknown schedule `{s}`; expected constant or cosine")),
        }
    }
}
