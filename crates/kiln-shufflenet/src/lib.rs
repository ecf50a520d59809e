//! ShuffleNet V2 (Ma, Zhang, Zheng, Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN
//! Architecture Design", 2018) as torchvision builds it: widths x0.5, x1.0, x1.5, x2.0 as rows of
//! [`SHUFFLENET_VARIANTS`]; units that split the channels, run one half through 1×1 → depthwise
//! 3×3 → 1×1 and shuffle the channels of the two halves ([`kiln_core::layers::channel_shuffle`]).
//! Top-level field names are torchvision's (`conv1`, `stage2`, `conv5`, `fc`); its `Sequential`s
//! map onto named fields through [`key_rules`].

mod block;
mod shufflenet;
mod weights;

pub use block::{LeftBranch, RightBranch, ShuffleUnit};
pub use shufflenet::{SHUFFLENET_VARIANTS, STAGES_REPEATS, ShuffleNetV2, ShuffleNetV2Config, ShuffleNetVariant};
pub use weights::key_rules;
