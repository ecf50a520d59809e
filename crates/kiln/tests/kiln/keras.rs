//! Keras weight files, checked against Keras 3 (torch backend): the fixtures in
//! `tests/fixtures/keras` were made by `scripts/keras/make_fixtures.py` with Keras itself
//! (weights by a formula of (layer name, weight name, index), logits of a fixed input). Tiny files
//! of every format, written by Keras, check the readers; the architectures are checked from the
//! fixtures' layer lists (the weights regenerated in Keras's layouts and order, then matched by
//! order as a file's would be); full-size files in `target/keras/` (the script's `--full`) are
//! checked when present.

use super::keras_files::tiny;
use super::parity::{formula_input, key_hash, uniform};
use burn::{
    module::Module,
    tensor::{Tensor, TensorData},
};
use kiln::{BuildOptions, ImageClassifier, ModelSpec, weights};
use kiln_train::import::{
    ImportError, ImportOptions,
    keras::{self, KerasFile, KerasFormat, KerasImportOptions, KerasLayer, KerasWeight, apply_layers},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Relative tolerance: max |Δ| / max |reference|.
const TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras")
}

/// The script's Keras weight formula (HWIO kernels, fan-in over all but the last dimension).
fn keras_formula(key: &str, shape: &[usize], gain: f64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let seed = key_hash(key);
    let short = key.rsplit('/').next().unwrap_or(key);
    (0..n as u64)
        .map(|i| {
            let u = uniform(seed, i);
            let s = 2.0 * u - 1.0;
            let v = match short {
                "moving_variance" => 0.5 + 0.5 * u,
                "moving_mean" => 0.1 * s,
                _ if shape.len() >= 2 => s * gain * (3.0 / (n / shape[shape.len() - 1]) as f64).sqrt(),
                "gamma" => 0.5 + 0.5 * u,
                _ => 0.01 * s,
            };
            v as f32
        })
        .collect()
}

#[derive(Deserialize)]
struct ArchFixture {
    arch: String,
    num_classes: usize,
    gain: f64,
    input: [usize; 4],
    /// `[name, class, [[weight name, shape], ...]]` in `model.layers` order.
    layers: Vec<(String, String, Vec<(String, Vec<usize>)>)>,
    logits: Vec<Vec<f32>>,
}

