//! EfficientNet B0–B7 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional
//! Neural Networks", 2019) and EfficientNet V2 S / M / L (Tan & Le, "EfficientNetV2: Smaller
//! Models and Faster Training", 2021) as torchvision builds them: stage tables and compound
//! scaling as data ([`EFFICIENTNET_VARIANTS`]), MBConv and Fused-MBConv blocks with
//! squeeze-and-excitation and stochastic depth, checkpoints mapped by [`key_rules`].

mod efficientnet;
mod fused;
mod variants;
mod weights;

pub use efficientnet::{EfficientNet, EfficientNetConfig, EfficientNetStage};
pub use fused::{FusedMbConv, FusedMbConvConfig};
pub use variants::{EFFICIENTNET_VARIANTS, EfficientNetVariant, StageKind, StageRow};
pub use weights::key_rules;
