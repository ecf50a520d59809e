//! MNIST-style data sets (MNIST, Fashion-MNIST) from a directory of IDX files with the official
//! names: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each optionally ending in `.gz`.

use super::{ClassificationData, DataError, ImageItem, idx::read_idx};
use kiln_core::Preprocessing;
use std::path::{Path, PathBuf};

/// The MNIST-format data sets Kiln knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MnistKind {
    /// Handwritten digits (LeCun, Cortes, Burges). Shipped in `datasets/mnist`.
    Mnist,
    /// Zalando's clothing images (Xiao, Rasul, Vollgraf 2017). `cargo xtask data fashion-mnist`.
    FashionMnist,
}

impl MnistKind {
    /// The name used on the command line and in saved configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion-mnist",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "mnist" => Some(Self::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fmnist" => Some(Self::FashionMnist),
            _ => None,
        }
    }

    /// The class names, by label.
    pub fn classes(self) -> Vec<String> {
        match self {
            Self::Mnist => (0..10).map(|d| d.to_string()).collect(),
            Self::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ]
            .map(String::from)
            .to_vec(),
        }
    }

    /// The normalisation statistics of the training pixels.
    pub fn preprocessing(self) -> Preprocessing {
        match self {
            Self::Mnist => Preprocessing::mnist(),
            Self::FashionMnist => Preprocessing::fashion_mnist(),
        }
    }

    /// How to obtain the files when they are missing.
    pub fn hint(self) -> &'static str {
        match self {
            Self::Mnist => "; MNIST ships with Kiln in datasets/mnist (see datasets/README.md)",
            Self::FashionMnist => "; run `cargo xtask data fashion-mnist` to obtain it",
        }
    }
}

/// Which half of the data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// 60,000 training images.
    Train,
    /// 10,000 test images.
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Test => "t10k",
        }
    }
}

fn find(dir: &Path, stem: &str, kind: MnistKind) -> Result<PathBuf, DataError> {
    let tried: Vec<PathBuf> = [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|name| dir.join(name))
        .collect();
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| DataError::NotFound {
            what: format!("{} file `{stem}`", kind.name()),
            tried,
            hint: kind.hint().into(),
        })
}

/// Reads one split: images `[n, h, w]` and labels `[n]`, checked against each other.
pub fn load_split(dir: &Path, kind: MnistKind, split: Split) -> Result<Vec<ImageItem>, DataError> {
    let images_path = find(dir, &format!("{}-images-idx3-ubyte", split.prefix()), kind)?;
    let labels_path = find(dir, &format!("{}-labels-idx1-ubyte", split.prefix()), kind)?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    let [n, h, w] = images.dims[..] else {
        return Err(DataError::format(
            &images_path,
            format!("expected 3 dimensions [n, h, w], found {:?}", images.dims),
        ));
    };
    if labels.dims.len() != 1 {
        return Err(DataError::format(
            &labels_path,
            format!("expected 1 dimension [n], found {:?}", labels.dims),
        ));
    }
    if labels.len() != n {
        return Err(DataError::Mismatch(format!(
            "{} holds {n} images but {} holds {} labels",
            images_path.display(),
            labels_path.display(),
            labels.len()
        )));
    }
    let classes = kind.classes().len();
    if let Some((i, &l)) = labels.data.iter().enumerate().find(|(_, l)| **l as usize >= classes) {
        return Err(DataError::format(
            &labels_path,
            format!("label {l} at index {i} is outside 0..{classes}"),
        ));
    }
    Ok(images
        .data
        .chunks_exact(h * w)
        .zip(&labels.data)
        .map(|(pixels, &label)| ImageItem {
            pixels: pixels.to_vec(),
            channels: 1,
            height: h,
            width: w,
            label: label as usize,
        })
        .collect())
}

/// Reads both splits of an MNIST-format data set from `dir`.
pub fn load(dir: &Path, kind: MnistKind) -> Result<ClassificationData, DataError> {
    Ok(ClassificationData {
        name: kind.name().into(),
        classes: kind.classes(),
        train: load_split(dir, kind, Split::Train)?.into(),
        valid: None,
        test: load_split(dir, kind, Split::Test)?.into(),
        preprocessing: kind.preprocessing(),
    })
}
