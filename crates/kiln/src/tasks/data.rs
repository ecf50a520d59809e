use kiln_data::{
    ClassificationData, DataError,
    cifar::{self, CifarKind},
    folder::FolderOptions,
    mnist::{self, MnistKind},
};
use kiln_train::TrainError;
use std::path::PathBuf;

/// The data sets `train` and `eval` can load by name.
pub const DATASETS: [&str; 5] = [
    "mnist",
    "fashion-mnist",
    "cifar10",
    "cifar100",
    "folder:PATH[,size=N][,grey] (PATH: an image folder or a path,label .csv/.tsv)",
];

/// Directory names of the CIFAR archives as extracted (`cifar-10-binary.tar.gz`).
const CIFAR_DIRS: [(&str, &str); 2] = [("cifar10", "cifar-10-batches-bin"), ("cifar100", "cifar-100-binary")];

/// Loads a data set by name, from the first of `roots` that has a `{name}/` directory
/// (`datasets/mnist` ships with Kiln; `cargo xtask data fashion-mnist` fills `data/fashion-mnist`).
pub fn load_dataset(name: &str, roots: &[PathBuf]) -> Result<ClassificationData, TrainError> {
    load_dataset_with(name, roots, &FolderOptions::default())
}

/// [`load_dataset`], image folders read with `folder` (channels, validation split, seed).
pub fn load_dataset_with(
    name: &str,
    roots: &[PathBuf],
    folder: &FolderOptions,
) -> Result<ClassificationData, TrainError> {
    if let Some(spec) = name.strip_prefix("folder:") {
        return load_folder(spec, folder);
    }
    if let Some((short, folder)) = CIFAR_DIRS.iter().find(|(n, _)| *n == name) {
        let tried: Vec<PathBuf> = roots.iter().flat_map(|r| [r.join(short), r.join(folder)]).collect();
        let kind = if *short == "cifar10" {
            CifarKind::Cifar10
        } else {
            CifarKind::Cifar100
        };
        return match tried.iter().find(|d| d.is_dir()) {
            Some(dir) => Ok(cifar::load(dir, kind)?),
            None => Err(DataError::NotFound {
                what: format!("data set `{short}`"),
                tried,
                hint: "; CIFAR is not available from the package registries these machines reach: \
                       extract the official binary archive into data/ (or pass --data-dir)"
                    .into(),
            }
            .into()),
        };
    }
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

/// `folder:PATH[,size=N][,grey]`: an image folder (torchvision's `ImageFolder` layouts, or a
/// `path,label` list), listed now and decoded when fetched. Without `size`, the model's input
/// size is used (`preprocessing.height` is 0 here); `grey` reads the images as grey.
fn load_folder(spec: &str, options: &FolderOptions) -> Result<ClassificationData, TrainError> {
    let (path, size, grey) = parse_folder_spec(spec)?;
    let options = FolderOptions {
        channels: if grey { 1 } else { options.channels },
        ..options.clone()
    };
    let mut data = kiln_data::folder::load(&path, &options)?;
    data.preprocessing.height = size.unwrap_or(0);
    data.preprocessing.width = size.unwrap_or(0);
    Ok(data)
}

/// `PATH[,size=N][,grey]` → (path, size, grey).
pub fn parse_folder_spec(spec: &str) -> Result<(PathBuf, Option<usize>, bool), TrainError> {
    let mut parts = spec.split(',');
    let path = PathBuf::from(parts.next().unwrap_or_default());
    let (mut size, mut grey) = (None, false);
    for part in parts {
        match part.split_once('=') {
            Some(("size", n)) => {
                let n = n
                    .parse::<usize>()
                    .map_err(|_| TrainError::Config(format!("folder data set: size `{n}` is not a whole number")))?;
                size = Some(
                    kiln_core::limits::IMAGE_SIDE
                        .check_as("folder data set: size", n)
                        .map_err(TrainError::Config)?,
                )
            }
            None if part == "grey" || part == "gray" => grey = true,
            _ => {
                return Err(TrainError::Config(format!(
                    "folder data set: unknown option `{part}` (size=N, grey)"
                )));
            }
        }
    }
    Ok((path, size, grey))
}
