//! Key rules for torchvision's MNASNet checkpoints, generated from the stack table.
//!
//! torchvision keeps the trunk in one `Sequential` `layers` (convolutions, BatchNorms, ReLUs and
//! six `Sequential`s of `_InvertedResidual`, each again a `Sequential` `layers`) and the head in
//! `classifier` (0 dropout, 1 linear). Kiln names them:
//!
//! | torchvision | Kiln |
//! |---|---|
//! | `layers.0`, `layers.1` | `layers.stem.conv`, `layers.stem.bn` |
//! | `layers.3`, `layers.4` | `layers.stem_dw.conv`, `layers.stem_dw.bn` |
//! | `layers.6`, `layers.7` | `layers.stem_pw.conv`, `layers.stem_pw.bn` |
//! | `layers.{8+s}.{b}` | `layers.stacks.{s}.{b}` (s = 0..5) |
//! | `….layers.0`, `….layers.1` (in a block) | `….expand.conv`, `….expand.bn` |
//! | `….layers.3`, `….layers.4` | `….depthwise.conv`, `….depthwise.bn` |
//! | `….layers.6`, `….layers.7` | `….project.conv`, `….project.bn` |
//! | `layers.14`, `layers.15` | `layers.conv_head.conv`, `layers.conv_head.bn` |
//! | `classifier.1` | `classifier` |
//!
//! The renamed keys have contiguous indices only (`stacks.0..5`, blocks from 0), so burn-store's
//! contiguous index mapping, applied after these rules, leaves them as they are; its PyTorch
//! adapter then turns BatchNorm `weight`/`bias` into `gamma`/`beta` and transposes the linear
//! weight. `num_batches_tracked` has no counterpart (the importer reports it as unused).
//!
//! Every alpha, and the version-1 stem, has the same keys: only shapes differ.

use crate::mnasnet::{CONV_HEAD, FIRST_STACK, STACKS};
use kiln_core::KeyRules;

/// Positions in torchvision's top-level `layers` of the stem's layers with parameters.
const STEM: [(usize, &str); 6] = [
    (0, "stem.conv"),
    (1, "stem.bn"),
    (3, "stem_dw.conv"),
    (4, "stem_dw.bn"),
    (6, "stem_pw.conv"),
    (7, "stem_pw.bn"),
];

/// Positions in an `_InvertedResidual`'s `layers` of its layers with parameters.
const BLOCK: [(usize, &str); 6] = [
    (0, "expand.conv"),
    (1, "expand.bn"),
    (3, "depthwise.conv"),
    (4, "depthwise.bn"),
    (6, "project.conv"),
    (7, "project.bn"),
];

