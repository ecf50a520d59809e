//! Pretrained weights: each architecture's key rules, the weights table (published files, their
//! transforms and classes), and import into any registered model.
//!
//! ```text
//! resolve_weights("resnet50-11ad3fa6.pth")    a path, a published file name or a table name
//!     -> WeightsFile { path, entry: ResNet50_Weights.IMAGENET1K_V2, hash check }
//! load_pretrained(&file, &PretrainedOptions, &device)
//!     -> Pretrained { model, spec, classes, preprocessing, report }
//! ```

use crate::{Family, Model, ModelSpec, RegistryError, lookup, registry::build_lazy};
use burn::tensor::Device;
use kiln_core::{KerasLayout, KeyRules, Preprocessing};
use kiln_train::import::keras::{KerasImportOptions, import_keras};
use kiln_train::import::{ImportError, ImportOptions, ImportReport, import_weights};
use kiln_train::pretrained::{WeightsEntry, fetch, find_weights};
use std::path::{Path, PathBuf};

pub use kiln_train::pretrained::{imagenet_classes, weights_for, weights_table};

/// The Keras layers of a Keras application's model (`None` for torchvision's architectures):
/// what its Keras weight files load into, by layer order.
pub fn keras_layout(spec: &ModelSpec) -> Result<Option<KerasLayout>, RegistryError> {
    let info = lookup(&spec.arch)?;
    if !info.keras {
        return Ok(None);
    }
    let bad = |e: serde_json::Error| RegistryError::Config {
        arch: info.name.into(),
        reason: e.to_string(),
    };
    Ok(match info.family {
        Family::Vgg => {
            let c: kiln_vgg::VggConfig = serde_json::from_value(spec.config.clone()).map_err(bad)?;
            kiln_vgg::keras_layout(c.depth)
        }
        Family::ResNet => {
            let c: kiln_resnet::ResNetConfig = serde_json::from_value(spec.config.clone()).map_err(bad)?;
            Some(kiln_resnet::keras_layout(&c))
        }
        Family::Inception => {
            let c: kiln_inception::InceptionV3Config = serde_json::from_value(spec.config.clone()).map_err(bad)?;
            Some(kiln_inception::keras_layout(&c))
        }
        _ => None,
    })
}

/// The key rules of an architecture, from its crate.
pub fn key_rules(arch: &str) -> Result<KeyRules, RegistryError> {
    let info = lookup(arch)?;
    if info.keras {
        // Keras files load by layer order; the rules name the head (for class counts) and
        // otherwise take the model's own paths.
        let spec = ModelSpec::new(info.name, &crate::BuildOptions::new(1000, 3))?;
        let head = keras_layout(&spec)?.map(|l| l.head).unwrap_or_default();
        return Ok(KeyRules {
            remap: Vec::new(),
            head,
        });
    }
    Ok(match info.family {
        Family::LeNet => kiln_lenet::key_rules(),
        Family::AlexNet => kiln_alexnet::key_rules(),
        Family::Vgg => {
            let v = kiln_vgg::VGG_VARIANTS
                .iter()
                .find(|v| v.name == info.name)
                .expect("table and registry agree");
            kiln_vgg::key_rules(v.depth, v.batch_norm)
        }
        Family::Inception => kiln_inception::key_rules(),
        Family::ResNet => kiln_resnet::key_rules(),
        Family::MobileNetV2 => kiln_mobilenet::key_rules_v2(&kiln_mobilenet::MobileNetV2Config::new()),
        Family::MobileNetV3 => kiln_mobilenet::key_rules_v3(&crate::registry::mobilenet_v3_config(info.name)),
        Family::EfficientNet => kiln_efficientnet::key_rules(&crate::registry::efficientnet_config(info.name)),
        Family::MnasNet => kiln_mnasnet::key_rules(),
        Family::ShuffleNetV2 => kiln_shufflenet::key_rules(),
        Family::SqueezeNet => kiln_squeezenet::key_rules(crate::registry::squeezenet_config(info.name).version),
        Family::DenseNet => kiln_densenet::key_rules(&crate::registry::densenet_config(info.name)),
        Family::GoogLeNet => kiln_googlenet::key_rules(),
        Family::ConvNext => kiln_convnext::key_rules(&crate::registry::convnext_config(info.name)),
        Family::RegNet => kiln_regnet::key_rules(&crate::registry::regnet_config(info.name)),
    })
}

