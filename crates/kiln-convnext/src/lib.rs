//! ConvNeXt (Liu, Mao, Wu, Feichtenhofer, Darrell, Xie, "A ConvNet for the 2020s", 2022) as
//! torchvision builds it: a patchify stem (4×4/4 convolution, LayerNorm), four stages of ConvNeXt
//! blocks (7×7 depthwise convolution, LayerNorm, per-pixel MLP with expansion 4 and GELU, layer
//! scale, stochastic depth, residual), LayerNorm + 2×2/2 convolution between stages, global
//! average pooling and a LayerNorm + linear classifier. Variants as data: `convnext_tiny`,
//! `convnext_small`, `convnext_base`, `convnext_large` ([`CONVNEXT_VARIANTS`]).
//!
//! - `convnext.rs`: the variant table, the configuration, the model and its feature contract
//!   (stages `features.1`, `.3`, `.5`, `.7`; reductions 4, 8, 16, 32).
//! - `block.rs`: the ConvNeXt block (`CNBlock`), the stem and the downsampling layers, with
//!   torchvision's initialisation.
//! - `norm.rs`: torchvision's `LayerNorm2d` (LayerNorm over the channels of an NCHW tensor).
//! - `weights.rs`: key rules from torchvision's `Sequential` positions to the named fields.
//!
//! Initialisation departs from torchvision in one detail: `trunc_normal_(std=0.02)` is drawn as an
//! untruncated normal with std 0.02 (Burn has no truncated normal). PyTorch truncates at its
//! default bounds ±2, which are ±100 standard deviations here, so the two distributions agree in
//! every draw that can happen in practice.

mod block;
mod convnext;
mod norm;
mod weights;

pub use block::{CNBlock, Downsample, MLP_RATIO, Stem, WEIGHT_STD};
pub use convnext::{CONVNEXT_VARIANTS, ConvNext, ConvNextConfig, ConvNextVariant};
pub use norm::{LAYER_NORM_EPS, layer_norm, layer_norm_2d};
pub use weights::key_rules;
