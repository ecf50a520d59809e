//! Test-set evaluation: accuracy, per-class accuracy, confusion matrix.

use burn::{data::dataloader::batcher::Batcher, tensor::Device};
use kiln_core::{ImageClassifier, Preprocessing};
use kiln_data::{ClassificationBatcher, ImageItem};
use serde::Serialize;

/// The result of evaluating a classifier on labelled images.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub total: usize,
    /// Images whose top-1 prediction equals the label.
    pub correct: usize,
    /// `correct / total`.
    pub accuracy: f64,
    /// Per class: accuracy over the images of that class (recall).
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Runs `model` (in inference mode) over `items` in batches and tallies its top-1 predictions.
pub fn evaluate<M: ImageClassifier>(
    model: &M,
    items: &[ImageItem],
    preprocessing: &Preprocessing,
    device: &Device,
    batch_size: usize,
) -> EvalReport {
    let num_classes = model.num_classes();
    let batcher = ClassificationBatcher::new(preprocessing);
    let mut confusion = vec![vec![0usize; num_classes]; num_classes];
    for chunk in items.chunks(batch_size.max(1)) {
        let batch = batcher.batch(chunk.to_vec(), device);
        let predicted = model.forward_logits(batch.images).argmax(1).flatten::<1>(0, 1);
        let predicted: Vec<i64> = kiln_core::ints(predicted);
        for (item, p) in chunk.iter().zip(predicted) {
            if item.label < num_classes {
                confusion[item.label][p as usize] += 1;
            }
        }
    }
    let total: usize = confusion.iter().flatten().sum();
    let correct: usize = (0..num_classes).map(|c| confusion[c][c]).sum();
    let per_class_accuracy = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let n: usize = row.iter().sum();
            if n == 0 { 0.0 } else { row[c] as f64 / n as f64 }
        })
        .collect();
    EvalReport {
        total,
        correct,
        accuracy: if total == 0 { 0.0 } else { correct as f64 / total as f64 },
        per_class_accuracy,
        confusion,
    }
}
