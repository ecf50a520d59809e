//! The transfer-learning study of the course: with a pretrained feature extractor you need less
//! data. Pretrain a backbone on one data set, then learn a new one from a few labels per class
//! three ways: (a) from scratch, (b) frozen features + new head, (c) fine-tuning everything with
//! a smaller backbone learning rate.

use super::{TrainConfig, TrainReport, load_dataset, train_on};
use kiln_data::{ClassificationData, augment::Rng};
use kiln_train::{FitConfig, TrainError, transfer::Freeze};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The three ways of learning the target task.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Strategy {
    /// (a) random initialisation, everything trains.
    Scratch,
    /// (b) pretrained backbone frozen (BatchNorm too), only a new head trains.
    FeatureExtraction,
    /// (c) pretrained backbone, everything trains, the backbone at `lr × mult`.
    FineTune {
        /// Backbone learning-rate multiplier.
        mult: f64,
    },
}

impl Strategy {
    /// Table label.
    pub fn label(&self) -> String {
        match self {
            Self::Scratch => "(a) from scratch".into(),
            Self::FeatureExtraction => "(b) frozen features + new head".into(),
            Self::FineTune { mult } => format!("(c) fine-tune all, backbone lr ×{mult}"),
        }
    }
}

/// Where the pretrained backbone comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TransferSource {
    /// Train it here on these classes of `dataset` (e.g. MNIST digits 0–4).
    Classes {
        /// Data set name.
        dataset: String,
        /// Class indices used for pretraining.
        classes: Vec<usize>,
    },
    /// Train it here on a whole data set (e.g. Fashion-MNIST).
    Dataset(String),
    /// A model directory (trained by Kiln, or imported with `cargo xtask import`), or a PyTorch /
    /// safetensors checkpoint file of `arch` (torchvision's), imported on the fly.
    Dir(PathBuf),
}

/// A transfer study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferConfig {
    /// Architecture (when pretraining here).
    pub arch: String,
    /// The pretrained backbone.
    pub source: TransferSource,
    /// Pretraining epochs (when pretraining here).
    pub pretrain_epochs: usize,
    /// Augmentation of the pretraining run (the target runs use none, the same for all three
    /// strategies).
    pub pretrain_augment: Option<String>,
    /// Target data set name.
    pub target: String,
    /// Target classes (indices into the target data set), all when empty.
    pub target_classes: Vec<usize>,
    /// Labelled training images per class, one study row per budget.
    pub budgets: Vec<usize>,
    /// Optimizer steps per strategy and budget (the same for all three: a fair comparison).
    pub steps: usize,
    /// The strategies compared.
    pub strategies: Vec<Strategy>,
    /// Seed of the label draw, initialisation and shuffling.
    pub seed: u64,
    /// Backend.
    pub backend: String,
    /// Input side (images are resized to it).
    pub image_size: Option<usize>,
    /// ResNet stem override (see [`TrainConfig::small_stem`]).
    pub small_stem: Option<bool>,
    /// How a pretrained checkpoint file is wrapped (top-level key, sub-module prefix).
    pub init_import: kiln_train::import::ImportOptions,
}

impl Default for TransferConfig {
    /// MNIST digits 0–4 → digits 5–9 with LeNet-5, 10 and 100 labels per class.
    fn default() -> Self {
        Self {
            arch: "lenet5".into(),
            source: TransferSource::Classes {
                dataset: "mnist".into(),
                classes: (0..5).collect(),
            },
            pretrain_epochs: 10,
            pretrain_augment: Some("affine:deg=10,translate=0.1,scale=0.9-1.1".into()),
            target: "mnist".into(),
            target_classes: (5..10).collect(),
            budgets: vec![10, 100],
            steps: 300,
            strategies: vec![
                Strategy::Scratch,
                Strategy::FeatureExtraction,
                Strategy::FineTune { mult: 0.1 },
            ],
            seed: 42,
            backend: kiln_core::DEFAULT_BACKEND.into(),
            image_size: None,
            small_stem: None,
            init_import: Default::default(),
        }
    }
}

