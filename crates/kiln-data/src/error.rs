use std::path::PathBuf;
use thiserror::Error;

/// Why a data set could not be read.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not an IDX file, or is one of a kind Kiln does not read.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Two files that belong together disagree (e.g. 60,000 images but 59,999 labels).
    #[error("{0}")]
    Mismatch(String),
    /// A directory lacks an expected file.
    #[error("{what} not found; looked for {}{hint}", .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        /// What was looked for.
        what: String,
        /// The paths tried.
        tried: Vec<PathBuf>,
        /// How to obtain it.
        hint: String,
    },
    /// A downloaded or shipped file does not have the recorded checksum.
    #[error("checksum mismatch for {path}: expected sha256 {expected}, got {actual}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The recorded digest.
        expected: String,
        /// The digest of the file on disk.
        actual: String,
    },
    /// An external tool (e.g. `apt-get download`) failed.
    #[error("{0}")]
    Tool(String),
    /// An image file could not be decoded.
    #[error("cannot decode image {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
