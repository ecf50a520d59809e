//! The same training code on every compiled backend.

use burn::{
    data::dataloader::batcher::Batcher,
    module::Module,
    optim::{GradientsParams, SgdConfig},
    tensor::Device,
};
use kiln::{BuildOptions, ImageClassifier, ModelSpec, build_seeded, build_spec};
use kiln_data::ClassificationBatcher;
use kiln_train::{ClassificationModel, LossGuard};

/// Losses of `steps` SGD steps from the weights in `record`, each on the same 32 MNIST images.
fn losses(device: &Device, record: burn::store::ModuleRecord, steps: usize) -> Vec<f32> {
    let data = kiln::tasks::load_dataset("mnist", &super::common::data_roots()).unwrap();
    let spec = ModelSpec::new("lenet5", &BuildOptions::new(10, 1)).unwrap();
    let ad = device.clone().autodiff();
    let model = build_spec(&spec, &ad).unwrap().load_record(record);
    let mut model = ClassificationModel::new(model, LossGuard::default());
    let mut optim = SgdConfig::new().init();
    let batcher = ClassificationBatcher::new(&data.preprocessing);
    (0..steps)
        .map(|_| {
            let batch = batcher.batch(data.train.subset(&(0..32).collect::<Vec<_>>()).items().unwrap(), &ad);
            let out = model.forward_classification(batch);
            let loss = out.loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            model = optim.step(0.05, model.clone(), grads);
            loss
        })
        .collect()
}

/// Five training steps from identical weights give the same losses on flex and ndarray (and on
/// wgpu when compiled in and an adapter exists), within 1e-4 relative: float reductions may be
/// ordered differently, nothing more.
#[test]
fn training_steps_agree_across_backends() {
    let reference_device = super::common::device();
    let model = build_seeded(
        &ModelSpec::new("lenet5", &BuildOptions::new(10, 1)).unwrap(),
        &reference_device,
        11,
    )
    .unwrap();
    assert_eq!(model.num_classes(), 10);
    let record = model.into_record();
    let reference = losses(&reference_device, record.clone(), 5);
    assert!(
        reference.windows(2).all(|w| w[1] < w[0]),
        "steps on one batch lower its loss: {reference:?}"
    );

    let mut compared = 0;
    for name in kiln::core::compiled_backends() {
        if name == "flex" {
            continue;
        }
        let device = match kiln::core::backend::checked_device(name) {
            Ok(d) => d,
            Err(e) => {
                println!("skipping backend {name}: {e}");
                continue;
            }
        };
        let other = losses(&device, record.clone(), 5);
        for (step, (a, b)) in reference.iter().zip(&other).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * a.abs().max(1.0),
                "step {step}: flex {a} vs {name} {b}\nflex: {reference:?}\n{name}: {other:?}"
            );
        }
        println!("{name} agrees with flex within 1e-4: {other:?}");
        compared += 1;
    }
    assert!(
        compared >= 1,
        "at least one backend besides flex is compiled in by default"
    );
}
