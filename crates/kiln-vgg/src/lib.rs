//! VGG (Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
//! Recognition", 2014): only 3×3 convolutions, many filters. Variants 11/13/16/19 (the paper's
//! configurations A, B, D, E), each plain or with BatchNorm after every convolution, expanded from
//! one table as torchvision's `cfgs`. Keras's `keras.applications` VGG16 / VGG19 is the plain
//! variant without dropout ([`VggConfig::keras`]), its weight files' layout [`keras_layout`].

mod vgg;
mod weights;

pub use vgg::{VGG_VARIANTS, Vgg, VggConfig, VggVariant, cfg};
pub use weights::{keras_layout, key_rules};
