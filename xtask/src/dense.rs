//! `cargo xtask train segnet|unet|fcn|localizer` and dense `predict`.

use kiln::dense::{DenseSource, DenseTask, DenseTrainConfig, predict_dense, train_dense};
use kiln_train::{OptimizerKind, Schedule};
use std::path::PathBuf;

/// Flags of `train` that dense tasks read.
pub struct DenseFlags {
    pub task: DenseTask,
    pub backbone: Option<String>,
    pub upsample: Option<kiln::segmentation::Upsample>,
    pub dataset: Option<String>,
    pub samples: Option<usize>,
    pub backend: Option<String>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub optimizer: Option<OptimizerKind>,
    pub schedule: Option<Schedule>,
    pub weight_decay: Option<f64>,
    pub augment: Option<String>,
    pub image_size: Option<usize>,
    pub seed: Option<u64>,
    pub max_steps: Option<usize>,
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub overwrite: bool,
    pub data_dir: Option<PathBuf>,
    pub init_from: Option<PathBuf>,
    pub init_import: kiln_train::import::ImportOptions,
}

pub fn train(f: DenseFlags) -> anyhow::Result<()> {
    let mut config = DenseTrainConfig::new(f.task);
    if let Some(b) = f.backbone {
        config.backbone = b;
    }
    config.upsample = f.upsample;
    config.init_from = f.init_from;
    config.init_import = f.init_import;
    match f.dataset.as_deref() {
        None => {}
        Some(voc) if voc.starts_with("voc:") => config.data = DenseSource::Voc(PathBuf::from(&voc[4..])),
        Some(name) => {
            if let DenseSource::Generated { source, .. } = &mut config.data {
                *source = name.to_string();
            }
        }
    }
    if let (Some(n), DenseSource::Generated { train, .. }) = (f.samples, &mut config.data) {
        *train = n;
    }
    if let Some(b) = f.backend {
        config.backend = b;
    }
    let fit = &mut config.fit;
    fit.epochs = f.epochs.unwrap_or(fit.epochs);
    fit.batch_size = f.batch_size.unwrap_or(fit.batch_size);
    fit.optimizer = f.optimizer.unwrap_or(fit.optimizer);
    fit.lr = f.lr.unwrap_or(if f.optimizer.is_some() {
        fit.optimizer.default_lr()
    } else {
        fit.lr
    });
    fit.schedule = f.schedule.unwrap_or(fit.schedule.clone());
    fit.optim.weight_decay = f.weight_decay.unwrap_or(0.0);
    fit.augment = f.augment;
    fit.seed = f.seed.unwrap_or(fit.seed);
    fit.max_steps = f.max_steps;
    config.image_size = f.image_size.unwrap_or(config.image_size);
    let up = config
        .upsample
        .map(|u| format!("-{u}"))
        .or_else(|| match config.task {
            DenseTask::Segment(a) => Some(format!("-{}", a.default_upsample())),
            DenseTask::Localize => None,
        })
        .unwrap_or_default();
    let default = crate::workspace_root()
        .join("runs")
        .join(format!("{}{up}-{}", config.task.name(), config.backbone));
    let chosen = kiln::run_dir::choose_out(f.out.as_deref(), &default, f.resume, f.overwrite)?;
    if let Some(note) = &chosen.note {
        println!("{note}");
    }
    let out = chosen.path;
    println!(
        "training {}{} with the {} encoder on {:?}, {} epochs, batch {}, {} lr {} -> {}",
        config.task.name(),
        up,
        config.backbone,
        config.data,
        config.fit.epochs,
        config.fit.batch_size,
        config.fit.optimizer,
        config.fit.lr,
        out.display()
    );
    let report = train_dense(&config, &out, &crate::data_roots(f.data_dir), f.resume)?;
    println!("trained in {:.1} s, {} parameters", report.seconds, report.params);
    let test: Vec<String> = report.test.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
    println!("test: {}", test.join(", "));
    println!("saved {}", out.display());
    Ok(())
}

pub fn predict(
    model: &std::path::Path,
    images: &[PathBuf],
    count: usize,
    out: Option<PathBuf>,
    backend: &str,
) -> anyhow::Result<()> {
    let out = out.unwrap_or_else(|| model.join("pictures"));
    let pictures = predict_dense(model, images, count, &out, backend, &crate::data_roots(None))?;
    for p in pictures {
        println!("{}: {}", p.path.display(), p.summary);
    }
    Ok(())
}
