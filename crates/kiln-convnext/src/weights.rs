//! Key rules for torchvision's ConvNeXt checkpoints, generated from the stage layout.
//!
//! torchvision keeps the trunk in one `Sequential` `features` (stem, then stages and
//! downsampling layers alternating), each block's branch in a `Sequential` `block` whose
//! permutes and GELU hold nothing, and the head in `classifier` (0 LayerNorm2d, 1 flatten,
//! 2 linear). Kiln names them:
//!
//! | torchvision | Kiln |
//! |---|---|
//! | `features.0.0`, `features.0.1` | `stem.conv`, `stem.norm` |
//! | `features.{2s+1}.{b}` | `stages.{s}.{b}` (s = 0..3) |
//! | `….block.0`, `.2`, `.3`, `.5` (in a block) | `….dwconv`, `.norm`, `.pwconv1`, `.pwconv2` |
//! | `….layer_scale` (in a block) | `….layer_scale` |
//! | `features.{2s+2}.0`, `features.{2s+2}.1` | `downsample.{s}.norm`, `downsample.{s}.conv` (s = 0..2) |
//! | `classifier.0` | `head_norm` |
//! | `classifier.2` | `classifier` |
//!
//! The renamed keys have contiguous indices only (`stages.0..3`, `downsample.0..2`, blocks from
//! 0), so burn-store's contiguous index mapping, applied after these rules, leaves them as they
//! are. Its PyTorch adapter then turns every LayerNorm's `weight`/`bias` into `gamma`/`beta` and
//! transposes the linear weights; `layer_scale` sits in [`crate::CNBlock`], which is neither a
//! norm nor a linear module, so it is loaded as it is (`[dim, 1, 1]`).
//!
//! Every variant has the same keys; only shapes and the number of blocks differ.

use crate::{
    ConvNextConfig,
    convnext::{downsample_position, stage_position},
};
use kiln_core::KeyRules;

/// Positions in a block's `block` `Sequential` of its layers with parameters.
const BLOCK: [(usize, &str); 4] = [(0, "dwconv"), (2, "norm"), (3, "pwconv1"), (5, "pwconv2")];