/// One cell of the study.
#[derive(Clone, Debug, Serialize)]
pub struct TransferRow {
    /// Labelled images per class.
    pub budget: usize,
    /// How the target was learned.
    pub strategy: Strategy,
    /// Target test accuracy.
    pub accuracy: f64,
    /// Epochs run (steps / steps per epoch).
    pub epochs: usize,
    /// Wall time of training, seconds.
    pub seconds: f64,
}

/// The images of the given classes only, relabelled `0..classes.len()` in that order.
pub fn class_subset(data: &ClassificationData, classes: &[usize]) -> ClassificationData {
    let relabel = |set: &kiln_data::ImageSet| {
        set.relabeled(
            set.labels()
                .into_iter()
                .enumerate()
                .filter_map(|(i, label)| classes.iter().position(|&c| c == label).map(|l| (i, l)))
                .collect(),
        )
    };
    ClassificationData {
        name: format!(
            "{}[{}]",
            data.name,
            classes
                .iter()
                .map(|c| data.classes[*c].clone())
                .collect::<Vec<_>>()
                .join(",")
        ),
        classes: classes.iter().map(|&c| data.classes[c].clone()).collect(),
        train: relabel(&data.train),
        valid: data.valid.as_ref().map(relabel),
        test: relabel(&data.test),
        preprocessing: data.preprocessing.clone(),
    }
}

