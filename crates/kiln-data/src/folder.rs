//! Image folders, as torchvision's `ImageFolder` reads them, and lists of files:
//!
//! ```text
//! ROOT/<class>/**/*.{jpg,png,...}                 one folder per class; a seeded, stratified
//!                                                 validation split (--val-split, default 0.1)
//! ROOT/train/<class>/... + ROOT/val/<class>/...   validation from val/ (or test/); with both
//!                                                 val/ and test/, test/ is the test set
//! LIST.csv / LIST.tsv                             `path,label` rows (paths relative to the list;
//!                                                 a `path,label` header is optional)
//! ```
//!
//! Files are listed here and decoded only when the loader fetches them ([`ImageSet`]); classes
//! are the sorted folder names (or labels), so the class-to-index map is the model card's list.
//! Hidden files and folders are skipped; a class folder with no image is an error, as in
//! torchvision.

use crate::{
    ClassificationData, DataError, ImageSet,
    augment::Rng,
    files::{IMG_EXTENSIONS, list_images, sub_dirs},
};
use kiln_core::{Interpolation, Preprocessing};
use std::path::{Path, PathBuf};

/// How an image folder is read.
#[derive(Clone, Debug, PartialEq)]
pub struct FolderOptions {
    /// Channels the images are converted to: 3 (RGB) or 1 (grey).
    pub channels: usize,
    /// Fraction of each class held out for validation when the folder has no `val/`.
    pub val_split: f64,
    /// Seed of that split.
    pub seed: u64,
    /// How the files are read (truncated files).
    pub decode: crate::image::DecodeOptions,
}

impl Default for FolderOptions {
    fn default() -> Self {
        Self {
            channels: 3,
            val_split: 0.1,
            seed: 42,
            decode: Default::default(),
        }
    }
}

/// `(class name, files)` per class, classes sorted.
type Classes = Vec<(String, Vec<PathBuf>)>;

fn class_folders(dir: &Path) -> Result<Classes, DataError> {
    let mut classes = Vec::new();
    for (name, path) in sub_dirs(dir)? {
        let files = list_images(&path)?;
        if files.is_empty() {
            return Err(DataError::format(
                &path,
                format!(
                    "class folder `{name}` holds no image file (extensions: {})",
                    IMG_EXTENSIONS.join(", ")
                ),
            ));
        }
        classes.push((name, files));
    }
    if classes.len() < 2 {
        return Err(DataError::format(
            dir,
            format!(
                "an image folder needs at least two class folders (found {}): ROOT/<class>/*.jpg, \
                 or ROOT/train/<class> and ROOT/val/<class>",
                classes.len()
            ),
        ));
    }
    Ok(classes)
}

/// Reads a `path,label` list (`.csv`, or `.tsv` with tabs); classes are the sorted labels
/// (numerically when every label is a number).
fn read_list(list: &Path) -> Result<Classes, DataError> {
    let text = std::fs::read_to_string(list).map_err(|e| DataError::io(list, e))?;
    let sep = if list.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv")) {
        '\t'
    } else {
        ','
    };
    let base = list.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((path, label)) = line.rsplit_once(sep) else {
            return Err(DataError::format(
                list,
                format!("line {}: expected `path{sep}label`, got `{line}`", n + 1),
            ));
        };
        let (path, label) = (path.trim(), label.trim());
        if n == 0
            && matches!(
                path.to_ascii_lowercase().as_str(),
                "path" | "file" | "filename" | "image"
            )
        {
            continue;
        }
        if path.is_empty() || label.is_empty() {
            return Err(DataError::format(list, format!("line {}: empty path or label", n + 1)));
        }
        rows.push((base.join(path), label.to_string()));
    }
    let mut labels: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
    labels.sort();
    labels.dedup();
    if labels.iter().all(|l| l.parse::<i64>().is_ok()) {
        labels.sort_by_key(|l| l.parse::<i64>().unwrap_or_default());
    }
    if labels.len() < 2 {
        return Err(DataError::format(
            list,
            format!("lists {} class(es); a classifier needs at least two", labels.len()),
        ));
    }
    let mut classes: Classes = labels.into_iter().map(|l| (l, Vec::new())).collect();
    for (path, label) in rows {
        let c = classes
            .iter()
            .position(|(l, _)| *l == label)
            .expect("every label is a class");
        classes[c].1.push(path);
    }
    Ok(classes)
}

fn labelled(classes: &Classes) -> Vec<(PathBuf, usize)> {
    classes
        .iter()
        .enumerate()
        .flat_map(|(label, (_, files))| files.iter().map(move |f| (f.clone(), label)))
        .collect()
}

