use crate::{ImageClassifier, model_dir};
use burn::{data::dataloader::batcher::Batcher, tensor::activation::softmax};
use kiln_core::backend;
use kiln_train::{TrainError, data::ClassificationBatcher, load_image};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The top classes predicted for one image.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// The image file.
    pub image: PathBuf,
    /// `(class name, probability)`, most probable first.
    pub top: Vec<(String, f32)>,
}

/// Classifies image files (PNG, JPEG) with the model in `model_dir`, preprocessing each image
/// as the model was trained. A file that cannot be read or decoded is an error naming it.
pub fn predict(
    model_dir: &Path,
    images: &[PathBuf],
    top_k: usize,
    backend_name: &str,
) -> Result<Vec<Prediction>, TrainError> {
    let device = backend::checked_device(backend_name).map_err(|e| TrainError::Config(e.to_string()))?;
    let (model, card) = model_dir::load(model_dir, &device)?;
    let items = images
        .iter()
        .map(|p| load_image(p, &card.preprocessing))
        .collect::<Result<Vec<_>, _>>()?;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let batch = ClassificationBatcher::new(&card.preprocessing).batch(items, &device);
    let probs = softmax(model.forward_logits(batch.images), 1);
    let [n, k] = probs.dims();
    let values: Vec<f32> = probs.into_data().convert::<f32>().try_into_vec().unwrap_or_default();
    Ok((0..n)
        .map(|i| {
            let row = &values[i * k..(i + 1) * k];
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            Prediction {
                image: images[i].clone(),
                top: order
                    .into_iter()
                    .take(top_k.max(1))
                    .map(|c| (card.classes.get(c).cloned().unwrap_or_else(|| c.to_string()), row[c]))
                    .collect(),
            }
        })
        .collect())
}
