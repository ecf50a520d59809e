//! Shared helpers.

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the integration tests find data sets (the shipped `datasets/`).
pub fn data_roots() -> Vec<PathBuf> {
    vec![root().join("datasets")]
}

/// The CPU device every test runs on.
pub fn device() -> burn::tensor::Device {
    kiln::device("flex").expect("flex is a default feature")
}
