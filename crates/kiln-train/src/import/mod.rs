//! Import of pretrained weights: PyTorch `.pth`/`.pt` (zip or legacy pickle, read by burn-store's
//! reader, which executes no code from the file), `.safetensors`, and Keras's `.h5`,
//! `.weights.h5` and `.keras` files ([`keras`]).
//!
//! ```text
//! file ──read──▶ tensors by flattened key (`model.conv1.weight`), non-tensor entries skipped
//!      ──select──▶ the sub-module: keys under the prefix, prefix removed (others reported)
//!      ──KeyRules──▶ model paths; torchvision's Sequential gaps closed
//!      ──adapters──▶ Linear weights transposed, norm weight/bias → gamma/beta,
//!                    f16 / bf16 / f64 converted to the model's float type
//! ```
//!
//! The architecture's [`KeyRules`] say how checkpoint keys become model paths; the options say
//! how the checkpoint is wrapped. Every way an import can go wrong is an [`ImportError`] that
//! names what it found.

mod error;
mod read;
pub mod select;

mod channels;
pub mod keras;
pub use error::ImportError;
pub use read::{Checkpoint, WeightFormat, detect_format, file_keys, read};

use burn::{
    module::Module,
    store::{
        ApplyError, FloatCastAdapter, KeyRemapper, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter,
        map_indices_contiguous,
    },
    tensor::DType,
};
use kiln_core::KeyRules;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How a checkpoint is wrapped, and what to do with its classifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportOptions {
    /// The dictionary key holding the state dict (`state_dict`, `model`, timm's
    /// `state_dict_ema`); `None` reads the whole file, where wrappers are found by themselves.
    pub top_level_key: Option<String>,
    /// The sub-module to load: keys starting with this prefix, prefix removed (`backbone.`);
    /// every other key is left out and reported. `None` recognises the wrappers of
    /// [`select::WRAPPERS`] (`module.`, `model.`, `_orig_mod.`, `state_dict.`).
    pub key_prefix: Option<String>,
    /// Leave the classifier freshly initialised when its shape differs (a new class count).
    #[serde(skip)]
    pub new_head: bool,
    /// Load only the tensors under this model prefix (`features.`), leaving the rest freshly
    /// initialised: for published weights whose other parts hold no valid values (VGG-16's
    /// `IMAGENET1K_FEATURES`).
    #[serde(skip)]
    pub features_only: Option<String>,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The format read.
    pub format: Option<String>,
    /// Tensors loaded into the model.
    pub applied: usize,
    /// Tensors converted to the model's float type, by source type (`("F16", 102)`).
    pub converted: Vec<(String, usize)>,
    /// Classifier tensors left freshly initialised (new class count).
    pub head_reinitialised: Vec<String>,
    /// Checkpoint keys under the prefix that matched nothing in the model (a warning).
    pub unused: Vec<String>,
    /// Checkpoint keys outside the prefix: other modules, optimizer state, EMA copies.
    pub outside_prefix: Vec<String>,
    /// Entries that are not tensors (`args (argparse.Namespace)`), skipped.
    pub skipped: Vec<String>,
    /// Tensors outside [`ImportOptions::features_only`], not loaded.
    pub excluded: Vec<String>,
    /// The prefix that was stripped, if any.
    pub stripped_prefix: Option<String>,
    /// The top-level key the state dict was read from, if any.
    pub top_level_key: Option<String>,
    /// Convolution weights of 3 input channels converted for the model's (`conv1.weight (3 → 1
    /// channels)`): summed for grey, repeated and scaled otherwise, as timm does.
    pub adapted_input: Vec<String>,
    /// Other conversions worth a line (Keras: BatchNorm without scale, creation order).
    pub notes: Vec<String>,
}

