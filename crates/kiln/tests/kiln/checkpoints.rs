//! Checkpoints as users find them (issue: any dtype, any wrapping): files written by PyTorch in
//! `tests/fixtures/checkpoints` by `scripts/parity/make_checkpoint_fixtures.py`, imported, and
//! their logits compared with the ones PyTorch computed.

use super::parity::{formula_input, load_fixture, spec, write_safetensors};
use burn::{
    module::Module,
    tensor::{Tensor, TensorData},
};
use kiln::{ImageClassifier, weights};
use kiln_train::import::{ImportOptions, ImportReport};
use serde::Deserialize;
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

#[derive(Deserialize)]
struct Reference {
    input: [usize; 4],
    logits: HashMap<String, Vec<Vec<f32>>>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoints")
}

fn reference() -> Reference {
    serde_json::from_str(&std::fs::read_to_string(dir().join("checkpoints.json")).unwrap()).unwrap()
}

/// Imports `file` into a 10-class LeNet-5 and returns the report and the relative error of its
/// logits against the reference logits `which`.
fn import_lenet(file: &Path, options: &ImportOptions, which: &str) -> (ImportReport, f32) {
    let r = reference();
    let device = super::common::device();
    let (model, report) = weights::import(&spec(&load_fixture("lenet5"), 10), file, options, &device)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let x = Tensor::<4>::from_data(TensorData::new(formula_input(r.input), r.input), &device);
    let logits: Vec<f32> = model.valid().forward_logits(x).into_data().try_to_vec().unwrap();
    (report, relative_error(&logits, &r.logits[which]))
}

/// The error importing `file` into a 10-class LeNet-5.
fn import_error(file: &Path, options: &ImportOptions) -> String {
    let device = super::common::device();
    match weights::import(&spec(&load_fixture("lenet5"), 10), file, options, &device) {
        Ok(_) => panic!("importing {} should fail", file.display()),
        Err(e) => e.to_string(),
    }
}