/// The rules that rename torchvision's ConvNeXt keys (any variant) to Kiln's module paths; the
/// classifier is `classifier.` (the linear layer only: the LayerNorm before it has the width of
/// the features, whatever the number of classes).
///
/// Each rule is anchored at the start of the key, and no rule's output starts as another rule's
/// input (`features.`, `classifier.<digit>`, `stages.….block.`), except the stage rules, whose
/// output the block rules then rename, in that order.
pub fn key_rules(config: &ConvNextConfig) -> KeyRules {
    let mut rules = KeyRules::head(&["classifier."]);
    let stages = config.depths.len();
    rules.remap.push((r"^features\.0\.0\.".into(), "stem.conv.".into()));
    rules.remap.push((r"^features\.0\.1\.".into(), "stem.norm.".into()));
    for s in 0..stages {
        rules
            .remap
            .push((format!(r"^features\.{}\.", stage_position(s)), format!("stages.{s}.")));
        if s + 1 < stages {
            let p = downsample_position(s);
            rules
                .remap
                .push((format!(r"^features\.{p}\.0\."), format!("downsample.{s}.norm.")));
            rules
                .remap
                .push((format!(r"^features\.{p}\.1\."), format!("downsample.{s}.conv.")));
        }
    }
    for (position, field) in BLOCK {
        rules.remap.push((
            format!(r"^(stages\.\d+\.\d+)\.block\.{position}\."),
            format!("${{1}}.{field}."),
        ));
    }
    rules.remap.push((r"^classifier\.0\.".into(), "head_norm.".into()));
    rules.remap.push((r"^classifier\.2\.".into(), "classifier.".into()));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CONVNEXT_VARIANTS;
    use burn::{
        module::{Module, ModuleVisitor, Param},
        tensor::{Device, Tensor},
    };

    fn tiny() -> ConvNextConfig {
        ConvNextConfig::from_variant(&CONVNEXT_VARIANTS[0])
    }

    #[test]
    fn torchvision_keys_map_onto_fields() {
        let r = key_rules(&tiny());
        for (from, to) in [
            ("features.0.0.weight", "stem.conv.weight"),
            ("features.0.0.bias", "stem.conv.bias"),
            ("features.0.1.weight", "stem.norm.weight"),
            ("features.0.1.bias", "stem.norm.bias"),
            ("features.1.0.layer_scale", "stages.0.0.layer_scale"),
            ("features.1.0.block.0.weight", "stages.0.0.dwconv.weight"),
            ("features.1.0.block.0.bias", "stages.0.0.dwconv.bias"),
            ("features.1.2.block.2.weight", "stages.0.2.norm.weight"),
            ("features.3.1.block.3.weight", "stages.1.1.pwconv1.weight"),
            ("features.5.8.block.5.bias", "stages.2.8.pwconv2.bias"),
            ("features.5.26.block.3.bias", "stages.2.26.pwconv1.bias"),
            ("features.7.2.layer_scale", "stages.3.2.layer_scale"),
            ("features.2.0.weight", "downsample.0.norm.weight"),
            ("features.2.1.weight", "downsample.0.conv.weight"),
            ("features.4.0.bias", "downsample.1.norm.bias"),
            ("features.6.1.bias", "downsample.2.conv.bias"),
            ("classifier.0.weight", "head_norm.weight"),
            ("classifier.0.bias", "head_norm.bias"),
            ("classifier.2.weight", "classifier.weight"),
            ("classifier.2.bias", "classifier.bias"),
        ] {
            assert_eq!(r.apply(from), to, "{from}");
        }
        assert!(r.is_head("classifier.weight") && r.is_head("classifier.bias"));
        assert!(!r.is_head("head_norm.gamma") && !r.is_head("stages.3.2.pwconv2.weight"));
    }

    /// torchvision's `state_dict` of a ConvNeXt, keys with PyTorch shapes, from its module
    /// layout (182 keys for convnext_tiny, 344 for the others).
    fn torchvision_state_dict(c: &ConvNextConfig) -> Vec<(String, Vec<usize>)> {
        let d = c.dims;
        let mut keys: Vec<(String, Vec<usize>)> = Vec::new();
        let mut add = |key: String, shape: &[usize]| keys.push((key, shape.to_vec()));
        add("features.0.0.weight".into(), &[d[0], c.in_channels, 4, 4]);
        add("features.0.0.bias".into(), &[d[0]]);
        add("features.0.1.weight".into(), &[d[0]]);
        add("features.0.1.bias".into(), &[d[0]]);
        for (s, (&dim, &depth)) in d.iter().zip(&c.depths).enumerate() {
            for b in 0..depth {
                let p = format!("features.{}.{b}", 2 * s + 1);
                add(format!("{p}.layer_scale"), &[dim, 1, 1]);
                add(format!("{p}.block.0.weight"), &[dim, 1, 7, 7]);
                add(format!("{p}.block.0.bias"), &[dim]);
                add(format!("{p}.block.2.weight"), &[dim]);
                add(format!("{p}.block.2.bias"), &[dim]);
                add(format!("{p}.block.3.weight"), &[4 * dim, dim]);
                add(format!("{p}.block.3.bias"), &[4 * dim]);
                add(format!("{p}.block.5.weight"), &[dim, 4 * dim]);
                add(format!("{p}.block.5.bias"), &[dim]);
            }
            if s < 3 {
                let p = format!("features.{}", 2 * s + 2);
                add(format!("{p}.0.weight"), &[dim]);
                add(format!("{p}.0.bias"), &[dim]);
                add(format!("{p}.1.weight"), &[d[s + 1], dim, 2, 2]);
                add(format!("{p}.1.bias"), &[d[s + 1]]);
            }
        }
        add("classifier.0.weight".into(), &[d[3]]);
        add("classifier.0.bias".into(), &[d[3]]);
        add("classifier.2.weight".into(), &[c.num_classes, d[3]]);
        add("classifier.2.bias".into(), &[c.num_classes]);
        keys
    }

    /// Every float parameter of a module: its path as burn-store names it, the innermost module
    /// type holding it (what the PyTorch adapter keys on) and its shape.
    #[derive(Default)]
    struct Params {
        stack: Vec<(String, String)>,
        all: Vec<(String, String, Vec<usize>)>,
    }

    impl ModuleVisitor for Params {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.stack.push((name.to_string(), container_type.to_string()));
        }

        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }

        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let path = self.stack.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(".");
            let module = self
                .stack
                .iter()
                .rev()
                .map(|(_, c)| c.as_str())
                .find(|c| c.starts_with("Struct:") || c.starts_with("Enum:"))
                .unwrap_or("")
                .to_string();
            self.all.push((path, module, param.lazy_shape().to_vec()));
        }
    }

    /// A model parameter as the PyTorch adapter reads it from a checkpoint: LayerNorm `gamma` /
    /// `beta` under `weight` / `bias`, linear weights transposed (`[out, in]`), anything else
    /// (convolutions, `layer_scale` in `CNBlock`) unchanged.
    fn as_pytorch((path, module, shape): (String, String, Vec<usize>)) -> (String, Vec<usize>) {
        let (parent, name) = path.rsplit_once('.').expect("a parameter inside a module");
        match (module.as_str(), name) {
            ("Struct:LayerNorm", "gamma") => (format!("{parent}.weight"), shape),
            ("Struct:LayerNorm", "beta") => (format!("{parent}.bias"), shape),
            ("Struct:Linear", "weight") => (path.clone(), vec![shape[1], shape[0]]),
            _ => (path.clone(), shape),
        }
    }

    /// Every torchvision key, renamed by the rules, is a parameter of the model with the
    /// checkpoint's shape once adapted, and every parameter gets one: for each variant and a
    /// model with other class and input-channel counts.
    #[test]
    fn every_torchvision_key_has_a_parameter() {
        let device = Device::flex();
        let configs = CONVNEXT_VARIANTS
            .iter()
            .map(ConvNextConfig::from_variant)
            .chain([ConvNextConfig::new([8, 16, 32, 64], [1, 2, 1, 1])
                .with_num_classes(10)
                .with_in_channels(1)]);
        for config in configs {
            let state = torchvision_state_dict(&config);
            let expected_len = 4 + 9 * config.depths.iter().sum::<usize>() + 3 * 4 + 4;
            assert_eq!(state.len(), expected_len);
            let rules = key_rules(&config);
            let mut mapped: Vec<(String, Vec<usize>)> = state.into_iter().map(|(k, s)| (rules.apply(&k), s)).collect();
            let mut visitor = Params::default();
            config.init(&device).visit(&mut visitor);
            let mut model: Vec<(String, Vec<usize>)> = visitor.all.into_iter().map(as_pytorch).collect();
            mapped.sort();
            model.sort();
            assert_eq!(mapped, model, "{:?}", config.dims);
        }
    }

    /// The state dict above holds exactly torchvision's parameter count.
    #[test]
    fn state_dict_matches_parameter_counts() {
        for v in &CONVNEXT_VARIANTS {
            let state = torchvision_state_dict(&ConvNextConfig::from_variant(v));
            let total: usize = state.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
            assert_eq!(total, v.num_params, "{}", v.name);
        }
        assert_eq!(torchvision_state_dict(&tiny()).len(), 182);
    }
}
