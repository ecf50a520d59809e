//! The Keras layout of a ResNet: how the layers of `keras.applications`' ResNet50/101/152
//! weight files map onto Kiln's fields, for `kiln_train::import::keras`.

use crate::ResNetConfig;
use kiln_core::{KerasKind, KerasLayout, KerasOrder, KerasSlot};

/// Output channels per stage at expansion 1 and the stride of its first block.
const STAGES: [(usize, usize); 4] = [(64, 1), (128, 2), (256, 2), (512, 2)];

/// The Keras layers of the ResNet `config` builds, in Keras 3's `model.layers` order
/// ([`KerasOrder::File`]):
///
/// - `conv1` (`conv1_conv`), `bn1` (`conv1_bn`);
/// - for stage `s` = 2..=5 (Kiln's `layer{s-1}`) and block `b` = 1..=n (Kiln's index `b-1`):
///   `conv1`/`bn1` (`conv{s}_block{b}_1_conv`/`_1_bn`), `conv2`/`bn2` (`_2_…`), then, in a block
///   with a projected shortcut (the first of each stage), `downsample.conv` (`_0_conv`) before
///   `conv3` (`_3_conv`) and `downsample.bn` (`_0_bn`) before `bn3` (`_3_bn`);
/// - `fc` (`predictions`), the head.
///
/// Convolutions have a bias when `config` says so ([`ResNetConfig::keras`] does); BatchNorms have
/// `gamma` and `beta` (Keras's defaults). Keras publishes bottleneck ResNets only; for a
/// basic-block configuration the same pattern is applied to its two convolutions (the shortcut's
/// layers before the block's last convolution and last BatchNorm), which no Keras file is known
/// to follow.
///
/// Slot counts (Conv, BatchNorm, Dense): ResNet50 53/53/1, ResNet101 104/104/1, ResNet152
/// 155/155/1.
pub fn keras_layout(config: &ResNetConfig) -> KerasLayout {
    let conv = KerasKind::Conv {
        bias: config.block_style().conv_bias,
    };
    let bn = KerasKind::BatchNorm {
        scale: true,
        center: true,
    };
    let mut slots = vec![
        KerasSlot::new("conv1", conv, "conv1_conv").with_alias("conv1"),
        KerasSlot::new("bn1", bn, "conv1_bn").with_alias("bn_conv1"),
    ];
    // Keras 2's ResNet-50 (keras-applications' resnet50.py, whose published file is still in
    // use): `res{stage}{block letter}_branch{2a, 2b, 2c, 1}` and `bn…` for the BatchNorms.
    let old = |stage: usize, b: usize, k: usize, prefix: &str| {
        let branch = ["1", "2a", "2b", "2c"][k];
        format!("{prefix}{stage}{}_branch{branch}", (b'a' + b as u8) as char)
    };
    let (expansion, convs) = if config.bottleneck { (4, 3) } else { (1, 2) };
    let mut in_c = 64;
    for (i, (&blocks, (planes, stride))) in config.layers.iter().zip(STAGES).enumerate() {
        let stage = i + 2;
        for b in 0..blocks {
            let path = format!("layer{}.{b}", i + 1);
            let name = format!("conv{stage}_block{}", b + 1);
            // As `downsample_if_needed`: the first block projects when the shape changes.
            let projected = b == 0 && (stride != 1 || in_c != planes * expansion);
            in_c = planes * expansion;
            for k in 1..=convs {
                let last = k == convs;
                // Keras 2's names exist for bottlenecks (branches 2a–2c) of up to 26 blocks.
                let named = config.bottleneck && b < 26;
                let alias = |slot: KerasSlot, k: usize, prefix: &str| {
                    if named {
                        slot.with_alias(old(stage, b, k, prefix))
                    } else {
                        slot
                    }
                };
                if last && projected {
                    slots.push(alias(
                        KerasSlot::new(format!("{path}.downsample.conv"), conv, format!("{name}_0_conv")),
                        0,
                        "res",
                    ));
                }
                slots.push(alias(
                    KerasSlot::new(format!("{path}.conv{k}"), conv, format!("{name}_{k}_conv")),
                    k,
                    "res",
                ));
                if last && projected {
                    slots.push(alias(
                        KerasSlot::new(format!("{path}.downsample.bn"), bn, format!("{name}_0_bn")),
                        0,
                        "bn",
                    ));
                }
                slots.push(alias(
                    KerasSlot::new(format!("{path}.bn{k}"), bn, format!("{name}_{k}_bn")),
                    k,
                    "bn",
                ));
            }
        }
    }
    slots.push(KerasSlot::new("fc", KerasKind::Dense { from_hwc: None }, "predictions").with_alias("fc1000"));
    KerasLayout {
        slots,
        order: KerasOrder::File,
        head: vec!["fc".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockStyle, RESNET_VARIANTS};
    use burn::{
        config::Config,
        module::Module,
        tensor::{Device, Tensor},
    };
    use kiln_core::count_params;

    fn counts(layout: &KerasLayout) -> [usize; 3] {
        [
            layout.slots_like(KerasKind::Conv { bias: true }).count(),
            layout
                .slots_like(KerasKind::BatchNorm {
                    scale: true,
                    center: true,
                })
                .count(),
            layout.slots_like(KerasKind::Dense { from_hwc: None }).count(),
        ]
    }

    /// Every slot names parameters of the model, and every parameter belongs to exactly one slot.
    #[test]
    fn keras_layout_covers_every_parameter_once() {
        let device = Device::flex();
        for (depth, expected) in [(50, [53, 53, 1]), (101, [104, 104, 1]), (152, [155, 155, 1])] {
            let config = ResNetConfig::keras(depth).expect("a Keras depth");
            let layout = keras_layout(&config);
            assert_eq!(counts(&layout), expected, "ResNet{depth}");
            assert_eq!(layout.order, KerasOrder::File);
            assert_eq!(layout.head, ["fc"]);
            assert!(
                layout.slots.iter().all(|s| s.kind != KerasKind::Conv { bias: false }),
                "Keras's convolutions all have a bias"
            );
            let model = config.init_bottleneck(&device);
            assert_eq!(layout.params(), kiln_core::param_paths(&model), "ResNet{depth}");
        }
        // torchvision's configurations get bias-free slots that still cover their models.
        for v in &RESNET_VARIANTS[..5] {
            let config = ResNetConfig::from_variant(v);
            let layout = keras_layout(&config);
            let biased = layout.slots.iter().any(|s| s.kind == KerasKind::Conv { bias: true });
            assert!(!biased, "{}: torchvision's convolutions have no bias", v.name);
            let paths = if config.bottleneck {
                kiln_core::param_paths(&config.init_bottleneck(&device))
            } else {
                kiln_core::param_paths(&config.init_basic(&device))
            };
            assert_eq!(layout.params(), paths, "{}", v.name);
        }
    }

    /// The order within each kind is Keras 3's `model.layers` order: the shortcut's layers come
    /// just before the block's last convolution and its last BatchNorm.
    #[test]
    fn keras_layout_order_and_names() {
        let layout = keras_layout(&ResNetConfig::keras(50).expect("a Keras depth"));
        let names: Vec<(&str, &str)> = layout
            .slots
            .iter()
            .map(|s| (s.path.as_str(), s.keras_name.as_str()))
            .collect();
        assert_eq!(
            &names[..12],
            [
                ("conv1", "conv1_conv"),
                ("bn1", "conv1_bn"),
                ("layer1.0.conv1", "conv2_block1_1_conv"),
                ("layer1.0.bn1", "conv2_block1_1_bn"),
                ("layer1.0.conv2", "conv2_block1_2_conv"),
                ("layer1.0.bn2", "conv2_block1_2_bn"),
                ("layer1.0.downsample.conv", "conv2_block1_0_conv"),
                ("layer1.0.conv3", "conv2_block1_3_conv"),
                ("layer1.0.downsample.bn", "conv2_block1_0_bn"),
                ("layer1.0.bn3", "conv2_block1_3_bn"),
                ("layer1.1.conv1", "conv2_block2_1_conv"),
                ("layer1.1.bn1", "conv2_block2_1_bn"),
            ]
        );
        // A block without a projection: six layers.
        let second = names.iter().position(|n| n.0 == "layer1.1.conv1").expect("present");
        assert_eq!(names[second + 5], ("layer1.1.bn3", "conv2_block2_3_bn"));
        assert_eq!(names[second + 6], ("layer1.2.conv1", "conv2_block3_1_conv"));
        // The first block of the last stage, and the head.
        let first = names.iter().position(|n| n.0 == "layer4.0.conv1").expect("present");
        assert_eq!(names[first].1, "conv5_block1_1_conv");
        assert_eq!(names[first + 4], ("layer4.0.downsample.conv", "conv5_block1_0_conv"));
        assert_eq!(names[first + 6], ("layer4.0.downsample.bn", "conv5_block1_0_bn"));
        assert_eq!(names[first + 7], ("layer4.0.bn3", "conv5_block1_3_bn"));
        assert_eq!(names.last(), Some(&("fc", "predictions")));
        assert_eq!(names[names.len() - 2], ("layer4.2.bn3", "conv5_block3_3_bn"));
    }

    /// Keras's counts: `count_params()` (moving statistics included) is Burn's `num_params`, its
    /// trainable count is PyTorch's (`kiln_core::count_params`).
    #[test]
    fn keras_resnet_parameter_counts() {
        let device = Device::flex();
        for (depth, total, trainable) in [
            (50, 25_636_712, 25_583_592),
            (101, 44_707_176, 44_601_832),
            (152, 60_419_944, 60_268_520),
        ] {
            let model = ResNetConfig::keras(depth)
                .expect("a Keras depth")
                .init_bottleneck(&device);
            assert_eq!(model.num_params(), total, "ResNet{depth}");
            assert_eq!(count_params(&model), trainable, "ResNet{depth}");
        }
        assert!(ResNetConfig::keras(18).is_none() && ResNetConfig::keras(34).is_none());
        // torchvision's ResNet-50 keeps its count.
        let tv = ResNetConfig::from_variant(&RESNET_VARIANTS[2]).init_bottleneck(&device);
        assert_eq!(count_params(&tv), 25_557_032);
    }

    /// Keras's style moves the stride to the first 1×1, adds the biases and changes epsilon; the
    /// default stays torchvision's. Logits `[b, 1000]` at 64×64 and 224×224.
    #[test]
    fn keras_resnet_style_and_forward() {
        let device = Device::flex();
        let keras = ResNetConfig::keras(50).expect("a Keras depth").init_bottleneck(&device);
        let block = &keras.layer2[0];
        assert_eq!(block.conv1.stride, [2, 2]);
        assert_eq!(block.conv2.stride, [1, 1]);
        assert_eq!(block.downsample.as_ref().expect("projected").conv.stride, [2, 2]);
        assert!(block.conv1.bias.is_some() && block.conv3.bias.is_some() && keras.conv1.bias.is_some());
        assert_eq!(block.bn2.epsilon, 1.001e-5);
        assert_eq!(keras.bn1.epsilon, 1.001e-5);

        let tv = ResNetConfig::from_variant(&RESNET_VARIANTS[2]).init_bottleneck(&device);
        let block = &tv.layer2[0];
        assert_eq!(block.conv1.stride, [1, 1]);
        assert_eq!(block.conv2.stride, [2, 2]);
        assert!(block.conv1.bias.is_none() && tv.conv1.bias.is_none());
        assert_eq!(block.bn2.epsilon, 1e-5);

        for size in [64, 224] {
            let x = Tensor::<4>::zeros([1, 3, size, size], &device);
            assert_eq!(keras.forward(x).dims(), [1, 1000], "{size}×{size}");
        }
    }

    /// Configurations saved before the Keras fields existed still load, as torchvision's style;
    /// Keras's configuration survives a round trip.
    #[test]
    fn configs_without_the_keras_fields_still_load() {
        let old = r#"{"layers":[3,4,6,3],"bottleneck":true,"num_classes":10,"in_channels":3,
            "stem":"imagenet","groups":1,"width_per_group":64}"#;
        let config = ResNetConfig::load_binary(old.as_bytes()).expect("an old configuration loads");
        assert_eq!(config.block_style(), BlockStyle::TORCHVISION);
        assert_eq!(config.num_classes, 10);
        let keras = ResNetConfig::keras(101).expect("a Keras depth");
        let json = burn::config::config_to_json(&keras);
        let back = ResNetConfig::load_binary(json.as_bytes()).expect("round trip");
        assert_eq!(back.block_style(), BlockStyle::KERAS);
        assert_eq!(back.layers, [3, 4, 23, 3]);
    }
}
