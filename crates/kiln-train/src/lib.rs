//! Kiln's training crate: the fit loop, optimisers and schedules, checkpoints, evaluation, and
//! the import of pretrained weights (data sets, decoding and augmentation are `kiln-data`'s).
//!
//! ```text
//! fit(model, &data, &FitConfig, run_dir, &device, resume) -> FitOutcome { model, .. }
//! evaluate(&model, &data.test, &preprocessing, &device, &EvalOptions, progress) -> EvalReport
//! import::import_weights(model, path, &rules, &options) -> (model, ImportReport)
//! ```

pub mod checkpoint;
mod classification;
pub mod dense;
mod error;
mod evaluate;
mod fit;
pub mod import;
pub mod metrics_csv;
mod optim;
pub mod plots;
pub mod pretrained;
pub mod renderer;
mod schedule;
mod scheduler;
pub mod transfer;

pub use classification::{ClassificationModel, LossGuard};
pub use error::TrainError;
pub use evaluate::{EvalOptions, EvalReport, eval_pipeline, evaluate};
pub use fit::{FitConfig, FitOutcome, fit};
pub use kiln_core::fsutil;
pub use optim::{OptimSettings, OptimizerKind};
pub use schedule::Schedule;
pub use scheduler::{PlateauScheduler, StepScheduler, ValidMonitor};
