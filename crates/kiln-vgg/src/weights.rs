//! Key rules for torchvision's VGG checkpoints and the layout of Keras's VGG weight files, both
//! generated from the configuration table.

use crate::cfg;
use kiln_core::{KerasKind, KerasLayout, KerasOrder, KerasSlot, KeyRules};

/// torchvision numbers `features` by position in its `Sequential`: each convolution is followed
/// by a ReLU (and, for `_bn`, first a BatchNorm), each "M" is a max pooling. Plain VGG needs no
/// renaming (burn-store's contiguous index mapping removes the gaps). With BatchNorm, the
/// convolution at position `t` becomes `features.k` and its BatchNorm at `t + 1` becomes `bn.k`;
/// rules go through a `__` namespace so that no rule renames another's output.
pub fn key_rules(depth: usize, batch_norm: bool) -> KeyRules {
    let mut rules = KeyRules::head(&["classifier.2."]);
    let Some(table) = cfg(depth) else {
        return rules;
    };
    if !batch_norm {
        return rules;
    }
    let (mut position, mut k) = (0usize, 0usize);
    for &v in table {
        if v == 0 {
            position += 1;
            continue;
        }
        rules
            .remap
            .push((format!(r"^features\.{position}\."), format!("__conv.{k}.")));
        rules
            .remap
            .push((format!(r"^features\.{}\.", position + 1), format!("__bn.{k}.")));
        position += 3;
        k += 1;
    }
    rules.remap.push((r"^__conv\.".into(), "features.".into()));
    rules.remap.push((r"^__bn\.".into(), "bn.".into()));
    rules
}