/// torchvision's evaluation preprocessing for an architecture without a weights entry: resize
/// the shorter side to 256 and centre-crop 224 (342 and 299 for Inception v3), bilinear,
/// ImageNet mean and standard deviation.
pub fn imagenet_preprocessing(arch: &str) -> Result<Preprocessing, RegistryError> {
    let info = lookup(arch)?;
    let [channels, crop, _] = info.input;
    if info.keras {
        let mode = if info.family == Family::Inception {
            "tf"
        } else {
            "caffe"
        };
        return Ok(Preprocessing::keras(mode, crop).expect("a Keras mode"));
    }
    Ok(match info.family {
        Family::LeNet => Preprocessing::mnist(),
        Family::Inception => Preprocessing::imagenet(342, crop),
        Family::EfficientNet => {
            let v = kiln_efficientnet::EFFICIENTNET_VARIANTS
                .iter()
                .find(|v| v.name == info.name)
                .expect("table and registry agree");
            Preprocessing {
                interpolation: kiln_core::Interpolation::Bicubic,
                ..Preprocessing::imagenet(v.resize, v.crop)
            }
        }
        _ => Preprocessing {
            channels,
            ..Preprocessing::imagenet(256, crop)
        },
    })
}

/// Why an import through the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The architecture is unknown or its configuration invalid.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The weights could not be imported.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A table name whose file is in no cache directory.
    #[error(
        "{name} is not downloaded (looked for {file} in {}): run `cargo xtask weights fetch {name}`, or pass the file's path",
        .dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" and ")
    )]
    NotDownloaded {
        /// The table entry.
        name: String,
        /// Its file name.
        file: String,
        /// Where it was looked for.
        dirs: Vec<PathBuf>,
    },
    /// Neither a file nor a table name.
    #[error("{0}: no such file, and no weights of that name in the table (`cargo xtask weights` lists them)")]
    NotFound(String),
    /// The architecture cannot be told.
    #[error("{0}: the file name is not a published one, so name the architecture (--arch)")]
    NoArch(String),
    /// The given architecture is not the entry's.
    #[error("{path} is {entry} (a {entry_arch}), not a {arch}")]
    ArchMismatch {
        /// The file.
        path: String,
        /// Its entry.
        entry: String,
        /// The entry's architecture.
        entry_arch: String,
        /// The architecture asked for.
        arch: String,
    },
    /// A Keras file for an architecture that is not a Keras application.
    #[error(
        "{path} is a Keras weight file, and {arch} is torchvision's architecture; Keras files load into \
         Keras's: {}", .keras.join(", ")
    )]
    NotKerasArch {
        /// The file.
        path: String,
        /// The architecture asked for.
        arch: String,
        /// The Keras applications of the registry.
        keras: Vec<String>,
    },
    /// Hashing the file failed.
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
}

/// A weight file, with the table entry its name matches.
#[derive(Clone, Debug)]
pub struct WeightsFile {
    /// The file.
    pub path: PathBuf,
    /// The table entry whose published file name it carries.
    pub entry: Option<&'static WeightsEntry>,
    /// When the name matches an entry but the content does not hash to the prefix in the name:
    /// the start of the actual hash.
    pub hash_mismatch: Option<String>,
}

