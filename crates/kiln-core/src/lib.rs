//! Kiln's shared building blocks.
//!
//! - [`Activation`]: the non-linearities the course compares (sigmoid, tanh, ReLU, leaky ReLU).
//! - [`Init`]: weight initialisation schemes (Xavier/Glorot, He/Kaiming) with the gain that suits
//!   the activation, as `torch.nn.init.calculate_gain` computes it.
//! - [`ConvBnAct`]: convolution, optional BatchNorm, activation: the block every modern CNN repeats.
//! - [`backend`]: the `--backend` name of every binary mapped to a Burn [`Device`](burn::tensor::Device).
//! - [`ImageClassifier`]: what the trainer, the evaluator and the predictor need from a model.

mod activation;
pub mod backend;
mod classifier;
mod conv_block;
mod init;

pub use activation::Activation;
pub use backend::{BackendError, DEFAULT_BACKEND, compiled_backends, device};
pub use classifier::{ImageClassifier, Preprocessing};
pub use conv_block::{ConvBnAct, ConvBnActConfig};
pub use init::Init;
