//! Kiln's training crate: data sets and loaders, the fit loop, checkpoints, evaluation and
//! image input.
//!
//! ```text
//! data::mnist::load(dir, MnistKind::Mnist) -> ClassificationData
//! fit(model, &data, &FitConfig, run_dir, &device, resume) -> FitOutcome { model, .. }
//! evaluate(&model, &data.test, &preprocessing, &device, batch) -> EvalReport
//! load_image(path, &preprocessing) -> ImageItem
//! ```

pub mod augment;
pub mod checkpoint;
mod classification;
pub mod data;
pub mod dense;
mod error;
mod evaluate;
mod fit;
pub mod fsutil;
pub mod image_input;
pub mod import;
pub mod metrics_csv;
mod optim;
pub mod plots;
pub mod pretrained;
pub mod renderer;
mod schedule;
pub mod transfer;

pub use classification::{ClassificationModel, LossGuard};
pub use error::TrainError;
pub use evaluate::{EvalReport, evaluate};
pub use fit::{FitConfig, FitOutcome, fit};
pub use image_input::load_image;
pub use optim::{OptimSettings, OptimizerKind};
pub use schedule::{PlateauScheduler, Schedule, StepScheduler, ValidMonitor};
