//! Image folders, torchvision's `ImageFolder` layout: one sub-folder per class, named after it.
//!
//! ```text
//! ROOT/train/<class>/*.{png,jpg,jpeg}   training images
//! ROOT/val/<class>/...  or ROOT/test/<class>/...   evaluation images
//! ROOT/<class>/...      (no train/ folder) every fifth image of each class is held out for test
//! ```
//!
//! Images are decoded when the set is loaded, converted to the requested channels and resized
//! (bilinear) to a fixed square size, and kept in memory as bytes: this suits user photo sets
//! and transfer learning (tens of thousands of images), not ImageNet's 1.28 million (which
//! would need a streaming loader; see the README).

use super::{ClassificationData, DataError, ImageItem};
use crate::formats::read_rgb;
use kiln_core::Preprocessing;
use std::path::{Path, PathBuf};

fn class_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let mut classes: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    classes.sort();
    Ok(classes)
}

fn images_in(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn load_item(path: &Path, label: usize, channels: usize, size: usize) -> Result<ImageItem, DataError> {
    let mut item = read_rgb(path)?.with_channels(channels).resized(size, size);
    item.label = label;
    Ok(item)
}

/// Loads an image folder (layouts above) as `channels`-channel `size × size` images, normalised
/// with ImageNet's statistics (RGB) or MNIST's (grey).
pub fn load(root: &Path, channels: usize, size: usize) -> Result<ClassificationData, DataError> {
    if !root.is_dir() {
        return Err(DataError::NotFound {
            what: "image folder".into(),
            tried: vec![root.to_path_buf()],
            hint: " (ROOT/<class>/*.png, or ROOT/train/<class> and ROOT/val/<class>)".into(),
        });
    }
    let train_dir = root.join("train");
    let test_dir = ["val", "test"].iter().map(|d| root.join(d)).find(|d| d.is_dir());
    let (classes, train, mut test) = if train_dir.is_dir() {
        let classes = class_dirs(&train_dir)?;
        let test_dir = test_dir.ok_or_else(|| DataError::NotFound {
            what: "evaluation folder".into(),
            tried: vec![root.join("val"), root.join("test")],
            hint: " (beside train/)".into(),
        })?;
        let mut train = Vec::new();
        let mut test = Vec::new();
        for (label, (name, dir)) in classes.iter().enumerate() {
            for p in images_in(dir)? {
                train.push(load_item(&p, label, channels, size)?);
            }
            let eval_dir = test_dir.join(name);
            if eval_dir.is_dir() {
                for p in images_in(&eval_dir)? {
                    test.push(load_item(&p, label, channels, size)?);
                }
            }
        }
        (classes, train, test)
    } else {
        let classes = class_dirs(root)?;
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (label, (_, dir)) in classes.iter().enumerate() {
            for (i, p) in images_in(dir)?.iter().enumerate() {
                let item = load_item(p, label, channels, size)?;
                if i % 5 == 4 { test.push(item) } else { train.push(item) }
            }
        }
        (classes, train, test)
    };
    if classes.len() < 2 || train.is_empty() || test.is_empty() {
        return Err(DataError::Mismatch(format!(
            "{}: an image folder needs at least two class folders with images for training and test \
             (found {} classes, {} training and {} test images)",
            root.display(),
            classes.len(),
            train.len(),
            test.len()
        )));
    }
    // Interleave classes so that a hold-out taken from the end sees every class.
    let train = interleave(train);
    test.sort_by_key(|i| i.label);
    let mut preprocessing = if channels == 1 {
        Preprocessing::mnist()
    } else {
        Preprocessing::imagenet(size, size)
    };
    preprocessing.height = size;
    preprocessing.width = size;
    preprocessing.resize = None;
    Ok(ClassificationData {
        name: format!("folder:{}", root.display()),
        classes: classes.into_iter().map(|(n, _)| n).collect(),
        train,
        test,
        preprocessing,
    })
}

/// Items sorted by label, reordered round-robin over the labels.
fn interleave(items: Vec<ImageItem>) -> Vec<ImageItem> {
    let mut by_label: Vec<std::collections::VecDeque<ImageItem>> = Vec::new();
    for item in items {
        if by_label.len() <= item.label {
            by_label.resize_with(item.label + 1, Default::default);
        }
        by_label[item.label].push_back(item);
    }
    let mut out = Vec::new();
    while by_label.iter().any(|q| !q.is_empty()) {
        for q in by_label.iter_mut() {
            if let Some(i) = q.pop_front() {
                out.push(i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, value: u8) {
        image::RgbImage::from_pixel(12, 8, image::Rgb([value, value, value]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn class_folders_split_and_resize() {
        let dir = tempfile::tempdir().unwrap();
        for (class, value) in [("cat", 10u8), ("dog", 200)] {
            std::fs::create_dir_all(dir.path().join(class)).unwrap();
            for i in 0..5 {
                write_png(&dir.path().join(class).join(format!("{i}.png")), value);
            }
        }
        let data = load(dir.path(), 1, 16).unwrap();
        assert_eq!(data.classes, ["cat", "dog"]);
        assert_eq!((data.train.len(), data.test.len()), (8, 2));
        // Interleaved so that a hold-out from the end sees both classes.
        assert_eq!(
            data.train.iter().map(|i| i.label).collect::<Vec<_>>(),
            [0, 1, 0, 1, 0, 1, 0, 1]
        );
        let item = &data.train[1];
        assert_eq!((item.channels, item.height, item.width), (1, 16, 16));
        assert!(item.pixels.iter().all(|&p| p == 200));
    }

    #[test]
    fn train_and_val_layout_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "val"] {
            for class in ["a", "b"] {
                let d = dir.path().join(split).join(class);
                std::fs::create_dir_all(&d).unwrap();
                write_png(&d.join("x.png"), 1);
            }
        }
        let data = load(dir.path(), 3, 8).unwrap();
        assert_eq!(
            (data.train.len(), data.test.len(), data.preprocessing.channels),
            (2, 2, 3)
        );
        let missing = load(&dir.path().join("nope"), 3, 8).unwrap_err().to_string();
        assert!(missing.contains("image folder not found"), "{missing}");
        std::fs::write(dir.path().join("train/a/broken.png"), b"not a png").unwrap();
        let broken = load(dir.path(), 3, 8).unwrap_err().to_string();
        assert!(broken.contains("broken.png"), "{broken}");
    }
}
