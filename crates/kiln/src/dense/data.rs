//! Data for dense tasks: generated from MNIST / Fashion-MNIST (default), or read from a Pascal
//! VOC folder (segmentation masks or detection boxes).

use super::DenseTask;
use crate::tasks::load_dataset;
use kiln_core::Preprocessing;
use kiln_data::{
    augment::Sample,
    canvas::{CanvasConfig, draw_canvases},
    formats,
};
use kiln_train::{TrainError, dense::resize_sample};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the samples come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenseSource {
    /// Canvases generated from a classification set (`mnist` or `fashion-mnist`).
    Generated {
        /// The classification set the objects come from.
        source: String,
        /// Training canvases (from the source's training images minus its last 5,000).
        train: usize,
        /// Validation canvases (from the source's last 5,000 training images).
        valid: usize,
        /// Test canvases (from the source's test images).
        test: usize,
    },
    /// A Pascal VOC folder: `JPEGImages/`, `SegmentationClass/` (segmentation) or
    /// `Annotations/` (localization), and `class_names.txt`. Every fifth image is held out for
    /// validation and test.
    Voc(PathBuf),
}

impl Default for DenseSource {
    fn default() -> Self {
        Self::Generated {
            source: "mnist".into(),
            train: 12_000,
            valid: 1_000,
            test: 2_000,
        }
    }
}

/// Samples of a dense task, split, with class names and normalisation.
pub struct DenseData {
    /// Short description.
    pub name: String,
    /// Class names: per pixel (index 0 background) or per object.
    pub classes: Vec<String>,
    /// Training samples.
    pub train: Vec<Sample>,
    /// Validation samples (model selection, per-epoch metrics).
    pub valid: Vec<Sample>,
    /// Test samples (reported once at the end).
    pub test: Vec<Sample>,
    /// How images are normalised.
    pub preprocessing: Preprocessing,
}

/// Normalisation of generated canvases: grey, MNIST's statistics.
pub fn canvas_preprocessing(size: usize) -> Preprocessing {
    Preprocessing {
        height: size,
        width: size,
        ..Preprocessing::mnist()
    }
}

/// Loads or generates the data of `task` from `source`; `seed` seeds generation, `image_size`
/// is the side every sample is resized to (canvases are drawn at that size).
pub fn load_dense_data(
    task: DenseTask,
    source: &DenseSource,
    image_size: usize,
    seed: u64,
    roots: &[PathBuf],
) -> Result<DenseData, TrainError> {
    match source {
        DenseSource::Generated {
            source,
            train,
            valid,
            test,
        } => {
            let data = load_dataset(source, roots)?;
            if data.preprocessing.channels != 1 {
                return Err(TrainError::Config(format!(
                    "canvases are drawn from grey digits or clothes (mnist, fashion-mnist), not {source}"
                )));
            }
            let mut config = match task {
                DenseTask::Segment(_) => CanvasConfig::segmentation(),
                DenseTask::Localize => CanvasConfig::localization(),
            };
            config.size = image_size;
            config.object_size.1 = config.object_size.1.min(image_size);
            config.object_size.0 = config.object_size.0.min(config.object_size.1);
            let with_mask = matches!(task, DenseTask::Segment(_));
            let (train_items, test_items) = (data.train.items()?, data.test.items()?);
            let cut = train_items.len().saturating_sub(5_000);
            let (train_src, valid_src) = train_items.split_at(cut);
            let classes = match task {
                DenseTask::Segment(_) => std::iter::once("background".to_string())
                    .chain(data.classes.clone())
                    .collect(),
                DenseTask::Localize => data.classes.clone(),
            };
            Ok(DenseData {
                name: format!("{source}-canvas{image_size}"),
                classes,
                train: draw_canvases(train_src, &config, seed, *train, with_mask),
                valid: draw_canvases(valid_src, &config, seed.wrapping_add(1), *valid, with_mask),
                test: draw_canvases(&test_items, &config, seed.wrapping_add(2), *test, with_mask),
                preprocessing: canvas_preprocessing(image_size),
            })
        }
        DenseSource::Voc(dir) => load_voc(task, dir, image_size),
    }
}

fn load_voc(task: DenseTask, dir: &Path, image_size: usize) -> Result<DenseData, TrainError> {
    let classes = formats::read_class_names(&dir.join("class_names.txt"))?;
    let samples = match task {
        DenseTask::Segment(_) => formats::read_mask_folder(&dir.join("JPEGImages"), &dir.join("SegmentationClass"))?,
        DenseTask::Localize => formats::read_voc_detection(dir, &classes)?,
    };
    let mut samples: Vec<Sample> = samples
        .into_iter()
        .map(|s| resize_sample(s, image_size, image_size))
        .collect();
    // VOC marks object borders 255 ("void"); they count as background here.
    for mask in samples.iter_mut().filter_map(|s| s.mask.as_mut()) {
        for v in mask.data.iter_mut() {
            if *v == 255 {
                *v = 0;
            } else if *v as usize >= classes.len() {
                return Err(TrainError::Config(format!(
                    "{}: a mask holds class {v} but class_names.txt lists {} classes",
                    dir.display(),
                    classes.len()
                )));
            }
        }
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, s) in samples.into_iter().enumerate() {
        if i % 5 == 4 { held.push(s) } else { train.push(s) }
    }
    // Tiny folders: validate and test on the training images rather than on nothing.
    if held.is_empty() {
        held = train.clone();
    }
    Ok(DenseData {
        name: format!("voc:{}", dir.display()),
        classes,
        train,
        valid: held.clone(),
        test: held,
        preprocessing: Preprocessing {
            resize: None,
            ..Preprocessing::imagenet(image_size, image_size)
        },
    })
}
