//! Every registered model: torchvision's parameter count, output shape, feature contract and
//! head swap; the summary's multiply-accumulates against torchvision's published GFLOPS; and
//! receptive fields, computed and measured.

use burn::{
    module::{Module, ModuleMapper, Param},
    tensor::Tensor,
};
use kiln::{Backbone, BuildOptions, ImageClassifier, ModelSpec, build, build_spec, list_models};
use kiln_core::{count_params, summary::summarize};

/// Parameter counts of torchvision's models (1000 classes, 3 input channels), from
/// `sum(p.numel() for p in model.parameters())`; LeNet-5 with 10 classes and 1 channel.
const PARAMS: &[(&str, usize)] = &[
    ("lenet5", 61_706),
    ("alexnet", 61_100_840),
    ("vgg11", 132_863_336),
    ("vgg13", 133_047_848),
    ("vgg16", 138_357_544),
    ("vgg19", 143_667_240),
    ("vgg11_bn", 132_868_840),
    ("vgg13_bn", 133_053_736),
    ("vgg16_bn", 138_365_992),
    ("vgg19_bn", 143_678_248),
    ("inception_v3", 27_161_264),
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
    ("resnet50", 25_557_032),
    ("resnet101", 44_549_160),
    ("resnet152", 60_192_808),
    ("resnext50_32x4d", 25_028_904),
    ("resnext101_32x8d", 88_791_336),
    ("resnext101_64x4d", 83_455_272),
    ("wide_resnet50_2", 68_883_240),
    ("wide_resnet101_2", 126_886_696),
    ("mobilenet_v2", 3_504_872),
    ("mobilenet_v3_large", 5_483_032),
    ("mobilenet_v3_small", 2_542_856),
    ("efficientnet_b0", 5_288_548),
    ("efficientnet_b1", 7_794_184),
    ("efficientnet_b2", 9_109_994),
    ("efficientnet_b3", 12_233_232),
    ("efficientnet_b4", 19_341_616),
    ("efficientnet_b5", 30_389_784),
    ("efficientnet_b6", 43_040_704),
    ("efficientnet_b7", 66_347_960),
    ("efficientnet_v2_s", 21_458_488),
    ("efficientnet_v2_m", 54_139_356),
    ("efficientnet_v2_l", 118_515_272),
    ("mnasnet0_5", 2_218_512),
    ("mnasnet0_75", 3_170_208),
    ("mnasnet1_0", 4_383_312),
    ("mnasnet1_3", 6_282_256),
    ("shufflenet_v2_x0_5", 1_366_792),
    ("shufflenet_v2_x1_0", 2_278_604),
    ("shufflenet_v2_x1_5", 3_503_624),
    ("shufflenet_v2_x2_0", 7_393_996),
    ("squeezenet1_0", 1_248_424),
    ("squeezenet1_1", 1_235_496),
    ("densenet121", 7_978_856),
    ("densenet161", 28_681_000),
    ("densenet169", 14_149_480),
    ("densenet201", 20_013_928),
    ("googlenet", 13_004_888),
    ("convnext_tiny", 28_589_128),
    ("convnext_small", 50_223_688),
    ("convnext_base", 88_591_464),
    ("convnext_large", 197_767_336),
    ("regnet_x_400mf", 5_495_976),
    ("regnet_x_800mf", 7_259_656),
    ("regnet_x_1_6gf", 9_190_136),
    ("regnet_x_3_2gf", 15_296_552),
    ("regnet_x_8gf", 39_572_648),
    ("regnet_x_16gf", 54_278_536),
    ("regnet_x_32gf", 107_811_560),
    ("regnet_y_400mf", 4_344_144),
    ("regnet_y_800mf", 6_432_512),
    ("regnet_y_1_6gf", 11_202_430),
    ("regnet_y_3_2gf", 19_436_338),
    ("regnet_y_8gf", 39_381_472),
    ("regnet_y_16gf", 83_590_140),
    ("regnet_y_32gf", 145_046_770),
    // Keras's applications: Keras's trainable parameters (`model.trainable_weights`), except
    // Inception v3, which has one more per BatchNorm channel (17,216): Kiln's BatchNorm keeps a
    // gamma where Keras's has `scale=False` (set to 1 on import). Keras's totals also count the
    // moving statistics (ResNet-50: 25,636,712; Burn's `num_params` agrees).
    ("keras_vgg16", 138_357_544),
    ("keras_vgg19", 143_667_240),
    ("keras_resnet50", 25_583_592),
    ("keras_resnet101", 44_601_832),
    ("keras_resnet152", 60_268_520),
    ("keras_inception_v3", 23_834_568),
];

