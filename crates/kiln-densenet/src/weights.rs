//! Key rules for torchvision's DenseNet checkpoints, generated from the block configuration.
//!
//! torchvision keeps the trunk in one `Sequential` `features` whose children have names, not
//! positions (`conv0`, `norm0`, `denseblock1`, `transition1`, …, `norm5`), and the head in
//! `classifier`. Kiln names them:
//!
//! | torchvision | Kiln |
//! |---|---|
//! | `features.conv0`, `features.norm0`, `features.norm5` | the same |
//! | `features.denseblock{b}.denselayer{l}` | `features.blocks.{b-1}.layers.{l-1}` |
//! | `….norm1`, `….conv1`, `….norm2`, `….conv2` (in a layer) | the same |
//! | `….norm.1`, `….conv.1`, `….norm.2`, `….conv.2` (legacy) | `….norm1`, `….conv1`, … |
//! | `features.transition{t}.norm`, `.conv` | `features.transitions.{t-1}.norm`, `.conv` |
//! | `classifier` | the same |
//!
//! The published files (`densenet121-a639ec97.pth`, …) were saved before PyTorch forbade dots
//! in module names and hold the legacy keys; torchvision's `_load_state_dict` renames them with
//! the regex `^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.…)$`. The first rule here
//! does the same, before anything could read the `1` or `2` as a list index; modern keys
//! (`norm1`) do not match it and pass unchanged.
//!
//! The numbers in torchvision's names start at 1 and a regex cannot subtract, so there is one
//! rule per block, per transition and per layer position (up to the longest block). Each rule is
//! anchored at the start of the key, and its output matches no later rule. The renamed keys
//! carry contiguous indices from 0 only (`blocks.0..3`, `layers.0..n-1`, `transitions.0..2`), so
//! burn-store's contiguous index mapping, applied after these rules, leaves them as they are; its
//! PyTorch adapter then turns BatchNorm `weight`/`bias` into `gamma`/`beta` and transposes the
//! classifier's weight. `num_batches_tracked` has no counterpart (the importer reports it as
//! unused).

use crate::DenseNetConfig;
use kiln_core::KeyRules;

/// The legacy layer-key rewrite of torchvision's `_load_state_dict`: `….denselayer3.norm.1.`
/// → `….denselayer3.norm1.`.
const LEGACY: (&str, &str) = (
    r"^(features\.denseblock\d+\.denselayer\d+\.(?:norm|relu|conv))\.([12])\.",
    "${1}${2}.",
);

