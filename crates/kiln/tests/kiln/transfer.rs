//! Transfer learning: frozen backbones keep their BatchNorm statistics, stage-wise freezing,
//! per-group learning rates, and weight decay exemptions, each checked on real parameters.

use burn::{
    module::{Module, ModuleVisitor, Param},
    optim::GradientsParams,
    tensor::{Distribution, Tensor},
};
use kiln::{BuildOptions, ImageClassifier, ModelSpec, build_seeded, build_spec, tasks::load_dataset};
use kiln_train::{
    FitConfig, OptimSettings, OptimizerKind, Schedule, fit,
    transfer::{Freeze, backbone_group, head_ids, param_paths, stage_ids},
};
use std::collections::BTreeMap;

/// Every float tensor of a module (parameters and BatchNorm running statistics), by path.
pub(crate) fn tensors<M: Module>(m: &M) -> BTreeMap<String, Vec<f32>> {
    struct V(Vec<String>, BTreeMap<String, Vec<f32>>);
    impl ModuleVisitor for V {
        fn enter_module(&mut self, n: &str, _: &str) {
            self.0.push(n.into());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.1.insert(
                self.0.join("."),
                p.val().to_data().convert::<f32>().try_to_vec().unwrap(),
            );
        }
    }
    let mut v = V(vec![], BTreeMap::new());
    m.visit(&mut v);
    v.1
}

fn changed(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-7)
}

/// Feature extraction on a ResNet-18: the backbone (BatchNorm running statistics included) stays
/// exactly as it was; the new head trains.
#[test]
fn frozen_backbone_keeps_batchnorm_statistics() {
    let device = super::common::device();
    let data = load_dataset("mnist", &super::common::data_roots()).unwrap();
    let options = BuildOptions {
        image_size: Some([28, 28]),
        ..BuildOptions::new(10, 1)
    };
    let spec = ModelSpec::new("resnet18", &options).unwrap();
    let model = build_seeded(&spec, &device.clone().autodiff(), 3).unwrap();
    let before = tensors(&model);
    let config = FitConfig {
        epochs: 1,
        batch_size: 16,
        train_limit: Some(64),
        valid_size: 32,
        max_steps: Some(3),
        freeze: Freeze::Backbone,
        ..FitConfig::default()
    };
    let run = tempfile::tempdir().unwrap();
    let out = fit(model, &data, &config, run.path(), &device, false).unwrap();
    let after = tensors(&out.model);
    let mut head_changed = false;
    for (path, b) in &before {
        let a = &after[path];
        if path.contains(".fc.") {
            head_changed |= changed(a, b);
        } else {
            assert!(!changed(a, b), "{path} changed although the backbone is frozen");
        }
    }
    assert!(head_changed, "the head did not train");
    // The running statistics are among the tensors compared above.
    assert!(before.keys().any(|k| k.ends_with("bn1.running_mean")));
}

/// `stages:1` trains the last stage (layer4 for a ResNet) and the head, nothing before.
#[test]
fn stage_freezing_follows_the_feature_stages() {
    let device = super::common::device();
    let ad = device.clone().autodiff();
    let options = BuildOptions {
        image_size: Some([32, 32]),
        ..BuildOptions::new(10, 1)
    };
    let model = build_spec(&ModelSpec::new("resnet18", &options).unwrap(), &ad).unwrap();
    let stages = stage_ids(&model, [1, 32, 32], &ad);
    let paths: BTreeMap<_, _> = param_paths(&model).into_iter().collect();
    assert_eq!(stages.len(), 5);
    assert!(stages[4].iter().all(|id| paths[id].contains(".layer4.")));
    assert!(stages[1].iter().all(|id| paths[id].contains(".layer1.")));
    assert!(
        stages[0]
            .iter()
            .all(|id| paths[id].contains(".conv1.") || paths[id].contains(".bn1."))
    );
    let head = head_ids(&model, [1, 32, 32], &ad);
    assert!(!head.is_empty() && head.iter().all(|id| paths[id].contains(".fc.")));
    // LeNet-5's head is its classifier MLP (fc1-fc3), after the convolutional stages.
    let lenet = build_spec(&ModelSpec::new("lenet5", &BuildOptions::new(10, 1)).unwrap(), &ad).unwrap();
    let paths: BTreeMap<_, _> = param_paths(&lenet).into_iter().collect();
    let head: Vec<&String> = head_ids(&lenet, [1, 28, 28], &ad).iter().map(|id| &paths[id]).collect();
    assert_eq!(head.len(), 6, "{head:?}");
    assert!(head.iter().all(|p| p.contains(".fc")));
}

