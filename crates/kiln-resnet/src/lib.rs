//! ResNet (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", 2015), with
//! ResNeXt (Xie et al., 2017: grouped 3×3 convolutions) and Wide ResNet (Zagoruyko & Komodakis,
//! 2016: twice the bottleneck width) as variants of the bottleneck's width, as
//! torchvision builds it: V1.5 (the stride of a bottleneck is on its 3×3 convolution), field names
//! equal to torchvision's `state_dict` keys (`conv1`, `bn1`, `layer1.0.conv1`, `fc`), plus a
//! small-image stem (3×3 convolution, no max pooling) for 28–32 px inputs.
//!
//! Keras's `keras.applications` ResNet50/101/152 (ResNet v1: stride on the block's first 1×1,
//! a bias on every convolution, BatchNorm epsilon 1.001e-5) is a style of the same model
//! ([`ResNetConfig::keras`], [`BlockStyle`]), with its weight files' layout in [`keras_layout`].

mod block;
mod keras;
mod resnet;

pub use block::{BasicBlock, BlockStyle, Bottleneck, Downsample, ResidualBlock, Width};
pub use keras::keras_layout;
pub use resnet::{RESNET_VARIANTS, ResNet, ResNetConfig, ResNetVariant, Stem};

/// Key rules for torchvision's ResNet checkpoints: the shortcut projection is a `Sequential`
/// there (`downsample.0` convolution, `downsample.1` BatchNorm) and a struct here.
pub fn key_rules() -> kiln_core::KeyRules {
    kiln_core::KeyRules {
        remap: vec![
            (r"\.downsample\.0\.".into(), ".downsample.conv.".into()),
            (r"\.downsample\.1\.".into(), ".downsample.bn.".into()),
        ],
        head: vec!["fc.".into()],
    }
}

#[cfg(test)]
mod key_rule_tests {
    use super::key_rules;

    fn apply(key: &str) -> String {
        key_rules().apply(key)
    }

    #[test]
    fn torchvision_keys_map_onto_fields() {
        assert_eq!(apply("layer2.0.downsample.0.weight"), "layer2.0.downsample.conv.weight");
        assert_eq!(
            apply("layer2.0.downsample.1.running_var"),
            "layer2.0.downsample.bn.running_var"
        );
        assert_eq!(apply("layer2.0.conv1.weight"), "layer2.0.conv1.weight");
        assert!(key_rules().is_head("fc.weight") && key_rules().is_head("ResNetBasic.fc.bias"));
        assert!(!key_rules().is_head("layer1.0.bn1.weight"));
    }
}
