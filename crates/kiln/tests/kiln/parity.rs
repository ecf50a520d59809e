//! Weight import, checked against torchvision: the fixtures in `tests/fixtures/parity` were made
//! by `scripts/parity/make_fixtures.py` with torchvision (weights by a formula of (key, index),
//! logits of a fixed input). Here the same weights are regenerated from torchvision's key list,
//! written in torchvision's layout, imported, and the logits compared.

use burn::{
    data::dataloader::batcher::Batcher,
    module::Module,
    tensor::{Tensor, TensorData},
};
use kiln::{BuildOptions, ImageClassifier, ModelSpec, weights};
use kiln_train::import::ImportOptions;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Relative tolerance: max |Δ| / max |reference|.
const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
pub(crate) struct Fixture {
    pub(crate) arch: String,
    pub(crate) num_classes: usize,
    pub(crate) gain: f64,
    pub(crate) input: [usize; 4],
    pub(crate) keys: Vec<(String, Vec<usize>)>,
    pub(crate) logits: Vec<Vec<f32>>,
}

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

pub(crate) fn load_fixture(arch: &str) -> Fixture {
    let text = std::fs::read_to_string(fixtures().join(format!("{arch}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// FNV-1a, 64 bits (as the script).
pub(crate) fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
    })
}

/// splitmix64 of `seed + i`, as a float in [0, 1) (as the script, bit for bit).
pub(crate) fn uniform(seed: u64, i: u64) -> f64 {
    let mut z = i.wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The script's weight formula.
pub(crate) fn formula(key: &str, shape: &[usize], gain: f64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let seed = key_hash(key);
    (0..n as u64)
        .map(|i| {
            let u = uniform(seed, i);
            let s = 2.0 * u - 1.0;
            let v = if key.ends_with("running_var") {
                0.5 + 0.5 * u
            } else if key.ends_with("running_mean") {
                0.1 * s
            } else if shape.len() >= 2 {
                s * gain * (3.0 / (n / shape[0]) as f64).sqrt()
            } else if key.ends_with("weight") {
                0.5 + 0.5 * u
            } else {
                0.01 * s
            };
            v as f32
        })
        .collect()
}

pub(crate) fn formula_input(shape: [usize; 4]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n).map(|i| (i as f64 * 0.37 + 0.5).sin() as f32).collect()
}

/// Writes tensors as a safetensors file (8-byte header length, JSON header, little-endian data).
pub(crate) fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        let end = offset + 4 * data.len();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::to_string(&header).unwrap();
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    for (_, _, data) in tensors {
        for v in data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

pub(crate) fn fixture_tensors(f: &Fixture) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    f.keys
        .iter()
        .map(|(k, s)| (k.clone(), s.clone(), formula(k, s, f.gain)))
        .collect()
}

pub(crate) fn spec(f: &Fixture, num_classes: usize) -> ModelSpec {
    let [_, c, h, w] = f.input;
    let options = BuildOptions {
        image_size: Some([h.max(64), w.max(64)]),
        ..BuildOptions::new(num_classes, c)
    };
    ModelSpec::new(&f.arch, &options).unwrap()
}

/// Imports `file` for the fixture's architecture and returns the relative error of its logits.
fn relative_error(f: &Fixture, file: &Path, options: &ImportOptions) -> f32 {
    let device = super::common::device();
    let (model, report) =
        weights::import(&spec(f, f.num_classes), file, options, &device).unwrap_or_else(|e| panic!("{}: {e}", f.arch));
    assert!(report.unused.is_empty(), "{}: unused keys {:?}", f.arch, report.unused);
    let x = Tensor::<4>::from_data(TensorData::new(formula_input(f.input), f.input), &device);
    let logits: Vec<f32> = model.valid().forward_logits(x).into_data().try_to_vec().unwrap();
    let reference: Vec<f32> = f.logits.iter().flatten().copied().collect();
    assert_eq!(logits.len(), reference.len(), "{}", f.arch);
    let max_ref = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let max_diff = logits
        .iter()
        .zip(&reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    max_diff / max_ref
}

/// Builders whose parity CI leaves to `KILN_PARITY_ALL=1` (their formula weights take a while
/// to generate and run): of each family added after the first five, CI checks the smallest.
const ONLY_WITH_ALL: &[&str] = &[
    "mobilenet_v3_large",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_v2_m",
    "efficientnet_v2_l",
    "mnasnet0_75",
    "mnasnet1_0",
    "mnasnet1_3",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet101_2",
    "densenet161",
    "densenet169",
    "densenet201",
    "convnext_small",
    "convnext_base",
    "convnext_large",
    "regnet_x_800mf",
    "regnet_x_1_6gf",
    "regnet_x_3_2gf",
    "regnet_x_8gf",
    "regnet_x_16gf",
    "regnet_x_32gf",
    "regnet_y_800mf",
    "regnet_y_1_6gf",
    "regnet_y_3_2gf",
    "regnet_y_8gf",
    "regnet_y_16gf",
    "regnet_y_32gf",
];

pub(crate) fn checked_in_this_run(info: &kiln::ModelInfo) -> bool {
    !ONLY_WITH_ALL.contains(&info.name) || std::env::var_os("KILN_PARITY_ALL").is_some_and(|v| v == "1")
}

/// Every registered architecture, imported from torchvision's layout as safetensors, gives
/// torchvision's logits (some only with `KILN_PARITY_ALL=1`: [`ONLY_WITH_ALL`]).
#[test]
fn every_architecture_matches_torchvision_from_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    // Keras's applications are checked against Keras (`keras.rs`).
    for info in kiln::list_models().iter().filter(|i| !i.keras) {
        if !checked_in_this_run(info) {
            println!(
                "{}: skipped (set KILN_PARITY_ALL=1 to check every mobile builder)",
                info.name
            );
            continue;
        }
        let f = load_fixture(info.name);
        let file = dir.path().join(format!("{}.safetensors", info.name));
        write_safetensors(&file, &fixture_tensors(&f));
        let err = relative_error(&f, &file, &ImportOptions::default());
        println!("{}: safetensors relative error {err:.2e}", info.name);
        assert!(err < TOLERANCE, "{}: relative error {err}", info.name);
        std::fs::remove_file(&file).unwrap();
    }
}

/// Files written by PyTorch itself (`torch.save`, `safetensors.torch.save_file`): LeNet-5's are
/// committed and always checked; every other architecture's when `scripts/parity/make_fixtures.py
/// --all-pth` has left them in `target/parity/`.
#[test]
fn files_written_by_pytorch_match_torchvision() {
    let f = load_fixture("lenet5");
    for ext in ["pth", "safetensors"] {
        let err = relative_error(&f, &fixtures().join(format!("lenet5.{ext}")), &ImportOptions::default());
        println!("lenet5.{ext}: relative error {err:.2e}");
        assert!(err < TOLERANCE, "lenet5.{ext}: {err}");
    }
    let big = super::common::root().join("target/parity");
    for info in kiln::list_models().iter().filter(|i| i.name != "lenet5" && !i.keras) {
        for ext in ["pth", "safetensors"] {
            let file = big.join(format!("{}.{ext}", info.name));
            if !file.is_file() {
                println!(
                    "skipping {}.{ext} parity: {} absent (run scripts/parity/make_fixtures.py --all-pth)",
                    info.name,
                    file.display()
                );
                continue;
            }
            let err = relative_error(&load_fixture(info.name), &file, &ImportOptions::default());
            println!("{}.{ext} (written by PyTorch): relative error {err:.2e}", info.name);
            assert!(err < TOLERANCE, "{}.{ext}: {err}", info.name);
        }
    }
}

/// Checkpoints wrapped as real training code saves them.
#[test]
fn wrapped_checkpoints_load() {
    let f = load_fixture("lenet5");
    // Under a top-level key, named explicitly.
    let options = ImportOptions {
        top_level_key: Some("state_dict".into()),
        ..ImportOptions::default()
    };
    assert!(relative_error(&f, &fixtures().join("lenet5-wrapped.pth"), &options) < TOLERANCE);
    // DataParallel's `module.` and Lightning's `model.` prefixes are recognised; a prefix can
    // also be named.
    assert!(
        relative_error(
            &f,
            &fixtures().join("lenet5-dataparallel.pth"),
            &ImportOptions::default()
        ) < TOLERANCE
    );
    let named = ImportOptions {
        key_prefix: Some("model.".into()),
        ..ImportOptions::default()
    };
    assert!(relative_error(&f, &fixtures().join("lenet5-lightning.pth"), &named) < TOLERANCE);
}

fn import_err(arch: &str, classes: usize, file: &Path, options: &ImportOptions) -> String {
    let f = load_fixture(arch);
    let device = super::common::device();
    match weights::import(&spec(&f, classes), file, options, &device) {
        Ok(_) => panic!("importing {} into {arch} should fail", file.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn import_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let lenet = fixtures().join("lenet5.pth");
    let bytes = std::fs::read(&lenet).unwrap();

    // Truncated.
    let cut = dir.path().join("cut.pth");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let msg = import_err("lenet5", 10, &cut, &ImportOptions::default());
    assert!(
        msg.contains("cut.pth") && msg.contains("not a readable PyTorch"),
        "{msg}"
    );

    // Not a weight file at all.
    let text = dir.path().join("notes.pth");
    std::fs::write(&text, b"these are not weights").unwrap();
    let msg = import_err("lenet5", 10, &text, &ImportOptions::default());
    assert!(msg.contains("unknown file signature"), "{msg}");

    // Missing file.
    let msg = import_err("lenet5", 10, &dir.path().join("absent.pth"), &ImportOptions::default());
    assert!(msg.contains("absent.pth") && msg.contains("no such file"), "{msg}");

    // Another architecture's checkpoint: nothing matches, and the error shows both sides' keys.
    let msg = import_err("resnet18", 10, &lenet, &ImportOptions::default());
    assert!(
        msg.contains("no tensor of") && msg.contains("conv1.weight") && msg.contains("--key-prefix"),
        "{msg}"
    );

    // A shape mismatch names the key and both shapes.
    let msg = import_err("lenet5", 5, &lenet, &ImportOptions::default());
    assert!(
        msg.contains("fc3.weight") && msg.contains("[84, 5]") && msg.contains("[84, 10]"),
        "{msg}"
    );

    // An unknown prefix: nothing matches, the keys found are shown.
    let f = load_fixture("lenet5");
    let prefixed: Vec<_> = fixture_tensors(&f)
        .into_iter()
        .map(|(k, s, d)| (format!("net.{k}"), s, d))
        .collect();
    let file = dir.path().join("prefixed.safetensors");
    write_safetensors(&file, &prefixed);
    let msg = import_err("lenet5", 10, &file, &ImportOptions::default());
    assert!(msg.contains("net.conv1"), "{msg}");
    let options = ImportOptions {
        key_prefix: Some("net.".into()),
        ..ImportOptions::default()
    };
    assert!(relative_error(&f, &file, &options) < TOLERANCE);

    // Missing tensors are listed.
    let partial: Vec<_> = fixture_tensors(&f)
        .into_iter()
        .filter(|(k, _, _)| !k.starts_with("fc2"))
        .collect();
    let file = dir.path().join("partial.safetensors");
    write_safetensors(&file, &partial);
    let msg = import_err("lenet5", 10, &file, &ImportOptions::default());
    assert!(
        msg.contains("lacks 2 tensor(s)") && msg.contains("fc2.weight") && msg.contains("fc2.bias"),
        "{msg}"
    );
}

/// Unused keys are a warning; a new class count keeps the backbone and re-initialises the head.
#[test]
fn unused_keys_warn_and_new_heads_start_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let f = load_fixture("lenet5");
    let mut tensors = fixture_tensors(&f);
    tensors.push(("extra.scale".into(), vec![3], vec![1.0, 2.0, 3.0]));
    let file = dir.path().join("extra.safetensors");
    write_safetensors(&file, &tensors);
    let device = super::common::device();
    let (_, report) = weights::import(&spec(&f, 10), &file, &ImportOptions::default(), &device).unwrap();
    assert_eq!(report.unused, ["extra.scale"]);

    let options = ImportOptions {
        new_head: true,
        ..ImportOptions::default()
    };
    let (model, report) = weights::import(&spec(&f, 4), &fixtures().join("lenet5.pth"), &options, &device).unwrap();
    assert_eq!(model.num_classes(), 4);
    let mut head = report.head_reinitialised.clone();
    head.sort();
    assert_eq!(head.len(), 2, "{head:?}");
    assert!(head.iter().all(|k| k.contains("fc3")), "{head:?}");
    assert_eq!(report.applied, 8);
}

/// A pickle whose `__reduce__` would run `os.system` is refused, and nothing runs.
#[test]
fn malicious_pickle_is_refused_without_running() {
    let marker = Path::new("/tmp/kiln-pickle-exploit-ran");
    let _ = std::fs::remove_file(marker);
    let msg = import_err(
        "lenet5",
        10,
        &fixtures().join("malicious.pth"),
        &ImportOptions::default(),
    );
    assert!(
        msg.contains("malicious.pth") && msg.contains("refused, nothing was executed"),
        "{msg}"
    );
    assert!(!marker.exists(), "the pickle's payload ran");
}

#[derive(Deserialize)]
struct PhotoFixture {
    image: String,
    input_sum: f32,
    logits: Vec<Vec<f32>>,
}

/// A real photo through torchvision's preprocessing (Resize(256), CenterCrop(224), ToTensor,
/// Normalize) and through Kiln's; ResNet-18 with the same weights on both.
#[test]
fn real_photo_preprocessing_and_logits_match_torchvision() {
    let photo: PhotoFixture =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("resnet18-chelsea.json")).unwrap()).unwrap();
    let f = load_fixture("resnet18");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("resnet18.safetensors");
    write_safetensors(&file, &fixture_tensors(&f));

    let device = super::common::device();
    let preprocessing = weights::imagenet_preprocessing("resnet18").unwrap();
    let image = super::common::root().join(&photo.image);
    let item = kiln_data::load_image(&image, &preprocessing).unwrap();
    let batch = kiln_data::ClassificationBatcher::new(&preprocessing).batch(vec![item], &device);
    let input_sum = batch.images.sum().into_scalar::<f32>();
    println!("input sum: kiln {input_sum}, torchvision {}", photo.input_sum);
    assert!((input_sum - photo.input_sum).abs() / photo.input_sum.abs() < 1e-5);

    // The path of `cargo xtask predict --arch resnet18 --weights FILE --logits-json OUT`.
    let (model, _, _) = weights::import_arch("resnet18", 3, None, &file, &ImportOptions::default(), &device).unwrap();
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let predictions = kiln::tasks::predict_with(&model, &classes, &preprocessing, &[image], 3, &device).unwrap();
    let logits = &predictions[0].logits;
    let reference = &photo.logits[0];
    let max_ref = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = logits
        .iter()
        .zip(reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / max_ref;
    println!("resnet18 on chelsea.png: relative logit error {err:.2e}");
    assert!(err < PHOTO_TOLERANCE, "relative error {err}");
}

/// The photo comparison includes resizing, which Kiln does as Pillow does, bit for bit (before,
/// with the `image` crate's triangle filter, the logits differed by 1.3e-3).
const PHOTO_TOLERANCE: f32 = 1e-5;

/// torchvision's published DenseNet files use the legacy keys `denselayerN.norm.1.weight`,
/// `conv.2.weight`, … (its `_load_state_dict` rewrites them); Kiln's key rules rewrite them too,
/// before burn-store's index mapping could read `.1.` as an index: the same logits.
#[test]
fn densenet_from_a_file_with_legacy_keys_matches_torchvision() {
    let f = load_fixture("densenet121");
    let legacy =
        regex::Regex::new(r"^(.*denselayer\d+\.(?:norm|relu|conv))([12])\.(weight|bias|running_mean|running_var)$")
            .unwrap();
    let tensors: Vec<_> = fixture_tensors(&f)
        .into_iter()
        .map(|(k, s, d)| (legacy.replace(&k, "$1.$2.$3").to_string(), s, d))
        .collect();
    assert!(
        tensors
            .iter()
            .any(|(k, _, _)| k == "features.denseblock1.denselayer1.norm.1.weight")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("densenet121-a639ec97.safetensors");
    write_safetensors(&file, &tensors);
    let err = relative_error(&f, &file, &ImportOptions::default());
    println!("densenet121 (legacy keys): relative error {err:.2e}");
    assert!(err < TOLERANCE, "relative error {err}");
}
