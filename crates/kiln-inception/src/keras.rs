//! The Keras layout of Inception v3: how the layers of `keras.applications`' InceptionV3
//! weight files map onto Kiln's fields, for `kiln_train::import::keras`.

use crate::InceptionV3Config;
use kiln_core::{KerasKind, KerasLayout, KerasOrder, KerasSlot};

/// The stem's convolutions.
const STEM: [&str; 5] = [
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
];

/// Block A's convolutions in creation order (torchvision's and Keras's).
const BLOCK_A: [&str; 7] = [
    "branch1x1",
    "branch5x5_1",
    "branch5x5_2",
    "branch3x3dbl_1",
    "branch3x3dbl_2",
    "branch3x3dbl_3",
    "branch_pool",
];

/// Block B's.
const BLOCK_B: [&str; 4] = ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"];

/// Block C's.
const BLOCK_C: [&str; 10] = [
    "branch1x1",
    "branch7x7_1",
    "branch7x7_2",
    "branch7x7_3",
    "branch7x7dbl_1",
    "branch7x7dbl_2",
    "branch7x7dbl_3",
    "branch7x7dbl_4",
    "branch7x7dbl_5",
    "branch_pool",
];

/// Block D's.
const BLOCK_D: [&str; 6] = [
    "branch3x3_1",
    "branch3x3_2",
    "branch7x7x3_1",
    "branch7x7x3_2",
    "branch7x7x3_3",
    "branch7x7x3_4",
];

/// Block E's.
const BLOCK_E: [&str; 9] = [
    "branch1x1",
    "branch3x3_1",
    "branch3x3_2a",
    "branch3x3_2b",
    "branch3x3dbl_1",
    "branch3x3dbl_2",
    "branch3x3dbl_3a",
    "branch3x3dbl_3b",
    "branch_pool",
];

/// The blocks in order with their convolutions.
const BLOCKS: [(&str, &[&str]); 11] = [
    ("Mixed_5b", &BLOCK_A),
    ("Mixed_5c", &BLOCK_A),
    ("Mixed_5d", &BLOCK_A),
    ("Mixed_6a", &BLOCK_B),
    ("Mixed_6b", &BLOCK_C),
    ("Mixed_6c", &BLOCK_C),
    ("Mixed_6d", &BLOCK_C),
    ("Mixed_6e", &BLOCK_C),
    ("Mixed_7a", &BLOCK_D),
    ("Mixed_7b", &BLOCK_E),
    ("Mixed_7c", &BLOCK_E),
];

/// Kiln's module paths of Inception v3's 94 [`kiln_core::ConvBnAct`] blocks (auxiliary head
/// left out), in creation order: torchvision's module order, which is also the order in which
/// Keras's `inception_v3.py` creates its `conv2d_bn` layers.
fn conv_bn_paths() -> Vec<String> {
    let mut paths: Vec<String> = STEM.iter().map(|s| s.to_string()).collect();
    for (block, convs) in BLOCKS {
        paths.extend(convs.iter().map(|c| format!("{block}.{c}")));
    }
    paths
}

/// Keras's automatic name of the `k`-th (from 0) layer of a class: `conv2d`, `conv2d_1`, ...
fn auto_name(base: &str, k: usize) -> String {
    if k == 0 {
        base.to_string()
    } else {
        format!("{base}_{k}")
    }
}