/// One SGD step with `backbone_lr_mult = 0.1`: every backbone parameter moves by 0.1·lr·grad,
/// every head parameter by lr·grad.
#[test]
fn per_group_learning_rates_scale_each_update() {
    let device = super::common::device();
    let ad = device.clone().autodiff();
    let model = build_seeded(&ModelSpec::new("lenet5", &BuildOptions::new(10, 1)).unwrap(), &ad, 11).unwrap();
    let lr = 0.05;
    let mut scheduler =
        Schedule::Constant.build_grouped(lr, 10, 10, vec![(backbone_group(&model, [1, 28, 28], &ad), 0.1)]);
    let mut optim = OptimizerKind::Sgd.build(&OptimSettings {
        momentum: Some(0.0),
        ..OptimSettings::default()
    });
    let x = Tensor::<4>::random([4, 1, 28, 28], Distribution::Normal(0.0, 1.0), &ad);
    let loss = model.forward_logits(x).powf_scalar(2.0).mean();
    let grads = loss.backward();
    let grad_of: BTreeMap<String, Vec<f32>> = {
        struct G<'a>(&'a burn::tensor::Gradients, Vec<String>, BTreeMap<String, Vec<f32>>);
        impl ModuleVisitor for G<'_> {
            fn enter_module(&mut self, n: &str, _: &str) {
                self.1.push(n.into());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.1.pop();
            }
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                if let Some(g) = p.val().grad(self.0) {
                    self.2
                        .insert(self.1.join("."), g.to_data().convert::<f32>().try_to_vec().unwrap());
                }
            }
        }
        let mut g = G(&grads, vec![], BTreeMap::new());
        model.visit(&mut g);
        g.2
    };
    let before = tensors(&model);
    let gp = GradientsParams::from_grads(grads, &model);
    let stepped = optim.step(scheduler.step(), model, gp);
    let after = tensors(&stepped);
    for (path, g) in &grad_of {
        let rate = if path.contains(".fc") { lr } else { lr * 0.1 };
        for ((a, b), g) in after[path].iter().zip(&before[path]).zip(g) {
            let expected = -(rate as f32) * g;
            assert!(
                (a - b - expected).abs() <= 1e-6 + 1e-4 * expected.abs(),
                "{path}: moved {} expected {expected}",
                a - b
            );
        }
    }
    assert!(grad_of.keys().any(|k| k.contains(".fc3.")) && grad_of.keys().any(|k| k.contains(".conv1.")));
}

/// With `no_decay_norm_bias`, SGD's L2 term reaches weights but not biases: a step with zero
/// loss gradient shrinks weights by lr·wd and leaves biases alone.
#[test]
fn weight_decay_spares_biases_and_norms_when_asked() {
    let device = super::common::device();
    let ad = device.clone().autodiff();
    let model = build_spec(&ModelSpec::new("lenet5", &BuildOptions::new(10, 1)).unwrap(), &ad).unwrap();
    let settings = OptimSettings {
        momentum: Some(0.0),
        weight_decay: 0.1,
        no_decay_norm_bias: true,
        ..OptimSettings::default()
    };
    let mut optim = OptimizerKind::Sgd.build(&settings);
    // A loss whose gradient is zero everywhere but that touches every parameter.
    let x = Tensor::<4>::zeros([1, 1, 28, 28], &ad);
    let loss = model.forward_logits(x).sum() * 0.0;
    let gp = GradientsParams::from_grads(loss.backward(), &model);
    let before = tensors(&model);
    let after = tensors(&optim.step(1.0, model, gp));
    for (path, b) in &before {
        let a = &after[path];
        if path.ends_with(".bias") {
            assert!(!changed(a, b), "{path} decayed");
        } else {
            for (a, b) in a.iter().zip(b) {
                assert!((a - 0.9 * b).abs() < 1e-6, "{path}: {a} vs {}", 0.9 * b);
            }
        }
    }
}

