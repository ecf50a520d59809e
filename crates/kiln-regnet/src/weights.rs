//! Key rules for torchvision's RegNet checkpoints, generated from the stage table.
//!
//! torchvision names a block `trunk_output.block{s}.block{s}-{i}` (stages from 1) and keeps
//! each convolution + BatchNorm in a `Conv2dNormActivation` `Sequential` (`.0` convolution, `.1`
//! BatchNorm). Rust field names cannot be numbers or contain `-`, so Kiln names them:
//!
//! | torchvision | Kiln |
//! |---|---|
//! | `stem.0`, `stem.1` | `stem.conv`, `stem.bn` |
//! | `trunk_output.block{s}.block{s}-{i}` | `trunk_output.{s - 1}.{i}` |
//! | `….proj.0`, `….proj.1` | `….proj.conv`, `….proj.bn` |
//! | `….f.a.0`, `….f.a.1` (likewise `f.b`, `f.c`) | `….f.a.conv`, `….f.a.bn` |
//! | `….f.se.fc1`, `….f.se.fc2` | unchanged |
//! | `fc` | unchanged |
//!
//! A regex replacement cannot subtract, so the stage rule is generated per stage from the
//! configuration's [`BlockParams`](crate::BlockParams). The renamed keys have contiguous indices
//! only (stages from 0, blocks from 0), so burn-store's contiguous index mapping, applied after
//! these rules, leaves them as they are; its PyTorch adapter then turns BatchNorm
//! `weight`/`bias` into `gamma`/`beta` and transposes the linear weight.
//! `num_batches_tracked` has no counterpart (the importer reports it as unused).

use crate::RegNetConfig;
use kiln_core::KeyRules;

/// The `Conv2dNormActivation`s inside a block, by their path under the block.
const CONV_NORMS: [&str; 4] = ["proj", "f.a", "f.b", "f.c"];

