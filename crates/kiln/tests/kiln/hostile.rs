//! Careless and hostile input (issue: nothing lost, nothing silent): every case here was found
//! failing on the code before it — a lost model, a panic, a runaway allocation or a result
//! printed from garbage — and is now a clear error naming the file, flag or field.

use kiln::{
    Preprocessing,
    tasks::{TrainConfig, train},
};
use kiln_train::FitConfig;
use std::path::Path;

fn small_run(fit: FitConfig) -> TrainConfig {
    TrainConfig {
        fit: FitConfig {
            train_limit: Some(256),
            valid_size: 128,
            batch_size: 64,
            ..fit
        },
        ..Default::default()
    }
}

fn err_of<T>(r: Result<T, impl std::fmt::Display>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// A run never goes into a directory that holds one unless it resumes it (the command line
/// renames or moves aside: `run_dir` unit tests).
#[test]
fn a_trained_model_is_never_overwritten() {
    let run = tempfile::tempdir().unwrap();
    let config = small_run(FitConfig {
        epochs: 1,
        ..Default::default()
    });
    train(&config, &super::common::data_roots(), run.path(), false).unwrap();
    let weights = std::fs::read(run.path().join("model.bpk")).unwrap();
    let err = err_of(train(&config, &super::common::data_roots(), run.path(), false));
    assert!(err.contains("already holds a trained model"), "{err}");
    assert_eq!(
        std::fs::read(run.path().join("model.bpk")).unwrap(),
        weights,
        "untouched"
    );
}

/// `--resume` passes over a damaged newest checkpoint (naming it) to the newest intact one,
/// refuses to start when there is none, refuses changed flags, and keeps only the last two
/// epochs' checkpoints and the best one.
#[test]
fn resume_survives_a_damaged_checkpoint_and_checks_its_flags() {
    let run = tempfile::tempdir().unwrap();
    let roots = super::common::data_roots();
    let config = small_run(FitConfig {
        epochs: 2,
        ..Default::default()
    });
    // Nothing to resume from.
    let empty = tempfile::tempdir().unwrap();
    let err = err_of(train(&config, &roots, empty.path(), true));
    assert!(err.contains("no intact checkpoint to resume from"), "{err}");

    train(&config, &roots, run.path(), false).unwrap();
    let optim = run.path().join("checkpoint/optim-2.bpk");
    let bytes = std::fs::read(&optim).unwrap();
    std::fs::write(&optim, &bytes[..bytes.len() / 2]).unwrap();
    let longer = TrainConfig {
        fit: FitConfig {
            epochs: 4,
            ..config.fit.clone()
        },
        ..config.clone()
    };
    let report = train(&longer, &roots, run.path(), true).unwrap();
    assert_eq!(report.resumed_from, Some(1));
    assert!(
        report.notes.iter().any(|n| n.contains("optim-2.bpk is damaged")),
        "{:?}",
        report.notes
    );
    let mut kept: Vec<String> = std::fs::read_dir(run.path().join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("model-"))
        .collect();
    kept.sort();
    assert!(
        kept.len() <= 3 && kept.contains(&"model-4.bpk".into()) && kept.contains(&"model-3.bpk".into()),
        "{kept:?}"
    );

    // A flag that changes the run is refused, naming it.
    let overrides = kiln::tasks::TrainOverrides {
        model: "lenet5".into(),
        weight_decay: Some(0.1),
        ..Default::default()
    };
    let err = err_of(kiln::tasks::resolve_train_config(&overrides, run.path(), true));
    assert!(err.contains("--weight-decay"), "{err}");
    let allowed = kiln::tasks::TrainOverrides {
        model: "lenet5".into(),
        epochs: Some(6),
        num_workers: Some(2),
        ..Default::default()
    };
    kiln::tasks::resolve_train_config(&allowed, run.path(), true).unwrap();
}

/// Zero, NaN, infinite, negative and absurd numbers anywhere are errors naming the field.
#[test]
fn garbage_numbers_are_refused_with_the_field_named() {
    use kiln_data::augment::parse;
    for (spec, field) in [
        ("rotate:nan", "degrees"),
        ("crop:100000", "size"),
        ("crop:0", "size"),
        ("flip:2", "probability"),
        ("rrc:224,scale=0.5-3", "scale"),
        ("jitter:inf", "brightness"),
        ("mixup:-1", "alpha"),
    ] {
        let err = err_of(parse(spec));
        assert!(err.contains(field), "{spec}: {err}");
    }
    for (spec, field) in [
        ("step:every=0", "every"),
        ("exponential:gamma=nan", "gamma"),
        ("cosine:min=-1", "min"),
        ("plateau:factor=1", "factor"),
    ] {
        let err = err_of(spec.parse::<kiln_train::Schedule>());
        assert!(err.contains(field), "{spec}: {err}");
    }
    let fit = |f: FitConfig| err_of(f.validate());
    assert!(
        fit(FitConfig {
            max_steps: Some(0),
            ..Default::default()
        })
        .contains("--max-steps")
    );
    assert!(
        fit(FitConfig {
            train_limit: Some(0),
            ..Default::default()
        })
        .contains("--limit")
    );
    assert!(
        fit(FitConfig {
            batch_size: 0,
            ..Default::default()
        })
        .contains("--batch-size")
    );
    let momentum = FitConfig {
        optim: kiln_train::OptimSettings {
            momentum: Some(f64::NAN),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(fit(momentum).contains("--momentum"));
    assert!(
        fit(FitConfig {
            lr: f64::INFINITY,
            ..Default::default()
        })
        .contains("--lr")
    );
    let err = err_of(kiln::tasks::load_dataset("folder:/tmp,size=0", &[]));
    assert!(err.contains("size must be between 1 and 8192"), "{err}");
}

fn save_lenet(dir: &Path, edit: impl FnOnce(&mut kiln::model_dir::ModelCard)) {
    let device = super::common::device();
    let spec = kiln::ModelSpec::new("lenet5", &kiln::BuildOptions::new(10, 1)).unwrap();
    let model = kiln::build_spec(&spec, &device).unwrap();
    let mut card = kiln::model_dir::ModelCard {
        model: spec,
        classes: (0..10).map(|c| c.to_string()).collect(),
        dataset: "mnist".into(),
        preprocessing: Preprocessing::mnist(),
        kiln_version: "test".into(),
    };
    edit(&mut card);
    kiln::model_dir::save(dir, model, &card).unwrap();
}

/// Model cards and weights that would give panics, hangs or NaN results are refused when
/// loaded, naming the field or the first bad parameter.
#[test]
fn bad_model_cards_and_weights_are_refused_at_load() {
    let device = super::common::device();
    for (edit, expected) in [
        (
            Box::new(|c: &mut kiln::model_dir::ModelCard| c.preprocessing.height = 0) as Box<dyn Fn(&mut _)>,
            "height must be between 1 and 8192, got 0",
        ),
        (
            Box::new(|c: &mut kiln::model_dir::ModelCard| c.preprocessing.width = 100_000),
            "width must be between 1 and 8192",
        ),
        (
            Box::new(|c: &mut kiln::model_dir::ModelCard| c.preprocessing.std = vec![0.0]),
            "std must be positive",
        ),
        (
            Box::new(|c: &mut kiln::model_dir::ModelCard| c.preprocessing.mean = vec![1e9]),
            "mean must be a number",
        ),
        (
            Box::new(|c: &mut kiln::model_dir::ModelCard| c.classes.truncate(7)),
            "lists 7 class names but the model predicts 10",
        ),
        (
            Box::new(|c: &mut kiln::model_dir::ModelCard| c.model.config["num_classes"] = 0.into()),
            "num_classes must be between 1",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        save_lenet(dir.path(), edit);
        let err = err_of(kiln::model_dir::load(dir.path(), &device));
        assert!(
            err.contains(expected) && err.contains("model.json"),
            "{expected}: {err}"
        );
    }

    // NaN weights: the first bad key is named.
    let dir = tempfile::tempdir().unwrap();
    let spec = kiln::ModelSpec::new("lenet5", &kiln::BuildOptions::new(10, 1)).unwrap();
    let model = kiln::build_spec(&spec, &device).unwrap();
    let nan = {
        use burn::module::{Module, ModuleMapper, Param};
        struct Poison(bool);
        impl ModuleMapper for Poison {
            fn map_float<const D: usize>(
                &mut self,
                param: Param<burn::tensor::Tensor<D>>,
            ) -> Param<burn::tensor::Tensor<D>> {
                if std::mem::replace(&mut self.0, false) {
                    param.map(|t| t.mul_scalar(f32::NAN))
                } else {
                    param
                }
            }
        }
        model.map(&mut Poison(true))
    };
    let card = kiln::model_dir::ModelCard {
        model: spec,
        classes: (0..10).map(|c| c.to_string()).collect(),
        dataset: "mnist".into(),
        preprocessing: Preprocessing::mnist(),
        kiln_version: "test".into(),
    };
    kiln::model_dir::save(dir.path(), nan, &card).unwrap();
    let err = err_of(kiln::model_dir::load(dir.path(), &device));
    assert!(err.contains("parameter `conv1.weight` holds NaN"), "{err}");

    // --num-classes 0 on import.
    let file = kiln::weights::resolve_weights(&super::parity::fixtures().join("lenet5.pth")).unwrap();
    let options = kiln::weights::PretrainedOptions {
        arch: Some("lenet5".into()),
        num_classes: Some(0),
        ..Default::default()
    };
    let err = err_of(kiln::weights::load_pretrained(&file, &options, &device));
    assert!(err.contains("--num-classes must be between 1"), "{err}");
}

/// Predict and eval check their sizes and inputs: a zero crop, a NaN mean, a file that is not a
/// regular file, a truncated JPEG (refused as Pillow refuses it, or accepted with
/// `--allow-truncated`), a truncated PNG.
#[test]
fn predict_refuses_zero_sizes_devices_and_truncated_images() {
    let device = super::common::device();
    let model = kiln::build("resnet18", 10, 3, &device).unwrap();
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let photo = super::common::root().join("datasets/samples/chelsea-q90.jpg");
    let mut p = kiln::weights::imagenet_preprocessing("resnet18").unwrap();
    p.height = 0;
    let err = err_of(kiln::tasks::predict_with(
        &model,
        &classes,
        &p,
        std::slice::from_ref(&photo),
        3,
        &device,
    ));
    assert!(err.contains("height must be between 1 and 8192, got 0"), "{err}");
    let mut p = kiln::weights::imagenet_preprocessing("resnet18").unwrap();
    p.mean[1] = f32::NAN;
    let err = err_of(kiln::tasks::predict_with(
        &model,
        &classes,
        &p,
        std::slice::from_ref(&photo),
        3,
        &device,
    ));
    assert!(err.contains("mean must be a number"), "{err}");

    let p = kiln::weights::imagenet_preprocessing("resnet18").unwrap();
    let err = err_of(kiln_data::load_image(Path::new("/dev/zero"), &p));
    assert!(err.contains("/dev/zero") && err.contains("not a regular file"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&photo).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = err_of(kiln_data::load_image(&cut, &p));
    assert!(err.contains("cut.jpg") && err.contains("truncated"), "{err}");
    let allowed = kiln_data::image::DecodeOptions { allow_truncated: true };
    kiln_data::image::load_image_with(&cut, &p, allowed).unwrap();
    let png = std::fs::read(super::common::root().join("datasets/samples/chelsea.png")).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &png[..png.len() / 2]).unwrap();
    let err = err_of(kiln_data::load_image(&cut, &p));
    assert!(err.contains("cut.png"), "{err}");
}

/// Sizes that the machine cannot hold are refused before anything large is allocated, naming
/// the flag.
#[test]
fn sizes_beyond_the_machine_are_refused_up_front() {
    let device = super::common::device();
    let model = kiln::build("vgg16", 10, 3, &device).unwrap();
    let err = err_of(kiln::memory::check(
        &model,
        "vgg16",
        [3, 8192, 8192],
        1,
        false,
        "--input 3x8192x8192",
        &device,
    ));
    assert!(err.contains("--input 3x8192x8192 needs about"), "{err}");
    kiln::memory::check(&model, "vgg16", [3, 224, 224], 1, false, "--input", &device).unwrap();
    let config = small_run(FitConfig {
        epochs: 1,
        ..Default::default()
    });
    let huge = TrainConfig {
        fit: FitConfig {
            batch_size: 1 << 20,
            ..config.fit
        },
        ..config
    };
    let run = tempfile::tempdir().unwrap();
    let err = err_of(train(&huge, &super::common::data_roots(), run.path(), false));
    assert!(
        err.contains("--batch-size 1048576") && err.contains("needs about"),
        "{err}"
    );
    assert!(
        !run.path().join("train.json").exists(),
        "refused before writing anything"
    );
}

/// A safetensors file whose second tensor's offsets are wrong names that tensor.
#[test]
fn safetensors_offset_errors_name_the_tensor() {
    let f = super::parity::load_fixture("lenet5");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.safetensors");
    super::parity::write_safetensors(&file, &super::parity::fixture_tensors(&f));
    let bytes = std::fs::read(&file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["conv2.bias"]["data_offsets"][1] = 99_999_999.into();
    let mut json = serde_json::to_string(&header).unwrap();
    while json.len() < n {
        json.push(' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(&file, out).unwrap();
    let device = super::common::device();
    let err = err_of(kiln::weights::import(
        &super::parity::spec(&f, 10),
        &file,
        &Default::default(),
        &device,
    ));
    assert!(
        err.contains("tensor `conv2.bias`") && err.contains("data_offsets"),
        "{err}"
    );
}

/// `mixup:…;cutmix:…` keeps both, one per batch, as timm does (it kept only the last).
#[test]
fn mixup_and_cutmix_together() {
    let aug = kiln_data::augment::parse("mixup:0.2;cutmix:1.0").unwrap();
    assert_eq!(
        aug.batch,
        Some(kiln_data::augment::BatchMix::Both {
            mixup: 0.2,
            cutmix: 1.0
        })
    );
}
