//! Kiln: convolutional networks for images on [Burn](https://burn.dev): the model zoo, the data
//! pipeline, the trainer and the tools around them.
//!
//! This facade is what other projects depend on. It re-exports the crates and offers a registry
//! that builds any model by name:
//!
//! ```no_run
//! let device = kiln::device("flex").unwrap();
//! let model = kiln::build("lenet5", 10, 1, &device).unwrap();
//! for info in kiln::list_models() {
//!     println!("{} ({})", info.name, info.paper);
//! }
//! ```
//!
//! The tasks behind `cargo xtask` (train, eval, predict) live in [`tasks`], so that Rust code gets
//! the same behaviour as the command line.

pub mod dense;
pub mod lessons;
pub mod memory;
mod model;
pub mod model_dir;
mod registry;
pub mod run_dir;
pub mod tasks;
pub mod weights;

pub use kiln_alexnet as alexnet;
pub use kiln_core::{self as core, Activation, Backbone, FeatureInfo, ImageClassifier, Init, Preprocessing, device};
pub use kiln_data as data;
pub use kiln_inception as inception;
pub use kiln_lenet as lenet;
pub use kiln_localization as localization;
pub use kiln_resnet as resnet;
pub use kiln_segmentation as segmentation;
pub use kiln_train as train;
pub use kiln_vgg as vgg;
pub use model::Model;
pub use registry::{
    BuildOptions, Family, ModelInfo, ModelSpec, RegistryError, build, build_seeded, build_spec, list_models, lookup,
};
