//! MNASNet (Tan, Chen, Pang, Vasudevan, Sandler, Howard, Le, "MnasNet: Platform-Aware Neural
//! Architecture Search for Mobile", 2018), the B1 model as torchvision builds it: a stem
//! (3×3/2 convolution, depthwise separable convolution), six stacks of inverted residuals
//! (MobileNet V2's block with ReLU, 3×3 or 5×5 depthwise kernels), a 1×1 convolution to 1280,
//! global average pooling, dropout 0.2 and a linear classifier. Depths scale with alpha
//! (`mnasnet0_5`, `mnasnet0_75`, `mnasnet1_0`, `mnasnet1_3`), rounded to multiples of 8 as
//! torchvision's `_get_depths`; BatchNorm momentum is the paper's 0.9997 decay (PyTorch momentum
//! 0.0003). torchvision's version-1 stem (unscaled, for old checkpoints with alpha ≠ 1) is a
//! configuration option.
//!
//! - `mnasnet.rs`: the variant table, the configuration, the model and its feature contract
//!   (stages `layers.7`, `layers.8`, `layers.9`, `layers.11`, `layers.13`; reductions 2–32).
//! - `block.rs`: the inverted residual and the stack table's row type.
//! - `weights.rs`: key rules from torchvision's `Sequential` positions to the named fields.

mod block;
mod mnasnet;
mod weights;

pub use block::{BN_MOMENTUM, InvertedResidual, StackSpec};
pub use mnasnet::{
    BASE_DEPTHS, CONV_HEAD, FIRST_STACK, LAST_CHANNELS, MNASNET_VARIANTS, MnasNet, MnasNetConfig, MnasNetLayers,
    MnasNetVariant, STACKS, V1_STEM, depths,
};
pub use weights::key_rules;
