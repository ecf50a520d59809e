use super::load_dataset;
use crate::model_dir;
use kiln_core::backend;
use kiln_train::{EvalReport, TrainError, evaluate};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// An evaluation: the report and what it was computed on.
#[derive(Clone, Debug, Serialize)]
pub struct EvalOutput {
    /// The data set.
    pub dataset: String,
    /// Class names, by index (rows and columns of the confusion matrix).
    pub classes: Vec<String>,
    /// Accuracy, per-class accuracy, confusion matrix.
    pub report: EvalReport,
}

/// Evaluates the model in `model_dir` on the test split of `dataset` (by default the data set it
/// was trained on).
pub fn eval(
    model_dir: &Path,
    dataset: Option<&str>,
    backend_name: &str,
    data_roots: &[PathBuf],
    batch_size: usize,
) -> Result<EvalOutput, TrainError> {
    let device = backend::checked_device(backend_name).map_err(|e| TrainError::Config(e.to_string()))?;
    let (model, card) = model_dir::load(model_dir, &device)?;
    let name = dataset.unwrap_or(&card.dataset);
    let data = load_dataset(name, data_roots)?;
    if data.classes.len() != card.classes.len() {
        return Err(TrainError::Config(format!(
            "the model predicts {} classes but data set `{name}` has {}",
            card.classes.len(),
            data.classes.len()
        )));
    }
    let report = evaluate(&model, &data.test, &card.preprocessing, &device, batch_size);
    Ok(EvalOutput {
        dataset: data.name,
        classes: card.classes,
        report,
    })
}
