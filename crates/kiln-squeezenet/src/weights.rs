//! Key rules for torchvision's SqueezeNet checkpoints, generated from the version's layer table.
//!
//! torchvision's `features` is one `Sequential`: the stem convolution at 0, its ReLU at 1, a max
//! pooling at 2, then the Fire modules with a max pooling between groups; `classifier` is
//! Dropout (0), the final convolution (1), ReLU, pooling. Here the stem is `conv1`, the Fire
//! modules `fire.0 …`, the final convolution `classifier`. Rules go through a `__fire`
//! namespace so that no rule renames another's output; the indices they produce are contiguous,
//! so burn-store's index mapping leaves them as they are.

use crate::SqueezeNetVersion;
use kiln_core::KeyRules;

/// The positions of the Fire modules in torchvision's `features`, in order.
pub fn fire_positions(version: SqueezeNetVersion) -> Vec<usize> {
    let mut positions = Vec::new();
    let mut p = 3; // after conv, ReLU, max pooling
    for (s, stage) in version.stages().iter().enumerate() {
        if s > 0 {
            p += 1; // the max pooling between two groups
        }
        for _ in stage.iter() {
            positions.push(p);
            p += 1;
        }
    }
    positions
}

/// Key rules for torchvision's `squeezenet1_0` / `squeezenet1_1`; the head is the final
/// convolution `classifier`.
pub fn key_rules(version: SqueezeNetVersion) -> KeyRules {
    let mut rules = KeyRules::head(&["classifier."]);
    rules.remap.push((r"^features\.0\.".into(), "conv1.".into()));
    for (k, p) in fire_positions(version).into_iter().enumerate() {
        rules.remap.push((format!(r"^features\.{p}\."), format!("__fire.{k}.")));
    }
    rules.remap.push((r"^__fire\.".into(), "fire.".into()));
    rules.remap.push((r"^classifier\.1\.".into(), "classifier.".into()));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqueezeNetConfig;
    use burn::{module::Module, tensor::Device};

    /// The Fire positions as torchvision's source lists them.
    const TORCHVISION_FIRES: [(SqueezeNetVersion, [usize; 8]); 2] = [
        (SqueezeNetVersion::V1_0, [3, 4, 5, 7, 8, 9, 10, 12]),
        (SqueezeNetVersion::V1_1, [3, 4, 6, 7, 9, 10, 11, 12]),
    ];

    #[test]
    fn fire_positions_as_torchvision() {
        for (version, positions) in TORCHVISION_FIRES {
            assert_eq!(fire_positions(version), positions, "{version:?}");
        }
    }

    #[test]
    fn torchvision_keys_map_onto_fields() {
        let v10 = key_rules(SqueezeNetVersion::V1_0);
        let v11 = key_rules(SqueezeNetVersion::V1_1);
        for (r, from, to) in [
            (&v10, "features.0.weight", "conv1.weight"),
            (&v10, "features.0.bias", "conv1.bias"),
            (&v10, "features.3.squeeze.weight", "fire.0.squeeze.weight"),
            (&v10, "features.5.expand3x3.bias", "fire.2.expand3x3.bias"),
            (&v10, "features.7.expand1x1.weight", "fire.3.expand1x1.weight"),
            (&v10, "features.10.squeeze.bias", "fire.6.squeeze.bias"),
            (&v10, "features.12.expand3x3.weight", "fire.7.expand3x3.weight"),
            (&v10, "classifier.1.weight", "classifier.weight"),
            (&v11, "features.0.weight", "conv1.weight"),
            (&v11, "features.4.expand1x1.bias", "fire.1.expand1x1.bias"),
            (&v11, "features.6.squeeze.weight", "fire.2.squeeze.weight"),
            (&v11, "features.9.expand3x3.weight", "fire.4.expand3x3.weight"),
            (&v11, "features.12.squeeze.bias", "fire.7.squeeze.bias"),
            (&v11, "classifier.1.bias", "classifier.bias"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
        assert!(v10.is_head("classifier.weight") && v11.is_head("SqueezeNet.classifier.bias"));
        assert!(!v10.is_head("fire.7.expand3x3.weight"));
    }

    /// The model's float tensors by path.
    fn model_paths<M: Module>(model: &M) -> Vec<String> {
        kiln_core::param_paths(model)
    }

    /// Every key of torchvision's `state_dict` lands on exactly one field, and every field gets
    /// a key.
    #[test]
    fn every_torchvision_key_is_a_model_path() {
        for (version, fires) in TORCHVISION_FIRES {
            let mut keys = vec!["features.0.weight".to_string(), "features.0.bias".to_string()];
            for p in fires {
                for conv in ["squeeze", "expand1x1", "expand3x3"] {
                    keys.push(format!("features.{p}.{conv}.weight"));
                    keys.push(format!("features.{p}.{conv}.bias"));
                }
            }
            keys.extend(["classifier.1.weight".to_string(), "classifier.1.bias".to_string()]);
            let rules = key_rules(version);
            let mut mapped: Vec<String> = keys.iter().map(|k| rules.apply(k)).collect();
            let mut paths = model_paths(&SqueezeNetConfig::new(version).init(&Device::flex()));
            assert_eq!(mapped.len(), 52);
            mapped.sort();
            paths.sort();
            assert_eq!(mapped, paths, "{version:?}");
        }
    }
}
