//! The fit loop: burn-train's `SupervisedTraining` with Kiln's checkpoints, guards and outputs.

use crate::transfer::{Freeze, Split, freeze_outside};
use crate::{
    ClassificationModel, LossGuard, OptimSettings, OptimizerKind, Schedule, TrainError,
    checkpoint::{AtomicFileCheckpointer, CHECKPOINT_DIR, latest_intact_checkpoint, prune_checkpoints},
    metrics_csv::write_metrics_csv,
};
use burn::{
    tensor::Device,
    train::{
        Learner, SupervisedTraining,
        metric::{AccuracyMetric, LearningRateMetric, LossMetric, TopKAccuracyMetric},
    },
};
use kiln_core::Backbone;
use kiln_data::{
    ClassificationBatch, ClassificationBatcher, ClassificationData, MixingBatcher,
    augment::{HorizontalFlip, Pipeline, Prepare, RandomResizedCrop},
    loader::{IndexedBatcher, LoaderConfig, OrderedLoader},
};
use serde::{Deserialize, Serialize};
use std::{io::IsTerminal, path::Path, sync::Arc, time::Instant};

/// Hyper-parameters of one training run. Saved as `train.json` in the run directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per optimizer step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// How the learning rate evolves.
    #[serde(default)]
    pub schedule: Schedule,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Momentum, Nesterov, weight decay, gradient clipping.
    #[serde(default)]
    pub optim: OptimSettings,
    /// Label smoothing of the cross-entropy (0 for none; Inception v3 used 0.1).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Stop after this many optimizer steps (smoke runs, CI); the model at that point is saved.
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// Seeds weight initialisation and the shuffling of the training set.
    pub seed: u64,
    /// Training images held out for validation (the last ones of the training set).
    pub valid_size: usize,
    /// Data-loader worker threads (0: on the training thread). Batches are the same for every
    /// count ([`OrderedLoader`]).
    pub num_workers: usize,
    /// Skip (and count) image files that cannot be decoded instead of stopping on them.
    #[serde(default)]
    pub skip_bad_images: bool,
    /// Augmentation spec (see [`kiln_data::augment`]), e.g. `crop:28,pad=2;rotate:10`.
    #[serde(default)]
    pub augment: Option<String>,
    /// Train on only the first N training images (smoke runs, tests); `None` for all.
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// What stays fixed (transfer learning): nothing, the backbone, or all but the last N stages.
    #[serde(default)]
    pub freeze: Freeze,
    /// The backbone's learning rate is the head's times this (fine-tuning with a smaller rate).
    #[serde(default)]
    pub backbone_lr_mult: Option<f64>,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 64,
            lr: OptimizerKind::Adam.default_lr(),
            schedule: Schedule::default(),
            optimizer: OptimizerKind::Adam,
            optim: OptimSettings::default(),
            label_smoothing: 0.0,
            max_steps: None,
            seed: 42,
            valid_size: 5_000,
            num_workers: 0,
            skip_bad_images: false,
            train_limit: None,
            augment: None,
            freeze: Freeze::None,
            backbone_lr_mult: None,
        }
    }
}

fn count_named(name: &str, min: usize, value: usize) -> Result<usize, String> {
    kiln_core::limits::Count {
        name: "",
        min,
        max: usize::MAX,
    }
    .check_as(name, value)
}

