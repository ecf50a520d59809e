use crate::{ImageClassifier, Model, model_dir};
use burn::{
    data::dataloader::batcher::Batcher,
    module::Module,
    tensor::{Device, activation::softmax},
};
use kiln_core::{Preprocessing, backend};
use kiln_data::{ClassificationBatcher, load_image};
use kiln_train::TrainError;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The top classes predicted for one image.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// The image file.
    pub image: PathBuf,
    /// The most probable classes, most probable first.
    pub top: Vec<TopClass>,
    /// The raw logits, by class index.
    pub logits: Vec<f32>,
}

/// One of the most probable classes of an image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopClass {
    /// The class index (the logit's position).
    pub index: usize,
    /// The class name (the index as text when the model's classes have no names).
    pub name: String,
    /// Softmax probability.
    pub probability: f32,
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
    predict_with(&model, &card.classes, &card.preprocessing, images, top_k, &device)
}

/// Classifies image files with `model` (put in inference mode here), preprocessing each as
/// `preprocessing` says.
pub fn predict_with(
    model: &Model,
    classes: &[String],
    preprocessing: &Preprocessing,
    images: &[PathBuf],
    top_k: usize,
    device: &Device,
) -> Result<Vec<Prediction>, TrainError> {
    let model = model.valid();
    let items = images
        .iter()
        .map(|p| load_image(p, preprocessing))
        .collect::<Result<Vec<_>, _>>()?;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let batch = ClassificationBatcher::new(preprocessing).batch(items, device);
    let logits = model.forward_logits(batch.images);
    let [n, k] = logits.dims();
    let raw: Vec<f32> = kiln_core::floats(logits.clone());
    let probs: Vec<f32> = kiln_core::floats(softmax(logits, 1));
    Ok((0..n)
        .map(|i| {
            let row = &probs[i * k..(i + 1) * k];
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            Prediction {
                image: images[i].clone(),
                top: order
                    .into_iter()
                    .take(top_k.max(1))
                    .map(|c| TopClass {
                        index: c,
                        name: classes.get(c).cloned().unwrap_or_else(|| c.to_string()),
                        probability: row[c],
                    })
                    .collect(),
                logits: raw[i * k..(i + 1) * k].to_vec(),
            }
        })
        .collect())
}