fn arch_fixture(arch: &str) -> ArchFixture {
    let text = std::fs::read_to_string(fixtures().join(format!("{arch}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The fixture's layers with their formula weights, as a legacy `.h5` would hold them.
fn fixture_file(f: &ArchFixture, num_classes: usize) -> KerasFile {
    let layers = f
        .layers
        .iter()
        .map(|(name, _, weights)| KerasLayer {
            name: name.clone(),
            named: true,
            class: None,
            weights: weights
                .iter()
                .map(|(w, shape)| {
                    let mut shape = shape.clone();
                    if name == "predictions" {
                        let last = shape.len() - 1;
                        shape[last] = num_classes;
                    }
                    KerasWeight {
                        values: keras_formula(&format!("{name}/{w}"), &shape, f.gain),
                        name: w.clone(),
                        shape,
                    }
                })
                .collect(),
        })
        .collect();
    KerasFile {
        path: PathBuf::from(format!("{}.h5", f.arch)),
        format: KerasFormat::LegacyWeights,
        keras_version: Some("3.15.1".into()),
        backend: Some("torch".into()),
        layers,
    }
}

fn spec(arch: &str, num_classes: usize, size: [usize; 2]) -> ModelSpec {
    let options = BuildOptions {
        image_size: Some(size),
        ..BuildOptions::new(num_classes, 3)
    };
    ModelSpec::new(arch, &options).unwrap()
}

fn relative_error(logits: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(logits.len(), reference.len());
    let max_ref = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    logits
        .iter()
        .zip(reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / max_ref
}

fn keras_model(f: &ArchFixture, file: &KerasFile) -> Result<kiln::Model, ImportError> {
    let [_, _, h, w] = f.input;
    let spec = spec(&f.arch, f.num_classes, [h, w]);
    let layout = weights::keras_layout(&spec).unwrap().expect("a Keras application");
    let model = kiln::build_spec(&spec, &super::common::device()).unwrap();
    apply_layers(model, file, &layout, &KerasImportOptions::default()).map(|(m, _)| m)
}

const ARCHS: [&str; 6] = [
    "keras_vgg16",
    "keras_vgg19",
    "keras_resnet50",
    "keras_resnet101",
    "keras_resnet152",
    "keras_inception_v3",
];

/// Every Keras application gives Keras's logits, its weights matched by layer order (Inception
/// v3's in creation order, from its automatic names: the fixture lists them in `model.layers`
/// order, which interleaves its branches).
#[test]
fn every_keras_application_matches_keras() {
    let device = super::common::device();
    for arch in ARCHS {
        let f = arch_fixture(arch);
        let model = keras_model(&f, &fixture_file(&f, f.num_classes)).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let x = Tensor::<4>::from_data(TensorData::new(formula_input(f.input), f.input), &device);
        let logits: Vec<f32> = model.valid().forward_logits(x).into_data().try_to_vec().unwrap();
        let reference: Vec<f32> = f.logits.iter().flatten().copied().collect();
        let err = relative_error(&logits, &reference);
        println!("{arch}: relative error {err:.2e} against Keras");
        assert!(err < TOLERANCE, "{arch}: relative error {err}");
    }
}

/// A Keras file of another architecture, missing layers and other shapes: errors naming the
/// layers of both sides.
#[test]
fn keras_files_that_do_not_fit_are_refused_naming_both_sides() {
    // The tiny model into ResNet-50.
    let f = arch_fixture("keras_resnet50");
    let small = keras::read(&tiny().join("tiny_weights.h5")).unwrap();
    let msg = keras_model(&f, &small).unwrap_err().to_string();
    assert!(
        msg.contains("Conv2D")
            && msg.contains("conv2d_1")
            && msg.contains("conv1_conv")
            && msg.contains("another architecture"),
        "{msg}"
    );
    // A missing convolution.
    let mut missing = fixture_file(&f, 10);
    let gone = missing
        .layers
        .iter()
        .position(|l| l.name == "conv3_block2_2_conv")
        .unwrap();
    missing.layers.remove(gone);
    let msg = keras_model(&f, &missing).unwrap_err().to_string();
    assert!(msg.contains("52 Conv2D") && msg.contains("53"), "{msg}");
    // VGG-16's layers into VGG-19.
    let vgg16 = fixture_file(&arch_fixture("keras_vgg16"), 10);
    let msg = keras_model(&arch_fixture("keras_vgg19"), &vgg16)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("13 Conv2D") && msg.contains("16") && msg.contains("block5_conv4"),
        "{msg}"
    );
    // A kernel of another shape.
    let mut wrong = fixture_file(&f, 10);
    let layer = wrong
        .layers
        .iter_mut()
        .find(|l| l.name == "conv2_block1_2_conv")
        .unwrap();
    layer.weights[0].shape = vec![3, 3, 64, 32];
    layer.weights[0].values.truncate(3 * 3 * 64 * 32);
    layer.weights[1].shape = vec![32];
    layer.weights[1].values.truncate(32);
    let msg = keras_model(&f, &wrong).unwrap_err().to_string();
    assert!(
        msg.contains("conv2_block1_2_conv") && msg.contains("layer1.0.conv2") && msg.contains("[32, 64, 3, 3]"),
        "{msg}"
    );
    // A Keras file for torchvision's ResNet-50.
    let device = super::common::device();
    let torchvision = spec("resnet50", 1000, [224, 224]);
    let msg = weights::import(
        &torchvision,
        &tiny().join("tiny.h5"),
        &ImportOptions::default(),
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("Keras weight file") && msg.contains("keras_resnet50"),
        "{msg}"
    );
}

/// A `_notop` file (no Dense layers) loads as a backbone with a new classifier, and only so.
#[test]
fn notop_files_need_a_new_classifier() {
    let f = arch_fixture("keras_resnet50");
    let mut notop = fixture_file(&f, 10);
    notop.layers.retain(|l| l.name != "predictions");
    let msg = keras_model(&f, &notop).unwrap_err().to_string();
    assert!(msg.contains("_notop") && msg.contains("predictions"), "{msg}");
    let spec = spec(&f.arch, 7, [64, 64]);
    let layout = weights::keras_layout(&spec).unwrap().unwrap();
    let model = kiln::build_spec(&spec, &super::common::device()).unwrap();
    let (model, report) = apply_layers(model, &notop, &layout, &KerasImportOptions { new_head: true }).unwrap();
    assert_eq!(model.num_classes(), 7);
    assert_eq!(report.head_reinitialised, ["fc"]);
}

#[derive(Deserialize)]
struct PhotoCase {
    file: String,
    arch: String,
    size: [usize; 2],
    mode: String,
    sha256: String,
    channel_sums: Vec<f64>,
    first: Vec<f32>,
    logits: Vec<f32>,
}

#[derive(Deserialize)]
struct ResizeCase {
    file: String,
    width: usize,
    height: usize,
    sha256: String,
}

#[derive(Deserialize)]
struct PhotoFixtures {
    photos: Vec<PhotoCase>,
    resize_nearest: Vec<ResizeCase>,
}

fn photo_fixtures() -> PhotoFixtures {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("photos.json")).unwrap()).unwrap()
}

fn sample(name: &str) -> PathBuf {
    super::common::root().join("datasets/samples").join(name)
}

fn interleaved_sha(planar: &[u8], channels: usize) -> String {
    let plane = planar.len() / channels;
    let bytes: Vec<u8> = (0..plane)
        .flat_map(|i| (0..channels).map(move |c| planar[c * plane + i]))
        .collect();
    format!("{:x}", Sha256::digest(&bytes))
}

/// Kiln's nearest resize gives Pillow's `NEAREST` bytes (`keras.utils.load_img`'s), bit for bit.
#[test]
fn nearest_resize_is_bit_exact_with_pillow() {
    for case in photo_fixtures().resize_nearest {
        let image = image::open(sample(&case.file)).unwrap();
        let (w, h) = (image.width() as usize, image.height() as usize);
        let (nw, nh) = (case.width, case.height);
        let out = kiln_data::image::resample::resize_planar(
            &kiln_data::image::to_planar(&image, 3),
            3,
            w,
            h,
            nw,
            nh,
            kiln::core::Interpolation::Nearest,
        );
        assert_eq!(interleaved_sha(&out, 3), case.sha256, "{} to {nw}×{nh}", case.file);
    }
}

/// `predict` on real photos with Keras's preprocessing (the Keras applications' default: plain
/// nearest resize, `caffe` BGR means for VGG and ResNet, `tf` [-1, 1] for Inception) gives the
/// preprocessed input and the logits of `model.predict(preprocess_input(img_to_array(load_img(
/// photo, target_size))))`.
#[test]
fn keras_preprocessing_and_predict_on_real_photos_match_keras() {
    let device = super::common::device();
    for case in photo_fixtures().photos {
        let f = arch_fixture(&case.arch);
        let p = weights::imagenet_preprocessing(&case.arch).unwrap();
        assert_eq!([p.height, p.width], case.size, "{}", case.arch);
        assert_eq!(p.interpolation, kiln::core::Interpolation::Nearest);
        let photo = sample(&case.file);
        let item = kiln_data::load_image(&photo, &p).unwrap();
        assert_eq!(
            interleaved_sha(&item.pixels, 3),
            case.sha256,
            "{} {}: resized bytes",
            case.arch,
            case.file
        );
        let mut input = Vec::new();
        kiln_data::ClassificationBatcher::new(&p).normalise_into(&item, &mut input);
        let plane = case.size[0] * case.size[1];
        for c in 0..3 {
            let sum: f64 = input[c * plane..][..plane].iter().map(|&v| v as f64).sum();
            let scale = case.channel_sums[c].abs().max(plane as f64);
            assert!(
                (sum - case.channel_sums[c]).abs() < 1e-5 * scale,
                "{} {} ({}): channel {c} sums {sum} vs {}",
                case.arch,
                case.file,
                case.mode,
                case.channel_sums[c]
            );
        }
        // Keras's first values are NHWC: pixel (0, 0) channels 0..3, then pixel (0, 1), ...
        for (i, want) in case.first.iter().enumerate() {
            let got = input[(i % 3) * plane + i / 3];
            assert!(
                (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{}: value {i}: {got} vs {want}",
                case.file
            );
        }
        let [h, w] = case.size;
        let spec = spec(&case.arch, f.num_classes, [h, w]);
        let layout = weights::keras_layout(&spec).unwrap().unwrap();
        let model = kiln::build_spec(&spec, &device).unwrap();
        let (model, _) = apply_layers(model, &fixture_file(&f, f.num_classes), &layout, &Default::default()).unwrap();
        let classes: Vec<String> = (0..f.num_classes).map(|c| c.to_string()).collect();
        let predictions = kiln::tasks::predict_with(&model, &classes, &p, &[photo], 3, &device).unwrap();
        let err = relative_error(&predictions[0].logits, &case.logits);
        println!(
            "{} on {} ({}): relative logit error {err:.2e}",
            case.arch, case.file, case.mode
        );
        assert!(err < TOLERANCE, "{} {}: {err}", case.arch, case.file);
    }
}

#[derive(Deserialize)]
struct FullFixture {
    input: [usize; 4],
    logits: Vec<Vec<f32>>,
}

/// Full-size files written by Keras (`scripts/keras/make_fixtures.py --full`: 1,000 classes,
/// ~100–550 MB each, not committed) in every format, imported through the registry as `cargo
/// xtask import` and `predict --weights` do, give Keras's logits; skipped when absent.
#[test]
fn full_size_files_written_by_keras_match_keras() {
    let device = super::common::device();
    let big = super::common::root().join("target/keras");
    for arch in ARCHS {
        let Ok(text) = std::fs::read_to_string(big.join(format!("{arch}.json"))) else {
            println!(
                "skipping {arch}: no {} (run scripts/keras/make_fixtures.py --full)",
                big.join(format!("{arch}.json")).display()
            );
            continue;
        };
        let f: FullFixture = serde_json::from_str(&text).unwrap();
        for suffix in [".h5", ".weights.h5", ".keras", "_weights_only.h5"] {
            let file = big.join(format!("{arch}{suffix}"));
            if !file.is_file() {
                println!("skipping {}: absent", file.display());
                continue;
            }
            let (model, spec, report) = weights::import_arch(arch, 3, None, &file, &ImportOptions::default(), &device)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(model.num_classes(), 1000, "{}", file.display());
            assert_eq!(spec.arch, arch);
            let x = Tensor::<4>::from_data(TensorData::new(formula_input(f.input), f.input), &device);
            let logits: Vec<f32> = model.valid().forward_logits(x).into_data().try_to_vec().unwrap();
            let err = relative_error(&logits, &f.logits[0]);
            println!(
                "{} ({}): relative error {err:.2e}",
                file.display(),
                report.format.unwrap_or_default()
            );
            assert!(err < TOLERANCE, "{}: {err}", file.display());
        }
    }
    let notop = big.join("keras_resnet50_notop_weights_only.h5");
    if notop.is_file() {
        let (model, _, report) = weights::import_arch(
            "keras_resnet50",
            3,
            Some(5),
            &notop,
            &ImportOptions {
                new_head: true,
                ..Default::default()
            },
            &device,
        )
        .unwrap();
        assert_eq!(model.num_classes(), 5);
        assert_eq!(report.head_reinitialised, ["fc"]);
    }
}

/// A file carrying a Keras published name (`resnet50_weights_tf_dim_ordering_tf_kernels.h5`) is
/// found in the weights table: its md5 is checked, and its architecture, ImageNet classes and
/// Keras preprocessing configure `predict --weights FILE` with no other flag. With the full-size
/// file Keras wrote (`--full`), the whole path runs on a photo.
#[test]
fn keras_published_names_configure_predict() {
    let dir = tempfile::tempdir().unwrap();
    let published = dir.path().join("resnet50_weights_tf_dim_ordering_tf_kernels.h5");
    std::fs::copy(tiny().join("tiny_weights.h5"), &published).unwrap();
    let file = weights::resolve_weights(&published).unwrap();
    let entry = file.entry.expect("a published name");
    assert_eq!(
        (entry.name.as_str(), entry.arch.as_str()),
        ("keras.applications.ResNet50", "keras_resnet50")
    );
    let warning = file.warning().unwrap();
    assert!(
        warning.contains("md5 is") && warning.contains(entry.md5.as_deref().unwrap()),
        "{warning}"
    );
    assert_eq!(entry.preprocessing(), kiln::Preprocessing::keras("caffe", 224).unwrap());
    let notop = kiln::weights::weights_for("keras_inception_v3")
        .find(|e| e.num_classes.is_none())
        .unwrap();
    assert_eq!(notop.file, "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5");
    assert_eq!(notop.preprocessing().pixel_divisor, 127.5);

    let full = super::common::root().join("target/keras/keras_resnet50_weights_only.h5");
    if !full.is_file() {
        println!(
            "skipping predict with a full-size Keras file: {} absent",
            full.display()
        );
        return;
    }
    std::fs::copy(&full, &published).unwrap();
    let device = super::common::device();
    let p = weights::load_pretrained(
        &weights::resolve_weights(&published).unwrap(),
        &Default::default(),
        &device,
    )
    .unwrap();
    assert_eq!(p.spec.arch, "keras_resnet50");
    assert_eq!(p.classes[285], "Egyptian cat");
    assert_eq!(p.preprocessing, kiln::Preprocessing::keras("caffe", 224).unwrap());
    let predictions = kiln::tasks::predict_with(
        &p.model,
        &p.classes,
        &p.preprocessing,
        &[sample("chelsea.png")],
        5,
        &device,
    )
    .unwrap();
    assert_eq!(predictions[0].logits.len(), 1000);
}

/// Fine-tuning from Keras's weights keeps Keras's preprocessing for the new data set (BGR on
/// 0–255 for `caffe`): from a model directory imported from a Keras file, and (with the
/// full-size `_notop` file Keras wrote, when present) from the file itself with a new head.
#[test]
fn fine_tuning_from_keras_weights_keeps_keras_preprocessing() {
    let device = super::common::device();
    let f = arch_fixture("keras_resnet50");
    let model = keras_model(&f, &fixture_file(&f, f.num_classes)).unwrap();
    let imported = tempfile::tempdir().unwrap();
    let caffe = weights::imagenet_preprocessing("keras_resnet50").unwrap();
    let card = kiln::model_dir::ModelCard {
        model: spec("keras_resnet50", f.num_classes, [64, 64]),
        classes: (0..f.num_classes).map(|c| c.to_string()).collect(),
        dataset: "keras".into(),
        preprocessing: caffe.clone(),
        kiln_version: "test".into(),
    };
    kiln::model_dir::save(imported.path(), model, &card).unwrap();
    let photos = super::folders::photo_folder(4);
    let notop = super::common::root().join("target/keras/keras_resnet50_notop_weights_only.h5");
    let mut sources = vec![imported.path().to_path_buf()];
    if notop.is_file() {
        sources.push(notop);
    } else {
        println!("fine-tuning from the _notop file skipped: {} absent", notop.display());
    }
    for source in sources {
        let run = tempfile::tempdir().unwrap();
        let config = kiln::tasks::TrainConfig {
            model: "keras_resnet50".into(),
            dataset: format!("folder:{},size=64", photos.path().display()),
            init_from: Some(source.clone()),
            val_split: Some(0.25),
            fit: kiln_train::FitConfig {
                epochs: 1,
                batch_size: 4,
                max_steps: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        let report =
            kiln::tasks::train(&config, &[], run.path(), false).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(report.test.accuracy.is_finite());
        let (model, card) = kiln::model_dir::load(run.path(), &device).unwrap();
        assert_eq!(
            model.num_classes(),
            3,
            "{}: a new head for the folder's classes",
            source.display()
        );
        let p = &card.preprocessing;
        assert_eq!(
            (p.channel_order, p.pixel_divisor, &p.mean),
            (caffe.channel_order, caffe.pixel_divisor, &caffe.mean),
            "{}: Keras's caffe preprocessing kept",
            source.display()
        );
    }
}

/// Keras 2's ResNet-50 file names its layers `conv1`, `bn_conv1`, `res2a_branch2a`, …,
/// `fc1000` and lists each block's shortcut after its last convolution (Keras 3: before): matched
/// by name, it gives Keras's logits all the same.
#[test]
fn keras2_resnet50_names_and_order_match_by_name() {
    let f = arch_fixture("keras_resnet50");
    let mut file = fixture_file(&f, f.num_classes);
    // conv{s}_block{b}_{k}_{conv|bn} → res/bn{s}{letter}_branch{1|2a|2b|2c}.
    let old = |name: &str| -> String {
        match name {
            "conv1_conv" => return "conv1".into(),
            "conv1_bn" => return "bn_conv1".into(),
            "predictions" => return "fc1000".into(),
            _ => {}
        }
        let parts: Vec<&str> = name.split('_').collect();
        let stage = &parts[0][4..];
        let block: u8 = parts[1][5..].parse().unwrap();
        let branch = ["1", "2a", "2b", "2c"][parts[2].parse::<usize>().unwrap()];
        let prefix = if parts[3] == "conv" { "res" } else { "bn" };
        format!("{prefix}{stage}{}_branch{branch}", (b'a' + block - 1) as char)
    };
    for l in &mut file.layers {
        l.name = old(&l.name);
    }
    // Keras 2's order: the shortcut's convolution and BatchNorm after branch 2c's.
    let mut reordered = Vec::new();
    let mut held = Vec::new();
    for l in file.layers.drain(..) {
        if l.name.ends_with("_branch1") {
            held.push(l);
        } else {
            let ends_block = l.name.starts_with("bn") && l.name.ends_with("_branch2c");
            reordered.push(l);
            if ends_block {
                reordered.append(&mut held);
            }
        }
    }
    assert!(held.is_empty());
    file.layers = reordered;
    assert_eq!(file.layers[2].name, "res2a_branch2a");
    let model = keras_model(&f, &file).unwrap_or_else(|e| panic!("{e}"));
    let device = super::common::device();
    let x = Tensor::<4>::from_data(TensorData::new(formula_input(f.input), f.input), &device);
    let logits: Vec<f32> = model.valid().forward_logits(x).into_data().try_to_vec().unwrap();
    let reference: Vec<f32> = f.logits.iter().flatten().copied().collect();
    let err = relative_error(&logits, &reference);
    assert!(err < TOLERANCE, "relative error {err}");
}
