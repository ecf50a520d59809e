//! Training and evaluating dense models: the losses, the metrics, the model directory.

use super::{DenseData, DenseModel, DenseSource, DenseSpec, DenseTask, build_dense, load_dense_data};
use burn::data::dataloader::batcher::Batcher;
use burn::{
    module::Module,
    tensor::{Device, Tensor},
};
use kiln_core::{Preprocessing, floats, ints};
use kiln_data::{DataError, augment::Sample};
use kiln_localization::{box_iou, cxcywh_to_xyxy, giou_loss, smooth_l1};
use kiln_segmentation::{Upsample, dice_loss, pixel_cross_entropy};
use kiln_train::{
    TrainError,
    dense::{BoxMetrics, DenseBatch, DenseBatcher, DenseFitConfig, EpochReport, SegMetrics, fit_dense},
    fsutil::{commit, temp_path, write_atomic},
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A dense training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseTrainConfig {
    /// Task and architecture.
    pub task: DenseTask,
    /// `small` or a registry name.
    pub backbone: String,
    /// Upsampling (segmentation); the architecture's default when `None`.
    pub upsample: Option<Upsample>,
    /// The data.
    pub data: DenseSource,
    /// Square input side.
    pub image_size: usize,
    /// Weight of the Dice loss added to the pixel cross-entropy (segmentation).
    pub dice_weight: f32,
    /// Weight of the box losses (smooth-L1 on `[cx, cy, w, h]` + GIoU) added to the class
    /// cross-entropy (localization).
    pub box_weight: f32,
    /// Backend name.
    pub backend: String,
    /// Pretrained weights for a registered backbone: a Kiln model directory of that
    /// architecture, or a torchvision checkpoint file (`.pth`, `.safetensors`).
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// How an `init_from` checkpoint file is wrapped (top-level key, sub-module prefix).
    #[serde(default)]
    pub init_import: kiln_train::import::ImportOptions,
    /// Optimisation.
    pub fit: DenseFitConfig,
}

impl DenseTrainConfig {
    /// Defaults for a task: the small encoder, generated MNIST canvases of 64 px.
    pub fn new(task: DenseTask) -> Self {
        Self {
            task,
            backbone: "small".into(),
            upsample: None,
            data: DenseSource::default(),
            image_size: 64,
            dice_weight: 1.0,
            box_weight: 5.0,
            backend: kiln_core::DEFAULT_BACKEND.into(),
            init_from: None,
            init_import: Default::default(),
            fit: DenseFitConfig::default(),
        }
    }
}

/// The card of a dense model directory (`model.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseCard {
    /// What rebuilds the model.
    pub dense: DenseSpec,
    /// Class names.
    pub classes: Vec<String>,
    /// The data it was trained on.
    pub dataset: String,
    /// Input normalisation.
    pub preprocessing: Preprocessing,
    /// The Kiln version that wrote it.
    pub kiln_version: String,
}

/// What a dense run produced.
#[derive(Clone, Debug, Serialize)]
pub struct DenseReport {
    /// The model directory.
    pub out_dir: PathBuf,
    /// Per-epoch figures.
    pub epochs: Vec<EpochReport>,
    /// Wall time of training, seconds.
    pub seconds: f64,
    /// Trainable parameters.
    pub params: usize,
    /// Test metrics, named.
    pub test: Vec<(String, f64)>,
}

/// The loss of a batch.
pub fn dense_loss(model: &DenseModel, batch: &DenseBatch, dice_weight: f32, box_weight: f32) -> Tensor<1> {
    match model {
        DenseModel::Segmenter(m) => {
            let masks = batch.masks.clone().expect("segmentation batches carry masks");
            let logits = m.forward(batch.images.clone());
            let ce = pixel_cross_entropy(logits.clone(), masks.clone());
            if dice_weight > 0.0 {
                ce + dice_loss(logits, masks) * dice_weight
            } else {
                ce
            }
        }
        DenseModel::Localizer(m) => {
            let out = m.forward(batch.images.clone());
            let ce = burn::nn::loss::CrossEntropyLossConfig::new()
                .init(&batch.images.device())
                .forward(out.class_logits.clone(), batch.labels.clone());
            let l1 = smooth_l1(out.boxes.clone(), batch.boxes.clone(), 0.05);
            let giou = giou_loss(out.boxes_xyxy(), cxcywh_to_xyxy(batch.boxes.clone()));
            ce + (l1 + giou) * box_weight
        }
    }
}

