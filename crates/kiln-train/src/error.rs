use kiln_data::DataError;
use thiserror::Error;

/// Why training, evaluation or prediction failed.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The loss became NaN or infinite; the checkpoints written before stay intact.
    #[error(
        "training stopped: the loss became {value} at step {step}. Checkpoints from earlier epochs are \
         intact; lower the learning rate (--lr) or change the initialisation, then --resume or restart"
    )]
    NonFiniteLoss {
        /// The training step (1-based, counted in this run) whose loss was not finite.
        step: usize,
        /// The loss value.
        value: f32,
    },
    /// burn-train reported an error.
    #[error("training failed: {0}")]
    Training(String),
    /// Training was interrupted (Ctrl-C in the TUI, for example).
    #[error("training interrupted: {0}; resume with --resume")]
    Interrupted(String),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A saved model could not be loaded.
    #[error("cannot load model from {path}: {reason}")]
    Load {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl TrainError {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
