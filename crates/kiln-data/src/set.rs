//! Labelled image sets: in memory (IDX, CIFAR: small images, decoded once) or files decoded when
//! an item is fetched (image folders: nothing decoded is kept beyond the batch that uses it, so
//! memory does not grow with the folder).

use crate::{DataError, ImageItem};
use std::{path::PathBuf, sync::Arc};

/// Image files with their labels, decoded to `channels` channels when fetched.
#[derive(Debug)]
pub struct FileList {
    /// `(file, label)`.
    pub files: Vec<(PathBuf, usize)>,
    /// Channels the images are converted to (1: Pillow's `convert('L')`, 3: `convert('RGB')`).
    pub channels: usize,
    /// How the files are read.
    pub decode: crate::image::DecodeOptions,
}

#[derive(Clone, Debug)]
enum Source {
    Memory(Arc<Vec<ImageItem>>),
    Files(Arc<FileList>),
}

/// A labelled image set; cheap to clone and to take subsets of.
#[derive(Clone, Debug)]
pub struct ImageSet {
    source: Source,
    /// `(index in the source, label)` of the items, when not all of the source in order.
    view: Option<Arc<[(usize, usize)]>>,
}

impl From<Vec<ImageItem>> for ImageSet {
    fn from(items: Vec<ImageItem>) -> Self {
        Self::memory(items)
    }
}

impl ImageSet {
    /// Items held in memory.
    pub fn memory(items: Vec<ImageItem>) -> Self {
        Self {
            source: Source::Memory(Arc::new(items)),
            view: None,
        }
    }

    /// Files decoded when fetched.
    pub fn files(files: Vec<(PathBuf, usize)>, channels: usize) -> Self {
        Self {
            source: Source::Files(Arc::new(FileList {
                files,
                channels,
                decode: Default::default(),
            })),
            view: None,
        }
    }

    /// Items in the set.
    pub fn len(&self) -> usize {
        match (&self.view, &self.source) {
            (Some(v), _) => v.len(),
            (None, Source::Memory(items)) => items.len(),
            (None, Source::Files(list)) => list.files.len(),
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether items are decoded from files when fetched (photos at their own sizes).
    pub fn is_files(&self) -> bool {
        matches!(self.source, Source::Files(_))
    }

    fn at(&self, index: usize) -> (usize, Option<usize>) {
        match &self.view {
            Some(v) => (v[index].0, Some(v[index].1)),
            None => (index, None),
        }
    }

    /// The label of item `index`, without decoding it.
    ///
    /// # Panics
    /// When `index >= len()`.
    pub fn label(&self, index: usize) -> usize {
        let (i, label) = self.at(index);
        label.unwrap_or_else(|| match &self.source {
            Source::Memory(items) => items[i].label,
            Source::Files(list) => list.files[i].1,
        })
    }

    /// Every label, in order.
    pub fn labels(&self) -> Vec<usize> {
        (0..self.len()).map(|i| self.label(i)).collect()
    }

    /// The file of item `index`, for sets of files.
    pub fn path(&self, index: usize) -> Option<&std::path::Path> {
        match &self.source {
            Source::Files(list) => Some(&list.files[self.at(index).0].0),
            Source::Memory(_) => None,
        }
    }

    /// Item `index`: a copy of the stored item, or the file decoded (at its own size, converted
    /// to the set's channels). An undecodable file is an error naming it.
    pub fn get(&self, index: usize) -> Result<ImageItem, DataError> {
        if index >= self.len() {
            return Err(DataError::Mismatch(format!("item {index} of a set of {}", self.len())));
        }
        let (i, label) = self.at(index);
        let mut item = match &self.source {
            Source::Memory(items) => items[i].clone(),
            Source::Files(list) => {
                let (path, label) = &list.files[i];
                let mut item = crate::image::decode_item_with(path, list.channels, list.decode)?;
                item.label = *label;
                item
            }
        };
        if let Some(label) = label {
            item.label = label;
        }
        Ok(item)
    }

    /// The items at `indices` (of this set), in that order.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        self.relabeled(indices.iter().map(|&i| (i, self.label(i))).collect())
    }

    /// The items at the given indices (of this set) with new labels: `(index, label)`.
    pub fn relabeled(&self, items: Vec<(usize, usize)>) -> ImageSet {
        let view: Vec<(usize, usize)> = items.into_iter().map(|(i, label)| (self.at(i).0, label)).collect();
        ImageSet {
            source: self.source.clone(),
            view: Some(view.into()),
        }
    }

    /// The set with files decoded to `channels` channels (sets in memory are unchanged: the
    /// batcher converts their items).
    pub fn with_channels(&self, channels: usize) -> ImageSet {
        match &self.source {
            Source::Files(list) if list.channels != channels => ImageSet {
                source: Source::Files(Arc::new(FileList {
                    files: list.files.clone(),
                    channels,
                    decode: list.decode,
                })),
                view: self.view.clone(),
            },
            _ => self.clone(),
        }
    }

    /// The set with files read as `decode` says.
    pub fn with_decode(&self, decode: crate::image::DecodeOptions) -> ImageSet {
        match &self.source {
            Source::Files(list) => ImageSet {
                source: Source::Files(Arc::new(FileList {
                    files: list.files.clone(),
                    channels: list.channels,
                    decode,
                })),
                view: self.view.clone(),
            },
            Source::Memory(_) => self.clone(),
        }
    }

    /// Every item, decoded (for small sets in tests and tools).
    pub fn items(&self) -> Result<Vec<ImageItem>, DataError> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: usize) -> ImageItem {
        ImageItem {
            pixels: vec![label as u8; 4],
            channels: 1,
            height: 2,
            width: 2,
            label,
        }
    }

    #[test]
    fn subsets_and_relabels_compose() {
        let set = ImageSet::memory((0..6).map(item).collect());
        let sub = set.subset(&[5, 3, 1]);
        assert_eq!(sub.labels(), [5, 3, 1]);
        let re = sub.relabeled(vec![(2, 0), (0, 1)]);
        assert_eq!(re.labels(), [0, 1]);
        assert_eq!(re.get(0).unwrap().pixels, vec![1; 4], "item 1 of the source, label 0");
        assert_eq!(re.get(1).unwrap().label, 1);
        assert!(re.get(2).is_err());
    }
}
