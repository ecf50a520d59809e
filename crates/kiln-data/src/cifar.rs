//! CIFAR-10 and CIFAR-100 in their official binary format (`cifar-10-batches-bin`,
//! `cifar-100-binary`): records of label byte(s) then 3,072 bytes (1024 red, 1024 green,
//! 1024 blue, row-major 32×32), the planar layout [`ImageItem`] uses.

use super::{ClassificationData, DataError, ImageItem};
use kiln_core::Preprocessing;
use std::path::Path;

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarKind {
    /// 10 classes; files `data_batch_{1..5}.bin`, `test_batch.bin`, `batches.meta.txt`.
    Cifar10,
    /// 100 fine classes; files `train.bin`, `test.bin`, `fine_label_names.txt`; each record
    /// starts with a coarse and a fine label.
    Cifar100,
}

/// Reads records from one file. `label_bytes` is 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine;
/// the fine label is used).
pub fn read_batch(path: &Path, label_bytes: usize, classes: usize) -> Result<Vec<ImageItem>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(DataError::format(
            path,
            format!(
                "{} bytes is not a whole number of {record}-byte CIFAR records (truncated or not CIFAR)",
                bytes.len()
            ),
        ));
    }
    bytes
        .chunks_exact(record)
        .enumerate()
        .map(|(i, r)| {
            let label = r[label_bytes - 1] as usize;
            if label >= classes {
                return Err(DataError::format(
                    path,
                    format!("record {i}: label {label} is outside 0..{classes}"),
                ));
            }
            Ok(ImageItem {
                pixels: r[label_bytes..].to_vec(),
                channels: 3,
                height: 32,
                width: 32,
                label,
            })
        })
        .collect()
}

fn names(path: &Path, count: usize) -> Vec<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|n| n.len() == count)
        .unwrap_or_else(|| (0..count).map(|c| c.to_string()).collect())
}

/// Reads a CIFAR directory (as extracted from the official archive).
pub fn load(dir: &Path, kind: CifarKind) -> Result<ClassificationData, DataError> {
    let (train_files, test_file, label_bytes, classes, meta, name): (Vec<String>, &str, usize, usize, &str, &str) =
        match kind {
            CifarKind::Cifar10 => (
                (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
                "test_batch.bin",
                1,
                10,
                "batches.meta.txt",
                "cifar10",
            ),
            CifarKind::Cifar100 => (
                vec!["train.bin".into()],
                "test.bin",
                2,
                100,
                "fine_label_names.txt",
                "cifar100",
            ),
        };
    let mut train = Vec::new();
    for f in &train_files {
        train.extend(read_batch(&dir.join(f), label_bytes, classes)?);
    }
    Ok(ClassificationData {
        name: name.into(),
        classes: names(&dir.join(meta), classes),
        train: train.into(),
        valid: None,
        test: read_batch(&dir.join(test_file), label_bytes, classes)?.into(),
        // The training-set statistics torchvision's CIFAR recipes use.
        preprocessing: Preprocessing {
            channels: 3,
            height: 32,
            width: 32,
            resize: None,
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
            invert_light_background: false,
            interpolation: Default::default(),
            channel_order: Default::default(),
            pixel_divisor: 255.0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_and_rejects_truncated_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for label in [3u8, 7] {
            bytes.push(label);
            bytes.extend((0..PIXELS).map(|i| (i % 251) as u8));
        }
        let path = dir.path().join("test_batch.bin");
        std::fs::write(&path, &bytes).unwrap();
        let items = read_batch(&path, 1, 10).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].label, items[1].label, items[0].pixels.len()), (3, 7, PIXELS));
        assert_eq!(items[0].pixels[1024], (1024 % 251) as u8, "green plane starts at 1024");

        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let msg = read_batch(&path, 1, 10).unwrap_err().to_string();
        assert!(msg.contains("not a whole number"), "{msg}");
        bytes[0] = 12;
        std::fs::write(&path, &bytes).unwrap();
        let msg = read_batch(&path, 1, 10).unwrap_err().to_string();
        assert!(msg.contains("label 12"), "{msg}");
    }
}
