use kiln_train::{
    TrainError,
    data::{
        ClassificationData, DataError,
        mnist::{self, MnistKind},
    },
};
use std::path::PathBuf;

/// The data sets `train` and `eval` can load by name.
pub const DATASETS: [&str; 2] = ["mnist", "fashion-mnist"];

/// Loads a data set by name, from the first of `roots` that has a `{name}/` directory
/// (`datasets/mnist` ships with Kiln; `cargo xtask data fashion-mnist` fills `data/fashion-mnist`).
pub fn load_dataset(name: &str, roots: &[PathBuf]) -> Result<ClassificationData, TrainError> {
    let kind = MnistKind::from_name(name).ok_or_else(|| {
        TrainError::Config(format!(
            "unknown data set `{name}`; known data sets: {}",
            DATASETS.join(", ")
        ))
    })?;
    let tried: Vec<PathBuf> = roots.iter().map(|r| r.join(kind.name())).collect();
    match tried.iter().find(|d| d.is_dir()) {
        Some(dir) => Ok(mnist::load(dir, kind)?),
        None => Err(DataError::NotFound {
            what: format!("data set `{}`", kind.name()),
            tried,
            hint: kind.hint().into(),
        }
        .into()),
    }
}
