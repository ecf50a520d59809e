//! SqueezeNet (Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer, "SqueezeNet: AlexNet-level
//! accuracy with 50x fewer parameters and <0.5MB model size", 2016) as torchvision builds it,
//! versions 1.0 and 1.1 as rows of [`SQUEEZENET_VARIANTS`]:
//!
//! - Fire modules: a 1×1 "squeeze" to few channels feeds parallel 1×1 and 3×3 "expand"
//!   convolutions, concatenated ([`Fire`], torchvision's field names);
//! - max pooling in ceil mode (PyTorch's `ceil_mode=True`: a last, partial window counts);
//! - no fully connected layer: the classifier is dropout, a 1×1 convolution to one map per class,
//!   ReLU and global average pooling.
//!
//! Checkpoints map onto the fields through [`key_rules`].

mod fire;
mod squeezenet;
mod weights;

pub use fire::Fire;
pub use squeezenet::{
    FireSpec, SQUEEZENET_VARIANTS, SqueezeNet, SqueezeNetConfig, SqueezeNetVariant, SqueezeNetVersion,
};
pub use weights::{fire_positions, key_rules};