/// Metrics of `model` (inference mode) on `samples`: pixel accuracy and mean IoU for a
/// segmenter; class accuracy, mean IoU, accuracy at IoU ≥ 0.5 and both for a localizer.
pub fn dense_metrics(
    model: &DenseModel,
    samples: &[Sample],
    preprocessing: &Preprocessing,
    device: &Device,
) -> Vec<(String, f64)> {
    let batcher = DenseBatcher::new(preprocessing);
    match model {
        DenseModel::Segmenter(m) => {
            let mut metrics = SegMetrics::new(m.num_classes);
            for chunk in samples.chunks(64) {
                let batch = batcher.batch(chunk.to_vec(), device);
                let predicted = m.predict(batch.images);
                let truth = batch.masks.expect("segmentation samples have masks");
                metrics.update(&ints(truth), &ints(predicted));
            }
            vec![
                ("pixel_accuracy".into(), metrics.pixel_accuracy()),
                ("miou".into(), metrics.mean_iou()),
            ]
        }
        DenseModel::Localizer(m) => {
            let mut metrics = BoxMetrics::default();
            for chunk in samples.chunks(64) {
                let batch = batcher.batch(chunk.to_vec(), device);
                let out = m.forward(batch.images);
                let iou = floats(box_iou(out.boxes_xyxy(), cxcywh_to_xyxy(batch.boxes)));
                let predicted = ints(out.class_logits.argmax(1));
                let labels = ints(batch.labels);
                for ((iou, p), t) in iou.into_iter().zip(predicted).zip(labels) {
                    metrics.update(iou as f64, p == t);
                }
            }
            vec![
                ("class_accuracy".into(), metrics.class_accuracy()),
                ("mean_iou".into(), metrics.mean_iou()),
                ("acc_iou50".into(), metrics.acc_iou50()),
                ("class_and_iou50".into(), metrics.joint_accuracy()),
            ]
        }
    }
}

/// Saves a dense model and its card into `dir`, atomically.
pub fn save_dense(dir: &Path, model: DenseModel, card: &DenseCard) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::Io {
        path: dir.into(),
        source: e,
    })?;
    let weights = dir.join(crate::model_dir::WEIGHTS_FILE);
    let tmp = temp_path(&weights);
    model.save_file(&tmp).map_err(|e| TrainError::Load {
        path: weights.clone(),
        reason: format!("cannot write weights: {e}"),
    })?;
    commit(&tmp, &weights).map_err(|e| TrainError::Io {
        path: weights.clone(),
        source: e,
    })?;
    let path = dir.join(crate::model_dir::CARD_FILE);
    write_atomic(
        &path,
        serde_json::to_string_pretty(card).expect("card serialises").as_bytes(),
    )
    .map_err(|e| TrainError::Io { path, source: e })
}

/// Loads a dense model directory.
pub fn load_dense(dir: &Path, device: &Device) -> Result<(DenseModel, DenseCard), TrainError> {
    let path = dir.join(crate::model_dir::CARD_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::Io {
        path: path.clone(),
        source: e,
    })?;
    let card: DenseCard = serde_json::from_str(&text).map_err(|e| TrainError::Load {
        path: path.clone(),
        reason: format!("not a Kiln dense model card: {e}"),
    })?;
    let model = build_dense(&card.dense, device).map_err(|e| TrainError::Load {
        path,
        reason: e.to_string(),
    })?;
    let weights = dir.join(crate::model_dir::WEIGHTS_FILE);
    let model = model.try_load_file(&weights).map_err(|e| TrainError::Load {
        path: weights,
        reason: e.to_string(),
    })?;
    Ok((model, card))
}

/// Whether `dir` holds a dense model (its card has a `dense` entry).
pub fn is_dense_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(crate::model_dir::CARD_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("dense").is_some())
}