/// The Keras layers of Keras's VGG of `depth` weight layers ([`crate::VggConfig::keras`]), in
/// Keras's order ([`KerasOrder::File`]): the convolutions `features.{i}` (`block{b}_conv{j}`, the
/// `j`-th of stage `b`, with bias), then `classifier.0` (`fc1`, after Keras's `Flatten` of the
/// NHWC `[7, 7, 512]` map, so its rows are permuted from `(h, w, c)` order), `classifier.1`
/// (`fc2`) and `classifier.2` (`predictions`, the head).
///
/// 13 convolutions and 3 dense layers for VGG16, 16 and 3 for VGG19. Keras publishes VGG16 and
/// VGG19 only; depths 11 and 13 get the same scheme (8 and 10 convolutions), `None` any other.
pub fn keras_layout(depth: usize) -> Option<KerasLayout> {
    let table = cfg(depth)?;
    let conv = KerasKind::Conv { bias: true };
    let mut slots = Vec::new();
    let (mut stage, mut j, mut i) = (1usize, 0usize, 0usize);
    for &v in table {
        if v == 0 {
            stage += 1;
            j = 0;
            continue;
        }
        j += 1;
        slots.push(KerasSlot::new(
            format!("features.{i}"),
            conv,
            format!("block{stage}_conv{j}"),
        ));
        i += 1;
    }
    let dense = |from_hwc: Option<[usize; 3]>| KerasKind::Dense { from_hwc };
    slots.push(KerasSlot::new("classifier.0", dense(Some([7, 7, 512])), "fc1"));
    slots.push(KerasSlot::new("classifier.1", dense(None), "fc2"));
    slots.push(KerasSlot::new("classifier.2", dense(None), "predictions"));
    Some(KerasLayout {
        slots,
        order: KerasOrder::File,
        head: vec!["classifier.2".into()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VggConfig;
    use burn::{module::Module, tensor::Device};
    use kiln_core::count_params;

    /// Every slot names parameters of the Keras model, every parameter belongs to exactly one
    /// slot; 13 + 3 layers for VGG16, 16 + 3 for VGG19 (8 + 3 and 10 + 3 for 11 and 13).
    #[test]
    fn keras_layout_covers_every_parameter_once() {
        let device = Device::flex();
        for (depth, convs) in [(11, 8), (13, 10), (16, 13), (19, 16)] {
            let layout = keras_layout(depth).expect("a VGG depth");
            assert_eq!(
                layout.slots_like(KerasKind::Conv { bias: true }).count(),
                convs,
                "{depth}"
            );
            assert_eq!(
                layout.slots_like(KerasKind::Dense { from_hwc: None }).count(),
                3,
                "{depth}"
            );
            assert_eq!(
                layout
                    .slots_like(KerasKind::BatchNorm {
                        scale: true,
                        center: true
                    })
                    .count(),
                0
            );
            assert_eq!(layout.order, KerasOrder::File);
            assert_eq!(layout.head, ["classifier.2"]);
            let model = VggConfig::keras(depth).init(&device).expect("a VGG depth");
            assert_eq!(layout.params(), kiln_core::param_paths(&model), "{depth}");
        }
        assert!(keras_layout(12).is_none());
    }

    /// Keras's layer names: `block{stage}_conv{j}`, then `fc1` (from the NHWC flatten), `fc2`,
    /// `predictions`.
    #[test]
    fn keras_layout_names() {
        let layout = keras_layout(16).expect("VGG16");
        let names: Vec<(&str, &str)> = layout
            .slots
            .iter()
            .map(|s| (s.path.as_str(), s.keras_name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("features.0", "block1_conv1"),
                ("features.1", "block1_conv2"),
                ("features.2", "block2_conv1"),
                ("features.3", "block2_conv2"),
                ("features.4", "block3_conv1"),
                ("features.5", "block3_conv2"),
                ("features.6", "block3_conv3"),
                ("features.7", "block4_conv1"),
                ("features.8", "block4_conv2"),
                ("features.9", "block4_conv3"),
                ("features.10", "block5_conv1"),
                ("features.11", "block5_conv2"),
                ("features.12", "block5_conv3"),
                ("classifier.0", "fc1"),
                ("classifier.1", "fc2"),
                ("classifier.2", "predictions"),
            ]
        );
        assert_eq!(
            layout.slots[13].kind,
            KerasKind::Dense {
                from_hwc: Some([7, 7, 512])
            }
        );
        assert_eq!(layout.slots[14].kind, KerasKind::Dense { from_hwc: None });
        let vgg19 = keras_layout(19).expect("VGG19");
        let last_conv = &vgg19.slots[15];
        assert_eq!(
            (last_conv.path.as_str(), last_conv.keras_name.as_str()),
            ("features.15", "block5_conv4")
        );
        assert_eq!(vgg19.slots[8].keras_name, "block4_conv1");
    }

    /// Keras's VGG: no BatchNorm, no dropout, Keras's parameter counts (torchvision's).
    #[test]
    fn keras_vgg_config_and_parameter_counts() {
        let device = Device::flex();
        for (depth, params) in [(16, 138_357_544), (19, 143_667_240)] {
            let config = VggConfig::keras(depth);
            assert!(!config.batch_norm);
            assert_eq!(config.dropout, 0.0);
            let model = config.init(&device).expect("a VGG depth");
            assert!(model.bn.is_empty());
            assert_eq!(model.dropout.prob, 0.0);
            assert_eq!(count_params(&model), params, "VGG{depth}");
            assert_eq!(model.num_params(), params, "VGG{depth}");
        }
    }

    fn apply(rules: &KeyRules, key: &str) -> String {
        rules.apply(key)
    }

    #[test]
    fn vgg11_bn_positions() {
        // torchvision vgg11_bn: 0 conv, 1 bn, 2 relu, 3 pool, 4 conv, 5 bn, 6 relu, 7 pool, 8 conv,
        // 11 conv, 14 pool, 15 conv, 18 conv, 21 pool, 22 conv, 25 conv (the eighth), 26 its bn.
        let r = key_rules(11, true);
        assert_eq!(apply(&r, "features.0.weight"), "features.0.weight");
        assert_eq!(apply(&r, "features.1.running_mean"), "bn.0.running_mean");
        assert_eq!(apply(&r, "features.4.bias"), "features.1.bias");
        assert_eq!(apply(&r, "features.5.weight"), "bn.1.weight");
        assert_eq!(apply(&r, "features.8.weight"), "features.2.weight");
        assert_eq!(apply(&r, "features.25.weight"), "features.7.weight");
        assert_eq!(apply(&r, "features.26.running_var"), "bn.7.running_var");
        assert_eq!(apply(&r, "classifier.6.weight"), "classifier.6.weight");
        assert!(key_rules(16, false).remap.is_empty());
    }
}