/// torchvision's published GFLOPS (its weights' `_ops`: multiply-accumulates in billions) of the
/// mobile families, at the crop size of those weights (the registry's input).
const MOBILE_GMACS: &[(&str, f64)] = &[
    ("mobilenet_v2", 0.301),
    ("mobilenet_v3_large", 0.217),
    ("mobilenet_v3_small", 0.057),
    ("efficientnet_b0", 0.386),
    ("efficientnet_b1", 0.687),
    ("efficientnet_b2", 1.088),
    ("efficientnet_b3", 1.827),
    ("efficientnet_b4", 4.394),
    ("efficientnet_b5", 10.266),
    ("efficientnet_b6", 19.068),
    ("efficientnet_b7", 37.746),
    ("efficientnet_v2_s", 8.366),
    ("efficientnet_v2_m", 24.582),
    ("efficientnet_v2_l", 56.08),
    ("mnasnet0_5", 0.104),
    ("mnasnet0_75", 0.215),
    ("mnasnet1_0", 0.314),
    ("mnasnet1_3", 0.526),
    ("shufflenet_v2_x0_5", 0.04),
    ("shufflenet_v2_x1_0", 0.145),
    ("shufflenet_v2_x1_5", 0.296),
    ("shufflenet_v2_x2_0", 0.583),
    ("squeezenet1_0", 0.819),
    ("squeezenet1_1", 0.349),
];

/// Grouped and depthwise convolutions count `(in / groups) · k²` mult-adds per output: every
/// mobile builder's summary agrees with torchvision's GFLOPS within 2% (ShuffleNet ×0.5's is
/// published to two decimals, 0.04).
#[test]
fn mobile_families_multiply_accumulates_match_torchvision() {
    let device = super::common::device();
    for &(name, gmacs) in MOBILE_GMACS {
        let info = kiln::lookup(name).unwrap();
        let model = build(name, 1000, 3, &device).unwrap().valid();
        let summary = summarize(&model, info.input, &device);
        let g = summary.total_macs as f64 / 1e9;
        println!("{name}: {g:.4} G mult-adds at {:?}, torchvision {gmacs}", info.input);
        assert!(
            (g - gmacs).abs() / gmacs < 0.02,
            "{name}: {g:.4} G vs torchvision {gmacs} G"
        );
        assert_eq!(summary.total_params, count_params(&model), "{name}");
    }
}