impl WeightsFile {
    /// A warning for a person when the file is not what its name says.
    pub fn warning(&self) -> Option<String> {
        let (entry, found) = (self.entry?, self.hash_mismatch.as_ref()?);
        Some(format!(
            "warning: {} carries the name of {} but its {}: it is not the published file \
             (the entry's transform and classes are used all the same)",
            self.path.display(),
            entry.name,
            match &entry.md5 {
                Some(md5) => format!("md5 is {}, not {md5}", found.trim_start_matches("md5:")),
                None => format!(
                    "sha256 starts with {found}, not {}",
                    entry.sha256_prefix.as_deref().unwrap_or("?")
                ),
            }
        ))
    }
}

/// Resolves a `--weights` argument: a file (matched against the table by its name, its content
/// checked against the hash prefix the name carries), or a table name or published file name
/// found in the cache ([`fetch::search_dirs`]: Kiln's, then torch.hub's).
pub fn resolve_weights(arg: &Path) -> Result<WeightsFile, WeightsError> {
    resolve_weights_in(arg, &fetch::search_dirs())
}

/// [`resolve_weights`] with the cache directories given.
pub fn resolve_weights_in(arg: &Path, dirs: &[PathBuf]) -> Result<WeightsFile, WeightsError> {
    let name = arg.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if arg.is_file() {
        let entry = find_weights(name).filter(|e| e.matches_file(name));
        let hash_mismatch = match entry {
            Some(e) => fetch::verify(arg, e.expected_hash().as_deref())?,
            None => None,
        };
        return Ok(WeightsFile {
            path: arg.to_path_buf(),
            entry,
            hash_mismatch,
        });
    }
    let text = arg.to_string_lossy();
    let Some(entry) = find_weights(&text) else {
        return Err(WeightsError::NotFound(text.into_owned()));
    };
    match dirs.iter().map(|d| d.join(&entry.file)).find(|p| p.is_file()) {
        Some(path) => Ok(WeightsFile {
            hash_mismatch: fetch::verify(&path, entry.expected_hash().as_deref())?,
            path,
            entry: Some(entry),
        }),
        None => Err(WeightsError::NotDownloaded {
            name: entry.name.clone(),
            file: entry.file.clone(),
            dirs: dirs.to_vec(),
        }),
    }
}

/// How to build the model pretrained weights go into.
#[derive(Clone, Debug, Default)]
pub struct PretrainedOptions {
    /// The architecture; optional when the file carries a published name.
    pub arch: Option<String>,
    /// Output classes; another count than the checkpoint's keeps the backbone and starts a
    /// fresh classifier. `None`: the entry's, else the checkpoint's.
    pub num_classes: Option<usize>,
    /// Input channels; `None`: the architecture's.
    pub in_channels: Option<usize>,
    /// How the checkpoint is wrapped.
    pub import: ImportOptions,
    /// Inception v3's `transform_input`; `None`: the entry's, else on (torchvision's pretrained
    /// Inception has it).
    pub transform_input: Option<bool>,
}

/// A model with pretrained weights, and what to use it with.
pub struct Pretrained {
    /// The model.
    pub model: Model,
    /// How to rebuild it.
    pub spec: ModelSpec,
    /// The table entry of the file, if its name is a published one.
    pub entry: Option<&'static WeightsEntry>,
    /// Class names by output index: the entry's when its classifier is kept, else the indices.
    pub classes: Vec<String>,
    /// The entry's evaluation transform, else the architecture's default.
    pub preprocessing: Preprocessing,
    /// What the import did.
    pub report: ImportReport,
}

