//! Layers of the efficient families (MobileNet, EfficientNet, MNASNet, ShuffleNet), each as
//! torchvision defines it. Grouped and depthwise convolutions are [`crate::ConvBnAct`] with
//! `groups`; the activations (ReLU6, hard-sigmoid, hard-swish, SiLU) are [`crate::Activation`]s.

mod channel_shuffle;
mod inverted_residual;
mod squeeze_excitation;
mod stochastic_depth;

pub use channel_shuffle::channel_shuffle;
pub use inverted_residual::{InvertedResidual, InvertedResidualConfig};
pub use squeeze_excitation::{SqueezeExcitation, SqueezeExcitationConfig};
pub use stochastic_depth::StochasticDepth;

/// torchvision's `_make_divisible` (from TensorFlow's MobileNet): `v` rounded to the nearest
/// multiple of `divisor`, at least `min_value` (default `divisor`), and never below 90% of `v`.
pub fn make_divisible(v: f64, divisor: usize, min_value: Option<usize>) -> usize {
    let min_value = min_value.unwrap_or(divisor);
    let d = divisor as f64;
    let mut new_v = min_value.max(((v + d / 2.0) as usize) / divisor * divisor);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

#[cfg(test)]
mod tests {
    use super::make_divisible;

    #[test]
    fn make_divisible_as_torchvision() {
        // Values from torchvision's MobileNet V2 at width 0.35/0.75/1.4 and its V3 configs.
        assert_eq!(make_divisible(32.0 * 0.35, 8, None), 16);
        assert_eq!(make_divisible(24.0 * 0.75, 8, None), 24);
        assert_eq!(make_divisible(1280.0 * 1.4, 8, None), 1792);
        assert_eq!(make_divisible(72.0 / 4.0, 8, None), 24);
        assert_eq!(make_divisible(240.0 / 4.0, 8, None), 64);
        assert_eq!(make_divisible(3.0, 8, None), 8);
        // Never more than 10% below: 17 → 16 is fine, 11 → 8 would not be, so 16.
        assert_eq!(make_divisible(11.0, 8, None), 16);
    }
}
