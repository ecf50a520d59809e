//! AlexNet (Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
//! Neural Networks", 2012) as torchvision builds it: the single-GPU variant of "One weird trick"
//! (64-192-384-256-256 maps, no local response normalisation), 11×11/5×5/3×3 convolutions, max
//! pooling, ReLU, dropout, adaptive average pooling to 6×6 and three fully connected layers.

mod alexnet;

pub use alexnet::{AlexNet, AlexNetConfig};

/// Key rules for torchvision's `alexnet` checkpoints: `features.{0,3,6,8,10}` and
/// `classifier.{1,4,6}` become contiguous by burn-store's index mapping; no renaming.
pub fn key_rules() -> kiln_core::KeyRules {
    kiln_core::KeyRules::head(&["classifier.2."])
}