/// `per_class` labelled training images per class, drawn with `seed`, followed by `valid`
/// images from the rest of the training set (the fit loop's monitoring hold-out: it is never
/// used to choose a model). The test split is unchanged.
pub fn few_labels(
    data: &ClassificationData,
    per_class: usize,
    valid: usize,
    seed: u64,
) -> Result<ClassificationData, TrainError> {
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut rng = Rng::new(seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut taken = vec![0usize; data.classes.len()];
    let (mut train, mut rest) = (Vec::new(), Vec::new());
    for i in order {
        let label = data.train.label(i);
        if taken[label] < per_class {
            taken[label] += 1;
            train.push(i);
        } else if rest.len() < valid && data.valid.is_none() {
            rest.push(i);
        }
    }
    if let Some(c) = taken.iter().position(|&t| t < per_class) {
        return Err(TrainError::Config(format!(
            "class `{}` has only {} training images, fewer than {per_class}",
            data.classes[c], taken[c]
        )));
    }
    // The hold-out goes last, where the fit loop takes it from (a data set with its own
    // validation images keeps them).
    train.extend(rest);
    let train = data.train.subset(&train);
    Ok(ClassificationData {
        name: format!("{}-{per_class}-per-class", data.name),
        train,
        ..data.clone()
    })
}

fn run(
    config: &TransferConfig,
    arch: &str,
    data: ClassificationData,
    fit: FitConfig,
    init_from: Option<PathBuf>,
    out: &Path,
) -> Result<TrainReport, TrainError> {
    let train = TrainConfig {
        small_stem: config.small_stem,
        model: arch.to_string(),
        dataset: data.name.clone(),
        backend: config.backend.clone(),
        activation: None,
        image_size: config.image_size,
        init_from,
        init_import: config.init_import.clone(),
        fit,
        ..TrainConfig::default()
    };
    train_on(&train, data, out, false)
}

/// Runs the study into `out_dir` (`pretrained/`, one run directory per cell, `table.md`).
pub fn transfer_study(
    config: &TransferConfig,
    out_dir: &Path,
    data_roots: &[PathBuf],
) -> Result<Vec<TransferRow>, TrainError> {
    let pretrain_on = |data: ClassificationData| -> Result<(PathBuf, String), TrainError> {
        let dir = out_dir.join("pretrained");
        let fit = FitConfig {
            epochs: config.pretrain_epochs,
            seed: config.seed,
            augment: config.pretrain_augment.clone(),
            ..FitConfig::default()
        };
        run(config, &config.arch, data, fit, None, &dir)?;
        Ok((dir, config.arch.clone()))
    };
    let (pretrained, arch) = match &config.source {
        TransferSource::Dir(path) if !path.is_dir() => (path.clone(), config.arch.clone()),
        TransferSource::Dir(dir) => (dir.clone(), crate::model_dir::load_card(dir)?.model.arch),
        TransferSource::Classes { dataset, classes } => {
            pretrain_on(class_subset(&load_dataset(dataset, data_roots)?, classes))?
        }
        TransferSource::Dataset(name) => pretrain_on(load_dataset(name, data_roots)?)?,
    };
    let target = load_dataset(&config.target, data_roots)?;
    let target = if config.target_classes.is_empty() {
        target
    } else {
        class_subset(&target, &config.target_classes)
    };
    let valid = 500;
    let mut rows = Vec::new();
    for &budget in &config.budgets {
        let data = few_labels(&target, budget, valid, config.seed)?;
        let labelled = budget * data.classes.len();
        let batch_size = 32.min(labelled);
        let epochs = (config.steps * batch_size).div_ceil(labelled).max(1);
        for strategy in &config.strategies {
            let mut fit = FitConfig {
                epochs,
                batch_size,
                valid_size: valid,
                seed: config.seed,
                ..FitConfig::default()
            };
            let init = match strategy {
                Strategy::Scratch => None,
                Strategy::FeatureExtraction => {
                    fit.freeze = Freeze::Backbone;
                    Some(pretrained.clone())
                }
                Strategy::FineTune { mult } => {
                    fit.backbone_lr_mult = Some(*mult);
                    Some(pretrained.clone())
                }
            };
            let dir = out_dir.join(format!(
                "{budget}-per-class-{}",
                match strategy {
                    Strategy::Scratch => "scratch",
                    Strategy::FeatureExtraction => "frozen",
                    Strategy::FineTune { .. } => "finetune",
                }
            ));
            let report = run(config, &arch, data.clone(), fit, init, &dir)?;
            rows.push(TransferRow {
                budget,
                strategy: *strategy,
                accuracy: report.test.accuracy,
                epochs: report.epochs_run,
                seconds: report.seconds,
            });
        }
    }
    let table = markdown_table(&rows);
    kiln_train::fsutil::write_atomic(&out_dir.join("table.md"), table.as_bytes()).map_err(|e| TrainError::Io {
        path: out_dir.join("table.md"),
        source: e,
    })?;
    Ok(rows)
}

impl TransferConfig {
    /// The study the transfer examples run: `strategies` against each other, with the examples'
    /// positional arguments `[LABELS_PER_CLASS] [PRETRAINED] [TARGET]` (a pretrained file is of
    /// architecture `$KILN_ARCH`, default resnet18).
    pub fn from_example_args(args: &[String], strategies: Vec<Strategy>) -> Result<Self, String> {
        let budget = args
            .first()
            .map(|s| s.parse::<usize>())
            .transpose()
            .map_err(|e| format!("labels per class: {e}"))?;
        let mut config = TransferConfig {
            budgets: vec![budget.unwrap_or(100)],
            strategies,
            ..TransferConfig::default()
        };
        if let Some(pretrained) = args.get(1) {
            config.source = TransferSource::Dir(PathBuf::from(pretrained));
            config.arch = std::env::var("KILN_ARCH").unwrap_or_else(|_| "resnet18".into());
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            config.init_import.key_prefix = var("KILN_KEY_PREFIX");
            config.init_import.top_level_key = var("KILN_TOP_LEVEL_KEY");
        }
        if let Some(target) = args.get(2) {
            config.target = target.clone();
            config.target_classes.clear();
        }
        Ok(config)
    }
}

/// The study as a Markdown table.
pub fn markdown_table(rows: &[TransferRow]) -> String {
    let mut s =
        String::from("| labels per class | strategy | test accuracy | epochs | wall time |\n|---|---|---|---|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.2}% | {} | {:.1} s |\n",
            r.budget,
            r.strategy.label(),
            100.0 * r.accuracy,
            r.epochs,
            r.seconds
        ));
    }
    s
}
