//! A model directory: what `train` writes and `eval` / `predict` read.
//!
//! ```text
//! DIR/model.bpk      the weights (Burn's burnpack format)
//! DIR/model.json     ModelCard: architecture + its config, class names, preprocessing
//! DIR/train.json     the training configuration (written by `train`)
//! DIR/metrics.csv    one row per epoch (written by `train`)
//! DIR/checkpoint/    per-epoch checkpoints for --resume
//! ```

use crate::{Model, ModelSpec, registry::build_lazy};
use burn::{module::Module, tensor::Device};
use kiln_core::Preprocessing;
use kiln_train::{TrainError, fsutil::write_atomic};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The weights file in a model directory.
pub const WEIGHTS_FILE: &str = "model.bpk";
/// The [`ModelCard`] file in a model directory.
pub const CARD_FILE: &str = "model.json";

/// Everything needed to use saved weights: how to rebuild the model, what its outputs mean and
/// how its inputs are prepared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Architecture and configuration.
    pub model: ModelSpec,
    /// Class names, by output index.
    pub classes: Vec<String>,
    /// The data set the weights were trained on.
    pub dataset: String,
    /// How images are turned into input tensors.
    pub preprocessing: Preprocessing,
    /// The Kiln version that wrote the directory.
    pub kiln_version: String,
}

/// Saves `model` and `card` into `dir` (created if needed). Both files are written atomically,
/// so an interrupted save never leaves a half-written model behind.
pub fn save(dir: &Path, model: Model, card: &ModelCard) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let weights = dir.join(WEIGHTS_FILE);
    let tmp = kiln_train::fsutil::temp_path(&weights);
    model.save_file(&tmp).map_err(|e| TrainError::Load {
        path: weights.clone(),
        reason: format!("cannot write weights: {e}"),
    })?;
    kiln_train::fsutil::commit(&tmp, &weights).map_err(|e| io(&weights, e))?;
    let json = serde_json::to_string_pretty(card).expect("a model card serialises");
    let path = dir.join(CARD_FILE);
    write_atomic(&path, json.as_bytes()).map_err(|e| io(&path, e))
}

/// Reads the [`ModelCard`] of a model directory.
pub fn load_card(dir: &Path) -> Result<ModelCard, TrainError> {
    let path = dir.join(CARD_FILE);
    if !dir.is_dir() {
        return Err(TrainError::Load {
            path: dir.to_path_buf(),
            reason: "no such model directory (train one with `cargo xtask train`)".into(),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Load {
        path,
        reason: format!("not a Kiln model card: {e}"),
    })
}

/// Rebuilds the model of a directory and loads its weights onto `device`. The card's fields are
/// checked against their ranges, its class list against the model, and the weights for values
/// that are not finite (the first bad key is named).
pub fn load(dir: &Path, device: &Device) -> Result<(Model, ModelCard), TrainError> {
    let card = load_card(dir)?;
    let card_error = |reason: String| TrainError::Load {
        path: dir.join(CARD_FILE),
        reason,
    };
    card.preprocessing
        .validate()
        .map_err(|e| card_error(format!("preprocessing: {e}")))?;
    let weights = dir.join(WEIGHTS_FILE);
    let model = build_lazy(&card.model, device).map_err(|e| TrainError::Load {
        path: dir.join(CARD_FILE),
        reason: e.to_string(),
    })?;
    if !weights.is_file() {
        return Err(TrainError::Load {
            path: weights,
            reason: "file not found".into(),
        });
    }
    let model = kiln_core::fsutil::guard("reading the weights", || model.try_load_file(&weights))
        .map_err(|reason| TrainError::Load {
            path: weights.clone(),
            reason,
        })?
        .map_err(|e| TrainError::Load {
            path: weights.clone(),
            reason: e.to_string(),
        })?;
    let classes = crate::ImageClassifier::num_classes(&model);
    if card.classes.len() != classes {
        return Err(card_error(format!(
            "lists {} class names but the model predicts {classes} classes",
            card.classes.len()
        )));
    }
    if let Some((key, why)) = kiln_core::first_bad_param(&model) {
        return Err(TrainError::Load {
            path: weights,
            reason: format!("parameter `{key}` {why}: the weights are damaged, or came from a run that diverged"),
        });
    }
    Ok((model, card))
}

fn io(path: &Path, e: std::io::Error) -> TrainError {
    TrainError::Io {
        path: PathBuf::from(path),
        source: e,
    }
}
