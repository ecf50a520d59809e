//! Key rules for torchvision's GoogLeNet checkpoints.
//!
//! The field names are torchvision's, so almost every key is already a model path:
//!
//! | torchvision | Kiln |
//! |---|---|
//! | `conv1.conv.weight`, `conv1.bn.running_mean` | the same |
//! | `inception3a.branch1.conv.weight` | the same |
//! | `inception3a.branch2.0.conv.weight`, `….branch2.1.bn.weight` | the same (`branch2` is a `Vec`) |
//! | `inception3a.branch3.{0,1}.…` | the same |
//! | `inception3a.branch4.1.…` (`branch4.0` is the max pooling) | `inception3a.branch4.…` (rule) |
//! | `aux1.conv.conv.weight`, `aux1.fc1.weight`, `aux1.fc2.bias` | the same |
//! | `fc.weight`, `fc.bias` | the same |
//!
//! After the rule, the only numeric segments left are `branch2.{0,1}` and `branch3.{0,1}`, which
//! burn-store's contiguous index mapping leaves as they are; its PyTorch adapter then turns
//! BatchNorm `weight`/`bias` into `gamma`/`beta` and transposes the linear weights.
//! `num_batches_tracked` has no counterpart (the importer reports it as unused).
//!
//! **Auxiliary heads.** torchvision's published file (`googlenet-1378be20.pth`) holds `aux1.*`
//! and `aux2.*` (it is loaded into a model built with the heads), but those heads were never
//! trained: torchvision then deletes them and sets `aux_logits = False` unless asked to keep
//! them. Build the model with `aux_logits: false` for that file: its 20 aux tensors are not
//! loaded, and 18 of them are reported as unused (the importer never reports the BatchNorm step
//! counters `num_batches_tracked`). A file saved from such a model (344 keys, no `aux1.`/`aux2.`)
//! loads only into a model built without the heads; a model with heads expects their 20 tensors
//! (364 keys in all).

use kiln_core::KeyRules;

/// The rules that rename torchvision's GoogLeNet keys (with or without the auxiliary heads) to
/// Kiln's module paths; the classifiers are `fc.`, `aux1.fc2.` and `aux2.fc2.`.
///
/// One rule, anchored at the start of the key: `inceptionNx.branch4.1.` → `inceptionNx.branch4.`.
pub fn key_rules() -> KeyRules {
    let mut rules = KeyRules::head(&["fc.", "aux1.fc2.", "aux2.fc2."]);
    rules
        .remap
        .push((r"^(inception\d[a-z])\.branch4\.1\.".into(), "${1}.branch4.".into()));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GoogLeNetConfig, INCEPTIONS};
    use burn::tensor::Device;

    #[test]
    fn torchvision_keys_map_onto_fields() {
        let r = key_rules();
        for (from, to) in [
            ("conv1.conv.weight", "conv1.conv.weight"),
            ("conv1.bn.running_mean", "conv1.bn.running_mean"),
            ("conv3.bn.bias", "conv3.bn.bias"),
            ("inception3a.branch1.conv.weight", "inception3a.branch1.conv.weight"),
            ("inception3a.branch2.0.conv.weight", "inception3a.branch2.0.conv.weight"),
            ("inception3a.branch2.1.bn.weight", "inception3a.branch2.1.bn.weight"),
            ("inception4e.branch3.1.conv.weight", "inception4e.branch3.1.conv.weight"),
            ("inception3a.branch4.1.conv.weight", "inception3a.branch4.conv.weight"),
            (
                "inception5b.branch4.1.bn.running_var",
                "inception5b.branch4.bn.running_var",
            ),
            ("aux1.conv.conv.weight", "aux1.conv.conv.weight"),
            ("aux1.fc1.weight", "aux1.fc1.weight"),
            ("aux2.fc2.bias", "aux2.fc2.bias"),
            ("fc.weight", "fc.weight"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
        for head in ["fc.weight", "fc.bias", "aux1.fc2.weight", "aux2.fc2.bias"] {
            assert!(r.is_head(head), "{head}");
        }
        for trunk in ["aux1.fc1.weight", "aux1.conv.conv.weight", "conv1.conv.weight"] {
            assert!(!r.is_head(trunk), "{trunk}");
        }
    }

    /// torchvision's `state_dict` keys of a GoogLeNet: 344 without the auxiliary heads, 364
    /// with (printed from `GoogLeNet(aux_logits=...).state_dict()`).
    fn torchvision_keys(aux: bool) -> Vec<String> {
        fn basic(p: &str) -> Vec<String> {
            let mut keys = vec![format!("{p}.conv.weight")];
            keys.extend(
                ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map(|s| format!("{p}.bn.{s}")),
            );
            keys
        }
        let mut keys = Vec::new();
        for p in ["conv1", "conv2", "conv3"] {
            keys.extend(basic(p));
        }
        for spec in &INCEPTIONS {
            for branch in [
                "branch1",
                "branch2.0",
                "branch2.1",
                "branch3.0",
                "branch3.1",
                "branch4.1",
            ] {
                keys.extend(basic(&format!("{}.{branch}", spec.name)));
            }
        }
        if aux {
            for head in ["aux1", "aux2"] {
                keys.extend(basic(&format!("{head}.conv")));
                for fc in ["fc1", "fc2"] {
                    keys.push(format!("{head}.{fc}.weight"));
                    keys.push(format!("{head}.{fc}.bias"));
                }
            }
        }
        keys.push("fc.weight".into());
        keys.push("fc.bias".into());
        keys
    }

    /// Every torchvision key, renamed and adapted as the importer does (BatchNorm
    /// `weight`/`bias` → `gamma`/`beta`, `num_batches_tracked` dropped), is a parameter path of
    /// the model, and every parameter gets one: with the heads and without.
    #[test]
    fn every_torchvision_key_has_a_parameter() {
        let r = key_rules();
        let device = Device::flex();
        for (aux, count) in [(false, 344), (true, 364)] {
            let keys = torchvision_keys(aux);
            assert_eq!(keys.len(), count);
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
            // No numeric segment is left for the contiguous index mapping to renumber: only
            // `branch2.{0,1}` and `branch3.{0,1}`.
            assert!(mapped.iter().all(|k| !k.contains(".branch4.1.")));
            let mut model = kiln_core::param_paths(&GoogLeNetConfig::new().with_aux_logits(aux).init(&device));
            model.sort();
            mapped.sort();
            assert_eq!(mapped, model, "aux_logits {aux}");
        }
    }

    /// The published file's aux tensors are exactly what a model without heads leaves unused.
    #[test]
    fn aux_keys_are_the_difference() {
        let with: Vec<String> = torchvision_keys(true);
        let without = torchvision_keys(false);
        let extra: Vec<&String> = with.iter().filter(|k| !without.contains(*k)).collect();
        assert_eq!(extra.len(), 20);
        assert!(extra.iter().all(|k| k.starts_with("aux1.") || k.starts_with("aux2.")));
    }
}
