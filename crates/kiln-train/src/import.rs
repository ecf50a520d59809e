//! Import of pretrained weights: PyTorch `.pth`/`.pt` (zip or legacy pickle, read by burn-store's
//! reader, which executes no code from the file) and `.safetensors`.
//!
//! The architecture's [`KeyRules`] say how checkpoint keys become model paths; the options say
//! how the checkpoint is wrapped (a top-level key such as `state_dict`, a key prefix such as
//! DataParallel's `module.`). Every way an import can go wrong is an [`ImportError`] that names
//! what it found.

use burn::{
    module::Module,
    store::{ApplyError, ApplyResult, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore},
};
use kiln_core::KeyRules;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The container format of a weight file, recognised by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    /// `torch.save` output: a zip archive (PyTorch ≥ 1.6) or a legacy pickle stream.
    Pytorch,
    /// A safetensors file: an 8-byte header length, a JSON header, raw tensor bytes.
    Safetensors,
}

/// How a checkpoint is wrapped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The dictionary key holding the state dict (`state_dict`, `model`); `None` tries the file
    /// as a bare state dict, then `state_dict` and `model`.
    pub top_level_key: Option<String>,
    /// A prefix to strip from every key (`module.`, `model.`); `None` strips `module.` when every
    /// key has it (DataParallel), as timm does.
    pub key_prefix: Option<String>,
    /// Leave the classifier freshly initialised when its shape differs (a new class count).
    pub new_head: bool,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The format read.
    pub format: Option<String>,
    /// Tensors loaded into the model.
    pub applied: usize,
    /// Classifier tensors left freshly initialised (new class count).
    pub head_reinitialised: Vec<String>,
    /// Checkpoint keys that matched nothing in the model (a warning, not an error).
    pub unused: Vec<String>,
    /// The prefix that was stripped, if any.
    pub stripped_prefix: Option<String>,
    /// The top-level key the state dict was read from, if any.
    pub top_level_key: Option<String>,
}

/// Why an import failed.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file does not exist or cannot be read.
    #[error("cannot read weights {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not a weight file Kiln reads, or is damaged (truncated, corrupt, or a pickle
    /// that calls something other than tensor rebuilding, which is refused without running it).
    #[error("{path} is not a readable {format} weight file: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The format it was read as.
        format: String,
        /// The reader's message.
        reason: String,
    },
    /// The file holds no tensor the reader accepts. The pickle reader rebuilds tensors only: a
    /// pickle that calls anything else (`os.system`, arbitrary classes) yields nothing and runs
    /// nothing.
    #[error(
        "{path} holds no tensors Kiln can read: it is empty, or its pickle calls something other than \
         tensor rebuilding (refused, nothing was executed){}", if let Some(k) = .top_level_key { format!(", or `{k}` is not its top-level key") } else { String::new() }
    )]
    NoTensors {
        /// The file.
        path: PathBuf,
        /// The top-level key that was asked for.
        top_level_key: Option<String>,
    },
    /// Tensors with the right name but the wrong shape.
    #[error("shape mismatch importing {path}:\n{}", .mismatches.iter().map(|(k, e, f)| format!("  {k}: model expects {e:?}, checkpoint has {f:?}")).collect::<Vec<_>>().join("\n"))]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// `(key, model shape, checkpoint shape)`.
        mismatches: Vec<(String, Vec<usize>, Vec<usize>)>,
    },
    /// Model tensors that the checkpoint does not provide.
    #[error("{path} lacks {} tensor(s) the model needs: {}{}", .missing.len(), .missing.iter().take(20).cloned().collect::<Vec<_>>().join(", "), if .missing.len() > 20 { ", ..." } else { "" })]
    Missing {
        /// The file.
        path: PathBuf,
        /// Model paths with no tensor.
        missing: Vec<String>,
    },
    /// Nothing in the checkpoint matched the model: another architecture, or a wrapping the
    /// options did not undo.
    #[error(
        "no tensor of {path} matches the model ({found} tensors found, e.g. {}; the model expects e.g. {}). \
         If the keys carry a prefix, pass --key-prefix (e.g. `model.`); if the state dict sits under a key, \
         pass --top-level-key; otherwise the checkpoint is of another architecture",
        .file_keys.join(", "), .model_keys.join(", ")
    )]
    NothingMatched {
        /// The file.
        path: PathBuf,
        /// Number of tensors in the file.
        found: usize,
        /// A few keys of the file.
        file_keys: Vec<String>,
        /// A few paths of the model.
        model_keys: Vec<String>,
    },
    /// Any other error reported while applying tensors.
    #[error("importing {path}: {reason}")]
    Apply {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Recognises a weight file by its first bytes.
pub fn detect_format(path: &Path) -> Result<WeightFormat, ImportError> {
    use std::io::Read;
    let io = |e: std::io::Error| ImportError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io)?;
    let head = &head[..n];
    if n >= 9 && head[8] == b'{' {
        return Ok(WeightFormat::Safetensors);
    }
    // A zip archive (torch.save since 1.6), or a pickle stream (PROTO opcode 0x80 then the
    // protocol version) for the legacy format.
    if head.starts_with(b"PK\x03\x04") || (n >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1])) {
        return Ok(WeightFormat::Pytorch);
    }
    Err(ImportError::Unreadable {
        path: path.to_path_buf(),
        format: "PyTorch or safetensors".into(),
        reason: format!(
            "unknown file signature {:02x?} (expected a zip archive, a pickle stream or a safetensors header)",
            head
        ),
    })
}