impl ImportReport {
    /// The report's lines for a person: what was loaded, converted, left out and skipped.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = self.notes.clone();
        for a in &self.adapted_input {
            lines.push(format!(
                "adapted {a} (RGB filters summed for grey input, or repeated and scaled by 3/c, as timm's adapt_input_conv)"
            ));
        }
        for (dtype, n) in &self.converted {
            lines.push(format!("converted {n} tensors from {dtype}"));
        }
        if let Some(p) = &self.stripped_prefix {
            lines.push(format!("loaded the keys under `{p}` (prefix removed)"));
        }
        if !self.head_reinitialised.is_empty() {
            lines.push(format!(
                "new classifier (freshly initialised): {}",
                self.head_reinitialised.join(", ")
            ));
        }
        if !self.outside_prefix.is_empty() {
            let ema = self.outside_prefix.iter().any(|k| k.starts_with("state_dict_ema."));
            lines.push(format!(
                "{} tensors outside `{}` were not loaded (other modules or training state), e.g. {}{}",
                self.outside_prefix.len(),
                self.stripped_prefix.as_deref().unwrap_or(""),
                select::sample(&self.outside_prefix, 3),
                if ema {
                    "; the EMA weights load with --top-level-key state_dict_ema"
                } else {
                    ""
                }
            ));
        }
        if !self.excluded.is_empty() {
            lines.push(format!(
                "{} tensors outside the feature extractor were not loaded (they hold no valid values): {} starts fresh",
                self.excluded.len(),
                select::sample(&self.excluded, 3)
            ));
        }
        if !self.skipped.is_empty() {
            lines.push(format!(
                "skipped {} entries that are not tensors: {}",
                self.skipped.len(),
                select::sample(&self.skipped, 6)
            ));
        }
        if !self.unused.is_empty() {
            lines.push(format!(
                "warning: {} checkpoint tensors were not used: {}",
                self.unused.len(),
                select::sample(&self.unused, 10)
            ));
        }
        lines
    }
}

/// The model's parameter paths, its top-level module names (`conv1`, `layer1`, `fc`; key rules
/// rename only deeper segments) and its float type.
fn model_roots<M: ModuleSnapshot>(model: &M) -> (Vec<String>, Vec<String>, Option<DType>) {
    let snapshots = model.collect(None, None, true);
    let dtype = snapshots.iter().find(|t| t.dtype.is_float()).map(|t| t.dtype);
    let paths: Vec<String> = snapshots.into_iter().map(|t| t.name).collect();
    let mut roots: Vec<String> = paths
        .iter()
        .filter_map(|p| p.split('.').next().map(String::from))
        .collect();
    roots.sort();
    roots.dedup();
    (paths, roots, dtype)
}

