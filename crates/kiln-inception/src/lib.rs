// Field names follow torchvision's state_dict keys (`Mixed_5b`, `AuxLogits`) so checkpoints map by name.
#![allow(non_snake_case)]

//! Inception v3 (Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, "Rethinking the Inception Architecture
//! for Computer Vision", 2015) as torchvision builds it, with the course's ideas visible:
//!
//! - every convolution is conv → BatchNorm (eps 0.001) → ReLU ([`kiln_core::ConvBnAct`], named
//!   like torchvision's `BasicConv2d`);
//! - a 5×5 receptive field from two stacked 3×3 convolutions (`branch3x3dbl` of blocks A and B);
//! - n×n factorised into 1×n then n×1 (block C's 7×7, block D's 7×7, block E's 3×3);
//! - grid reduction by parallel stride-2 convolution and pooling (blocks B and D);
//! - an auxiliary classifier on the 17×17 grid, whose logits exist only in training.
//!
//! Keras's `keras.applications` InceptionV3 is the same network without the auxiliary head and
//! with pool branches that leave the padding out of their averages ([`InceptionV3Config::keras`]),
//! its weight files' layout [`keras_layout`].

mod blocks;
mod inception;
mod keras;

pub use blocks::{InceptionA, InceptionAux, InceptionB, InceptionC, InceptionD, InceptionE};
pub use inception::{InceptionOutput, InceptionV3, InceptionV3Config};
pub use keras::keras_layout;

/// Key rules for torchvision's `inception_v3` checkpoints: the field names are torchvision's,
/// so nothing is renamed; the heads are `fc` and `AuxLogits.fc`.
pub fn key_rules() -> kiln_core::KeyRules {
    kiln_core::KeyRules::head(&["fc.", "AuxLogits.fc."])
}
