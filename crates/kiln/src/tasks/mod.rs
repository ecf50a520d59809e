//! The tasks behind `cargo xtask`: [`train()`], [`eval()`], [`predict()`] and data set loading
//! by name. Each returns a typed report; printing is the caller's business.

mod data;
mod eval;
mod predict;
mod train;
mod train_config;
mod transfer;

pub use data::{DATASETS, load_dataset, load_dataset_with, parse_folder_spec};
pub use eval::{EvalOutput, ModelSource, eval, eval_dir};
pub use predict::{PredictOptions, Prediction, TopClass, predict, predict_batches, predict_with};
pub use train::{TrainReport, train, train_on};
pub use train_config::{TrainConfig, TrainOverrides, resolve_train_config};
pub use transfer::{
    Strategy, TransferConfig, TransferRow, TransferSource, class_subset, few_labels, markdown_table, transfer_study,
};
