//! Key rules for torchvision's ShuffleNet V2 checkpoints, generated from the layer tables below.
//!
//! torchvision keeps `conv1`, `conv5` and each unit's `branch1` / `branch2` as `Sequential`s
//! (convolution and BatchNorm at their positions, ReLUs in between); here they are structs of
//! [`kiln_core::ConvBnAct`] (`conv`, `bn`). Every rule names a key's full prefix and maps it onto
//! a field path, which no later rule matches. The stage indices (`stage3.5`) are already
//! contiguous, so burn-store's index mapping leaves them as they are.

use kiln_core::KeyRules;

/// `(position in torchvision's Sequential, field path)` of `conv1` and `conv5`.
const CONV_BN: [(usize, &str); 2] = [(0, "conv"), (1, "bn")];

/// `branch1`: depthwise 3×3 (0), BatchNorm (1), 1×1 (2), BatchNorm (3), ReLU (4).
const BRANCH1: [(usize, &str); 4] = [
    (0, "depthwise.conv"),
    (1, "depthwise.bn"),
    (2, "pointwise.conv"),
    (3, "pointwise.bn"),
];

/// `branch2`: 1×1 (0), BatchNorm (1), ReLU (2), depthwise 3×3 (3), BatchNorm (4), 1×1 (5),
/// BatchNorm (6), ReLU (7).
const BRANCH2: [(usize, &str); 6] = [
    (0, "pointwise1.conv"),
    (1, "pointwise1.bn"),
    (3, "depthwise.conv"),
    (4, "depthwise.bn"),
    (5, "pointwise2.conv"),
    (6, "pointwise2.bn"),
];

/// Key rules for every torchvision ShuffleNet V2 (`shufflenet_v2_x0_5` … `x2_0`); the head is
/// `fc`.
pub fn key_rules() -> KeyRules {
    let mut rules = KeyRules::head(&["fc."]);
    for stem in ["conv1", "conv5"] {
        for (i, to) in CONV_BN {
            rules.remap.push((format!(r"^{stem}\.{i}\."), format!("{stem}.{to}.")));
        }
    }
    for (branch, table) in [("branch1", &BRANCH1[..]), ("branch2", &BRANCH2[..])] {
        for &(i, to) in table {
            rules.remap.push((
                format!(r"^(stage\d+\.\d+)\.{branch}\.{i}\."),
                format!("${{1}}.{branch}.{to}."),
            ));
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SHUFFLENET_VARIANTS, STAGES_REPEATS, ShuffleNetV2Config};
    use burn::{module::Module, tensor::Device};

    #[test]
    fn torchvision_keys_map_onto_fields() {
        let r = key_rules();
        for (from, to) in [
            ("conv1.0.weight", "conv1.conv.weight"),
            ("conv1.1.running_mean", "conv1.bn.running_mean"),
            ("stage2.0.branch1.0.weight", "stage2.0.branch1.depthwise.conv.weight"),
            ("stage2.0.branch1.1.bias", "stage2.0.branch1.depthwise.bn.bias"),
            ("stage2.0.branch1.2.weight", "stage2.0.branch1.pointwise.conv.weight"),
            (
                "stage2.0.branch1.3.running_var",
                "stage2.0.branch1.pointwise.bn.running_var",
            ),
            ("stage2.0.branch2.0.weight", "stage2.0.branch2.pointwise1.conv.weight"),
            ("stage3.7.branch2.1.weight", "stage3.7.branch2.pointwise1.bn.weight"),
            ("stage3.7.branch2.3.weight", "stage3.7.branch2.depthwise.conv.weight"),
            (
                "stage4.3.branch2.4.running_mean",
                "stage4.3.branch2.depthwise.bn.running_mean",
            ),
            ("stage4.3.branch2.5.weight", "stage4.3.branch2.pointwise2.conv.weight"),
            ("stage4.0.branch2.6.bias", "stage4.0.branch2.pointwise2.bn.bias"),
            ("conv5.0.weight", "conv5.conv.weight"),
            ("conv5.1.weight", "conv5.bn.weight"),
            ("fc.weight", "fc.weight"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
        assert!(r.is_head("fc.weight") && r.is_head("ShuffleNetV2.fc.bias"));
        assert!(!r.is_head("conv5.conv.weight"));
    }

    /// torchvision's `state_dict` keys (without `num_batches_tracked`), from its Sequential
    /// positions: each convolution at `c` has its BatchNorm at `c + 1`.
    fn torchvision_keys(repeats: [usize; 3]) -> Vec<String> {
        fn conv_bn(keys: &mut Vec<String>, prefix: &str, conv: usize) {
            keys.push(format!("{prefix}.{conv}.weight"));
            for p in ["weight", "bias", "running_mean", "running_var"] {
                keys.push(format!("{prefix}.{}.{p}", conv + 1));
            }
        }
        let mut keys = Vec::new();
        conv_bn(&mut keys, "conv1", 0);
        for (s, &n) in repeats.iter().enumerate() {
            for i in 0..n {
                let unit = format!("stage{}.{i}", s + 2);
                if i == 0 {
                    for c in [0, 2] {
                        conv_bn(&mut keys, &format!("{unit}.branch1"), c);
                    }
                }
                for c in [0, 3, 5] {
                    conv_bn(&mut keys, &format!("{unit}.branch2"), c);
                }
            }
        }
        conv_bn(&mut keys, "conv5", 0);
        keys.extend(["fc.weight".to_string(), "fc.bias".to_string()]);
        keys
    }

    /// The model's float tensors by path, BatchNorm's `gamma`/`beta` named as PyTorch's
    /// `weight`/`bias` (what the importer's adapter undoes).
    fn model_paths<M: Module>(model: &M) -> Vec<String> {
        kiln_core::param_paths(model)
            .into_iter()
            .map(|p| {
                if let Some(head) = p.strip_suffix(".gamma") {
                    format!("{head}.weight")
                } else if let Some(head) = p.strip_suffix(".beta") {
                    format!("{head}.bias")
                } else {
                    p
                }
            })
            .collect()
    }

    /// Every torchvision key lands on exactly one field, and every field gets a key.
    #[test]
    fn every_torchvision_key_is_a_model_path() {
        let model = ShuffleNetV2Config::from_variant(&SHUFFLENET_VARIANTS[1]).init(&Device::flex());
        let rules = key_rules();
        let mut mapped: Vec<String> = torchvision_keys(STAGES_REPEATS)
            .iter()
            .map(|k| rules.apply(k))
            .collect();
        let mut paths = model_paths(&model);
        assert_eq!(mapped.len(), 282);
        mapped.sort();
        paths.sort();
        assert_eq!(mapped, paths);
    }
}
