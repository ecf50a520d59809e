//! The flags of every command that reads a checkpoint (`import`, `predict --weights`,
//! `train --init-from FILE`): how it is wrapped.

use kiln_train::import::ImportOptions;

/// How a checkpoint is wrapped.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CheckpointArgs {
    /// Load the sub-module under this key prefix (`backbone.`, `encoder.`): keys with the prefix,
    /// prefix removed; other keys are reported and not loaded. DataParallel's `module.`,
    /// Lightning's and torchvision's reference scripts' `model.`, torch.compile's `_orig_mod.`
    /// and `state_dict.` are recognised without it.
    #[arg(long)]
    pub key_prefix: Option<String>,
    /// The dictionary key holding the state dict (`state_dict`, `model`, timm's
    /// `state_dict_ema` for the EMA weights).
    #[arg(long)]
    pub top_level_key: Option<String>,
}

impl CheckpointArgs {
    /// As import options (classifier handling left to the command).
    pub fn options(&self) -> ImportOptions {
        ImportOptions {
            top_level_key: self.top_level_key.clone(),
            key_prefix: self.key_prefix.clone(),
            ..ImportOptions::default()
        }
    }
}