/// Builds the model for `file` and loads it: the architecture, class count, classes,
/// preprocessing and Inception's `transform_input` come from the file's table entry when it has
/// one, from `options` and the architecture's defaults otherwise.
pub fn load_pretrained(
    file: &WeightsFile,
    options: &PretrainedOptions,
    device: &Device,
) -> Result<Pretrained, WeightsError> {
    let path = file.path.display().to_string();
    let entry = file.entry;
    let arch = match (&options.arch, entry) {
        (Some(a), Some(e)) if lookup(a)?.name != e.arch => {
            return Err(WeightsError::ArchMismatch {
                path,
                entry: e.name.clone(),
                entry_arch: e.arch.clone(),
                arch: a.clone(),
            });
        }
        (Some(a), _) => lookup(a)?.name,
        (None, Some(e)) => lookup(&e.arch)?.name,
        (None, None) => return Err(WeightsError::NoArch(path)),
    };
    let info = lookup(arch)?;
    if let Some(n) = options.num_classes {
        kiln_core::limits::NUM_CLASSES
            .check(n)
            .map_err(|reason| RegistryError::Config {
                arch: arch.into(),
                reason,
            })?;
    }
    let mut import = options.import.clone();
    import.features_only = entry.and_then(|e| e.features_only.clone());
    let num_classes = options.num_classes.or(entry.and_then(|e| e.num_classes));
    import.new_head |= options.num_classes.is_some() || import.features_only.is_some();
    let transform_input = options
        .transform_input
        .or(entry.map(|e| e.transform_input))
        .unwrap_or(matches!(info.family, Family::Inception | Family::GoogLeNet));
    let build = crate::BuildOptions {
        transform_input: Some(transform_input),
        ..crate::BuildOptions::new(0, options.in_channels.unwrap_or(info.input[0]))
    };
    let (model, spec, report) = import_arch_with(arch, build, num_classes, &file.path, &import, device)?;
    let classes_out = crate::ImageClassifier::num_classes(&model);
    let classes = entry
        .filter(|e| e.num_classes == Some(classes_out) && report.head_reinitialised.is_empty())
        .and_then(|e| e.class_names())
        .unwrap_or_else(|| (0..classes_out).map(|c| c.to_string()).collect());
    let preprocessing = match entry {
        Some(e) => e.preprocessing(),
        None => imagenet_preprocessing(arch)?,
    };
    Ok(Pretrained {
        model,
        spec,
        entry,
        classes,
        preprocessing,
        report,
    })
}

/// Builds the model of `spec` on `device` and loads the checkpoint at `path` into it (PyTorch
/// `.pth` or `.safetensors`, torchvision's key names). With `options.new_head`, a classifier whose
/// class count differs from the checkpoint's stays freshly initialised.
pub fn import(
    spec: &ModelSpec,
    path: &Path,
    options: &ImportOptions,
    device: &Device,
) -> Result<(Model, ImportReport), WeightsError> {
    import_spec(spec, path, options, device).map(|(model, _, report)| (model, report))
}

/// [`import`], returning the spec of the model built: `spec` itself, or, for a checkpoint saved
/// with MNASNet's version-1 stem (32 → 16 channels whatever the width, as torchvision's files
/// before 0.5.0), `spec` with `stem_v1` set, which torchvision patches in on load likewise.
pub fn import_spec(
    spec: &ModelSpec,
    path: &Path,
    options: &ImportOptions,
    device: &Device,
) -> Result<(Model, ModelSpec, ImportReport), WeightsError> {
    if kiln_train::import::keras::is_keras_file(path) {
        return import_keras_spec(spec, path, options, device);
    }
    let rules = key_rules(&spec.arch)?;
    let model = build_lazy(spec, device)?;
    match import_weights(model, path, &rules, options) {
        Ok((model, report)) => Ok((model, spec.clone(), report)),
        Err(ImportError::ShapeMismatch { mismatches, .. }) if mnasnet_v1_stem(spec, &mismatches) => {
            let mut v1 = spec.clone();
            v1.config["stem_v1"] = serde_json::Value::Bool(true);
            let model = build_lazy(&v1, device)?;
            let (model, report) = import_weights(model, path, &rules, options)?;
            Ok((model, v1, report))
        }
        Err(e) => Err(e.into()),
    }
}

