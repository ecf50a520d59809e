use super::load_dataset;
use crate::{
    Model, model_dir,
    weights::{PretrainedOptions, load_pretrained, resolve_weights},
};
use kiln_core::{Preprocessing, backend};
use kiln_data::{ImageSet, folder};
use kiln_train::{EvalOptions, EvalReport, TrainError, evaluate};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// An evaluation: the report and what it was computed on.
#[derive(Clone, Debug, Serialize)]
pub struct EvalOutput {
    /// The data set.
    pub dataset: String,
    /// Class names, by index (rows and columns of the confusion matrix).
    pub classes: Vec<String>,
    /// Accuracy, top-5, per-class accuracy, confusion matrix, rates.
    pub report: EvalReport,
    /// Remarks for a person (class names that differ from the model's, ...).
    pub notes: Vec<String>,
}

/// The model to evaluate.
#[derive(Clone, Debug)]
pub enum ModelSource {
    /// A model directory (`train`, `import`).
    Dir(PathBuf),
    /// A checkpoint file or weights-table name, with how to read it.
    Weights(PathBuf, PretrainedOptions),
}

/// Evaluates a model on a data set: by name (its test split), an image folder
/// (`folder:PATH`: its `val/` or `test/` when it has one, else every image), or, for a model
/// directory, the data set it was trained on. `progress(done, total)` follows the batches.
pub fn eval(
    source: &ModelSource,
    dataset: Option<&str>,
    backend_name: &str,
    data_roots: &[PathBuf],
    options: &EvalOptions,
    progress: impl FnMut(usize, usize),
) -> Result<EvalOutput, TrainError> {
    let device = backend::checked_device(backend_name).map_err(|e| TrainError::Config(e.to_string()))?;
    type Loaded = (Model, String, Vec<String>, Preprocessing, Option<String>);
    let (model, arch, classes, preprocessing, trained_on): Loaded = match source {
        ModelSource::Dir(dir) => {
            let (model, card) = model_dir::load(dir, &device)?;
            (
                model,
                card.model.arch,
                card.classes,
                card.preprocessing,
                Some(card.dataset),
            )
        }
        ModelSource::Weights(file, options) => {
            let load = |e: crate::weights::WeightsError| TrainError::Load {
                path: file.clone(),
                reason: e.to_string(),
            };
            let file = resolve_weights(file).map_err(load)?;
            let p = load_pretrained(&file, options, &device).map_err(load)?;
            (p.model, p.spec.arch, p.classes, p.preprocessing, None)
        }
    };
    let name = dataset.or(trained_on.as_deref()).ok_or_else(|| {
        TrainError::Config("name the data set to evaluate on (--dataset folder:PATH, mnist, ...)".into())
    })?;
    let (dataset_name, data_classes, set) = eval_data(name, data_roots, preprocessing.channels)?;
    let mut notes = Vec::new();
    if data_classes.len() != classes.len() {
        return Err(TrainError::Config(format!(
            "the model predicts {} classes but data set `{name}` has {}",
            classes.len(),
            data_classes.len()
        )));
    }
    if data_classes != classes {
        let differ = data_classes.iter().zip(&classes).filter(|(a, b)| a != b).count();
        notes.push(format!(
            "{differ} of {} class names of `{name}` differ from the model's (e.g. `{}` vs `{}`): classes are matched \
             by index, in sorted folder order",
            classes.len(),
            data_classes
                .iter()
                .zip(&classes)
                .find(|(a, b)| a != b)
                .map_or("", |(a, _)| a.as_str()),
            data_classes
                .iter()
                .zip(&classes)
                .find(|(a, b)| a != b)
                .map_or("", |(_, b)| b.as_str()),
        ));
    }
    kiln_core::limits::BATCH_SIZE
        .check(options.batch_size)
        .map_err(TrainError::Config)?;
    let p = &preprocessing;
    crate::memory::check(
        &model,
        &arch,
        [p.channels, p.height, p.width],
        options.batch_size,
        false,
        &format!(
            "eval with --batch-size {} on {}×{} images",
            options.batch_size, p.height, p.width
        ),
        &device,
    )
    .map_err(TrainError::Config)?;
    let report = evaluate(&model, &set, &preprocessing, &device, options, progress)?;
    Ok(EvalOutput {
        dataset: dataset_name,
        classes,
        report,
        notes,
    })
}

/// (name, class names, images) of what `eval` scores in `name`.
fn eval_data(name: &str, roots: &[PathBuf], channels: usize) -> Result<(String, Vec<String>, ImageSet), TrainError> {
    if let Some(spec) = name.strip_prefix("folder:") {
        let (path, _, grey) = super::parse_folder_spec(spec)?;
        let (classes, set) = folder::eval_set(&path, if grey { 1 } else { channels })?;
        return Ok((name.to_string(), classes, set));
    }
    let data = load_dataset(name, roots)?;
    Ok((data.name, data.classes, data.test))
}

/// [`eval`] of a model directory on `dataset` (its own by default), one thread, no progress.
pub fn eval_dir(
    dir: &Path,
    dataset: Option<&str>,
    backend_name: &str,
    data_roots: &[PathBuf],
    batch_size: usize,
) -> Result<EvalOutput, TrainError> {
    let options = EvalOptions {
        batch_size,
        ..EvalOptions::default()
    };
    eval(
        &ModelSource::Dir(dir.to_path_buf()),
        dataset,
        backend_name,
        data_roots,
        &options,
        |_, _| {},
    )
}