/// The Keras layers of Inception v3 in creation order ([`KerasOrder::Creation`]): for each of the
/// 94 convolution blocks ([`kiln_core::ConvBnAct`]; the `k`-th from 0) in creation order (the
/// stem's five, then `Mixed_5b` to `Mixed_7c`, each block's fields in declaration order: the
/// order of torchvision's modules and of Keras's `conv2d_bn` calls), its convolution
/// `{module}.conv` (`conv2d` for the first, `conv2d_{k}` after; no bias) immediately followed by
/// its BatchNorm `{module}.bn` (`batch_normalization`, `batch_normalization_{k}`; Keras's
/// `scale=False`: no `gamma`, which the importer sets to 1), then `fc` (`predictions`), the head.
///
/// Keras's model has no auxiliary head: when `config` builds one (`aux_logits`, not
/// [`InceptionV3Config::keras`]), `AuxLogits` is added to the head, to be left as initialised.
pub fn keras_layout(config: &InceptionV3Config) -> KerasLayout {
    let conv = KerasKind::Conv { bias: false };
    let bn = KerasKind::BatchNorm {
        scale: false,
        center: true,
    };
    let mut slots = Vec::new();
    for (k, module) in conv_bn_paths().iter().enumerate() {
        slots.push(KerasSlot::new(format!("{module}.conv"), conv, auto_name("conv2d", k)));
        slots.push(KerasSlot::new(
            format!("{module}.bn"),
            bn,
            auto_name("batch_normalization", k),
        ));
    }
    slots.push(KerasSlot::new("fc", KerasKind::Dense { from_hwc: None }, "predictions"));
    let mut head = vec!["fc".to_string()];
    if config.aux_logits {
        head.push("AuxLogits".into());
    }
    KerasLayout {
        slots,
        order: KerasOrder::Creation,
        head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::{
        config::Config,
        module::Module,
        tensor::{Device, Tensor},
    };
    use kiln_core::count_params;

    /// Every slot names parameters of the Keras model, every parameter belongs to exactly one
    /// slot: 94 convolutions, 94 BatchNorms, 1 dense layer.
    #[test]
    fn keras_layout_covers_every_parameter_once() {
        let device = Device::flex();
        let config = InceptionV3Config::keras();
        let layout = keras_layout(&config);
        assert_eq!(layout.slots_like(KerasKind::Conv { bias: false }).count(), 94);
        let bns = layout.slots_like(KerasKind::BatchNorm {
            scale: false,
            center: true,
        });
        assert_eq!(bns.count(), 94);
        assert_eq!(layout.slots_like(KerasKind::Dense { from_hwc: None }).count(), 1);
        let keras_has_not = |k: KerasKind| {
            matches!(
                k,
                KerasKind::Conv { bias: true } | KerasKind::BatchNorm { scale: true, .. }
            )
        };
        assert!(
            !layout.slots.iter().any(|s| keras_has_not(s.kind)),
            "no bias, no gamma in Keras's file"
        );
        assert_eq!(layout.order, KerasOrder::Creation);
        assert_eq!(layout.head, ["fc"]);
        let model = config.init(&device);
        assert!(model.AuxLogits.is_none());
        assert_eq!(layout.params(), kiln_core::param_paths(&model));
    }

    /// With the auxiliary head (torchvision's default), the slots cover everything else and the
    /// head takes `AuxLogits`.
    #[test]
    fn auxiliary_head_is_head() {
        let device = Device::flex();
        let config = InceptionV3Config::new();
        let layout = keras_layout(&config);
        assert_eq!(layout.head, ["fc", "AuxLogits"]);
        let model = config.init(&device);
        let rest: Vec<String> = kiln_core::param_paths(&model)
            .into_iter()
            .filter(|p| !p.starts_with("AuxLogits."))
            .collect();
        assert_eq!(layout.params(), rest);
        assert!(layout.is_head("AuxLogits.fc.weight") && layout.is_head("AuxLogits.conv0.conv.weight"));
    }

    /// Convolution, then its BatchNorm, numbered as Keras numbers them when it creates them.
    #[test]
    fn keras_layout_creation_order_and_names() {
        let layout = keras_layout(&InceptionV3Config::keras());
        let names: Vec<(&str, &str)> = layout
            .slots
            .iter()
            .map(|s| (s.path.as_str(), s.keras_name.as_str()))
            .collect();
        assert_eq!(
            &names[..4],
            [
                ("Conv2d_1a_3x3.conv", "conv2d"),
                ("Conv2d_1a_3x3.bn", "batch_normalization"),
                ("Conv2d_2a_3x3.conv", "conv2d_1"),
                ("Conv2d_2a_3x3.bn", "batch_normalization_1"),
            ]
        );
        assert_eq!(names[10], ("Mixed_5b.branch1x1.conv", "conv2d_5"));
        assert_eq!(names[23], ("Mixed_5b.branch_pool.bn", "batch_normalization_11"));
        assert_eq!(names[2 * 26], ("Mixed_6a.branch3x3.conv", "conv2d_26"));
        assert_eq!(names[2 * 30], ("Mixed_6b.branch1x1.conv", "conv2d_30"));
        assert_eq!(names[2 * 70], ("Mixed_7a.branch3x3_1.conv", "conv2d_70"));
        assert_eq!(names[2 * 76], ("Mixed_7b.branch1x1.conv", "conv2d_76"));
        assert_eq!(names[2 * 93], ("Mixed_7c.branch_pool.conv", "conv2d_93"));
        assert_eq!(names[2 * 93 + 1], ("Mixed_7c.branch_pool.bn", "batch_normalization_93"));
        assert_eq!(names[2 * 94], ("fc", "predictions"));
        assert_eq!(names.len(), 2 * 94 + 1);
    }

    /// Keras's 23,851,784 parameters (moving statistics included) against Kiln's counts: Kiln
    /// adds one `gamma` per BatchNorm channel (C = 17,216); Burn's `num_params` counts running
    /// statistics as Keras does, `count_params` leaves them out as PyTorch does.
    #[test]
    fn keras_inception_parameter_counts() {
        let device = Device::flex();
        let model = InceptionV3Config::keras().init(&device);
        let c: usize = kiln_core::param_shapes(&model)
            .iter()
            .filter(|(p, _)| p.ends_with(".gamma"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(c, 17_216);
        assert_eq!(model.num_params(), 23_851_784 + c);
        // Keras's trainable parameters (23,817,352) plus the gammas: torchvision's count without
        // the auxiliary head.
        assert_eq!(count_params(&model), 23_817_352 + c);
        assert_eq!(count_params(&model), 23_834_568);
    }

    /// Keras's configuration: no auxiliary head, dropout or input transform, pool branches that
    /// exclude the padding; the defaults stay torchvision's. Logits `[b, 1000]` at 75×75.
    #[test]
    fn keras_config_and_forward() {
        let device = Device::flex();
        let config = InceptionV3Config::keras();
        assert!(!config.aux_logits && !config.transform_input && !config.pool_counts_padding());
        assert_eq!(config.dropout, 0.0);
        let model = config.init(&device);
        assert!(!model.Mixed_5b.count_include_pad && !model.Mixed_6e.count_include_pad);
        assert!(!model.Mixed_7c.count_include_pad && !model.transform_input);
        assert_eq!(model.dropout.prob, 0.0);
        let x = Tensor::<4>::ones([1, 3, 75, 75], &device);
        assert_eq!(model.forward(x).logits.dims(), [1, 1000]);

        let tv = InceptionV3Config::new();
        assert!(tv.pool_counts_padding());
        let model = tv.init(&device);
        assert!(model.Mixed_5b.count_include_pad && model.Mixed_7b.count_include_pad);
    }

    /// Configurations saved before `count_include_pad` existed still load, counting the padding;
    /// Keras's survives a round trip.
    #[test]
    fn configs_without_count_include_pad_still_load() {
        let old = r#"{"num_classes":10,"in_channels":3,"aux_logits":true,"transform_input":false,"dropout":0.5}"#;
        let config = InceptionV3Config::load_binary(old.as_bytes()).expect("an old configuration loads");
        assert_eq!(config.count_include_pad, None);
        assert!(config.pool_counts_padding());
        assert_eq!(config.num_classes, 10);
        let json = burn::config::config_to_json(&InceptionV3Config::keras());
        let back = InceptionV3Config::load_binary(json.as_bytes()).expect("round trip");
        assert!(!back.pool_counts_padding() && !back.aux_logits);
    }
}
