//! A plain training loop for dense tasks: Burn's optimizers and Kiln's schedules, a loss and an
//! evaluation given as closures, an atomic checkpoint of the model after every epoch, a
//! per-epoch `metrics.csv`, and a stop with a clear error on a non-finite loss.

use super::{DenseBatch, DenseBatcher};
use crate::{OptimSettings, OptimizerKind, Schedule, TrainError, fsutil};
use burn::{
    data::{dataloader::DataLoaderBuilder, dataset::InMemDataset},
    module::Module,
    optim::GradientsParams,
    tensor::{Device, Tensor},
};
use kiln_core::Preprocessing;
use kiln_data::augment::{AugmentedDataset, Sample};
use serde::{Deserialize, Serialize};
use std::{path::Path, time::Instant};

/// Hyper-parameters of a dense run (saved as `train.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseFitConfig {
    /// Passes over the training samples.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Optimizer settings.
    pub optim: OptimSettings,
    /// Seeds shuffling and augmentation.
    pub seed: u64,
    /// Stop after this many steps.
    pub max_steps: Option<usize>,
    /// Augmentation spec applied jointly to image, mask and boxes (see [`kiln_data::augment`]).
    pub augment: Option<String>,
}

impl Default for DenseFitConfig {
    fn default() -> Self {
        Self {
            epochs: 6,
            batch_size: 32,
            lr: 2e-3,
            schedule: Schedule::default(),
            optimizer: OptimizerKind::Adam,
            optim: OptimSettings::default(),
            seed: 42,
            max_steps: None,
            augment: None,
        }
    }
}

/// One epoch's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Training samples per second (the training pass only).
    pub train_images_per_second: f64,
    /// Validation metrics, named.
    pub valid: Vec<(String, f64)>,
}