/// A LeNet-5 run on the flex backend, initialised from `init_from`.
fn lenet5_from(dataset: &str, init_from: std::path::PathBuf, fit: FitConfig) -> kiln::tasks::TrainConfig {
    kiln::tasks::TrainConfig {
        model: "lenet5".into(),
        dataset: dataset.into(),
        init_from: Some(init_from),
        fit,
        ..Default::default()
    }
}

/// `--init-from FILE`: a PyTorch checkpoint (LeNet-5 exported by PyTorch) becomes the backbone
/// of a 5-class model; with the backbone frozen, its convolutions are still the checkpoint's
/// after training, and the new head trained.
#[test]
fn init_from_a_pytorch_checkpoint_with_a_frozen_backbone() {
    use kiln::tasks::{class_subset, train_on};
    let device = super::common::device();
    let ckpt = super::common::root().join("crates/kiln/tests/fixtures/parity/lenet5.pth");
    let data = class_subset(
        &load_dataset("mnist", &super::common::data_roots()).unwrap(),
        &[0, 1, 2, 3, 4],
    );
    let (reference, _, _) = kiln::weights::import_arch("lenet5", 1, None, &ckpt, &Default::default(), &device).unwrap();
    let config = lenet5_from(
        &data.name,
        ckpt,
        FitConfig {
            epochs: 1,
            batch_size: 32,
            train_limit: Some(256),
            valid_size: 64,
            freeze: Freeze::Backbone,
            ..FitConfig::default()
        },
    );
    let out = tempfile::tempdir().unwrap();
    let report = train_on(&config, data, out.path(), false).unwrap();
    assert_eq!(report.test.per_class_accuracy.len(), 5);
    let (trained, _) = kiln::model_dir::load(out.path(), &device).unwrap();
    let (a, b) = (tensors(&trained), tensors(&reference));
    assert!(!changed(&a["LeNet5.conv1.weight"], &b["LeNet5.conv1.weight"]));
    assert!(!changed(&a["LeNet5.conv2.weight"], &b["LeNet5.conv2.weight"]));
    assert_eq!(a["LeNet5.fc3.bias"].len(), 5);
}

/// `--init-from DIR` keeps the classifier only for the same classes: digits 0–4 → 5–9 are as
/// many classes but other ones, so the classifier starts afresh (the transfer study's "new
/// head") while the rest of the network is the saved one; the same classes keep it all.
#[test]
fn init_from_a_directory_gives_other_classes_a_new_classifier() {
    use kiln::tasks::{class_subset, train_on};
    let device = super::common::device();
    let mnist = load_dataset("mnist", &super::common::data_roots()).unwrap();
    let saved = tempfile::tempdir().unwrap();
    let spec = ModelSpec::new("lenet5", &BuildOptions::new(5, 1)).unwrap();
    let model = build_seeded(&spec, &device, 11).unwrap();
    let card = kiln::model_dir::ModelCard {
        model: spec,
        classes: (0..5).map(|c| c.to_string()).collect(),
        dataset: "mnist[0,1,2,3,4]".into(),
        preprocessing: kiln::Preprocessing::mnist(),
        kiln_version: "test".into(),
    };
    let reference = tensors(&model);
    kiln::model_dir::save(saved.path(), model, &card).unwrap();
    for (classes, new_classifier) in [([5, 6, 7, 8, 9], true), ([0, 1, 2, 3, 4], false)] {
        let data = class_subset(&mnist, &classes);
        let config = lenet5_from(
            &data.name,
            saved.path().to_path_buf(),
            FitConfig {
                epochs: 1,
                batch_size: 16,
                train_limit: Some(16),
                valid_size: 16,
                lr: 1e-12,
                schedule: Schedule::Constant,
                ..FitConfig::default()
            },
        );
        let out = tempfile::tempdir().unwrap();
        train_on(&config, data, out.path(), false).unwrap();
        let (trained, _) = kiln::model_dir::load(out.path(), &device).unwrap();
        let a = tensors(&trained);
        for key in ["LeNet5.conv1.weight", "LeNet5.fc1.weight", "LeNet5.fc2.weight"] {
            assert!(
                !changed(&a[key], &reference[key]),
                "{key} is the saved one ({classes:?})"
            );
        }
        assert_eq!(
            changed(&a["LeNet5.fc3.weight"], &reference["LeNet5.fc3.weight"]),
            new_classifier,
            "{classes:?}"
        );
    }
}