/// The rules that rename torchvision's RegNet keys to Kiln's module paths for a model of
/// `config` (every torchvision variant has four stages); the classifier is `fc.`.
///
/// Each rule is anchored at the start of the key; the stage rules' outputs no longer contain
/// `block`, and the block rules' outputs no longer end a layer path in `.0.` or `.1.`, so no rule
/// renames another's output.
///
/// # Panics
/// As [`RegNetConfig::block_params`].
pub fn key_rules(config: &RegNetConfig) -> KeyRules {
    let mut rules = KeyRules::head(&["fc."]);
    rules.remap.push((r"^stem\.0\.".into(), "stem.conv.".into()));
    rules.remap.push((r"^stem\.1\.".into(), "stem.bn.".into()));
    for s in 1..=config.block_params().depths.len() {
        rules.remap.push((
            format!(r"^trunk_output\.block{s}\.block{s}-(\d+)\."),
            format!("trunk_output.{}.${{1}}.", s - 1),
        ));
    }
    for layer in CONV_NORMS {
        let from = layer.replace('.', r"\.");
        for (position, field) in [(0, "conv"), (1, "bn")] {
            rules.remap.push((
                format!(r"^(trunk_output\.\d+\.\d+)\.{from}\.{position}\."),
                format!("${{1}}.{layer}.{field}."),
            ));
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{REGNET_VARIANTS, RegNetVariant};
    use burn::tensor::Device;

    fn config(name: &str) -> RegNetConfig {
        let v = REGNET_VARIANTS.iter().find(|v| v.name == name).expect("in the table");
        RegNetConfig::from_variant(v)
    }

    #[test]
    fn torchvision_keys_map_onto_fields() {
        let r = key_rules(&config("regnet_y_400mf"));
        for (from, to) in [
            ("stem.0.weight", "stem.conv.weight"),
            ("stem.1.weight", "stem.bn.weight"),
            ("stem.1.running_var", "stem.bn.running_var"),
            (
                "trunk_output.block1.block1-0.proj.0.weight",
                "trunk_output.0.0.proj.conv.weight",
            ),
            (
                "trunk_output.block1.block1-0.proj.1.running_mean",
                "trunk_output.0.0.proj.bn.running_mean",
            ),
            (
                "trunk_output.block1.block1-0.f.a.0.weight",
                "trunk_output.0.0.f.a.conv.weight",
            ),
            (
                "trunk_output.block2.block2-2.f.b.1.bias",
                "trunk_output.1.2.f.b.bn.bias",
            ),
            (
                "trunk_output.block3.block3-5.f.se.fc1.weight",
                "trunk_output.2.5.f.se.fc1.weight",
            ),
            (
                "trunk_output.block3.block3-5.f.se.fc2.bias",
                "trunk_output.2.5.f.se.fc2.bias",
            ),
            (
                "trunk_output.block4.block4-5.f.c.1.num_batches_tracked",
                "trunk_output.3.5.f.c.bn.num_batches_tracked",
            ),
            (
                "trunk_output.block4.block4-5.f.c.0.weight",
                "trunk_output.3.5.f.c.conv.weight",
            ),
            ("fc.weight", "fc.weight"),
            ("fc.bias", "fc.bias"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
        // Two-digit block numbers (regnet_x_400mf's block4 has 12 blocks).
        let r = key_rules(&config("regnet_x_400mf"));
        assert_eq!(
            r.apply("trunk_output.block4.block4-11.f.b.0.weight"),
            "trunk_output.3.11.f.b.conv.weight"
        );
        assert!(r.is_head("fc.weight") && r.is_head("fc.bias"));
        assert!(!r.is_head("trunk_output.3.11.f.c.conv.weight") && !r.is_head("stem.conv.weight"));
    }

    /// torchvision's `state_dict` keys of a RegNet, in its order, from the stage table: per
    /// block `proj` (first block of a stage, where the width or resolution changes), then
    /// `f.a`, `f.b`, `f.se` (RegNet Y), `f.c`.
    fn torchvision_keys(v: &RegNetVariant) -> Vec<String> {
        fn conv_norm(keys: &mut Vec<String>, p: &str) {
            keys.push(format!("{p}.0.weight"));
            for s in ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"] {
                keys.push(format!("{p}.1.{s}"));
            }
        }
        let mut keys = Vec::new();
        conv_norm(&mut keys, "stem");
        let mut width_in = 32;
        for (s, stage) in RegNetConfig::from_variant(v).block_params().stages().iter().enumerate() {
            let s = s + 1;
            for i in 0..stage.depth {
                let block = format!("trunk_output.block{s}.block{s}-{i}");
                if i == 0 && (width_in != stage.width || stage.stride != 1) {
                    conv_norm(&mut keys, &format!("{block}.proj"));
                }
                conv_norm(&mut keys, &format!("{block}.f.a"));
                conv_norm(&mut keys, &format!("{block}.f.b"));
                if v.se_ratio.is_some() {
                    for fc in ["fc1", "fc2"] {
                        keys.push(format!("{block}.f.se.{fc}.weight"));
                        keys.push(format!("{block}.f.se.{fc}.bias"));
                    }
                }
                conv_norm(&mut keys, &format!("{block}.f.c"));
            }
            width_in = stage.width;
        }
        keys.push("fc.weight".into());
        keys.push("fc.bias".into());
        keys
    }

    /// Every torchvision key, renamed and adapted as the importer does (BatchNorm
    /// `weight`/`bias` → `gamma`/`beta`, `num_batches_tracked` dropped), is a parameter path of
    /// the model, and every parameter gets one; torchvision's key counts are 428
    /// (`regnet_x_400mf`) and 384 (`regnet_y_400mf`).
    #[test]
    fn every_torchvision_key_has_a_parameter() {
        let device = Device::flex();
        for (name, count) in [("regnet_x_400mf", 428), ("regnet_y_400mf", 384)] {
            let v = REGNET_VARIANTS.iter().find(|v| v.name == name).expect("in the table");
            let keys = torchvision_keys(v);
            assert_eq!(keys.len(), count, "{name}");
            let cfg = RegNetConfig::from_variant(v);
            let r = key_rules(&cfg);
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
            let mut model = kiln_core::param_paths(&cfg.init(&device));
            model.sort();
            mapped.sort();
            assert_eq!(mapped, model, "{name}");
        }
    }
}
