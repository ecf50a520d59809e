//! Key rules for torchvision's EfficientNet checkpoints, generated from the scaled stages.
//!
//! torchvision: `features.0` the stem, `features.{s}` (1..=n) the stages, each a `Sequential`
//! of blocks whose layers are the `Sequential` `block`: MBConv `[expand (ratio ≠ 1)],
//! depthwise, se, project`, Fused-MBConv `fused, [project]`; `features.{n+1}` the last 1×1
//! convolution; `classifier.1` the linear layer. Each `Conv2dNormActivation` holds `.0`
//! (convolution) and `.1` (BatchNorm).

use crate::{EfficientNetConfig, StageKind};
use kiln_core::{KeyRules, layers::make_divisible};

/// The rules for the model `config` builds.
pub fn key_rules(config: &EfficientNetConfig) -> KeyRules {
    let mut rules = KeyRules::head(&["classifier."]);
    let plan = config.plan();
    rules.conv_norm(r"features\.0", "stem");
    for (s, stage) in plan.iter().enumerate() {
        for (b, &(input, _, _)) in stage.blocks.iter().enumerate() {
            let from = format!(r"features\.{}\.{b}\.block", s + 1);
            let expanded = make_divisible(input as f64 * stage.expand_ratio, 8, None);
            match stage.kind {
                StageKind::MbConv => {
                    let to = format!("stages.{s}.mb_conv.{b}");
                    let mut j = 0;
                    if expanded != input {
                        rules.conv_norm(&format!(r"{from}\.0"), &format!("{to}.expand"));
                        j = 1;
                    }
                    rules.conv_norm(&format!(r"{from}\.{j}"), &format!("{to}.depthwise"));
                    rules
                        .remap
                        .push((format!(r"^{from}\.{}\.", j + 1), format!("{to}.se.")));
                    rules.conv_norm(&format!(r"{from}\.{}", j + 2), &format!("{to}.project"));
                }
                StageKind::Fused => {
                    let to = format!("stages.{s}.fused.{b}");
                    rules.conv_norm(&format!(r"{from}\.0"), &format!("{to}.fused"));
                    rules.conv_norm(&format!(r"{from}\.1"), &format!("{to}.project"));
                }
            }
        }
    }
    rules.conv_norm(&format!(r"features\.{}", plan.len() + 1), "last");
    rules.remap.push((r"^classifier\.1\.".into(), "classifier.".into()));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EFFICIENTNET_VARIANTS;

    fn rules(name: &str) -> KeyRules {
        let v = EFFICIENTNET_VARIANTS.iter().find(|v| v.name == name).unwrap();
        key_rules(&EfficientNetConfig::from_variant(v))
    }

    #[test]
    fn b0_keys() {
        let r = rules("efficientnet_b0");
        for (from, to) in [
            ("features.0.0.weight", "stem.conv.weight"),
            (
                "features.1.0.block.0.0.weight",
                "stages.0.mb_conv.0.depthwise.conv.weight",
            ),
            ("features.1.0.block.1.fc1.bias", "stages.0.mb_conv.0.se.fc1.bias"),
            (
                "features.1.0.block.2.1.running_var",
                "stages.0.mb_conv.0.project.bn.running_var",
            ),
            ("features.2.1.block.0.1.weight", "stages.1.mb_conv.1.expand.bn.weight"),
            ("features.2.1.block.2.fc2.weight", "stages.1.mb_conv.1.se.fc2.weight"),
            (
                "features.7.0.block.3.0.weight",
                "stages.6.mb_conv.0.project.conv.weight",
            ),
            ("features.8.1.bias", "last.bn.bias"),
            ("classifier.1.weight", "classifier.weight"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
    }

    #[test]
    fn v2_s_keys() {
        let r = rules("efficientnet_v2_s");
        for (from, to) in [
            ("features.1.1.block.0.0.weight", "stages.0.fused.1.fused.conv.weight"),
            ("features.2.0.block.0.1.weight", "stages.1.fused.0.fused.bn.weight"),
            ("features.2.0.block.1.0.weight", "stages.1.fused.0.project.conv.weight"),
            ("features.4.0.block.2.fc1.weight", "stages.3.mb_conv.0.se.fc1.weight"),
            (
                "features.6.14.block.3.1.running_mean",
                "stages.5.mb_conv.14.project.bn.running_mean",
            ),
            ("features.7.0.weight", "last.conv.weight"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
    }
}