/// The keys of a weight file (after the top-level key, before any renaming).
pub fn file_keys(path: &Path, top_level_key: Option<&str>) -> Result<Vec<String>, ImportError> {
    use burn::store::ModuleStore;
    let format = detect_format(path)?;
    let unreadable = |f: &str, e: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        format: f.into(),
        reason: e,
    };
    match format {
        WeightFormat::Pytorch => {
            let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
            if let Some(k) = top_level_key {
                store = store.with_top_level_key(k);
            }
            store.keys().map_err(|e| unreadable("PyTorch", e.to_string()))
        }
        WeightFormat::Safetensors => SafetensorsStore::from_file(path)
            .map_indices_contiguous(false)
            .keys()
            .map_err(|e| unreadable("safetensors", e.to_string())),
    }
}

fn common_prefix(keys: &[String]) -> Option<String> {
    ["module.", "model.", "state_dict.", "_orig_mod."]
        .into_iter()
        .find(|p| !keys.is_empty() && keys.iter().all(|k| k.starts_with(p)))
        .map(String::from)
}

fn model_paths<M: ModuleSnapshot>(model: &M) -> Vec<String> {
    model
        .collect(None, None, true)
        .into_iter()
        .map(|t| t.name.clone())
        .collect()
}

/// Loads the weights of `path` into `model`.
///
/// Prefixes: `options.key_prefix` is stripped when given; otherwise a `module.` (DataParallel),
/// `model.` (Lightning) or `_orig_mod.` (torch.compile) prefix shared by every key is stripped.
pub fn import_weights<M: ModuleSnapshot + Module>(
    mut model: M,
    path: &Path,
    rules: &KeyRules,
    options: &ImportOptions,
) -> Result<(M, ImportReport), ImportError> {
    if !path.is_file() {
        return Err(ImportError::Io {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    let format = detect_format(path)?;
    let keys = file_keys(path, options.top_level_key.as_deref())?;
    if keys.is_empty() {
        return Err(ImportError::NoTensors {
            path: path.to_path_buf(),
            top_level_key: options.top_level_key.clone(),
        });
    }
    let prefix = options.key_prefix.clone().or_else(|| common_prefix(&keys));
    let mut remap: Vec<(String, String)> = Vec::new();
    if let Some(p) = &prefix {
        remap.push((format!("^{}", regex::escape(p)), String::new()));
    }
    remap.extend(rules.remap.iter().cloned());

    let result: Result<ApplyResult, String> = match format {
        WeightFormat::Pytorch => {
            let mut store = PytorchStore::from_file(path)
                .map_indices_contiguous(true)
                .allow_partial(true)
                .validate(false);
            if let Some(k) = &options.top_level_key {
                store = store.with_top_level_key(k);
            }
            for (from, to) in &remap {
                store = store.with_key_remapping(from, to.as_str());
            }
            model.load_from(&mut store).map_err(|e| e.to_string())
        }
        WeightFormat::Safetensors => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .skip_enum_variants(true)
                .map_indices_contiguous(true)
                .allow_partial(true)
                .validate(false);
            for (from, to) in &remap {
                store = store.with_key_remapping(from, to.as_str());
            }
            model.load_from(&mut store).map_err(|e| e.to_string())
        }
    };
    let format_name = match format {
        WeightFormat::Pytorch => "PyTorch",
        WeightFormat::Safetensors => "safetensors",
    };
    let result = result.map_err(|reason| ImportError::Unreadable {
        path: path.to_path_buf(),
        format: format_name.into(),
        reason,
    })?;

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
        let model_keys = model_paths(&model);
        return Err(ImportError::NothingMatched {
            path: path.to_path_buf(),
            found: keys.len(),
            file_keys: keys.iter().take(4).cloned().collect(),
            model_keys: model_keys.into_iter().take(4).collect(),
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
    let missing: Vec<String> = result
        .missing
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| !(options.new_head && rules.is_head(p)))
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
            head_reinitialised,
            // PyTorch's BatchNorm step counter has no counterpart (and no effect) in Burn.
            unused: result
                .unused
                .iter()
                .filter(|k| !k.ends_with("num_batches_tracked"))
                .cloned()
                .collect(),
            stripped_prefix: prefix,
            top_level_key: options.top_level_key.clone(),
        },
    ))
}