/// The rules that rename torchvision's DenseNet keys, legacy or modern, to Kiln's module paths
/// for the blocks of `config`; the classifier is `classifier.`.
pub fn key_rules(config: &DenseNetConfig) -> KeyRules {
    let mut rules = KeyRules::head(&["classifier."]);
    rules.remap.push((LEGACY.0.into(), LEGACY.1.into()));
    let blocks = config.block_config.len();
    for b in 1..=blocks {
        rules.remap.push((
            format!(r"^features\.denseblock{b}\."),
            format!("features.blocks.{}.", b - 1),
        ));
    }
    let longest = config.block_config.iter().copied().max().unwrap_or(0);
    for l in 1..=longest {
        rules.remap.push((
            format!(r"^(features\.blocks\.\d+)\.denselayer{l}\."),
            format!("${{1}}.layers.{}.", l - 1),
        ));
    }
    for t in 1..blocks {
        rules.remap.push((
            format!(r"^features\.transition{t}\."),
            format!("features.transitions.{}.", t - 1),
        ));
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DENSENET_VARIANTS, DenseNetVariant};
    use burn::tensor::Device;
    use std::collections::BTreeMap;

    fn rules_121() -> KeyRules {
        key_rules(&DenseNetConfig::from_variant(&DENSENET_VARIANTS[0]))
    }

    #[test]
    fn legacy_and_modern_keys_map_onto_fields() {
        let r = rules_121();
        for (from, to) in [
            ("features.conv0.weight", "features.conv0.weight"),
            ("features.norm0.running_var", "features.norm0.running_var"),
            // Legacy (the published files).
            (
                "features.denseblock1.denselayer1.norm.1.weight",
                "features.blocks.0.layers.0.norm1.weight",
            ),
            (
                "features.denseblock1.denselayer1.conv.1.weight",
                "features.blocks.0.layers.0.conv1.weight",
            ),
            (
                "features.denseblock2.denselayer10.norm.2.running_mean",
                "features.blocks.1.layers.9.norm2.running_mean",
            ),
            (
                "features.denseblock3.denselayer24.conv.2.weight",
                "features.blocks.2.layers.23.conv2.weight",
            ),
            (
                "features.denseblock4.denselayer16.norm.1.bias",
                "features.blocks.3.layers.15.norm1.bias",
            ),
            // Modern (`model.state_dict()` of today's torchvision).
            (
                "features.denseblock1.denselayer1.norm1.weight",
                "features.blocks.0.layers.0.norm1.weight",
            ),
            (
                "features.denseblock1.denselayer2.conv2.weight",
                "features.blocks.0.layers.1.conv2.weight",
            ),
            (
                "features.denseblock2.denselayer12.norm2.num_batches_tracked",
                "features.blocks.1.layers.11.norm2.num_batches_tracked",
            ),
            (
                "features.denseblock3.denselayer1.conv1.weight",
                "features.blocks.2.layers.0.conv1.weight",
            ),
            (
                "features.denseblock3.denselayer21.norm1.running_var",
                "features.blocks.2.layers.20.norm1.running_var",
            ),
            ("features.transition1.norm.weight", "features.transitions.0.norm.weight"),
            ("features.transition2.conv.weight", "features.transitions.1.conv.weight"),
            (
                "features.transition3.norm.running_mean",
                "features.transitions.2.norm.running_mean",
            ),
            ("features.norm5.bias", "features.norm5.bias"),
            ("classifier.weight", "classifier.weight"),
            ("classifier.bias", "classifier.bias"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
        assert!(r.is_head("classifier.weight") && r.is_head("classifier.bias"));
        assert!(!r.is_head("features.norm5.weight"));
        // DenseNet-201's longest block has 48 layers.
        let r = key_rules(&DenseNetConfig::from_variant(&DENSENET_VARIANTS[3]));
        assert_eq!(
            r.apply("features.denseblock3.denselayer48.norm.2.weight"),
            "features.blocks.2.layers.47.norm2.weight"
        );
    }

    /// torchvision's `state_dict` keys of a DenseNet: the modern ones of `model.state_dict()`
    /// (727 for densenet121), or the legacy ones of the published files (no
    /// `num_batches_tracked`, `norm.1` for `norm1`).
    fn torchvision_keys(v: &DenseNetVariant, legacy: bool) -> Vec<String> {
        let bn = |p: &str| -> Vec<String> {
            let mut names = vec!["weight", "bias", "running_mean", "running_var"];
            if !legacy {
                names.push("num_batches_tracked");
            }
            names.into_iter().map(|s| format!("{p}.{s}")).collect()
        };
        let sep = if legacy { "." } else { "" };
        let mut keys = vec!["features.conv0.weight".to_string()];
        keys.extend(bn("features.norm0"));
        for (b, &n) in v.block_config.iter().enumerate() {
            for l in 1..=n {
                let layer = format!("features.denseblock{}.denselayer{l}", b + 1);
                for i in [1, 2] {
                    keys.extend(bn(&format!("{layer}.norm{sep}{i}")));
                    keys.push(format!("{layer}.conv{sep}{i}.weight"));
                }
            }
            if b + 1 < v.block_config.len() {
                let t = format!("features.transition{}", b + 1);
                keys.extend(bn(&format!("{t}.norm")));
                keys.push(format!("{t}.conv.weight"));
            }
        }
        keys.extend(bn("features.norm5"));
        keys.push("classifier.weight".into());
        keys.push("classifier.bias".into());
        keys
    }

    /// Whether burn-store's contiguous index mapping would leave `keys` as they are: under each
    /// prefix, the numeric segments that follow it are exactly `0..n`.
    fn indices_contiguous(keys: &[String]) -> Result<(), String> {
        let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for key in keys {
            let parts: Vec<&str> = key.split('.').collect();
            for (i, part) in parts.iter().enumerate() {
                if let Ok(index) = part.parse::<usize>() {
                    seen.entry(parts[..i].join(".")).or_default().push(index);
                }
            }
        }
        for (prefix, mut indices) in seen {
            indices.sort_unstable();
            indices.dedup();
            if indices.iter().enumerate().any(|(i, &j)| i != j) {
                return Err(format!("{prefix}: {indices:?}"));
            }
        }
        Ok(())
    }

    /// The rules compiled once, as burn-store's `KeyRemapper` holds them ([`KeyRules::apply`]
    /// compiles every rule for every key, slow over a thousand keys and ~60 rules).
    fn compile(rules: &KeyRules) -> Vec<(regex::Regex, String)> {
        rules
            .remap
            .iter()
            .map(|(from, to)| (regex::Regex::new(from).expect("valid rule"), to.clone()))
            .collect()
    }

    /// `key` after every rule, each on the previous one's output (as the importer applies them).
    fn remap(compiled: &[(regex::Regex, String)], key: &str) -> String {
        compiled.iter().fold(key.to_string(), |k, (re, to)| {
            re.replace_all(&k, to.as_str()).into_owned()
        })
    }

    /// burn-store's PyTorch adapter on a renamed key: BatchNorm (`norm*` modules) `weight` and
    /// `bias` become `gamma` and `beta`.
    fn adapt(key: &str) -> String {
        let (module, leaf) = key.rsplit_once('.').expect("dotted key");
        let is_norm = module.rsplit('.').next().is_some_and(|m| m.starts_with("norm"));
        let leaf = match (is_norm, leaf) {
            (true, "weight") => "gamma",
            (true, "bias") => "beta",
            (_, other) => other,
        };
        format!("{module}.{leaf}")
    }

    /// Every torchvision key, legacy and modern, renamed and adapted as the importer does
    /// (BatchNorm `weight`/`bias` → `gamma`/`beta`, `num_batches_tracked` dropped), is a
    /// parameter path of the model, every parameter gets one, and the contiguous index mapping
    /// has nothing left to renumber.
    #[test]
    fn every_torchvision_key_has_a_parameter() {
        let device = Device::flex();
        for (v, expected) in [(&DENSENET_VARIANTS[0], 727usize), (&DENSENET_VARIANTS[1], 967)] {
            let config = DenseNetConfig::from_variant(v);
            let compiled = compile(&key_rules(&config));
            let mut model = kiln_core::param_paths(&config.init(&device));
            model.sort();
            for legacy in [false, true] {
                let keys = torchvision_keys(v, legacy);
                if !legacy {
                    assert_eq!(keys.len(), expected, "{}", v.name);
                }
                let renamed: Vec<String> = keys
                    .iter()
                    .filter(|k| !k.ends_with("num_batches_tracked"))
                    .map(|k| remap(&compiled, k))
                    .collect();
                indices_contiguous(&renamed).unwrap_or_else(|e| panic!("{} legacy {legacy}: {e}", v.name));
                let mut mapped: Vec<String> = renamed.iter().map(|k| adapt(k)).collect();
                mapped.sort();
                assert_eq!(mapped, model, "{} legacy {legacy}", v.name);
            }
        }
    }
}