/// A registered backbone with pretrained weights, from a model directory or a checkpoint file.
fn pretrained_backbone(
    arch: &str,
    path: &Path,
    import: &kiln_train::import::ImportOptions,
    channels: usize,
    device: &Device,
) -> Result<(crate::Model, crate::ModelSpec), TrainError> {
    if arch == "small" {
        return Err(TrainError::Config(
            "--init-from needs a registered backbone (--backbone resnet18, ...), not `small`".into(),
        ));
    }
    let load_error = |reason: String| TrainError::Load {
        path: path.to_path_buf(),
        reason,
    };
    let (model, spec) = if !path.is_dir() {
        let options = crate::weights::PretrainedOptions {
            arch: Some(arch.to_string()),
            in_channels: Some(channels),
            import: import.clone(),
            ..Default::default()
        };
        let p = crate::weights::resolve_weights(path)
            .and_then(|file| crate::weights::load_pretrained(&file, &options, device))
            .map_err(|e| load_error(e.to_string()))?;
        (p.model, p.spec)
    } else {
        let (m, card) = crate::model_dir::load(path, device)?;
        (m, card.model)
    };
    let wanted = crate::lookup(arch).map_err(|e| TrainError::Config(e.to_string()))?.name;
    if spec.arch != wanted {
        return Err(load_error(format!("holds a {} model, not {wanted}", spec.arch)));
    }
    Ok((model, spec))
}

/// Trains a dense model as `config` says into `out_dir`, then evaluates it on the test samples.
/// With `resume`, continues the run in `out_dir` from its newest intact checkpoint.
pub fn train_dense(
    config: &DenseTrainConfig,
    out_dir: &Path,
    data_roots: &[PathBuf],
    resume: bool,
) -> Result<DenseReport, TrainError> {
    let device = kiln_core::backend::checked_device(&config.backend).map_err(|e| TrainError::Config(e.to_string()))?;
    let data = load_dense_data(
        config.task,
        &config.data,
        config.image_size,
        config.fit.seed,
        data_roots,
    )?;
    train_dense_on(config, data, out_dir, &device, resume)
}

/// [`train_dense`] on data already loaded.
pub fn train_dense_on(
    config: &DenseTrainConfig,
    data: DenseData,
    out_dir: &Path,
    device: &Device,
    resume: bool,
) -> Result<DenseReport, TrainError> {
    if !resume && crate::run_dir::holds_run(out_dir) {
        return Err(TrainError::Config(format!(
            "{} already holds a trained model or run; resume it, or choose another directory",
            out_dir.display()
        )));
    }
    if data.train.is_empty() {
        return Err(DataError::Mismatch(format!("{} has no training samples", data.name)).into());
    }
    let mut spec = DenseSpec::new(
        config.task,
        &config.backbone,
        data.classes.len(),
        data.preprocessing.channels,
        [config.image_size, config.image_size],
    );
    if config.upsample.is_some() {
        spec.upsample = config.upsample;
    }
    let ad = device.clone().autodiff();
    let pretrained = match &config.init_from {
        Some(path) => Some(pretrained_backbone(
            &config.backbone,
            path,
            &config.init_import,
            data.preprocessing.channels,
            &ad,
        )?),
        None => None,
    };
    if let Some((_, backbone_spec)) = &pretrained {
        spec.backbone_spec = Some(backbone_spec.clone());
    }
    let mut model = build_dense(&spec, &ad).map_err(|e| TrainError::Config(e.to_string()))?;
    if let Some((backbone, _)) = pretrained {
        let encoder = super::DenseEncoder::Backbone(super::model::backbone_encoder(&spec, backbone));
        model = match model {
            DenseModel::Segmenter(mut m) => {
                m.encoder = encoder;
                DenseModel::Segmenter(m)
            }
            DenseModel::Localizer(mut m) => {
                m.encoder = encoder;
                DenseModel::Localizer(m)
            }
        };
    }
    let params = kiln_core::count_params(&model);
    let (dice, boxes) = (config.dice_weight, config.box_weight);
    let preprocessing = data.preprocessing.clone();
    let outcome = fit_dense(
        model,
        data.train,
        &data.valid,
        &data.preprocessing,
        &config.fit,
        out_dir,
        device,
        |m, b| dense_loss(m, b, dice, boxes),
        |m, s| dense_metrics(m, s, &preprocessing, device),
        resume,
    )?;
    let model = outcome.model.valid();
    let test = dense_metrics(&model, &data.test, &data.preprocessing, device);
    let card = DenseCard {
        dense: spec,
        classes: data.classes,
        dataset: data.name,
        preprocessing: data.preprocessing,
        kiln_version: env!("CARGO_PKG_VERSION").into(),
    };
    save_dense(out_dir, model, &card)?;
    let report = DenseReport {
        out_dir: out_dir.to_path_buf(),
        epochs: outcome.epochs,
        seconds: outcome.seconds,
        params,
        test,
    };
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    write_atomic(&out_dir.join("report.json"), json.as_bytes()).map_err(|e| TrainError::Io {
        path: out_dir.join("report.json"),
        source: e,
    })?;
    Ok(report)
}
