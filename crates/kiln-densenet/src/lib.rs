//! DenseNet (Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional Networks",
//! 2016), the DenseNet-BC models as torchvision builds them: a 7×7/2 convolution and 3×3/2 max
//! pooling, four dense blocks (each layer BatchNorm → ReLU → 1×1 bottleneck to `4k` channels →
//! BatchNorm → ReLU → 3×3 convolution to `k`, concatenated to its input) joined by transitions
//! (BatchNorm → ReLU → 1×1 convolution halving the channels → 2×2/2 average pooling), a final
//! BatchNorm and ReLU, global average pooling and a linear classifier. Variants
//! (`densenet121`, `densenet161`, `densenet169`, `densenet201`) differ in growth rate `k`,
//! layers per block and stem width.
//!
//! - `densenet.rs`: the variant table, the configuration, the model and its feature contract
//!   (stages `features.relu0`, `features.denseblock1`–`3`, `features.norm5`; reductions 2–32).
//! - `block.rs`: the dense layer, the dense block and the transition.
//! - `weights.rs`: key rules from torchvision's names (legacy `norm.1` and modern `norm1`) to
//!   the fields.

mod block;
mod densenet;
mod weights;

pub use block::{DenseBlock, DenseLayer, Transition};
pub use densenet::{DENSENET_VARIANTS, DenseNet, DenseNetConfig, DenseNetFeatures, DenseNetVariant};
pub use weights::key_rules;
