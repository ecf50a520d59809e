//! Dense tasks in the facade: segmentation (`segnet`, `unet`, `fcn`) and classification +
//! localization (`localizer`) over any encoder, their data, training, and pictures.

mod data;
mod model;
mod predict;
mod train;

pub use data::{DenseData, DenseSource, canvas_preprocessing, load_dense_data};
pub use model::{DenseEncoder, DenseModel, DenseSpec, DenseTask, build_dense, build_encoder};
pub use predict::{DensePicture, draw_prediction, predict_dense};
pub use train::{
    DenseCard, DenseReport, DenseTrainConfig, dense_loss, dense_metrics, is_dense_dir, load_dense, save_dense,
    train_dense, train_dense_on,
};
