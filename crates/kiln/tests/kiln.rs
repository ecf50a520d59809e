//! Kiln's integration tests: one test binary (each binary links Burn, so few binaries keep CI
//! fast), one module per subject.

#[path = "kiln/common.rs"]
mod common;

#[path = "kiln/backends.rs"]
mod backends;
#[path = "kiln/checkpoints.rs"]
mod checkpoints;
#[path = "kiln/course.rs"]
mod course;
#[path = "kiln/data.rs"]
mod data;
#[path = "kiln/dense.rs"]
mod dense;
#[path = "kiln/folders.rs"]
mod folders;
#[path = "kiln/hostile.rs"]
mod hostile;
#[path = "kiln/interrupted.rs"]
mod interrupted;
#[path = "kiln/keras.rs"]
mod keras;
#[path = "kiln/keras_files.rs"]
mod keras_files;
#[path = "kiln/kernels.rs"]
mod kernels;
#[path = "kiln/mobile.rs"]
mod mobile;
#[path = "kiln/parity.rs"]
mod parity;
#[path = "kiln/photos.rs"]
mod photos;
#[path = "kiln/registry.rs"]
mod registry;
#[path = "kiln/training.rs"]
mod training;
#[path = "kiln/transfer.rs"]
mod transfer;
#[path = "kiln/weights_table.rs"]
mod weights_table;
#[path = "kiln/zoo.rs"]
mod zoo;

/// Every float tensor of a module by path (shared by the transfer and mobile tests).
pub(crate) use transfer::tensors as transfer_tensors;
