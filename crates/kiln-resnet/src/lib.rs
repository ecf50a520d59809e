//! ResNet (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", 2015) as
//! torchvision builds it: V1.5 (the stride of a bottleneck is on its 3×3 convolution), field names
//! equal to torchvision's `state_dict` keys (`conv1`, `bn1`, `layer1.0.conv1`, `fc`), plus a
//! small-image stem (3×3 convolution, no max pooling) for 28–32 px inputs.

mod block;
mod resnet;

pub use block::{BasicBlock, Bottleneck, Downsample, ResidualBlock};
pub use resnet::{RESNET_VARIANTS, ResNet, ResNetConfig, ResNetVariant, Stem};