#[test]
fn every_model_matches_torchvision_and_honours_the_feature_contract() {
    let device = super::common::device();
    assert_eq!(
        list_models().len(),
        PARAMS.len(),
        "every registered model has a reference count"
    );
    for info in list_models() {
        let (name, [c, _, _]) = (info.name, info.input);
        let classes = if c == 1 { 10 } else { 1000 };
        let model = build(name, classes, c, &device).unwrap();
        let expected = PARAMS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).unwrap();
        assert_eq!(count_params(&model), expected, "{name}: parameters");

        // A small input the architecture accepts (tests stay fast), batch of 2; LeNet-5's
        // padding is set for exactly 28×28.
        let s = if info.family == kiln::Family::LeNet {
            28
        } else {
            info.min_size.max(32)
        };
        let x = Tensor::<4>::ones([2, c, s, s], &device);
        assert_eq!(model.forward_logits(x.clone()).dims(), [2, classes], "{name}: logits");

        let stages = model.forward_features(x.clone());
        let infos = model.feature_info();
        assert_eq!(stages.len(), infos.len(), "{name}: one tensor per declared stage");
        let mut last_reduction = 0;
        for (t, fi) in stages.iter().zip(&infos) {
            let [b, ch, h, w] = t.dims();
            assert_eq!((b, ch), (2, fi.channels), "{name}: channels of {}", fi.module);
            assert!(fi.reduction >= last_reduction, "{name}: reductions grow");
            last_reduction = fi.reduction;
            // Valid (unpadded) convolutions make a stage a few pixels smaller than s/reduction.
            let nominal = s as f64 / fi.reduction as f64;
            for d in [h, w] {
                assert!(
                    (d as f64) <= nominal.ceil() && (d as f64) >= (nominal * 0.6).floor() - 1.0,
                    "{name}: {} is {d} px at reduction {} of {s}",
                    fi.module,
                    fi.reduction
                );
            }
        }

        let swapped = model.reset_classifier(7, &device);
        assert_eq!(swapped.num_classes(), 7);
        assert_eq!(swapped.forward_logits(x).dims(), [2, 7], "{name}: new head");
    }
}

#[test]
fn inception_without_aux_head_and_aux_logits_only_in_training() {
    let device = super::common::device();
    let no_aux = kiln_inception::InceptionV3Config::new()
        .with_aux_logits(false)
        .init(&device);
    assert_eq!(count_params(&no_aux), 23_834_568);

    // The auxiliary head reads the 17×17 grid: a 299×299 input.
    let model = kiln_inception::InceptionV3Config::new()
        .with_num_classes(5)
        .init(&device.clone().autodiff());
    let x = Tensor::<4>::ones([1, 3, 299, 299], &device.clone().autodiff());
    let out = model.forward(x.clone());
    assert_eq!(out.logits.dims(), [1, 5]);
    assert_eq!(out.aux_logits.map(|a| a.dims()), Some([1, 5]), "training: aux logits");
    let eval = model.valid().forward(Tensor::ones([1, 3, 299, 299], &device));
    assert!(eval.aux_logits.is_none(), "inference: no aux logits");
}

/// torchvision's published GFLOPS (multiply-accumulates, in billions) at 224×224 (299×299 for
/// Inception v3); the summary's totals agree within 2%.
#[test]
fn summary_multiply_accumulates_match_torchvision() {
    let device = super::common::device();
    for (name, gmacs) in [
        ("resnet18", 1.81),
        ("resnet50", 4.09),
        ("vgg16", 15.47),
        ("alexnet", 0.71),
        ("inception_v3", 5.71),
        ("resnext50_32x4d", 4.23),
        ("resnext101_32x8d", 16.414),
        ("resnext101_64x4d", 15.46),
        ("wide_resnet50_2", 11.398),
        ("wide_resnet101_2", 22.753),
        ("densenet121", 2.834),
        ("densenet161", 7.728),
        ("densenet169", 3.36),
        ("densenet201", 4.291),
        ("googlenet", 1.498),
        ("convnext_tiny", 4.456),
        ("convnext_small", 8.684),
        ("convnext_base", 15.355),
        ("convnext_large", 34.361),
        ("regnet_x_400mf", 0.414),
        ("regnet_x_800mf", 0.8),
        ("regnet_x_1_6gf", 1.603),
        ("regnet_x_3_2gf", 3.177),
        ("regnet_x_8gf", 7.995),
        ("regnet_x_16gf", 15.941),
        ("regnet_x_32gf", 31.736),
        ("regnet_y_400mf", 0.402),
        ("regnet_y_800mf", 0.834),
        ("regnet_y_1_6gf", 1.612),
        ("regnet_y_3_2gf", 3.176),
        ("regnet_y_8gf", 8.473),
        ("regnet_y_16gf", 15.912),
        ("regnet_y_32gf", 32.28),
    ] {
        let info = kiln::lookup(name).unwrap();
        let model = build(name, 1000, 3, &device).unwrap().valid();
        let summary = summarize(&model, info.input, &device);
        let g = summary.total_macs as f64 / 1e9;
        assert!(
            (g - gmacs).abs() / gmacs < 0.02,
            "{name}: {g:.3} G vs torchvision {gmacs} G"
        );
        assert_eq!(summary.total_params, count_params(&model));
        assert_eq!(summary.output, [1000]);
    }
}

