//! GoogLeNet, Inception v1 (Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke,
//! Rabinovich, "Going Deeper with Convolutions", 2014) as torchvision builds it (with BatchNorm
//! after every convolution, which the paper's network did not have), with the course's ideas
//! visible:
//!
//! - every convolution is conv → BatchNorm (eps 0.001) → ReLU ([`kiln_core::ConvBnAct`], named
//!   like torchvision's `BasicConv2d`);
//! - the Inception block: 1×1 | 1×1→3×3 | 1×1→"5×5" | max pool→1×1 in parallel, concatenated,
//!   with 1×1 reductions before the expensive convolutions. torchvision's "5×5" branch is a
//!   3×3 convolution (a known torchvision bug, pytorch/vision#906, kept because its published
//!   weights were trained with it); Kiln matches torchvision so that those weights load;
//! - max pooling in ceil mode (a last, partial window counts), as torchvision;
//! - two auxiliary classifiers (after `inception4a` and `inception4d`) whose logits exist only in
//!   training, each weighted 0.3 in the loss (the paper's weight);
//! - torchvision's `transform_input` (ImageNet normalisation re-mapped to (x - 0.5) / 0.5).
//!
//! Files:
//! - `googlenet.rs`: the Inception table, the configuration, the model and its feature contract
//!   (stages `conv1`, `conv3`, `inception3b`, `inception4e`, `inception5b`; reductions 2–32).
//! - `blocks.rs`: `BasicConv2d` with torchvision's initialisation, the Inception block and the
//!   auxiliary classifier.
//! - `weights.rs`: key rules for torchvision's checkpoints, and what happens to the auxiliary
//!   heads' keys.

mod blocks;
mod googlenet;
mod weights;

pub use blocks::{Inception, InceptionAux, InceptionSpec, WEIGHT_INIT};
pub use googlenet::{
    AUX_LOSS_WEIGHT, GoogLeNet, GoogLeNetConfig, GoogLeNetOutput, INCEPTIONS, LAST_CHANNELS, NUM_PARAMS,
};
pub use weights::key_rules;