impl FitConfig {
    /// Checks the values that would otherwise fail deep inside the loop.
    pub fn validate(&self) -> Result<(), TrainError> {
        use kiln_core::limits::*;
        let checks = || -> Result<(), String> {
            EPOCHS.check(self.epochs)?;
            BATCH_SIZE.check(self.batch_size)?;
            LEARNING_RATE.check(self.lr)?;
            LABEL_SMOOTHING.check(self.label_smoothing)?;
            WORKERS.check(self.num_workers)?;
            count_named("validation images", 1, self.valid_size)?;
            if let Some(m) = self.optim.momentum {
                MOMENTUM.check(m)?;
            }
            WEIGHT_DECAY.check(self.optim.weight_decay)?;
            if let Some(c) = self.optim.grad_clip {
                GRAD_CLIP.check(c)?;
            }
            if let Some(m) = self.backbone_lr_mult {
                LR_MULTIPLIER.check(m)?;
            }
            if let Some(s) = self.max_steps {
                MAX_STEPS.check(s)?;
            }
            if let Some(l) = self.train_limit {
                LIMIT.check(l)?;
            }
            self.schedule.validate()?;
            if self.backbone_lr_mult.is_some() && matches!(self.schedule, Schedule::Plateau { .. }) {
                return Err("the plateau schedule cannot be combined with --backbone-lr-mult".into());
            }
            Ok(())
        };
        checks().map_err(TrainError::Config)
    }
}

/// What a finished run produced.
pub struct FitOutcome<M> {
    /// The trained classifier, in inference mode (weights of the last epoch).
    pub model: M,
    /// The epoch the run resumed after, if it resumed.
    pub resumed_from: Option<usize>,
    /// Epochs trained by this invocation (the last one partly, when `max_steps` stopped it).
    pub epochs_run: usize,
    /// Wall time of this invocation's training and validation passes, in seconds.
    pub seconds: f64,
    /// Training images processed per second of wall time (validation time included).
    pub images_per_second: f64,
    /// Images skipped as undecodable (with `skip_bad_images`), training and validation passes.
    pub skipped_images: usize,
    /// Remarks for a person (damaged checkpoints passed over on resume, ...).
    pub notes: Vec<String>,
}