/// LeNet-5 by hand, field += (k - 1) · jump and jump *= stride: conv 5×5 → 5; pool 2/2 →
/// 5 + 1·1 = 6 (jump 2); conv 5×5 → 6 + 4·2 = 14; pool 2/2 → 14 + 1·2 = 16 (jump 4); the fully
/// connected layers see the whole input.
#[test]
fn lenet_receptive_fields_by_hand() {
    let device = super::common::device();
    let model = build("lenet5", 10, 1, &device).unwrap();
    let summary = summarize(&model, [1, 28, 28], &device);
    let rf: Vec<(String, Option<[usize; 2]>)> = summary
        .layers
        .iter()
        .map(|l| (l.path.clone(), l.receptive_field))
        .collect();
    let expected = [
        ("conv1", Some([5, 5])),
        ("pool", Some([6, 6])),
        ("conv2", Some([14, 14])),
        ("pool", Some([16, 16])),
        ("fc1", None),
        ("fc2", None),
        ("fc3", None),
    ];
    let got: Vec<(&str, Option<[usize; 2]>)> = rf.iter().map(|(p, r)| (p.as_str(), *r)).collect();
    assert_eq!(got, expected.to_vec());
}

struct Abs;

impl ModuleMapper for Abs {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.abs())
    }
}

/// The empirical receptive field of ResNet-18 (small-image stem): the input pixels whose
/// gradient is non-zero for one position of layer3's output equal the computed field. All
/// weights are made positive and the input constant, so no ReLU or BatchNorm hides a path.
#[test]
fn resnet18_receptive_field_computed_equals_measured() {
    let device = super::common::device().autodiff();
    let options = BuildOptions {
        image_size: Some([32, 32]),
        ..BuildOptions::new(10, 1)
    };
    let spec = ModelSpec::new("resnet18", &options).unwrap();
    let model = build_spec(&spec, &device).unwrap().map(&mut Abs).freeze();

    let summary = summarize(&model, [1, 64, 64], &device);
    let layer3 = summary
        .layers
        .iter()
        .rev()
        .find(|l| l.path.contains("layer3."))
        .unwrap();
    // By hand: stem 3 (+2); layer1 four 3×3 → 11; layer2 3×3/2 → 13 (jump 2), three more → 25;
    // layer3 3×3/2 → 29 (jump 4), three more → 53.
    assert_eq!(layer3.receptive_field, Some([53, 53]), "{}", layer3.path);

    let x = Tensor::<4>::ones([1, 1, 64, 64], &device).require_grad();
    let l3 = model.forward_features(x.clone()).swap_remove(3); // [1, 256, 16, 16]
    let out = l3.slice([0..1, 0..1, 8..9, 8..9]).sum();
    let grad = x.grad(&out.backward()).unwrap(); // [1, 1, 64, 64]
    let g: Vec<f32> = grad.into_data().try_to_vec().unwrap();
    let nonzero: Vec<(usize, usize)> = (0..64 * 64)
        .filter(|&i| g[i] != 0.0)
        .map(|i| (i / 64, i % 64))
        .collect();
    let rows = nonzero.iter().map(|p| p.0).max().unwrap() - nonzero.iter().map(|p| p.0).min().unwrap() + 1;
    let cols = nonzero.iter().map(|p| p.1).max().unwrap() - nonzero.iter().map(|p| p.1).min().unwrap() + 1;
    assert_eq!([rows, cols], [53, 53]);
}