/// A Keras file into a Keras application's model, by layer order.
fn import_keras_spec(
    spec: &ModelSpec,
    path: &Path,
    options: &ImportOptions,
    device: &Device,
) -> Result<(Model, ModelSpec, ImportReport), WeightsError> {
    let Some(layout) = keras_layout(spec)? else {
        return Err(WeightsError::NotKerasArch {
            path: path.display().to_string(),
            arch: spec.arch.clone(),
            keras: crate::list_models()
                .iter()
                .filter(|m| m.keras)
                .map(|m| m.name.to_string())
                .collect(),
        });
    };
    if options.key_prefix.is_some() || options.top_level_key.is_some() {
        return Err(WeightsError::Import(ImportError::KerasMismatch {
            path: path.to_path_buf(),
            reason: "--key-prefix and --top-level-key apply to PyTorch checkpoints; a Keras file loads by layer order"
                .into(),
        }));
    }
    let model = build_lazy(spec, device)?;
    let keras_options = KerasImportOptions {
        new_head: options.new_head,
    };
    let (model, report) = import_keras(model, path, &layout, &keras_options)?;
    Ok((model, spec.clone(), report))
}

/// Whether a shape mismatch is that of a version-1 MNASNet stem in a version-2 model.
fn mnasnet_v1_stem(spec: &ModelSpec, mismatches: &[(String, Vec<usize>, Vec<usize>)]) -> bool {
    let Ok(config) = serde_json::from_value::<kiln_mnasnet::MnasNetConfig>(spec.config.clone()) else {
        return false;
    };
    if !matches!(lookup(&spec.arch).map(|i| i.family), Ok(Family::MnasNet)) || config.stem_v1 {
        return false;
    }
    mismatches.iter().any(|(key, _, found)| {
        key.ends_with("layers.stem.conv.weight") && found.len() == 4 && config.detect_stem_v1(found[0]) == Some(true)
    })
}

/// Imports a checkpoint for `arch` with `in_channels` inputs, for `num_classes` classes, or, when
/// `None`, for the checkpoint's own class count (read from its classifier's shape).
pub fn import_arch(
    arch: &str,
    in_channels: usize,
    num_classes: Option<usize>,
    path: &Path,
    options: &ImportOptions,
    device: &Device,
) -> Result<(Model, ModelSpec, ImportReport), WeightsError> {
    let build = crate::BuildOptions::new(0, in_channels);
    import_arch_with(arch, build, num_classes, path, options, device)
}

/// [`import_arch`] with the other build options of `build` (its class count is ignored).
fn import_arch_with(
    arch: &str,
    build: crate::BuildOptions,
    num_classes: Option<usize>,
    path: &Path,
    options: &ImportOptions,
    device: &Device,
) -> Result<(Model, ModelSpec, ImportReport), WeightsError> {
    let info = lookup(arch)?;
    let [_, h, w] = info.input;
    let spec_for = |classes: usize| {
        let options = crate::BuildOptions {
            image_size: Some([h, w]),
            num_classes: classes,
            ..build
        };
        ModelSpec::new(info.name, &options)
    };
    let guess = num_classes.unwrap_or(1000);
    let spec = spec_for(guess)?;
    match import_spec(&spec, path, options, device) {
        Ok(imported) => Ok(imported),
        Err(WeightsError::Import(ImportError::ShapeMismatch { mismatches, .. }))
            if num_classes.is_none() && head_only(&key_rules(arch)?, &mismatches) =>
        {
            // Burn stores a linear weight as [in, out]: the checkpoint's class count is the
            // last dimension of the head's weight; a convolutional head (SqueezeNet's) has it
            // first, as has a bias.
            let by_rank = |rank: usize, dim: usize| {
                mismatches
                    .iter()
                    .find(|(_, _, found)| found.len() == rank)
                    .map(|(_, _, found)| found[dim])
            };
            let classes = by_rank(2, 1)
                .or_else(|| by_rank(4, 0))
                .or_else(|| by_rank(1, 0))
                .unwrap_or(guess);
            let spec = spec_for(classes)?;
            import_spec(&spec, path, options, device)
        }
        Err(e) => Err(e),
    }
}

fn head_only(rules: &KeyRules, mismatches: &[(String, Vec<usize>, Vec<usize>)]) -> bool {
    !mismatches.is_empty() && mismatches.iter().all(|(k, _, _)| rules.is_head(k))
}