/// A seeded, stratified split: per class, `max(1, round(fraction × n))` images for validation.
fn stratified_split(
    classes: &Classes,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<(PathBuf, usize)>, Vec<(PathBuf, usize)>), DataError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(DataError::Mismatch(format!(
            "--val-split must be between 0 and 1 (exclusive), got {fraction}"
        )));
    }
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (label, (name, files)) in classes.iter().enumerate() {
        let n = files.len();
        let n_valid = ((fraction * n as f64).round() as usize).max(1);
        if n_valid >= n {
            return Err(DataError::Mismatch(format!(
                "class `{name}` has {n} image(s): a validation split of {fraction} leaves none for training \
                 (at least 2 images per class are needed; add images, or give a val/ folder)"
            )));
        }
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = Rng::for_sample(seed, label as u64, 0);
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut held = order[..n_valid].to_vec();
        held.sort_unstable();
        for (i, f) in files.iter().enumerate() {
            let dest = if held.binary_search(&i).is_ok() {
                &mut valid
            } else {
                &mut train
            };
            dest.push((f.clone(), label));
        }
    }
    Ok((train, valid))
}

/// The preprocessing of a model trained on photos: `size`×`size` centre crops of the image
/// resized to `round(size / 0.875)` on its shorter side (torchvision's 256 → 224), ImageNet's
/// statistics (their mean over channels for grey images).
pub fn photo_preprocessing(channels: usize, size: usize, interpolation: Interpolation) -> Preprocessing {
    let imagenet = Preprocessing::imagenet(256, 224);
    let (mean, std) = if channels == 1 {
        (vec![0.449], vec![0.226])
    } else {
        (imagenet.mean, imagenet.std)
    };
    Preprocessing {
        channels,
        height: size,
        width: size,
        resize: Some((size as f64 / 0.875).round() as usize),
        mean,
        std,
        invert_light_background: false,
        interpolation,
        channel_order: Default::default(),
        pixel_divisor: 255.0,
    }
}

fn not_found(root: &Path) -> DataError {
    DataError::NotFound {
        what: "image folder".into(),
        tried: vec![root.to_path_buf()],
        hint: " (ROOT/<class>/*.jpg, ROOT/train/<class> + ROOT/val/<class>, or a path,label .csv/.tsv list)".into(),
    }
}

/// Lists an image folder or a file list (layouts above) for training: files are decoded when
/// fetched.
pub fn load(root: &Path, options: &FolderOptions) -> Result<ClassificationData, DataError> {
    let name = format!("folder:{}", root.display());
    let set = |files: Vec<(PathBuf, usize)>| ImageSet::files(files, options.channels).with_decode(options.decode);
    let (classes, train, valid, test) = if root.is_file() {
        let classes = read_list(root)?;
        let (train, valid) = stratified_split(&classes, options.val_split, options.seed)?;
        (classes, train, valid.clone(), valid)
    } else if !root.is_dir() {
        return Err(not_found(root));
    } else if root.join("train").is_dir() {
        let classes = class_folders(&root.join("train"))?;
        let split = |dir: &str| -> Result<Option<Vec<(PathBuf, usize)>>, DataError> {
            let dir = root.join(dir);
            if !dir.is_dir() {
                return Ok(None);
            }
            Ok(Some(split_files(&dir, &classes)?))
        };
        let (val, test) = (split("val")?, split("test")?);
        let valid = val.clone().or(test.clone()).ok_or_else(|| DataError::NotFound {
            what: "validation folder".into(),
            tried: vec![root.join("val"), root.join("test")],
            hint: " (beside train/)".into(),
        })?;
        let train = labelled(&classes);
        (classes, train, valid.clone(), test.unwrap_or(valid))
    } else {
        let classes = class_folders(root)?;
        let (train, valid) = stratified_split(&classes, options.val_split, options.seed)?;
        (classes, train, valid.clone(), valid)
    };
    Ok(ClassificationData {
        name,
        classes: classes.into_iter().map(|(n, _)| n).collect(),
        train: set(train),
        valid: Some(set(valid)),
        test: set(test),
        preprocessing: photo_preprocessing(options.channels, 224, Interpolation::Bilinear),
    })
}

/// The images of a split folder (`val/`), labelled by the class list of `train/`; a class
/// folder that `train/` does not have is an error.
fn split_files(dir: &Path, classes: &Classes) -> Result<Vec<(PathBuf, usize)>, DataError> {
    let mut out = Vec::new();
    for (name, path) in sub_dirs(dir)? {
        let Some(label) = classes.iter().position(|(c, _)| *c == name) else {
            return Err(DataError::format(
                &path,
                format!(
                    "class `{name}` is not among the training classes ({})",
                    class_names(classes)
                ),
            ));
        };
        out.extend(list_images(&path)?.into_iter().map(|f| (f, label)));
    }
    Ok(out)
}

