//! Kiln's data: data sets, image decoding, augmentation and batchers (torchvision's `datasets`
//! and `transforms`). Models and the training loop live elsewhere; this crate depends on
//! `kiln-core` only.
//!
//! - [`idx`]: the IDX format of MNIST and Fashion-MNIST (plain or gzipped), read and written.
//! - [`mnist`]: MNIST-style data sets from a directory of IDX files.
//! - [`ImageItem`] and [`ClassificationBatcher`]: one labelled image, and batches of them as
//!   normalised tensors.
//! - [`canvas`]: segmentation and localization tasks generated from MNIST-style digits.
//! - [`image_folder`]: torchvision's `ImageFolder` layout (one folder per class).
//! - [`formats`]: image + PNG mask folders, Pascal VOC XML boxes, COCO JSON.
//! - [`fetch`]: obtaining data that a package registry ships, with its checksum checked.

pub mod augment;
mod batcher;
pub mod canvas;
pub mod cifar;
mod error;
pub mod fetch;
pub mod files;
pub mod folder;
pub mod formats;
pub mod idx;
pub mod image;
mod item;
pub mod loader;
pub mod mnist;
mod set;

pub use batcher::{ClassificationBatch, ClassificationBatcher, MixingBatcher};
pub use error::DataError;
pub use image::load_image;
pub use item::{ClassificationData, ImageItem};
pub use set::{FileList, ImageSet};
