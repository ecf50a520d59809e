//! A training run's configuration: [`TrainConfig`] (saved as `train.json` in the run
//! directory), [`TrainOverrides`] (flags or a recipe, applied over the defaults) and
//! [`resolve_train_config`] (what a fresh or resumed run uses).

use kiln_core::{Activation, backend};
use kiln_train::import::ImportOptions;
use kiln_train::transfer::Freeze;
use kiln_train::{FitConfig, OptimizerKind, Schedule, TrainError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A training run: what to train on what, and how. Saved as `train.json` in the run directory,
/// which `--resume` reads back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Registry name of the model.
    pub model: String,
    /// Data set name.
    pub dataset: String,
    /// Backend name.
    pub backend: String,
    /// Hidden activation, where the architecture offers the choice.
    pub activation: Option<Activation>,
    /// A model directory (`cargo xtask train` or `import`) whose weights initialise the model;
    /// different classes (names or order) keep the backbone and start a fresh classifier. Or a
    /// PyTorch / safetensors checkpoint file, which names no classes: its classifier is replaced
    /// when the class count differs.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// How an `init_from` checkpoint file is wrapped (its top-level key, the sub-module's key
    /// prefix).
    #[serde(default)]
    pub init_import: ImportOptions,
    /// Square input size the images are resized to; `None`: the data set's size, raised to the
    /// architecture's minimum.
    #[serde(default)]
    pub image_size: Option<usize>,
    /// ResNet: force the small-image stem on (`Some(true)`) or off; `None` picks it below 64 px.
    #[serde(default)]
    pub small_stem: Option<bool>,
    /// Image folders without `val/`: the fraction of each class held out for validation
    /// (seeded, stratified); `None`: 0.1.
    #[serde(default)]
    pub val_split: Option<f64>,
    /// Accept truncated image files (with a warning) instead of stopping on them.
    #[serde(default)]
    pub allow_truncated: bool,
    /// Optimisation hyper-parameters.
    pub fit: FitConfig,
}

impl Default for TrainConfig {
    /// LeNet-5 on MNIST with the default hyper-parameters on the default backend.
    fn default() -> Self {
        Self {
            model: "lenet5".into(),
            dataset: "mnist".into(),
            backend: backend::DEFAULT_BACKEND.into(),
            activation: None,
            init_from: None,
            init_import: ImportOptions::default(),
            image_size: None,
            small_stem: None,
            val_split: None,
            allow_truncated: false,
            fit: FitConfig::default(),
        }
    }
}

impl TrainConfig {
    /// This configuration as a recipe (every field given).
    pub fn as_recipe(&self) -> TrainOverrides {
        let f = &self.fit;
        TrainOverrides {
            model: self.model.clone(),
            dataset: Some(self.dataset.clone()),
            backend: Some(self.backend.clone()),
            activation: self.activation,
            image_size: self.image_size,
            init_from: self.init_from.clone(),
            key_prefix: self.init_import.key_prefix.clone(),
            top_level_key: self.init_import.top_level_key.clone(),
            epochs: Some(f.epochs),
            batch_size: Some(f.batch_size),
            lr: Some(f.lr),
            optimizer: Some(f.optimizer),
            schedule: Some(f.schedule.clone()),
            momentum: f.optim.momentum,
            nesterov: Some(f.optim.nesterov),
            weight_decay: Some(f.optim.weight_decay),
            grad_clip: f.optim.grad_clip,
            no_decay_norm_bias: Some(f.optim.no_decay_norm_bias),
            freeze: Some(f.freeze),
            backbone_lr_mult: f.backbone_lr_mult,
            label_smoothing: Some(f.label_smoothing),
            max_steps: f.max_steps,
            seed: Some(f.seed),
            num_workers: Some(f.num_workers),
            val_split: self.val_split,
            skip_bad_images: Some(f.skip_bad_images),
            allow_truncated: Some(self.allow_truncated),
            train_limit: f.train_limit,
            augment: f.augment.clone(),
        }
    }
}

