//! `cargo xtask bench --pipeline` and `--folder DIR`: the data side of training, timed against
//! the model's training-step rate: the MNIST augmentation pipeline on one thread, and an image
//! folder's decoding + augmentation + batching on N loader workers beside a ResNet-18 step at 224.

use burn::{data::dataloader::batcher::Batcher, optim::GradientsParams};
use kiln::{BuildOptions, ModelSpec, build_spec};
use kiln_data::{
    ClassificationBatcher,
    augment::{AugmentedDataset, parse},
};
use kiln_train::{ClassificationModel, LossGuard, OptimSettings, OptimizerKind};
use std::time::Instant;

/// The MNIST augmentation pipeline's rate (augmentation + batching, one thread).
pub fn pipeline_row(images: usize, device: &burn::tensor::Device) -> anyhow::Result<()> {
    use burn::data::dataset::{Dataset, InMemDataset};
    let spec = "crop:28,pad=2;affine:deg=10,translate=0.08,scale=0.9-1.1;erase:0.25";
    let data = kiln::tasks::load_dataset("mnist", &crate::data_roots(None))?;
    let indices: Vec<usize> = (0..images).map(|i| i % data.train.len()).collect();
    let items = data.train.subset(&indices).items()?;
    let dataset = AugmentedDataset::new(
        InMemDataset::new(items),
        parse(spec).map_err(anyhow::Error::msg)?.pipeline,
        1,
    );
    let batcher = ClassificationBatcher::new(&data.preprocessing);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(64);
    for i in 0..dataset.len() {
        batch.push(dataset.get(i)?);
        if batch.len() == 64 {
            std::hint::black_box(batcher.batch(std::mem::take(&mut batch), device));
        }
    }
    println!(
        "data pipeline ({spec}): {:.0} img/s on one thread",
        images as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The image-folder row: how fast photos are decoded and prepared as training batches at 224
/// on N workers, against how fast ResNet-18 trains on them: which one is the bottleneck.
pub fn folder_rows(
    folder: &std::path::Path,
    images: usize,
    batch_size: usize,
    workers: &[usize],
    steps: usize,
    device: &burn::tensor::Device,
) -> anyhow::Result<()> {
    use kiln_data::{
        folder::{FolderOptions, photo_preprocessing},
        loader::{LoaderConfig, OrderedLoader},
    };
    let data = kiln_data::folder::load(folder, &FolderOptions::default())?;
    let n = images.min(data.train.len());
    let set = data.train.subset(&(0..n).collect::<Vec<_>>());
    let p = photo_preprocessing(3, 224, Default::default());
    let pipeline = parse("rrc:224;flip").map_err(anyhow::Error::msg)?.pipeline;
    let batcher = std::sync::Arc::new(ClassificationBatcher::new(&p));
    for &workers in workers {
        let loader = OrderedLoader::new(
            set.clone(),
            pipeline.clone(),
            batcher.clone(),
            LoaderConfig {
                batch_size,
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
    for step in 0..steps.min(5) + 1 {
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
        (steps.min(5) * batch) as f64 / time
    );
    Ok(())
}
