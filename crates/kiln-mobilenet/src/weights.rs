//! Key rules for torchvision's MobileNet checkpoints, generated from the block tables.
//!
//! torchvision keeps the trunk in one `Sequential` (`features`): the stem at 0, the blocks at
//! 1..=n, the last convolution at n + 1. Each `Conv2dNormActivation` is a `Sequential` (`.0`
//! convolution, `.1` BatchNorm), and a block's layers are a `Sequential` whose indices shift when
//! the block has no expansion (or no squeeze-and-excitation). Every rule below names a key's
//! full prefix and maps it onto a field path, which no later rule matches.

use crate::{MobileNetV2Config, MobileNetV3Config};
use kiln_core::KeyRules;

/// MobileNet V2: `features.i.conv.{j}` is `[expand (t ≠ 1)], depthwise, project conv, project
/// BatchNorm`; the classifier is `classifier.1` (after the dropout).
pub fn key_rules_v2(config: &MobileNetV2Config) -> KeyRules {
    let mut rules = KeyRules::head(&["classifier."]);
    let blocks = config.blocks();
    rules.conv_norm(r"features\.0", "stem");
    for (i, plan) in blocks.iter().enumerate() {
        let from = format!(r"features\.{}\.conv", i + 1);
        let to = format!("blocks.{i}");
        let mut j = 0;
        if plan.expansion != 1 {
            rules.conv_norm(&format!(r"{from}\.0"), &format!("{to}.expand"));
            j = 1;
        }
        rules.conv_norm(&format!(r"{from}\.{j}"), &format!("{to}.depthwise"));
        rules
            .remap
            .push((format!(r"^{from}\.{}\.", j + 1), format!("{to}.project.conv.")));
        rules
            .remap
            .push((format!(r"^{from}\.{}\.", j + 2), format!("{to}.project.bn.")));
    }
    rules.conv_norm(&format!(r"features\.{}", blocks.len() + 1), "last");
    rules.remap.push((r"^classifier\.1\.".into(), "classifier.".into()));
    rules
}

/// MobileNet V3: `features.i.block.{j}` is `[expand (expanded ≠ input)], depthwise, [se],
/// project`; the classifier's linear layers `classifier.0` and `.3` become `classifier.0` and
/// `.1` by burn-store's contiguous index mapping.
pub fn key_rules_v3(config: &MobileNetV3Config) -> KeyRules {
    let mut rules = KeyRules::head(&["classifier.1."]);
    rules.conv_norm(r"features\.0", "stem");
    for (i, c) in config.blocks.iter().enumerate() {
        let from = format!(r"features\.{}\.block", i + 1);
        let to = format!("blocks.{i}");
        let mut j = 0;
        if c.expanded != c.input {
            rules.conv_norm(&format!(r"{from}\.{j}"), &format!("{to}.expand"));
            j += 1;
        }
        rules.conv_norm(&format!(r"{from}\.{j}"), &format!("{to}.depthwise"));
        j += 1;
        if c.se {
            rules.remap.push((format!(r"^{from}\.{j}\."), format!("{to}.se.")));
            j += 1;
        }
        rules.conv_norm(&format!(r"{from}\.{j}"), &format!("{to}.project"));
    }
    rules.conv_norm(&format!(r"features\.{}", config.blocks.len() + 1), "last");
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MOBILENET_V3_VARIANTS;

    #[test]
    fn v2_keys() {
        let r = key_rules_v2(&MobileNetV2Config::new());
        for (from, to) in [
            ("features.0.0.weight", "stem.conv.weight"),
            ("features.0.1.running_var", "stem.bn.running_var"),
            // t = 1: no expansion.
            ("features.1.conv.0.0.weight", "blocks.0.depthwise.conv.weight"),
            ("features.1.conv.1.weight", "blocks.0.project.conv.weight"),
            ("features.1.conv.2.bias", "blocks.0.project.bn.bias"),
            ("features.2.conv.0.1.weight", "blocks.1.expand.bn.weight"),
            ("features.2.conv.1.0.weight", "blocks.1.depthwise.conv.weight"),
            ("features.2.conv.2.weight", "blocks.1.project.conv.weight"),
            ("features.17.conv.3.running_mean", "blocks.16.project.bn.running_mean"),
            ("features.18.0.weight", "last.conv.weight"),
            ("classifier.1.weight", "classifier.weight"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
    }

    #[test]
    fn v3_keys() {
        let large = key_rules_v3(&MobileNetV3Config::from_variant(&MOBILENET_V3_VARIANTS[0]));
        let small = key_rules_v3(&MobileNetV3Config::from_variant(&MOBILENET_V3_VARIANTS[1]));
        for (r, from, to) in [
            (&large, "features.1.block.0.0.weight", "blocks.0.depthwise.conv.weight"),
            (&large, "features.1.block.1.1.bias", "blocks.0.project.bn.bias"),
            (&large, "features.4.block.2.fc1.weight", "blocks.3.se.fc1.weight"),
            (&large, "features.4.block.3.0.weight", "blocks.3.project.conv.weight"),
            (&large, "features.16.0.weight", "last.conv.weight"),
            (&small, "features.1.block.1.fc2.bias", "blocks.0.se.fc2.bias"),
            (
                &small,
                "features.1.block.2.1.running_var",
                "blocks.0.project.bn.running_var",
            ),
            (&small, "features.2.block.0.0.weight", "blocks.1.expand.conv.weight"),
            (&small, "features.12.1.weight", "last.bn.weight"),
            (&small, "classifier.3.weight", "classifier.3.weight"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
    }
}
