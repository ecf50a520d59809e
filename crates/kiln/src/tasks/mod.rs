//! The tasks behind `cargo xtask`: [`train()`], [`eval()`], [`predict()`] and data set loading
//! by name. Each returns a typed report; printing is the caller's business.

mod data;
mod eval;
mod predict;
mod train;
mod transfer;

pub use data::{DATASETS, load_dataset};
pub use eval::{EvalOutput, eval};
pub use predict::{Prediction, TopClass, predict, predict_with};
pub use train::{TrainConfig, TrainOverrides, TrainReport, resolve_train_config, train, train_on};
pub use transfer::{
    Strategy, TransferConfig, TransferRow, TransferSource, class_subset, few_labels, markdown_table, transfer_study,
};