/// `model` must have been built on an autodiff device (`device.clone().autodiff()`): Burn's
/// parameters track gradients only when created there.
///
/// Trains `model` on `data.train` (minus a validation hold-out) as `config` says, writing into
/// `run_dir`: `checkpoint/{model,optim,scheduler}-N.bpk` after every epoch (atomically), burn-train's
/// logs, and `metrics.csv`. With `resume`, continues after the latest complete checkpoint.
///
/// The progress display is burn-train's TUI on a terminal and plain lines otherwise.
pub fn fit<M: Backbone>(
    model: M,
    data: &ClassificationData,
    config: &FitConfig,
    run_dir: &Path,
    device: &Device,
    resume: bool,
) -> Result<FitOutcome<M>, TrainError> {
    config.validate()?;
    let (mut train_set, valid_set) = data.split_validation(config.valid_size);
    if let Some(limit) = config.train_limit {
        train_set = train_set.subset(&(0..limit.min(train_set.len())).collect::<Vec<_>>());
    }
    if train_set.is_empty() || valid_set.is_empty() {
        return Err(TrainError::Config(format!(
            "{} training images cannot be split into training and {} validation images",
            data.train.len(),
            config.valid_size
        )));
    }
    let mut notes = Vec::new();
    if resume {
        // Temporary files of a write that was killed: never renamed into place, never used.
        if let Ok(entries) = std::fs::read_dir(run_dir.join(CHECKPOINT_DIR)) {
            for e in entries.filter_map(Result::ok) {
                if e.file_name().to_string_lossy().contains(".bpk.tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    let resumed_from = if resume {
        let (epoch, damaged) = latest_intact_checkpoint(run_dir);
        for (file, why) in damaged {
            notes.push(format!(
                "warning: {} is damaged ({why}); resuming from the newest intact checkpoint",
                file.display()
            ));
        }
        Some(epoch.ok_or_else(|| {
            TrainError::Config(format!(
                "--resume: {} holds no intact checkpoint to resume from (checkpoint/{{model,optim,scheduler}}-N.bpk); \
                 start the run without --resume",
                run_dir.display()
            ))
        })?)
    } else {
        None
    };
    let start_epoch = resumed_from.unwrap_or(0);
    if start_epoch >= config.epochs {
        return Err(TrainError::Config(format!(
            "{} already holds a checkpoint of epoch {start_epoch} of {}: nothing left to train \
             (raise --epochs to train further)",
            run_dir.display(),
            config.epochs
        )));
    }
    let n_train = train_set.len();
    let steps_per_epoch = n_train.div_ceil(config.batch_size);
    // The plateau schedule reads validation losses; other schedules need no read-back of them.
    let monitor = matches!(config.schedule, Schedule::Plateau { .. }).then(crate::ValidMonitor::default);
    // Transfer learning: freeze (BatchNorm of frozen parts in inference mode) and a smaller
    // learning rate for the backbone; the model is probed for its stages and head once.
    let ad = device.clone().autodiff();
    let p = &data.preprocessing;
    let split = (config.freeze != Freeze::None || config.backbone_lr_mult.is_some())
        .then(|| Split::of(&model, [p.channels, p.height, p.width], &ad));
    let model = match split.as_ref().and_then(|s| s.trainable(config.freeze)) {
        Some(trainable) => freeze_outside(model, trainable),
        None => model,
    };
    let total_steps = config.epochs * steps_per_epoch;
    let scheduler = match (config.backbone_lr_mult, &split) {
        (Some(mult), Some(split)) => config.schedule.build_grouped(
            config.lr,
            total_steps,
            steps_per_epoch,
            vec![(split.backbone_group(), mult)],
        ),
        _ => config
            .schedule
            .build_monitored(config.lr, total_steps, steps_per_epoch, monitor.clone()),
    };
    let augmentation = match &config.augment {
        Some(spec) => kiln_data::augment::parse(spec).map_err(|e| TrainError::Config(format!("--augment: {e}")))?,
        None => Default::default(),
    };
    let (train_pipeline, valid_pipeline) = pipelines(data, augmentation.pipeline, config.augment.is_none());
    let batcher = ClassificationBatcher::new(&data.preprocessing);
    let train_batcher: Arc<dyn IndexedBatcher<ClassificationBatch>> = match augmentation.batch {
        None => Arc::new(batcher.clone()),
        Some(mix) => Arc::new(MixingBatcher::new(batcher.clone(), mix, config.seed)),
    };
    let loading = |shuffle| LoaderConfig {
        batch_size: config.batch_size,
        shuffle,
        workers: config.num_workers,
        first_epoch: start_epoch,
        skip_bad: config.skip_bad_images,
        seed: config.seed,
    };
    let train_loader = OrderedLoader::new(
        train_set,
        train_pipeline,
        train_batcher,
        loading(Some(config.seed)),
        device.clone(),
    );
    let valid_loader = OrderedLoader::new(
        valid_set,
        valid_pipeline,
        Arc::new(batcher),
        loading(None),
        device.clone(),
    );
    let skipped = (train_loader.stats(), valid_loader.stats());

    let checkpoints = run_dir.join(CHECKPOINT_DIR);
    let mut training = SupervisedTraining::new(run_dir, Arc::new(train_loader), Arc::new(valid_loader))
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .metric_train_numeric(LearningRateMetric::new())
        .with_custom_checkpointers(
            AtomicFileCheckpointer::new(&checkpoints, "model"),
            AtomicFileCheckpointer::new(&checkpoints, "optim"),
            AtomicFileCheckpointer::new(&checkpoints, "scheduler"),
        )
        .num_epochs(config.epochs)
        .summary();
    if data.classes.len() > 5 {
        // Top-5 accuracy, the ImageNet convention, where it means something.
        training = training.metrics((TopKAccuracyMetric::new(5),));
    }
    if let Some(epoch) = resumed_from {
        training = training.checkpoint(epoch);
    }
    if !std::io::stdout().is_terminal() {
        training = training.renderer(Box::new(crate::renderer::PlainRenderer::new()));
    }
    let mut guard = LossGuard::new(training.interrupter()).with_max_steps(config.max_steps);
    if let Some(monitor) = monitor {
        guard = guard.with_monitor(monitor);
    }
    let mut wrapped = ClassificationModel::new(model, guard.clone());
    if config.label_smoothing > 0.0 {
        wrapped.label_smoothing = Some(config.label_smoothing as f32);
    }
    let learner = Learner::new(wrapped, config.optimizer.build(&config.optim), scheduler);

    let started = Instant::now();
    let result = training.launch(learner);
    let seconds = started.elapsed().as_secs_f64();
    // Throughput per epoch, in burn-train's log format so that metrics.csv (rebuilt from the
    // logs, also after a resume) carries it as `train_images_per_second`.
    for (i, rate) in guard.epoch_throughput(steps_per_epoch).into_iter().enumerate() {
        if let Some(rate) = rate {
            let dir = run_dir.join("train").join(format!("epoch-{}", start_epoch + i + 1));
            if dir.is_dir() {
                let _ = std::fs::write(dir.join("Images Per Second.log"), format!("{rate},final\n"));
            }
        }
    }
    // Write what was logged even when the run failed: the epochs before the failure are real.
    let csv = write_metrics_csv(run_dir);
    let plots = crate::plots::write_training_plots(run_dir, &crate::metrics_csv::read_epoch_metrics(run_dir));

    if let Some((step, value)) = guard.tripped() {
        return Err(TrainError::NonFiniteLoss { step, value });
    }
    if let Some(error) = result.error {
        return Err(TrainError::Training(error.to_string()));
    }
    if let Some(interruption) = result.interrupted.filter(|_| !guard.reached_max_steps()) {
        return Err(TrainError::Interrupted(
            interruption.reason.unwrap_or_else(|| "stopped".into()),
        ));
    }
    csv?;
    plots?;
    let metrics = crate::metrics_csv::read_epoch_metrics(run_dir);
    let best = metrics
        .iter()
        .filter_map(|(epoch, row)| row.get("valid_loss").map(|l| (*epoch, *l)))
        .filter(|(_, l)| l.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(e, _)| e);
    prune_checkpoints(run_dir, best);
    let (epochs_run, trained) = if guard.reached_max_steps() {
        (
            guard.steps().div_ceil(steps_per_epoch),
            guard.steps() * config.batch_size,
        )
    } else {
        (config.epochs - start_epoch, (config.epochs - start_epoch) * n_train)
    };
    Ok(FitOutcome {
        model: result.model.model,
        resumed_from,
        epochs_run,
        seconds,
        images_per_second: trained as f64 / seconds.max(1e-9),
        skipped_images: skipped.0.skipped() + skipped.1.skipped(),
        notes,
    })
}

/// The per-item pipelines of training and validation. Photos (image folders, at their own sizes)
/// are trained as torchvision's reference recipes train them: a random resized crop to the
/// input size (with the preprocessing's resampling) and a horizontal flip by default, or the
/// given augmentation after a random resized crop when it does not start with a crop or resize
/// of its own; they are validated on the evaluation transform (resize + centre crop). Data sets
/// in memory are at size already.
fn pipelines(data: &ClassificationData, augment: Pipeline, default_augment: bool) -> (Pipeline, Pipeline) {
    if !data.photos() {
        return (augment, Pipeline::default());
    }
    let p = &data.preprocessing;
    let rrc = Arc::new(RandomResizedCrop {
        interpolation: p.interpolation,
        ..RandomResizedCrop::new(p.height)
    });
    let train = if default_augment {
        Pipeline::new(vec![rrc, Arc::new(HorizontalFlip { p: 0.5 })])
    } else if augment.starts_with_size() {
        augment
    } else {
        augment.after(rrc)
    };
    (train, Pipeline::new(vec![Arc::new(Prepare(p.clone()))]))
}