/// Loads the weights of `path` into `model`: the keys under `options.key_prefix` (or under the
/// wrappers training code adds), renamed by `rules`, every float tensor converted to the model's
/// float type.
pub fn import_weights<M: ModuleSnapshot + Module>(
    mut model: M,
    path: &Path,
    rules: &KeyRules,
    options: &ImportOptions,
) -> Result<(M, ImportReport), ImportError> {
    let checkpoint = kiln_core::fsutil::guard("reading the checkpoint", || {
        read(path, options.top_level_key.as_deref())
    })
    .map_err(|reason| ImportError::Apply {
        path: path.to_path_buf(),
        reason,
    })??;
    let format_name = checkpoint.format.name();
    let (model_paths, roots, target) = model_roots(&model);
    let file_keys: Vec<String> = checkpoint.tensors.iter().map(|t| t.name.clone()).collect();
    let selection =
        select::select(&file_keys, options.key_prefix.as_deref(), &roots).map_err(|reason| ImportError::KeyPrefix {
            path: path.to_path_buf(),
            reason,
        })?;
    let outside: std::collections::HashSet<&str> = selection.outside.iter().map(String::as_str).collect();
    let mut tensors: Vec<_> = checkpoint
        .tensors
        .into_iter()
        .filter(|t| !outside.contains(t.name.as_str()))
        .map(|mut t| {
            t.name = t.name[selection.prefix.len()..].to_string();
            t
        })
        .collect();
    let remapper = KeyRemapper::from_patterns(rules.remap.clone()).map_err(|e| ImportError::Apply {
        path: path.to_path_buf(),
        reason: format!("invalid key rule: {e}"),
    })?;
    tensors = remapper.remap(tensors).0;
    tensors = map_indices_contiguous(tensors).0;
    let in_features = |p: &str| options.features_only.as_deref().is_none_or(|f| p.starts_with(f));
    let (tensors, excluded): (Vec<_>, Vec<_>) = tensors.into_iter().partition(|t| in_features(&t.name));
    let excluded: Vec<String> = excluded.into_iter().map(|t| t.name).collect();

    // Floats of another type than the model's are converted as they are applied.
    let target = target.unwrap_or(DType::F32);
    let mut converted: std::collections::BTreeMap<String, usize> = Default::default();
    for t in tensors.iter().filter(|t| t.dtype.is_float() && t.dtype != target) {
        *converted.entry(format!("{:?}", t.dtype)).or_default() += 1;
    }
    let adapter = || -> Box<dyn ModuleAdapter> { Box::new(PyTorchToBurnAdapter.chain(FloatCastAdapter::to(target))) };
    // Kept (their bytes are read lazily, so this is cheap) for the input-channel adaptation below.
    let originals = tensors.clone();
    let mut result = kiln_core::fsutil::guard("loading the tensors", || {
        model.apply(tensors, None, Some(adapter()), true)
    })
    .map_err(|reason| ImportError::Apply {
        path: path.to_path_buf(),
        reason,
    })?;

    // An RGB first convolution into a model of other input channels: converted as timm does.
    let mut adapted_input = Vec::new();
    let mut retry = Vec::new();
    result.errors.retain(|error| {
        let ApplyError::ShapeMismatch {
            path: key,
            expected,
            found,
        } = error
        else {
            return true;
        };
        if !channels::adaptable(expected, found) {
            return true;
        }
        let Some(t) = originals
            .iter()
            .find(|t| *key == t.name || key.ends_with(&format!(".{}", t.name)))
        else {
            return true;
        };
        match channels::adapt(t, expected[1]) {
            Ok(converted) => {
                adapted_input.push(format!("{} (3 → {} channels)", t.name, expected[1]));
                retry.push(converted);
                false
            }
            Err(_) => true,
        }
    });
    if !retry.is_empty() {
        let second = kiln_core::fsutil::guard("loading the tensors", || {
            model.apply(retry, None, Some(adapter()), true)
        })
        .map_err(|reason| ImportError::Apply {
            path: path.to_path_buf(),
            reason,
        })?;
        result.errors.extend(second.errors);
        result.applied.extend(second.applied);
        let applied: std::collections::HashSet<String> = result.applied.iter().cloned().collect();
        result.missing.retain(|(p, _)| !applied.contains(p));
    }

    let mut mismatches = Vec::new();
    let mut head_reinitialised = Vec::new();
    let mut other_errors = Vec::new();
    for error in &result.errors {
        match error {
            ApplyError::ShapeMismatch {
                path: key,
                expected,
                found,
            } => {
                if options.new_head && rules.is_head(key) {
                    head_reinitialised.push(key.clone());
                } else {
                    mismatches.push((key.clone(), expected.to_vec(), found.to_vec()));
                }
            }
            other => other_errors.push(other.to_string()),
        }
    }
    if result.applied.is_empty() {
        return Err(ImportError::NothingMatched {
            path: path.to_path_buf(),
            found: file_keys.len(),
            file_keys: file_keys.iter().take(4).cloned().collect(),
            model_keys: model_paths.into_iter().take(4).collect(),
        });
    }
    if !mismatches.is_empty() {
        return Err(ImportError::ShapeMismatch {
            path: path.to_path_buf(),
            mismatches,
        });
    }
    if !other_errors.is_empty() {
        return Err(ImportError::Apply {
            path: path.to_path_buf(),
            reason: other_errors.join("; "),
        });
    }
    if let Some((key, why)) = kiln_core::first_bad_param(&model) {
        return Err(ImportError::BadWeights {
            path: path.to_path_buf(),
            key,
            why,
        });
    }
    let missing: Vec<String> = result
        .missing
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| !(options.new_head && rules.is_head(p)) && in_features(p))
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::Missing {
            path: path.to_path_buf(),
            missing,
        });
    }
    Ok((
        model,
        ImportReport {
            format: Some(format_name.into()),
            applied: result.applied.len(),
            converted: converted.into_iter().collect(),
            head_reinitialised,
            // PyTorch's BatchNorm step counter has no counterpart (and no effect) in Burn.
            unused: result
                .unused
                .iter()
                .filter(|k| !k.ends_with("num_batches_tracked"))
                .cloned()
                .collect(),
            outside_prefix: selection.outside,
            skipped: checkpoint.skipped,
            excluded,
            stripped_prefix: (!selection.prefix.is_empty()).then_some(selection.prefix),
            top_level_key: options.top_level_key.clone(),
            adapted_input,
            notes: Vec::new(),
        },
    ))
}
