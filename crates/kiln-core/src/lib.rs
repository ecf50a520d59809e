//! Kiln's shared building blocks.
//!
//! - [`Activation`]: the non-linearities the course compares (sigmoid, tanh, ReLU, leaky ReLU).
//! - [`Init`]: weight initialisation schemes (Xavier/Glorot, He/Kaiming) with the gain that suits
//!   the activation, as `torch.nn.init.calculate_gain` computes it.
//! - [`ConvBnAct`]: convolution (dense, grouped or depthwise), optional BatchNorm, activation: the
//!   block every modern CNN repeats.
//! - [`layers`]: squeeze-and-excitation, stochastic depth, channel shuffle (the mobile families).
//! - [`backend`]: the `--backend` name of every binary mapped to a Burn [`Device`](burn::tensor::Device).
//! - [`ImageClassifier`]: what the trainer, the evaluator and the predictor need from a model.
//! - [`Backbone`]: the feature contract (stages, their channels and reductions, head swap).
//! - [`Encoder`]: what dense heads consume: any backbone ([`BackboneEncoder`]) or the small
//!   [`SmallEncoder`], which also returns its max-pool indices for unpooling.
//! - [`summary`] and [`trace`]: per-layer output shapes, parameters, multiply-accumulates and
//!   receptive fields, read from a real forward pass.

mod activation;
mod backbone;
pub mod backend;
mod classifier;
mod conv_block;
mod encoder;
pub mod fsutil;
mod init;
pub mod keras;
pub mod layers;
pub mod limits;
pub mod memory;
pub mod ops;
mod params;
mod seeded;
pub mod summary;
pub mod trace;
mod values;
mod weights;

pub use activation::Activation;
pub use backbone::{Backbone, FeatureInfo};
pub use backend::{BackendError, DEFAULT_BACKEND, compiled_backends, device};
pub use classifier::{ChannelOrder, ImageClassifier, Interpolation, Preprocessing};
pub use conv_block::{ConvBnAct, ConvBnActConfig};
pub use encoder::{BackboneEncoder, Encoded, Encoder, SmallEncoder, SmallEncoderConfig};
pub use init::Init;
pub use keras::{KerasKind, KerasLayout, KerasOrder, KerasSlot};
pub use params::{count_params, first_bad_param, param_paths, param_shapes};
pub use seeded::{InitGuard, init_guard, materialise, seed_for_init};
pub use values::{floats, ints};
pub use weights::KeyRules;
