//! Evaluation of a classifier on labelled images: top-1 and top-5 accuracy, per-class accuracy,
//! confusion matrix, and how fast the data and the model went.

use burn::tensor::Device;
use kiln_core::{ImageClassifier, Preprocessing};
use kiln_data::{
    ClassificationBatcher, ImageSet,
    augment::{Pipeline, Prepare},
    loader::{LoaderConfig, OrderedLoader},
};
use serde::Serialize;
use std::{sync::Arc, time::Instant};

/// The result of evaluating a classifier on labelled images.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub total: usize,
    /// Images whose top-1 prediction equals the label.
    pub correct: usize,
    /// `correct / total`.
    pub accuracy: f64,
    /// Images whose label is among the 5 highest logits (every image when the model has 5
    /// classes or fewer); `None` for a 1-class model.
    pub top5_correct: Option<usize>,
    /// `top5_correct / total`.
    pub top5_accuracy: Option<f64>,
    /// Per class: accuracy over the images of that class (recall).
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Images skipped as undecodable (with `skip_bad`).
    pub skipped: usize,
    /// Images per second of wall time, end to end.
    pub images_per_second: f64,
    /// Images per second of the model alone (forward passes).
    pub model_images_per_second: f64,
    /// Images per second the data loading could deliver (decoding and preparing, over all its
    /// workers): below the model's rate, the data is the bottleneck.
    pub data_images_per_second: f64,
}

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Images per forward pass.
    pub batch_size: usize,
    /// Data-loader worker threads.
    pub workers: usize,
    /// Skip (and count) undecodable files instead of failing.
    pub skip_bad: bool,
    /// How image files are read (truncated files).
    pub decode: kiln_data::image::DecodeOptions,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            batch_size: 256,
            workers: 0,
            skip_bad: false,
            decode: Default::default(),
        }
    }
}

/// The per-item pipeline of evaluation: photos (files at their own sizes) get the model's
/// resize + centre crop; sets in memory are already at size.
pub fn eval_pipeline(set: &ImageSet, preprocessing: &Preprocessing) -> Pipeline {
    if set.is_files() {
        Pipeline::new(vec![Arc::new(Prepare(preprocessing.clone()))])
    } else {
        Pipeline::default()
    }
}

/// Runs `model` (in inference mode) over `set` in batches and tallies its predictions;
/// `progress(done, total)` is called after each batch. An undecodable file is an error naming
/// it, unless `options.skip_bad`.
pub fn evaluate<M: ImageClassifier>(
    model: &M,
    set: &ImageSet,
    preprocessing: &Preprocessing,
    device: &Device,
    options: &EvalOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<EvalReport, kiln_data::DataError> {
    let num_classes = model.num_classes();
    let config = |e: String| kiln_data::DataError::Mismatch(e);
    preprocessing
        .validate()
        .map_err(|e| config(format!("preprocessing: {e}")))?;
    kiln_core::limits::BATCH_SIZE
        .check(options.batch_size)
        .map_err(config)?;
    kiln_core::limits::WORKERS.check(options.workers).map_err(config)?;
    let loader = OrderedLoader::new(
        set.with_decode(options.decode),
        eval_pipeline(set, preprocessing),
        Arc::new(ClassificationBatcher::new(preprocessing)),
        LoaderConfig {
            batch_size: options.batch_size.max(1),
            workers: options.workers,
            skip_bad: options.skip_bad,
            ..LoaderConfig::default()
        },
        device.clone(),
    );
    let stats = loader.stats();
    let top5 = num_classes > 1;
    let k = num_classes.min(5);
    let mut confusion = vec![vec![0usize; num_classes]; num_classes];
    let mut top5_correct = 0usize;
    let started = Instant::now();
    let mut model_seconds = 0.0;
    let mut done = 0;
    for batch in loader.epoch_iter() {
        let batch = batch.map_err(|e| kiln_data::DataError::Mismatch(e.to_string()))?;
        let forward = Instant::now();
        let logits = model.forward_logits(batch.images);
        let labels: Vec<i64> = kiln_core::ints(batch.targets);
        if logits.clone().is_nan().any().into_scalar::<bool>() || logits.clone().is_inf().any().into_scalar::<bool>() {
            return Err(config(
                "the model's outputs are not finite: the weights were checked when loaded, so the likely cause is \
                 the preprocessing (a tiny std, an extreme mean) or inputs the model cannot take"
                    .into(),
            ));
        }
        let predicted: Vec<i64> = kiln_core::ints(logits.clone().argmax(1).flatten::<1>(0, 1));
        let best5: Option<Vec<i64>> =
            top5.then(|| kiln_core::ints(logits.topk_with_indices(k, 1).1.flatten::<1>(0, 1)));
        model_seconds += forward.elapsed().as_secs_f64();
        for (i, (&label, &p)) in labels.iter().zip(&predicted).enumerate() {
            let label = label as usize;
            if label < num_classes {
                confusion[label][p as usize] += 1;
                if let Some(best) = &best5 {
                    top5_correct += usize::from(best[i * k..i * k + k].contains(&(label as i64)));
                }
            }
        }
        done += labels.len();
        progress(done, set.len());
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let total: usize = confusion.iter().flatten().sum();
    let correct: usize = (0..num_classes).map(|c| confusion[c][c]).sum();
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let per_class_accuracy = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let n: usize = row.iter().sum();
            if n == 0 { 0.0 } else { row[c] as f64 / n as f64 }
        })
        .collect();
    let fraction = |n: usize| if total == 0 { 0.0 } else { n as f64 / total as f64 };
    Ok(EvalReport {
        total,
        correct,
        accuracy: fraction(correct),
        top5_correct: top5.then_some(top5_correct),
        top5_accuracy: top5.then(|| fraction(top5_correct)),
        per_class_accuracy,
        confusion,
        skipped: stats.skipped(),
        images_per_second: rate(done, wall),
        model_images_per_second: rate(done, model_seconds),
        data_images_per_second: rate(stats.items(), stats.busy_seconds() / options.workers.max(1) as f64),
    })
}