/// Command-line values or a recipe's fields; `None` means "not given". A recipe (TOML, the same
/// names as the flags with `_` for `-`) is read into this type, and flags override it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOverrides {
    /// Model name.
    pub model: String,
    /// `--dataset`.
    pub dataset: Option<String>,
    /// `--backend`.
    pub backend: Option<String>,
    /// `--activation`.
    pub activation: Option<Activation>,
    /// `--image-size`.
    pub image_size: Option<usize>,
    /// `--init-from`.
    pub init_from: Option<PathBuf>,
    /// `--key-prefix` of an `--init-from` checkpoint.
    pub key_prefix: Option<String>,
    /// `--top-level-key` of an `--init-from` checkpoint.
    pub top_level_key: Option<String>,
    /// `--epochs`.
    pub epochs: Option<usize>,
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// `--lr`.
    pub lr: Option<f64>,
    /// `--optimizer`.
    pub optimizer: Option<OptimizerKind>,
    /// `--schedule`, as its text spec.
    #[serde(with = "as_text")]
    pub schedule: Option<Schedule>,
    /// `--momentum`.
    pub momentum: Option<f64>,
    /// `--nesterov`.
    pub nesterov: Option<bool>,
    /// `--weight-decay`.
    pub weight_decay: Option<f64>,
    /// `--grad-clip`.
    pub grad_clip: Option<f64>,
    /// `--no-decay-norm-bias`.
    pub no_decay_norm_bias: Option<bool>,
    /// `--freeze`: none, backbone or stages:N.
    #[serde(with = "as_text")]
    pub freeze: Option<Freeze>,
    /// `--backbone-lr-mult`.
    pub backbone_lr_mult: Option<f64>,
    /// `--label-smoothing`.
    pub label_smoothing: Option<f64>,
    /// `--max-steps`.
    pub max_steps: Option<usize>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--workers`.
    pub num_workers: Option<usize>,
    /// `--val-split`.
    pub val_split: Option<f64>,
    /// `--skip-bad-images`.
    pub skip_bad_images: Option<bool>,
    /// `--allow-truncated`.
    pub allow_truncated: Option<bool>,
    /// `--limit`: train on the first N training images only.
    pub train_limit: Option<usize>,
    /// `--augment`: an augmentation spec.
    pub augment: Option<String>,
}

/// Serde for an optional value written as its text form (`cosine:warmup=1`, `stages:2`), as
/// flags and recipes give it.
mod as_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::{fmt::Display, str::FromStr};

    pub fn serialize<T: Display, S: Serializer>(v: &Option<T>, ser: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => ser.serialize_str(&v.to_string()),
            None => ser.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(de: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(de)?
            .map(|s| s.parse::<T>().map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl TrainOverrides {
    /// Reads a recipe (TOML). Unknown fields are errors, so a typo is not silently ignored.
    pub fn from_recipe(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        toml::from_str(&text).map_err(|e| TrainError::Config(format!("recipe {}: {e}", path.display())))
    }

    /// `self` with every field that `flags` gives replaced by the flag's value.
    pub fn overridden_by(self, flags: TrainOverrides) -> TrainOverrides {
        macro_rules! pick {
            ($($f:ident),*) => { TrainOverrides { $($f: flags.$f.or(self.$f),)* model: if flags.model.is_empty() { self.model } else { flags.model } } };
        }
        pick!(
            dataset,
            backend,
            activation,
            image_size,
            init_from,
            key_prefix,
            top_level_key,
            epochs,
            batch_size,
            lr,
            optimizer,
            schedule,
            momentum,
            nesterov,
            weight_decay,
            grad_clip,
            no_decay_norm_bias,
            freeze,
            backbone_lr_mult,
            label_smoothing,
            max_steps,
            seed,
            num_workers,
            val_split,
            skip_bad_images,
            allow_truncated,
            train_limit,
            augment
        )
    }
}

pub(super) const TRAIN_FILE: &str = "train.json";

/// The configuration a run uses. A fresh run takes the defaults with the given values applied.
/// With `resume`, the saved `train.json` of `out` is authoritative: `--epochs` may raise the
/// number of epochs and `--backend`/`--workers` may change, any other differing value is an error
/// (a resumed run must continue the same experiment).
pub fn resolve_train_config(o: &TrainOverrides, out: &Path, resume: bool) -> Result<TrainConfig, TrainError> {
    let saved_path = out.join(TRAIN_FILE);
    if resume && saved_path.is_file() {
        let text = std::fs::read_to_string(&saved_path).map_err(|e| TrainError::Io {
            path: saved_path.clone(),
            source: e,
        })?;
        let mut saved: TrainConfig = serde_json::from_str(&text).map_err(|e| TrainError::Load {
            path: saved_path.clone(),
            reason: e.to_string(),
        })?;
        let mut conflicts = Vec::new();
        let model = crate::lookup(&o.model)
            .map(|i| i.name.to_string())
            .unwrap_or(o.model.clone());
        if model != saved.model {
            conflicts.push(format!("model {} vs saved {}", o.model, saved.model));
        }
        // Every flag given must equal the saved run's value, but those that only extend the
        // run or move it elsewhere.
        const MAY_CHANGE: [&str; 4] = ["epochs", "num_workers", "backend", "max_steps"];
        let given = serde_json::to_value(o).expect("overrides serialise");
        let before = serde_json::to_value(saved.as_recipe()).expect("a recipe serialises");
        for (key, value) in given.as_object().into_iter().flatten() {
            if value.is_null() || key == "model" || MAY_CHANGE.contains(&key.as_str()) {
                continue;
            }
            let was = before.get(key).unwrap_or(&serde_json::Value::Null);
            if value != was {
                let flag = match key.as_str() {
                    "train_limit" => "limit".to_string(),
                    "num_workers" => "workers".to_string(),
                    other => other.replace('_', "-"),
                };
                conflicts.push(format!("--{flag} {value} vs saved {was}"));
            }
        }
        if !conflicts.is_empty() {
            return Err(TrainError::Config(format!(
                "--resume continues the run saved in {}, but these flags differ from it: {}",
                saved_path.display(),
                conflicts.join("; ")
            )));
        }
        if let Some(e) = o.epochs {
            saved.fit.epochs = e;
        }
        if let Some(b) = &o.backend {
            saved.backend = b.clone();
        }
        if let Some(w) = o.num_workers {
            saved.fit.num_workers = w;
        }
        saved.fit.max_steps = o.max_steps.or(saved.fit.max_steps);
        return Ok(saved);
    }
    let arch = crate::lookup(&o.model)
        .map_err(|e| TrainError::Config(e.to_string()))?
        .name
        .to_string();
    let defaults = FitConfig::default();
    let optimizer = o.optimizer.unwrap_or(defaults.optimizer);
    let dataset = o.dataset.clone().unwrap_or_else(|| "mnist".into());
    let photos = dataset.starts_with("folder:");
    Ok(TrainConfig {
        small_stem: None,
        model: arch,
        val_split: o.val_split,
        allow_truncated: o.allow_truncated.unwrap_or(false),
        backend: o.backend.clone().unwrap_or_else(|| backend::DEFAULT_BACKEND.into()),
        activation: o.activation,
        image_size: o.image_size,
        dataset,
        init_from: o.init_from.clone(),
        init_import: ImportOptions {
            key_prefix: o.key_prefix.clone(),
            top_level_key: o.top_level_key.clone(),
            ..ImportOptions::default()
        },
        fit: FitConfig {
            epochs: o.epochs.unwrap_or(defaults.epochs),
            batch_size: o.batch_size.unwrap_or(defaults.batch_size),
            lr: o.lr.unwrap_or(optimizer.default_lr()),
            schedule: o.schedule.clone().unwrap_or(defaults.schedule),
            optimizer,
            seed: o.seed.unwrap_or(defaults.seed),
            valid_size: defaults.valid_size,
            // Image folders decode on every core by default (batches are the same for any count);
            // data in memory needs no workers.
            num_workers: o.num_workers.unwrap_or(if photos {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                defaults.num_workers
            }),
            skip_bad_images: o.skip_bad_images.unwrap_or(false),
            train_limit: o.train_limit,
            augment: o.augment.clone(),
            optim: kiln_train::OptimSettings {
                momentum: o.momentum,
                nesterov: o.nesterov.unwrap_or(false),
                weight_decay: o.weight_decay.unwrap_or(0.0),
                grad_clip: o.grad_clip,
                no_decay_norm_bias: o.no_decay_norm_bias.unwrap_or(false),
            },
            freeze: o.freeze.unwrap_or_default(),
            backbone_lr_mult: o.backbone_lr_mult,
            label_smoothing: o.label_smoothing.unwrap_or(0.0),
            max_steps: o.max_steps,
        },
    })
}
