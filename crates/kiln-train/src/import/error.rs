//! Every way an import can go wrong, each naming what it found.

use std::path::{Path, PathBuf};
use thiserror::Error;

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
    /// `--key-prefix` names no sub-module of the checkpoint.
    #[error("{path}: {reason}")]
    KeyPrefix {
        /// The file.
        path: PathBuf,
        /// What was looked for and what the keys look like.
        reason: String,
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
    /// A tensor holds values no trained weight has (NaN, infinities, a negative variance).
    #[error("{path}: parameter `{key}` {why}; such weights give NaN outputs for every input")]
    BadWeights {
        /// The file.
        path: PathBuf,
        /// The model path of the tensor.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// A Keras file whose layers do not fit the model: other kinds or counts of layers (a file of
    /// another architecture), or other shapes. The message names the layers of both sides.
    #[error("{path} does not fit the model: {reason}")]
    KerasMismatch {
        /// The file.
        path: PathBuf,
        /// Which layers differ, by their names in the file and in Keras's application.
        reason: String,
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

impl ImportError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}
