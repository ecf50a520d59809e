//! Training a model by name: [`train()`] and [`train_on()`] run a [`TrainConfig`] into a run
//! directory, save the model directory and evaluate it.

use super::load_dataset_with;
use super::train_config::{TRAIN_FILE, TrainConfig};
use crate::{
    BuildOptions, ModelSpec,
    model_dir::{self, ModelCard},
};
use kiln_core::backend;
use kiln_train::{EvalOptions, EvalReport, TrainError, evaluate, fit, fsutil::write_atomic};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a training run produced.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// The run directory (a model directory once training finished).
    pub out: PathBuf,
    /// The epoch the run resumed after, if it resumed.
    pub resumed_from: Option<usize>,
    /// Epochs trained by this invocation.
    pub epochs_run: usize,
    /// Wall time of the training and validation passes, seconds.
    pub seconds: f64,
    /// Training images per second (wall time, validation included).
    pub images_per_second: f64,
    /// The trained model on the test split (never seen in training or model selection).
    pub test: EvalReport,
    /// Remarks for a person: what loading `init_from` did (tensors converted, keys left out),
    /// damaged checkpoints passed over on resume.
    pub notes: Vec<String>,
}

/// Trains as `config` says into `out`, then saves the model directory and evaluates the model
/// on the test split. `data_roots` are searched for the data set.
pub fn train(
    config: &TrainConfig,
    data_roots: &[PathBuf],
    out: &Path,
    resume: bool,
) -> Result<TrainReport, TrainError> {
    let info = crate::lookup(&config.model).map_err(|e| TrainError::Config(e.to_string()))?;
    let folder = kiln_data::folder::FolderOptions {
        channels: info.input[0],
        val_split: config.val_split.unwrap_or(0.1),
        seed: config.fit.seed,
        decode: kiln_data::image::DecodeOptions {
            allow_truncated: config.allow_truncated,
        },
    };
    let data = load_dataset_with(&config.dataset, data_roots, &folder)?;
    train_on(config, data, out, resume)
}