fn class_names(classes: &Classes) -> String {
    classes.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
}

/// What `eval` scores in a folder: its `val/` (or `test/`) images when it has them, as ImageNet
/// users expect; otherwise every image (a flat class folder, or every row of a list). Returns
/// the class names and the images.
pub fn eval_set(root: &Path, channels: usize) -> Result<(Vec<String>, ImageSet), DataError> {
    let (classes, files) = if root.is_file() {
        let classes = read_list(root)?;
        let files = labelled(&classes);
        (classes, files)
    } else if !root.is_dir() {
        return Err(not_found(root));
    } else if let Some(split) = ["val", "test"].iter().map(|d| root.join(d)).find(|d| d.is_dir()) {
        let classes = if root.join("train").is_dir() {
            class_folders(&root.join("train"))?
        } else {
            class_folders(&split)?
        };
        let files = split_files(&split, &classes)?;
        (classes, files)
    } else {
        let classes = class_folders(root)?;
        let files = labelled(&classes);
        (classes, files)
    };
    Ok((
        classes.into_iter().map(|(n, _)| n).collect(),
        ImageSet::files(files, channels),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, value: u8) {
        image::RgbImage::from_pixel(12, 8, image::Rgb([value, value, value]))
            .save(path)
            .unwrap();
    }

    fn folder(classes: &[(&str, usize)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (class, n) in classes {
            std::fs::create_dir_all(dir.path().join(class)).unwrap();
            for i in 0..*n {
                write_png(&dir.path().join(class).join(format!("{i}.png")), 10 * i as u8);
            }
        }
        dir
    }

    #[test]
    fn flat_folders_split_stratified_and_seeded() {
        let dir = folder(&[("cat", 10), ("dog", 5), (".ipynb_checkpoints", 1)]);
        let options = FolderOptions::default();
        let data = load(dir.path(), &options).unwrap();
        assert_eq!(data.classes, ["cat", "dog"]);
        let valid = data.valid.as_ref().unwrap();
        assert_eq!((data.train.len(), valid.len()), (13, 2), "one of each class held out");
        let mut held = valid.labels();
        held.sort();
        assert_eq!(held, [0, 1]);
        // The same seed holds out the same files; another seed may not.
        let again = load(dir.path(), &options).unwrap();
        assert_eq!(valid.path(0), again.valid.as_ref().unwrap().path(0));
        // Items are decoded when fetched, at their own size.
        let item = data.train.get(0).unwrap();
        assert_eq!((item.channels, item.height, item.width, item.label), (3, 8, 12, 0));
        // Too few images for the split.
        let err = load(folder(&[("a", 1), ("b", 3)]).path(), &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("class `a` has 1 image(s)"), "{err}");
        let err = load(
            dir.path(),
            &FolderOptions {
                val_split: 1.5,
                ..options.clone()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("--val-split"), "{err}");
    }

    #[test]
    fn train_and_val_layout_lists_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "val"] {
            for class in ["a", "b"] {
                let d = dir.path().join(split).join(class);
                std::fs::create_dir_all(&d).unwrap();
                write_png(&d.join("x.png"), 1);
            }
        }
        let data = load(dir.path(), &FolderOptions::default()).unwrap();
        assert_eq!((data.train.len(), data.test.len()), (2, 2));
        let (classes, eval) = eval_set(dir.path(), 1).unwrap();
        assert_eq!((classes.len(), eval.len(), eval.get(0).unwrap().channels), (2, 2, 1));
        let missing = load(&dir.path().join("nope"), &FolderOptions::default())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("image folder not found"), "{missing}");
        std::fs::create_dir_all(dir.path().join("train/empty")).unwrap();
        let empty = load(dir.path(), &FolderOptions::default()).unwrap_err().to_string();
        assert!(empty.contains("class folder `empty` holds no image"), "{empty}");

        let list = dir.path().join("list.csv");
        std::fs::write(
            &list,
            "path,label\nval/a/x.png,10\nval/b/x.png,2\ntrain/a/x.png,2\ntrain/b/x.png,10\n",
        )
        .unwrap();
        let (classes, eval) = eval_set(&list, 3).unwrap();
        assert_eq!(classes, ["2", "10"], "numeric labels sort as numbers");
        assert_eq!(eval.labels(), [0, 0, 1, 1]);
        std::fs::write(&list, "just-a-path.png\n").unwrap();
        let err = eval_set(&list, 3).unwrap_err().to_string();
        assert!(err.contains("line 1: expected `path,label`"), "{err}");
    }
}