fn relative_error(logits: &[f32], reference: &[Vec<f32>]) -> f32 {
    let reference: Vec<f32> = reference.iter().flatten().copied().collect();
    assert_eq!(logits.len(), reference.len());
    let max_ref = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    logits
        .iter()
        .zip(&reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / max_ref
}

/// f16, bf16 and f64 tensors, in `.pth` and `.safetensors`, are converted to the model's f32 at
/// import (and reported), give PyTorch's logits for those weights, survive a save and reload as
/// a model directory, and predict on a real image. Before, the import succeeded and every
/// forward pass then panicked inside the backend ("dtype mismatch").
#[test]
fn half_and_double_precision_checkpoints_are_converted() {
    let device = super::common::device();
    let image = super::common::root().join("datasets/samples/mnist-test-0-label-7.png");
    for dtype in ["f16", "bf16", "f64"] {
        for ext in ["pth", "safetensors"] {
            let file = dir().join(format!("lenet5-{dtype}.{ext}"));
            let (report, err) = import_lenet(&file, &ImportOptions::default(), dtype);
            println!("lenet5-{dtype}.{ext}: relative error {err:.2e}; {:?}", report.lines());
            assert!(err < 1e-5, "lenet5-{dtype}.{ext}: {err}");
            assert_eq!(report.converted, [(dtype.to_uppercase(), 10)], "{dtype}.{ext}");
            assert!(report.lines()[0].contains(&format!("converted 10 tensors from {}", dtype.to_uppercase())));

            // The `import` command's path: a model directory, then `predict` on it.
            let (model, spec, _) =
                weights::import_arch("lenet5", 1, None, &file, &ImportOptions::default(), &device).unwrap();
            let out = tempfile::tempdir().unwrap();
            let card = kiln::model_dir::ModelCard {
                model: spec,
                classes: (0..10).map(|c| c.to_string()).collect(),
                dataset: "test".into(),
                preprocessing: kiln::Preprocessing::mnist(),
                kiln_version: "test".into(),
            };
            kiln::model_dir::save(out.path(), model, &card).unwrap();
            let from_dir = kiln::tasks::predict(out.path(), std::slice::from_ref(&image), 3, "flex").unwrap();

            // `predict --arch lenet5 --weights FILE`: the same logits.
            let options = weights::PretrainedOptions {
                arch: Some("lenet5".into()),
                ..Default::default()
            };
            let p = weights::load_pretrained(&weights::resolve_weights(&file).unwrap(), &options, &device).unwrap();
            let direct = kiln::tasks::predict_with(
                &p.model,
                &p.classes,
                &kiln::Preprocessing::mnist(),
                std::slice::from_ref(&image),
                3,
                &device,
            )
            .unwrap();
            assert!(from_dir[0].logits.iter().all(|v| v.is_finite()));
            assert_eq!(from_dir[0].logits, direct[0].logits, "{dtype}.{ext}");
        }
    }
}

/// `--init-from` a checkpoint of each float type trains, and says what it converted.
#[test]
fn init_from_half_and_double_precision_checkpoints_trains() {
    for dtype in ["f16", "bf16", "f64"] {
        for ext in ["pth", "safetensors"] {
            let run = tempfile::tempdir().unwrap();
            let config = kiln::tasks::TrainConfig {
                model: "lenet5".into(),
                dataset: "mnist".into(),
                init_from: Some(dir().join(format!("lenet5-{dtype}.{ext}"))),
                fit: kiln_train::FitConfig {
                    epochs: 1,
                    max_steps: Some(2),
                    train_limit: Some(128),
                    valid_size: 128,
                    ..Default::default()
                },
                ..Default::default()
            };
            let report = kiln::tasks::train(&config, &super::common::data_roots(), run.path(), false).unwrap();
            let note = format!("converted 10 tensors from {}", dtype.to_uppercase());
            assert!(report.notes.contains(&note), "{dtype}.{ext}: {:?}", report.notes);
            assert!(report.test.accuracy.is_finite());
        }
    }
}

/// `--key-prefix backbone.` loads the sub-module: the keys under the prefix, prefix removed;
/// another module's `conv1.weight` beside it (another shape) is left out and reported. Before,
/// the keys without the prefix were kept and collided ("shape mismatch on conv1.weight").
#[test]
fn a_key_prefix_selects_the_sub_module() {
    let options = ImportOptions {
        key_prefix: Some("backbone.".into()),
        ..ImportOptions::default()
    };
    for ext in ["pth", "safetensors"] {
        let (report, err) = import_lenet(&dir().join(format!("lenet5-backbone.{ext}")), &options, "f32");
        assert!(err < 1e-6, "{ext}: {err}");
        let mut outside = report.outside_prefix.clone();
        outside.sort();
        assert_eq!(outside, ["conv1.bias", "conv1.weight", "head.fc.weight"], "{ext}");
        assert!(report.unused.is_empty(), "{:?}", report.unused);
        assert!(
            report
                .lines()
                .iter()
                .any(|l| l.starts_with("3 tensors outside `backbone.` were not loaded")),
            "{:?}",
            report.lines()
        );
    }
    // A prefix that starts no key is an error that shows the keys.
    let options = ImportOptions {
        key_prefix: Some("encoder.".into()),
        ..ImportOptions::default()
    };
    let err = import_error(&dir().join("lenet5-backbone.pth"), &options);
    assert!(
        err.contains("no key starts with `encoder.`") && err.contains("backbone."),
        "{err}"
    );
}

/// What torchvision's reference scripts and timm save loads without options: the wrapper is
/// found, the optimizer state and other modules are left out, non-tensor entries
/// (`argparse.Namespace`, numbers) are skipped and listed; timm's EMA weights load with
/// `--top-level-key state_dict_ema`; nested wrappers are peeled.
#[test]
fn checkpoints_saved_by_training_code_load() {
    let none = ImportOptions::default();
    let (report, err) = import_lenet(&dir().join("lenet5-torchvision-reference.pth"), &none, "f32");
    assert!(err < 1e-6, "{err}");
    assert_eq!(report.stripped_prefix.as_deref(), Some("model."));
    assert!(
        report.outside_prefix.iter().all(|k| k.starts_with("optimizer.state.")),
        "{:?}",
        report.outside_prefix
    );
    for entry in [
        "args (argparse.Namespace)",
        "epoch (int)",
        "lr_scheduler (dict)",
        "optimizer.param_groups (list)",
    ] {
        assert!(
            report.skipped.iter().any(|s| s == entry),
            "{entry} not in {:?}",
            report.skipped
        );
    }

    let (report, err) = import_lenet(&dir().join("lenet5-timm.pth"), &none, "f32");
    assert!(err < 1e-6, "timm state_dict: {err}");
    assert_eq!(report.stripped_prefix.as_deref(), Some("state_dict."));
    assert!(
        report
            .lines()
            .iter()
            .any(|l| l.contains("--top-level-key state_dict_ema")),
        "{:?}",
        report.lines()
    );
    let ema = ImportOptions {
        top_level_key: Some("state_dict_ema".into()),
        ..ImportOptions::default()
    };
    let (_, err) = import_lenet(&dir().join("lenet5-timm.pth"), &ema, "ema");
    assert!(err < 1e-6, "timm EMA: {err}");

    let (report, err) = import_lenet(&dir().join("lenet5-nested.pth"), &none, "f32");
    assert!(err < 1e-6, "nested: {err}");
    assert_eq!(report.stripped_prefix.as_deref(), Some("model.module."));
    let model_key = ImportOptions {
        top_level_key: Some("model".into()),
        ..ImportOptions::default()
    };
    let (report, err) = import_lenet(&dir().join("lenet5-nested.pth"), &model_key, "f32");
    assert!(
        err < 1e-6 && report.stripped_prefix.as_deref() == Some("module."),
        "{err}"
    );

    // A top-level key that is not there names the ones that are.
    let missing = ImportOptions {
        top_level_key: Some("weights".into()),
        ..ImportOptions::default()
    };
    let err = import_error(&dir().join("lenet5-timm.pth"), &missing);
    assert!(
        err.contains("'weights' not found") && err.contains("state_dict_ema"),
        "{err}"
    );
}

/// `predict --weights FILE` and the other commands take the same options, through
/// `load_pretrained`.
#[test]
fn load_pretrained_takes_the_import_options() {
    let device = super::common::device();
    let file = weights::resolve_weights(&dir().join("lenet5-backbone.safetensors")).unwrap();
    assert!(file.entry.is_none() && file.warning().is_none());
    let options = weights::PretrainedOptions {
        arch: Some("lenet5".into()),
        import: ImportOptions {
            key_prefix: Some("backbone.".into()),
            ..ImportOptions::default()
        },
        ..Default::default()
    };
    let p = weights::load_pretrained(&file, &options, &device).unwrap();
    assert_eq!(p.model.num_classes(), 10);
    assert_eq!(p.report.applied, 10);
    // Without the architecture, a file whose name is not a published one is refused clearly.
    let err = weights::load_pretrained(&file, &Default::default(), &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("name the architecture (--arch)"), "{err}");
}

/// Integer tensors into float parameters are refused, naming the key.
#[test]
fn integer_tensors_into_float_parameters_are_refused() {
    let f = load_fixture("lenet5");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ints.safetensors");
    let mut tensors = super::parity::fixture_tensors(&f);
    tensors.retain(|(k, _, _)| k != "conv1.bias");
    write_safetensors(&file, &tensors);
    // Append conv1.bias as I64 by rewriting the header: simplest with a second writer.
    let bytes = std::fs::read(&file).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data_len = bytes.len() - 8 - header_len;
    header.insert(
        "conv1.bias".into(),
        serde_json::json!({"dtype": "I64", "shape": [6], "data_offsets": [data_len, data_len + 48]}),
    );
    let mut json = serde_json::to_string(&header).unwrap();
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&bytes[8 + header_len..]);
    out.extend(std::iter::repeat_n(0u8, 48));
    std::fs::write(&file, out).unwrap();
    let err = import_error(&file, &ImportOptions::default());
    assert!(err.contains("conv1.bias") && err.contains("I64"), "{err}");
}

/// torch.save's legacy (pre-1.6) format: a pickle stream instead of a zip archive.
#[test]
fn legacy_format_checkpoints_load() {
    let (_, err) = import_lenet(&dir().join("lenet5-legacy.pth"), &ImportOptions::default(), "f32");
    assert!(err < 1e-6, "{err}");
}