/// [`train`] on a data set already in memory (subsets, few-label splits, transfer studies).
pub fn train_on(
    config: &TrainConfig,
    mut data: kiln_data::ClassificationData,
    out: &Path,
    resume: bool,
) -> Result<TrainReport, TrainError> {
    // Nothing already written is lost: a run only goes into a directory that holds one when it
    // continues it (see `run_dir::choose_out` for the command line's ways on).
    if !resume && crate::run_dir::holds_run(out) {
        return Err(TrainError::Config(format!(
            "{} already holds a trained model or run; resume it, or choose another directory",
            out.display()
        )));
    }
    // Every number is checked before anything is built or written.
    config.fit.validate()?;
    let config_error = |e: String| TrainError::Config(e);
    if let Some(s) = config.image_size {
        kiln_core::limits::IMAGE_SIDE
            .check_as("--image-size", s)
            .map_err(config_error)?;
    }
    if let Some(v) = config.val_split {
        kiln_core::limits::VAL_SPLIT.check(v).map_err(config_error)?;
    }
    let device = backend::checked_device(&config.backend).map_err(|e| TrainError::Config(e.to_string()))?;
    let channels = data.preprocessing.channels;
    let info = crate::lookup(&config.model).map_err(|e| TrainError::Config(e.to_string()))?;
    if data.photos() {
        // Photos: `size`×`size` crops (--image-size, the folder's size=N, else the model's own
        // input size, 28 for LeNet-5) in the model's channels, torchvision's recipe transforms.
        let spec_size = Some(data.preprocessing.height).filter(|&s| s > 0);
        let size = config
            .image_size
            .or(spec_size)
            .unwrap_or(info.input[1])
            .max(info.min_size);
        let channels = data.preprocessing.channels;
        data.preprocessing = kiln_data::folder::photo_preprocessing(channels, size, data.preprocessing.interpolation);
    } else {
        // Images smaller than the architecture accepts (MNIST's 28×28 for AlexNet's 63) are
        // resized up to its minimum, or to --image-size.
        let size = config.image_size.unwrap_or(
            data.preprocessing
                .height
                .max(data.preprocessing.width)
                .max(info.min_size),
        );
        data.preprocessing.height = size;
        data.preprocessing.width = size;
    }
    let ad = device.clone().autodiff();
    let init_lock = kiln_core::seed_for_init(&device, config.fit.seed);
    let mut notes = Vec::new();
    let (model, spec) = match &config.init_from {
        None => {
            let options = BuildOptions {
                image_size: Some([data.preprocessing.height, data.preprocessing.width]),
                activation: config.activation,
                small_stem: config.small_stem,
                ..BuildOptions::new(data.classes.len(), channels)
            };
            let spec = ModelSpec::new(&config.model, &options).map_err(|e| TrainError::Config(e.to_string()))?;
            // Parameters track gradients only when created on an autodiff device.
            let model = crate::registry::build_lazy(&spec, &ad).map_err(|e| TrainError::Config(e.to_string()))?;
            (model, spec)
        }
        Some(dir) => init_from(dir, config, &mut data, &ad, &mut notes)?,
    };
    kiln_core::materialise(&model);
    drop(init_lock);
    let p = &data.preprocessing;
    crate::memory::check(
        &model,
        &config.model,
        [p.channels, p.height, p.width],
        config.fit.batch_size,
        true,
        &format!(
            "training {} with --batch-size {} on {}×{} images",
            config.model, config.fit.batch_size, p.height, p.width
        ),
        &device,
    )
    .map_err(TrainError::Config)?;
    std::fs::create_dir_all(out).map_err(|e| TrainError::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    let json = serde_json::to_string_pretty(config).expect("a train config serialises");
    let path = out.join(TRAIN_FILE);
    write_atomic(&path, json.as_bytes()).map_err(|e| TrainError::Io { path, source: e })?;
    // The resolved recipe, in the format `--recipe` reads.
    if let Ok(toml) = toml::to_string(&config.as_recipe()) {
        let path = out.join("recipe.toml");
        write_atomic(&path, toml.as_bytes()).map_err(|e| TrainError::Io { path, source: e })?;
    }

    let outcome = fit(model, &data, &config.fit, out, &device, resume)?;
    let outcome_notes = outcome.notes.clone();
    let card = ModelCard {
        model: spec,
        classes: data.classes.clone(),
        dataset: data.name.clone(),
        preprocessing: data.preprocessing.clone(),
        kiln_version: env!("CARGO_PKG_VERSION").into(),
    };
    let eval_options = EvalOptions {
        batch_size: 256,
        workers: config.fit.num_workers,
        skip_bad: config.fit.skip_bad_images,
        decode: kiln_data::image::DecodeOptions {
            allow_truncated: config.allow_truncated,
        },
    };
    let test = evaluate(
        &outcome.model,
        &data.test,
        &data.preprocessing,
        &device,
        &eval_options,
        |_, _| {},
    )?;
    model_dir::save(out, outcome.model, &card)?;
    Ok(TrainReport {
        out: out.to_path_buf(),
        resumed_from: outcome.resumed_from,
        epochs_run: outcome.epochs_run,
        seconds: outcome.seconds,
        images_per_second: outcome.images_per_second,
        test,
        notes: [notes, outcome_notes].concat(),
    })
}

/// The model of a saved directory or a checkpoint file, its classifier replaced when the classes
/// differ, and the data set's preprocessing switched to the model's channels and normalisation
/// (the statistics its weights were trained with).
fn init_from(
    dir: &Path,
    config: &TrainConfig,
    data: &mut kiln_data::ClassificationData,
    device: &burn::tensor::Device,
    notes: &mut Vec<String>,
) -> Result<(crate::Model, ModelSpec), TrainError> {
    use crate::Backbone;
    let arch = config.model.as_str();
    if !dir.is_dir() {
        // A PyTorch or safetensors checkpoint (torchvision's), or a weights-table name: imported
        // with a fresh head for this data set's classes; inputs become RGB normalised as the
        // weights' entry says (ImageNet's statistics by default).
        let load = |e: crate::weights::WeightsError| TrainError::Load {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        };
        let file = crate::weights::resolve_weights(dir).map_err(load)?;
        notes.extend(file.warning());
        let channels = crate::lookup(arch).map(|i| i.input[0]).unwrap_or(3);
        let options = crate::weights::PretrainedOptions {
            arch: Some(arch.to_string()),
            num_classes: Some(data.classes.len()),
            in_channels: Some(channels),
            import: config.init_import.clone(),
            transform_input: None,
        };
        let p = crate::weights::load_pretrained(&file, &options, device).map_err(load)?;
        notes.extend(p.report.lines());
        if channels == 3 {
            data.preprocessing.channels = 3;
            // Keras's weights take BGR on the 0–255 scale (`caffe`) or [-1, 1] (`tf`).
            data.preprocessing.normalise_as(&p.preprocessing);
            data.preprocessing.interpolation = p.preprocessing.interpolation;
        }
        return Ok((p.model, p.spec));
    }
    let (model, card) = model_dir::load(dir, device)?;
    if card.model.arch != arch {
        return Err(TrainError::Config(format!(
            "--init-from {} holds a {} model, not {arch}",
            dir.display(),
            card.model.arch
        )));
    }
    let mut spec = card.model.clone();
    let classes = data.classes.len();
    // The classifier is kept only when it predicts the same classes in the same order; other
    // classes (even as many, e.g. digits 0–4 → 5–9) get a new one, as torchvision users replace
    // `model.fc`: the old rows would otherwise start the new classes as wrong, confident guesses.
    let model = if card.classes == data.classes {
        model
    } else {
        spec.config["num_classes"] = classes.into();
        model.reset_classifier(classes, device)
    };
    data.preprocessing.channels = card.preprocessing.channels;
    data.preprocessing.normalise_as(&card.preprocessing);
    Ok((model, spec))
}