/// A finished dense run.
pub struct DenseOutcome<M> {
    /// The trained model (training mode; call `.valid()` for inference).
    pub model: M,
    /// One report per epoch run.
    pub epochs: Vec<EpochReport>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The reports as an epoch → column → value table (`metrics.csv`'s columns: `train_loss`,
/// `train_learning_rate`, `train_images_per_second`, `valid_*`).
fn table(epochs: &[EpochReport]) -> std::collections::BTreeMap<usize, std::collections::BTreeMap<String, f64>> {
    epochs
        .iter()
        .map(|r| {
            let mut row: std::collections::BTreeMap<String, f64> =
                r.valid.iter().map(|(k, v)| (format!("valid_{k}"), *v)).collect();
            row.insert("train_loss".into(), r.train_loss);
            row.insert("train_learning_rate".into(), r.lr);
            row.insert("train_images_per_second".into(), r.train_images_per_second);
            (r.epoch, row)
        })
        .collect()
}

fn write_csv(run_dir: &Path, epochs: &[EpochReport]) -> Result<(), TrainError> {
    crate::metrics_csv::write_table_csv(run_dir, &table(epochs))
}

/// Trains `model` (built on `device.clone().autodiff()`) on `train`, minimising `loss`, and
/// after each epoch runs `evaluate` on the inference copy of the model and the `valid` samples.
/// Writes `checkpoint/model-N.bpk` (atomically; the previous epoch's is then removed),
/// `metrics.csv` and `train.json` into `run_dir`.
///
/// # Errors
/// A bad configuration, a data error from the loader, a non-finite loss (the checkpoints of
/// earlier epochs stay), a failed write.
#[allow(clippy::too_many_arguments)]
pub fn fit_dense<M, L, V>(
    mut model: M,
    train: Vec<Sample>,
    valid: &[Sample],
    preprocessing: &Preprocessing,
    config: &DenseFitConfig,
    run_dir: &Path,
    device: &Device,
    loss: L,
    mut evaluate: V,
    resume: bool,
) -> Result<DenseOutcome<M>, TrainError>
where
    M: Module + Clone + 'static,
    L: Fn(&M, &DenseBatch) -> Tensor<1>,
    V: FnMut(&M, &[Sample]) -> Vec<(String, f64)>,
{
    if config.epochs == 0 || config.batch_size == 0 || !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(TrainError::Config(format!(
            "epochs and batch size must be at least 1 and the learning rate positive (got {}, {}, {})",
            config.epochs, config.batch_size, config.lr
        )));
    }
    if train.is_empty() {
        return Err(TrainError::Config("no training samples".into()));
    }
    let checkpoints = run_dir.join("checkpoint");
    let mut optimizer = config.optimizer.build(&config.optim);
    // A resumed run: the newest intact checkpoint (model, optimizer, progress), the same
    // configuration but for the number of epochs.
    let (mut reports, mut step, start) = if resume {
        check_same_run(run_dir, config)?;
        let (epoch, state) = latest_dense_checkpoint(&checkpoints)?;
        model = model
            .try_load_file(checkpoints.join(format!("model-{epoch}.bpk")))
            .map_err(|e| TrainError::Load {
                path: checkpoints.join(format!("model-{epoch}.bpk")),
                reason: e.to_string(),
            })?;
        optimizer = optimizer
            .load(checkpoints.join(format!("optim-{epoch}.bpk")))
            .map_err(|e| TrainError::Load {
                path: checkpoints.join(format!("optim-{epoch}.bpk")),
                reason: e.to_string(),
            })?;
        (state.reports, state.step, epoch + 1)
    } else {
        (Vec::new(), 0usize, 1)
    };
    if start > config.epochs {
        return Err(TrainError::Config(format!(
            "{} already holds a checkpoint of epoch {} of {}: nothing left to train (raise --epochs)",
            run_dir.display(),
            start - 1,
            config.epochs
        )));
    }
    std::fs::create_dir_all(&checkpoints).map_err(|e| TrainError::io(run_dir, e))?;
    let json = serde_json::to_vec_pretty(config).expect("config serialises");
    fsutil::write_atomic(&run_dir.join("train.json"), &json)
        .map_err(|e| TrainError::io(run_dir.join("train.json"), e))?;

    let pipeline = match &config.augment {
        Some(spec) => {
            let aug = kiln_data::augment::parse(spec).map_err(|e| TrainError::Config(format!("--augment: {e}")))?;
            if aug.batch.is_some() {
                return Err(TrainError::Config(
                    "MixUp and CutMix mix labels of whole images; they do not apply to masks and boxes".into(),
                ));
            }
            aug.pipeline
        }
        None => Default::default(),
    };
    let n_train = train.len();
    let steps_per_epoch = n_train.div_ceil(config.batch_size);
    let total_steps = config.epochs * steps_per_epoch;
    let ad = device.clone().autodiff();
    let dataset = AugmentedDataset::new(InMemDataset::new(train), pipeline, config.seed);
    // A resumed run draws the augmentation and the order of its next epoch as an uninterrupted
    // run would.
    dataset.set_draws((start - 1) as u32);
    let loader = DataLoaderBuilder::new(DenseBatcher::new(preprocessing))
        .batch_size(config.batch_size)
        .shuffle(config.seed)
        .num_workers(0)
        .set_device(ad.clone())
        .build(dataset);
    for _ in 1..start {
        drop(loader.iter());
    }
    let started = Instant::now();
    for epoch in start..=config.epochs {
        let epoch_start = Instant::now();
        let (mut loss_sum, mut batches, mut seen) = (0.0f64, 0usize, 0usize);
        let mut lr = config.lr;
        for batch in loader.iter() {
            let batch = batch.map_err(|e| TrainError::Training(format!("reading a training batch: {e}")))?;
            let n = batch.images.dims()[0];
            let l = loss(&model, &batch);
            let value = l.clone().into_scalar::<f32>();
            if !value.is_finite() {
                write_csv(run_dir, &reports)?;
                return Err(TrainError::NonFiniteLoss { step: step + 1, value });
            }
            lr = config.schedule.lr_at(config.lr, step, total_steps, steps_per_epoch);
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optimizer.step(lr, model, grads);
            loss_sum += value as f64;
            batches += 1;
            seen += n;
            step += 1;
            if config.max_steps.is_some_and(|m| step >= m) {
                break;
            }
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            lr,
            train_images_per_second: seen as f64 / train_seconds.max(1e-9),
            valid: if valid.is_empty() {
                Vec::new()
            } else {
                evaluate(&model.valid(), valid)
            },
        };
        let summary: Vec<String> = report.valid.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        println!(
            "epoch {epoch}/{}: train loss {:.4}, {:.0} img/s | valid {}",
            config.epochs,
            report.train_loss,
            report.train_images_per_second,
            summary.join(", ")
        );
        reports.push(report);
        write_csv(run_dir, &reports)?;
        // The new checkpoint is complete (model, optimizer, then progress) before the old one
        // goes.
        save_dense_checkpoint(&checkpoints, epoch, &model, &optimizer, &reports, step)?;
        if epoch > 1 {
            for part in ["model", "optim"] {
                let _ = std::fs::remove_file(checkpoints.join(format!("{part}-{}.bpk", epoch - 1)));
            }
            let _ = std::fs::remove_file(checkpoints.join(format!("state-{}.json", epoch - 1)));
        }
        if config.max_steps.is_some_and(|m| step >= m) {
            break;
        }
    }
    write_csv(run_dir, &reports)?;
    crate::plots::write_training_plots(run_dir, &table(&reports))?;
    Ok(DenseOutcome {
        model,
        epochs: reports,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a dense checkpoint records beside the model and the optimizer.
#[derive(Serialize, Deserialize)]
struct DenseState {
    step: usize,
    reports: Vec<EpochReport>,
}

fn save_dense_checkpoint<M: Module + Clone>(
    dir: &Path,
    epoch: usize,
    model: &M,
    optimizer: &burn::optim::ModuleOptimizer,
    reports: &[EpochReport],
    step: usize,
) -> Result<(), TrainError> {
    let path = dir.join(format!("model-{epoch}.bpk"));
    let tmp = fsutil::temp_path(&path);
    model
        .clone()
        .save_file(&tmp)
        .map_err(|e| TrainError::Training(format!("saving {}: {e}", path.display())))?;
    fsutil::commit(&tmp, &path).map_err(|e| TrainError::io(&path, e))?;
    let path = dir.join(format!("optim-{epoch}.bpk"));
    let tmp = fsutil::temp_path(&path);
    optimizer
        .save(&tmp)
        .map_err(|e| TrainError::Training(format!("saving {}: {e}", path.display())))?;
    fsutil::commit(&tmp, &path).map_err(|e| TrainError::io(&path, e))?;
    crate::checkpoint::fault_point("dense-state");
    let state = serde_json::to_vec(&DenseState {
        step,
        reports: reports.to_vec(),
    })
    .expect("state serialises");
    let path = dir.join(format!("state-{epoch}.json"));
    fsutil::write_atomic(&path, &state).map_err(|e| TrainError::io(&path, e))
}

/// The newest epoch whose model, optimizer and progress files are all intact; a damaged newer
/// one is passed over (it is rewritten when training reaches that epoch again).
fn latest_dense_checkpoint(dir: &Path) -> Result<(usize, DenseState), TrainError> {
    let mut epochs: Vec<usize> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.strip_prefix("state-")?.strip_suffix(".json")?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    for epoch in epochs {
        let intact = ["model", "optim"]
            .iter()
            .all(|p| crate::checkpoint::bpk_intact(&dir.join(format!("{p}-{epoch}.bpk"))).is_ok());
        let state = std::fs::read(dir.join(format!("state-{epoch}.json")))
            .ok()
            .and_then(|b| serde_json::from_slice::<DenseState>(&b).ok());
        if let (true, Some(state)) = (intact, state) {
            return Ok((epoch, state));
        }
    }
    Err(TrainError::Config(format!(
        "--resume: {} holds no intact checkpoint (model-N.bpk, optim-N.bpk and state-N.json of one epoch)",
        dir.display()
    )))
}

/// A resumed run must be the same run: its saved `train.json` equals `config` but for the
/// number of epochs and the step limit.
fn check_same_run(run_dir: &Path, config: &DenseFitConfig) -> Result<(), TrainError> {
    let path = run_dir.join("train.json");
    let saved: DenseFitConfig = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| TrainError::Config(format!("--resume: {} holds no readable train.json", run_dir.display())))?;
    let comparable = |c: &DenseFitConfig| DenseFitConfig {
        epochs: 0,
        max_steps: None,
        ..c.clone()
    };
    if comparable(&saved) != comparable(config) {
        let (a, b) = (
            serde_json::to_value(comparable(&saved)).unwrap_or_default(),
            serde_json::to_value(comparable(config)).unwrap_or_default(),
        );
        let differ: Vec<String> = a
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                    .map(|(k, v)| {
                        format!(
                            "{k}: saved {v}, now {}",
                            b.get(k.as_str()).unwrap_or(&serde_json::Value::Null)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        return Err(TrainError::Config(format!(
            "--resume continues the run saved in {}, but these settings differ from it: {}",
            path.display(),
            differ.join("; ")
        )));
    }
    Ok(())
}
