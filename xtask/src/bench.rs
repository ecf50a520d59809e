//! `cargo xtask bench`: how fast the data pipeline feeds images against how fast a model trains
//! on them, on one backend. A benchmark, not a test: it reports rates and asserts nothing.

use burn::{
    data::{
        dataloader::batcher::Batcher,
        dataset::{Dataset, InMemDataset},
    },
    optim::GradientsParams,
};
use kiln::{BuildOptions, ModelSpec, build_spec, tasks::load_dataset};
use kiln_data::{
    ClassificationBatcher,
    augment::{AugmentedDataset, parse},
};
use kiln_train::{ClassificationModel, LossGuard, OptimSettings, OptimizerKind};
use std::{path::PathBuf, time::Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Models to time, comma-separated.
    #[arg(long, default_value = "lenet5,resnet18", value_delimiter = ',')]
    models: Vec<String>,
    /// Augmentation applied by the pipeline.
    #[arg(
        long,
        default_value = "crop:28,pad=2;affine:deg=10,translate=0.08,scale=0.9-1.1;erase:0.25"
    )]
    augment: String,
    /// Images through the pipeline.
    #[arg(long, default_value_t = 20_000)]
    images: usize,
    /// Training steps timed per model (after 2 warm-up steps).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Backend.
    #[arg(long, default_value = kiln::core::DEFAULT_BACKEND)]
    backend: String,
    /// Extra directory searched first for data sets.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let device = kiln::core::backend::checked_device(&a.backend)?;
    let data = load_dataset("mnist", &crate::data_roots(a.data_dir))?;
    let items: Vec<_> = data.train.iter().cycle().take(a.images).cloned().collect();
    let aug = parse(&a.augment).map_err(anyhow::Error::msg)?;
    let dataset = AugmentedDataset::new(InMemDataset::new(items), aug.pipeline, 1);
    let batcher = ClassificationBatcher::new(&data.preprocessing);

    // The pipeline alone: augmentation + batching into tensors, one thread.
    let started = Instant::now();
    let mut batch = Vec::with_capacity(a.batch_size);
    for i in 0..dataset.len() {
        batch.push(dataset.get(i)?);
        if batch.len() == a.batch_size {
            let b = batcher.batch(std::mem::take(&mut batch), &device);
            std::hint::black_box(b);
        }
    }
    let pipeline = a.images as f64 / started.elapsed().as_secs_f64();
    println!("data pipeline ({}): {pipeline:.0} img/s on one thread", a.augment);

    let ad = device.clone().autodiff();
    for name in &a.models {
        let options = BuildOptions {
            image_size: Some([28, 28]),
            ..BuildOptions::new(10, 1)
        };
        let model = build_spec(&ModelSpec::new(name, &options)?, &ad)?;
        let mut model = ClassificationModel::new(model, LossGuard::default());
        let mut optim = OptimizerKind::Sgd.build(&OptimSettings::default());
        let items: Vec<_> = data.train[..a.batch_size].to_vec();
        let mut time = 0.0;
        for step in 0..a.steps + 2 {
            let b = batcher.batch(items.clone(), &ad);
            let started = Instant::now();
            let out = model.forward_classification(b);
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            model = optim.step(0.01, model, grads);
            std::hint::black_box(out.loss.into_scalar::<f32>());
            if step >= 2 {
                time += started.elapsed().as_secs_f64();
            }
        }
        let rate = (a.steps * a.batch_size) as f64 / time;
        println!(
            "{name} training step (batch {}): {rate:.0} img/s — the pipeline is {:.1}x faster than the model",
            a.batch_size,
            pipeline / rate
        );
    }
    Ok(())
}
