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
    /// Also time an image folder: decoding + random resized crop 224 + flip + batching on each
    /// worker count of --workers, against a ResNet-18 training step at 224.
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Worker counts for --folder.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    workers: Vec<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let device = kiln::core::backend::checked_device(&a.backend)?;
    let data = load_dataset("mnist", &crate::data_roots(a.data_dir.clone()))?;
    let indices: Vec<usize> = (0..a.images).map(|i| i % data.train.len()).collect();
    let items = data.train.subset(&indices).items()?;
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
    if let Some(folder) = &a.folder {
        folder_rows(folder, &a, &device)?;
    }

    let ad = device.clone().autodiff();
    for name in &a.models {
        let options = BuildOptions {
            image_size: Some([28, 28]),
            ..BuildOptions::new(10, 1)
        };
        let model = build_spec(&ModelSpec::new(name, &options)?, &ad)?;
        let mut model = ClassificationModel::new(model, LossGuard::default());
        let mut optim = OptimizerKind::Sgd.build(&OptimSettings::default());
        let items = data.train.subset(&(0..a.batch_size).collect::<Vec<_>>()).items()?;
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

/// The image-folder row: how fast photos are decoded and prepared as training batches at 224
/// on N workers, against how fast ResNet-18 trains on them: which one is the bottleneck.
fn folder_rows(folder: &std::path::Path, a: &Args, device: &burn::tensor::Device) -> anyhow::Result<()> {
    use kiln_data::{
        folder::{FolderOptions, photo_preprocessing},
        loader::{LoaderConfig, OrderedLoader},
    };
    let data = kiln_data::folder::load(folder, &FolderOptions::default())?;
    let n = a.images.min(data.train.len());
    let set = data.train.subset(&(0..n).collect::<Vec<_>>());
    let p = photo_preprocessing(3, 224, Default::default());
    let pipeline = parse("rrc:224;flip").map_err(anyhow::Error::msg)?.pipeline;
    let batcher = std::sync::Arc::new(ClassificationBatcher::new(&p));
    for &workers in &a.workers {
        let loader = OrderedLoader::new(
            set.clone(),
            pipeline.clone(),
            batcher.clone(),
            LoaderConfig {
                batch_size: a.batch_size,
                shuffle: Some(1),
                workers,
                ..LoaderConfig::default()
            },
            device.clone(),
        );
        let started = Instant::now();
        for b in loader.epoch_iter() {
            std::hint::black_box(b?);
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        println!(
            "image folder {} ({n} images): decode + rrc:224 + flip + batch: {rate:.0} img/s on {workers} worker(s)",
            folder.display()
        );
    }
    let ad = device.clone().autodiff();
    let model = build_spec(
        &ModelSpec::new("resnet18", &BuildOptions::new(data.classes.len(), 3))?,
        &ad,
    )?;
    let mut model = ClassificationModel::new(model, LossGuard::default());
    let mut optim = OptimizerKind::Sgd.build(&OptimSettings::default());
    let batch = 16;
    let items = (0..batch)
        .map(|i| set.get(i % n).map(|item| kiln_data::image::prepare(item, &p)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut time = 0.0;
    for step in 0..a.steps.min(5) + 1 {
        let b = batcher.batch(items.clone(), &ad);
        let started = Instant::now();
        let out = model.forward_classification(b);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(0.01, model, grads);
        std::hint::black_box(out.loss.into_scalar::<f32>());
        if step >= 1 {
            time += started.elapsed().as_secs_f64();
        }
    }
    println!(
        "resnet18 training step at 224 (batch {batch}): {:.1} img/s",
        (a.steps.min(5) * batch) as f64 / time
    );
    Ok(())
}
