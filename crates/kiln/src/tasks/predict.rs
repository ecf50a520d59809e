use crate::{ImageClassifier, Model, model_dir};
use burn::{
    module::Module,
    tensor::{Device, activation::softmax},
};
use kiln_core::{Preprocessing, backend};
use kiln_data::{
    ClassificationBatcher, ImageSet,
    augment::{Pipeline, Prepare},
    loader::{LoaderConfig, OrderedLoader},
};
use kiln_train::TrainError;
use serde::Serialize;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

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

/// How to predict.
#[derive(Clone, Debug)]
pub struct PredictOptions {
    /// Classes shown per image.
    pub top_k: usize,
    /// Images per forward pass: memory is bounded by a few batches, whatever the number of
    /// images.
    pub batch_size: usize,
    /// Decoding threads.
    pub workers: usize,
    /// How image files are read (truncated files).
    pub decode: kiln_data::image::DecodeOptions,
}

impl Default for PredictOptions {
    fn default() -> Self {
        Self {
            top_k: 3,
            batch_size: 32,
            workers: 0,
            decode: Default::default(),
        }
    }
}

/// Classifies image files with the model in `model_dir`, preprocessing each image as the model
/// was trained. A file that cannot be read or decoded is an error naming it.
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

/// Classifies image files with `model`, all results at once (see [`predict_batches`]).
pub fn predict_with(
    model: &Model,
    classes: &[String],
    preprocessing: &Preprocessing,
    images: &[PathBuf],
    top_k: usize,
    device: &Device,
) -> Result<Vec<Prediction>, TrainError> {
    let mut out = Vec::with_capacity(images.len());
    let options = PredictOptions {
        top_k,
        ..PredictOptions::default()
    };
    predict_batches(model, classes, preprocessing, images, &options, device, |batch| {
        out.extend(batch);
        Ok(())
    })?;
    Ok(out)
}

/// Classifies image files with `model` (put in inference mode here), preprocessing each as
/// `preprocessing` says, in batches decoded on `options.workers` threads; `on_batch` receives
/// each batch's predictions, in the order of `images`, as soon as it is done.
pub fn predict_batches(
    model: &Model,
    classes: &[String],
    preprocessing: &Preprocessing,
    images: &[PathBuf],
    options: &PredictOptions,
    device: &Device,
    mut on_batch: impl FnMut(Vec<Prediction>) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let config = |e: String| TrainError::Config(e);
    preprocessing
        .validate()
        .map_err(|e| config(format!("preprocessing: {e}")))?;
    kiln_core::limits::BATCH_SIZE
        .check(options.batch_size)
        .map_err(config)?;
    kiln_core::limits::WORKERS.check(options.workers).map_err(config)?;
    kiln_core::limits::TOP_K.check(options.top_k).map_err(config)?;
    let model = model.valid();
    // Each image's label is its position, so that every result finds its file.
    let set = ImageSet::files(
        images.iter().enumerate().map(|(i, p)| (p.clone(), i)).collect(),
        preprocessing.channels,
    )
    .with_decode(options.decode);
    let loader = OrderedLoader::new(
        set,
        Pipeline::new(vec![Arc::new(Prepare(preprocessing.clone()))]),
        Arc::new(ClassificationBatcher::new(preprocessing)),
        LoaderConfig {
            batch_size: options.batch_size.max(1),
            workers: options.workers,
            ..LoaderConfig::default()
        },
        device.clone(),
    );
    for batch in loader.epoch_iter() {
        let batch = batch.map_err(|e| TrainError::Data(kiln_data::DataError::Mismatch(e.to_string())))?;
        let positions: Vec<i64> = kiln_core::ints(batch.targets);
        let logits = model.forward_logits(batch.images);
        let [n, k] = logits.dims();
        let raw: Vec<f32> = kiln_core::floats(logits.clone());
        if let Some(i) = raw.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Config(format!(
                "the model's outputs for {} are not finite ({}): the weights were checked when loaded, so the \
                 likely cause is the preprocessing (a tiny std, an extreme mean) or an input the model cannot take",
                images[positions[i / k] as usize].display(),
                raw[i]
            )));
        }
        let probs: Vec<f32> = kiln_core::floats(softmax(logits, 1));
        let predictions = (0..n)
            .map(|i| {
                let row = &probs[i * k..(i + 1) * k];
                let mut order: Vec<usize> = (0..k).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                Prediction {
                    image: images[positions[i] as usize].clone(),
                    top: order
                        .into_iter()
                        .take(options.top_k.max(1))
                        .map(|c| TopClass {
                            index: c,
                            name: classes.get(c).cloned().unwrap_or_else(|| c.to_string()),
                            probability: row[c],
                        })
                        .collect(),
                    logits: raw[i * k..(i + 1) * k].to_vec(),
                }
            })
            .collect();
        on_batch(predictions)?;
    }
    Ok(())
}
