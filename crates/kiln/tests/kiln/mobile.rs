//! The mobile families beyond parity: fine-tuning from torchvision-format files, MNASNet's
//! version-1 stem, SqueezeNet's convolutional head.

use super::parity::{fixture_tensors, fixtures, formula, formula_input, load_fixture, write_safetensors};
use burn::tensor::{Tensor, TensorData};
use kiln::{ImageClassifier, weights};
use kiln_train::import::ImportOptions;

/// A folder of real photos in two classes (crops of the sample photos), for a few training steps.
fn photo_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let samples = super::common::root().join("datasets/samples");
    for (class, photo) in [("cat", "chelsea.png"), ("rocket", "rocket.jpg")] {
        let image = image::open(samples.join(photo)).unwrap().to_rgb8();
        std::fs::create_dir_all(dir.path().join(class)).unwrap();
        let (w, h) = (image.width(), image.height());
        for i in 0..5u32 {
            let crop = image::imageops::crop_imm(&image, i * w / 20, i * h / 20, w / 2, h / 2).to_image();
            crop.save(dir.path().join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    dir
}

/// MobileNet V3 large and EfficientNet-B0 fine-tune from a torchvision-format file with
/// ImageNet's 1000-class head (formula weights under torchvision's keys, as `state_dict()` saves
/// them): the trunk starts from the file, the head is new for the folder's two classes, and a
/// few optimiser steps run end to end (stochastic depth and dropout active).
#[test]
fn mobilenet_v3_large_and_efficientnet_b0_fine_tune_from_torchvision_files() {
    let photos = photo_folder();
    for (arch, stem_key) in [
        ("mobilenet_v3_large", "MobileNetV3.stem.conv.weight"),
        ("efficientnet_b0", "EfficientNet.stem.conv.weight"),
    ] {
        let f = load_fixture(arch);
        // The fixture's 10-class head becomes ImageNet's 1000 classes.
        let tensors: Vec<_> = f
            .keys
            .iter()
            .map(|(k, s)| {
                let mut s = s.clone();
                if k.starts_with("classifier.") && s[0] == f.num_classes {
                    s[0] = 1000;
                }
                (k.clone(), s.clone(), formula(k, &s, f.gain))
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{arch}-imagenet.safetensors"));
        write_safetensors(&file, &tensors);

        let run = tempfile::tempdir().unwrap();
        let config = kiln::tasks::TrainConfig {
            model: arch.into(),
            dataset: format!("folder:{},size=64", photos.path().display()),
            init_from: Some(file),
            val_split: Some(0.2),
            fit: kiln_train::FitConfig {
                epochs: 1,
                batch_size: 4,
                max_steps: Some(2),
                ..Default::default()
            },
            ..Default::default()
        };
        let report = kiln::tasks::train(&config, &[], run.path(), false).unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert!(report.test.accuracy.is_finite(), "{arch}");
        assert_eq!(report.test.total, 2, "{arch}: one of five per class held out");

        let device = super::common::device();
        let (model, _) = kiln::model_dir::load(run.path(), &device).unwrap();
        assert_eq!(model.num_classes(), 2, "{arch}: a new head");
        // Two small steps from the file's weights stay close to them; a fresh initialisation
        // would not.
        let stem = super::transfer_tensors(&model)[stem_key].clone();
        let key = &f.keys[0];
        assert!(key.0.ends_with("0.0.weight"), "{arch}: {}", key.0);
        let from_file = formula(&key.0, &key.1, f.gain);
        let max_diff = stem.iter().zip(&from_file).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        let scale = from_file.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            max_diff < 0.05 * scale,
            "{arch}: the stem moved by {max_diff} (weights up to {scale}): not initialised from the file"
        );
    }
}

/// A file with MNASNet 0.5's version-1 stem (32 → 16 channels, as torchvision's files before
/// 0.5.0): the import sees the stem's shape, builds the version-1 model (as torchvision patches
/// it in on load) and gives torchvision's logits; the spec records the stem.
#[test]
fn mnasnet_version_1_stem_is_patched_in_as_torchvision_does() {
    let text = std::fs::read_to_string(fixtures().join("mnasnet0_5-v1.json")).unwrap();
    let f: super::parity::Fixture = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mnasnet0.5-v1.safetensors");
    write_safetensors(&file, &fixture_tensors(&f));
    let device = super::common::device();
    let (model, spec, _) =
        weights::import_arch("mnasnet0_5", 3, None, &file, &ImportOptions::default(), &device).unwrap();
    assert_eq!(spec.config["stem_v1"], serde_json::Value::Bool(true));
    assert_eq!(model.num_classes(), f.num_classes);
    let x = Tensor::<4>::from_data(TensorData::new(formula_input(f.input), f.input), &device);
    let logits: Vec<f32> = model.forward_logits(x).into_data().try_to_vec().unwrap();
    let reference: Vec<f32> = f.logits.iter().flatten().copied().collect();
    let max_ref = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = logits
        .iter()
        .zip(&reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / max_ref;
    assert!(err < 1e-4, "relative error {err}");
    // The version-2 file of the same width still builds the version-2 stem.
    let f2 = load_fixture("mnasnet0_5");
    let file2 = dir.path().join("mnasnet0.5.safetensors");
    write_safetensors(&file2, &fixture_tensors(&f2));
    let (_, spec, _) = weights::import_arch("mnasnet0_5", 3, None, &file2, &ImportOptions::default(), &device).unwrap();
    assert_eq!(spec.config["stem_v1"], serde_json::Value::Bool(false));
}

/// SqueezeNet's classifier is a 1×1 convolution: a checkpoint's class count is read from its
/// first dimension (before, only a linear head's was found).
#[test]
fn squeezenet_class_count_comes_from_its_convolutional_head() {
    let f = load_fixture("squeezenet1_1");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("squeezenet.safetensors");
    write_safetensors(&file, &fixture_tensors(&f));
    let device = super::common::device();
    let (model, _, _) =
        weights::import_arch("squeezenet1_1", 3, None, &file, &ImportOptions::default(), &device).unwrap();
    assert_eq!(model.num_classes(), 10);
}