/// The rules that rename torchvision's MNASNet keys (any alpha, either stem version) to Kiln's
/// module paths; the classifier is `classifier.`.
///
/// Each rule is anchored at the start of the key and its output no longer starts with
/// `layers.<digit>`, so no rule renames another's output.
pub fn key_rules() -> KeyRules {
    let mut rules = KeyRules::head(&["classifier."]);
    let top = |position: usize, path: String| (format!(r"^layers\.{position}\."), format!("layers.{path}."));
    for (position, path) in STEM {
        rules.remap.push(top(position, path.to_string()));
    }
    for s in 0..STACKS.len() {
        rules.remap.push(top(FIRST_STACK + s, format!("stacks.{s}")));
    }
    rules.remap.push(top(CONV_HEAD, "conv_head.conv".into()));
    rules.remap.push(top(CONV_HEAD + 1, "conv_head.bn".into()));
    for (position, path) in BLOCK {
        rules.remap.push((
            format!(r"^(layers\.stacks\.\d+\.\d+)\.layers\.{position}\."),
            format!("${{1}}.{path}."),
        ));
    }
    rules.remap.push((r"^classifier\.1\.".into(), "classifier.".into()));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MnasNetConfig;
    use burn::tensor::Device;

    #[test]
    fn torchvision_keys_map_onto_fields() {
        let r = key_rules();
        for (from, to) in [
            ("layers.0.weight", "layers.stem.conv.weight"),
            ("layers.1.weight", "layers.stem.bn.weight"),
            ("layers.1.running_var", "layers.stem.bn.running_var"),
            ("layers.3.weight", "layers.stem_dw.conv.weight"),
            ("layers.4.bias", "layers.stem_dw.bn.bias"),
            ("layers.6.weight", "layers.stem_pw.conv.weight"),
            ("layers.7.running_mean", "layers.stem_pw.bn.running_mean"),
            ("layers.8.0.layers.0.weight", "layers.stacks.0.0.expand.conv.weight"),
            ("layers.8.0.layers.1.bias", "layers.stacks.0.0.expand.bn.bias"),
            (
                "layers.8.2.layers.4.running_mean",
                "layers.stacks.0.2.depthwise.bn.running_mean",
            ),
            ("layers.10.1.layers.3.weight", "layers.stacks.2.1.depthwise.conv.weight"),
            ("layers.12.3.layers.6.weight", "layers.stacks.4.3.project.conv.weight"),
            (
                "layers.13.0.layers.7.num_batches_tracked",
                "layers.stacks.5.0.project.bn.num_batches_tracked",
            ),
            ("layers.14.weight", "layers.conv_head.conv.weight"),
            ("layers.15.weight", "layers.conv_head.bn.weight"),
            ("layers.15.running_var", "layers.conv_head.bn.running_var"),
            ("classifier.1.weight", "classifier.weight"),
            ("classifier.1.bias", "classifier.bias"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
        assert!(r.is_head("classifier.weight") && r.is_head("classifier.bias"));
        assert!(!r.is_head("layers.conv_head.conv.weight"));
    }

    /// torchvision's `state_dict` keys of an MNASNet, from its `Sequential` positions
    /// (314 for every alpha).
    fn torchvision_keys() -> Vec<String> {
        fn bn(p: &str) -> [String; 5] {
            ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map(|s| format!("{p}.{s}"))
        }
        let mut keys = Vec::new();
        for p in [0, 3, 6] {
            keys.push(format!("layers.{p}.weight"));
            keys.extend(bn(&format!("layers.{}", p + 1)));
        }
        for (s, spec) in STACKS.iter().enumerate() {
            for b in 0..spec.repeats {
                for p in [0, 3, 6] {
                    let block = format!("layers.{}.{b}.layers", FIRST_STACK + s);
                    keys.push(format!("{block}.{p}.weight"));
                    keys.extend(bn(&format!("{block}.{}", p + 1)));
                }
            }
        }
        keys.push(format!("layers.{CONV_HEAD}.weight"));
        keys.extend(bn(&format!("layers.{}", CONV_HEAD + 1)));
        keys.push("classifier.1.weight".into());
        keys.push("classifier.1.bias".into());
        keys
    }

    /// Every torchvision key, renamed and adapted as the importer does (BatchNorm
    /// `weight`/`bias` → `gamma`/`beta`, `num_batches_tracked` dropped), is a parameter path of
    /// the model, and every parameter gets one.
    #[test]
    fn every_torchvision_key_has_a_parameter() {
        let keys = torchvision_keys();
        assert_eq!(keys.len(), 314);
        let r = key_rules();
        let mut mapped: Vec<String> = keys
            .iter()
            .filter(|k| !k.ends_with("num_batches_tracked"))
            .map(|k| {
                let k = r.apply(k);
                if k.contains(".bn.") {
                    if let Some(module) = k.strip_suffix(".weight") {
                        return format!("{module}.gamma");
                    }
                    if let Some(module) = k.strip_suffix(".bias") {
                        return format!("{module}.beta");
                    }
                }
                k
            })
            .collect();
        let device = Device::flex();
        for config in [MnasNetConfig::new(0.5), MnasNetConfig::new(1.3).with_stem_v1(true)] {
            let mut model = kiln_core::param_paths(&config.init(&device));
            model.sort();
            mapped.sort();
            assert_eq!(mapped, model);
        }
    }
}
