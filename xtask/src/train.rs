use kiln::{
    Activation,
    tasks::{TrainOverrides, resolve_train_config, train},
};
use kiln_train::{OptimizerKind, Schedule};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Model name (see `cargo xtask list`), e.g. lenet.
    model: String,
    /// Backend: flex, ndarray, cpu or wgpu (those compiled in).
    #[arg(long)]
    backend: Option<String>,
    /// Data set: mnist or fashion-mnist.
    #[arg(long)]
    dataset: Option<String>,
    /// Passes over the training set [default: 5].
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step [default: 64].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate [default: 2e-3 for adam, 1e-3 for rmsprop, 0.05 for sgd].
    #[arg(long)]
    lr: Option<f64>,
    /// sgd (momentum 0.9), rmsprop or adam [default: adam].
    #[arg(long)]
    optimizer: Option<OptimizerKind>,
    /// Learning-rate schedule: constant, cosine[:warmup=E,min=LR], step:every=E[,gamma=G], multistep:E1-E2[,gamma=G], exponential:gamma=G, onecycle [default: cosine].
    #[arg(long)]
    schedule: Option<Schedule>,
    /// relu, leaky-relu, sigmoid or tanh [default: the model's].
    #[arg(long)]
    activation: Option<Activation>,
    /// Resize images to this square size [default: the data set's, raised to the model's minimum].
    #[arg(long)]
    image_size: Option<usize>,
    /// Initialise from a model directory (`cargo xtask train` or `cargo xtask import`); a new
    /// class count keeps the backbone and starts a fresh classifier.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Seed of initialisation and shuffling [default: 42].
    #[arg(long)]
    seed: Option<u64>,
    /// Data-loader threads; 0 loads in the training thread, which keeps batch order (and results) deterministic [default: 0].
    #[arg(long)]
    workers: Option<usize>,
    /// Augmentation spec, e.g. "crop:28,pad=2;rotate:10;erase:0.25" (README, "Augmentation").
    #[arg(long)]
    augment: Option<String>,
    /// Train on the first N training images only (quick smoke runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Run directory [default: runs/<model>-<dataset>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from the last complete checkpoint in the run directory.
    #[arg(long)]
    resume: bool,
    /// Extra directory searched first for data sets.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let overrides = TrainOverrides {
        model: a.model,
        dataset: a.dataset,
        backend: a.backend,
        activation: a.activation,
        image_size: a.image_size,
        init_from: a.init_from,
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        optimizer: a.optimizer,
        schedule: a.schedule,
        seed: a.seed,
        num_workers: a.workers,
        train_limit: a.limit,
        augment: a.augment,
    };
    // The run directory depends on the resolved model and data set; resolve once without a
    // directory to learn them, then again against the directory when resuming.
    let fresh = resolve_train_config(&overrides, std::path::Path::new(""), false)?;
    let out = a.out.unwrap_or_else(|| {
        crate::workspace_root()
            .join("runs")
            .join(format!("{}-{}", fresh.model, fresh.dataset))
    });
    let config = resolve_train_config(&overrides, &out, a.resume)?;
    kiln::device(&config.backend)?;
    println!(
        "training {} on {} with {} (lr {}, {}, batch {}, {} epochs) on backend {} -> {}",
        config.model,
        config.dataset,
        config.fit.optimizer,
        config.fit.lr,
        config.fit.schedule,
        config.fit.batch_size,
        config.fit.epochs,
        config.backend,
        out.display()
    );
    let report = train(&config, &crate::data_roots(a.data_dir), &out, a.resume)?;
    if let Some(epoch) = report.resumed_from {
        println!("resumed after epoch {epoch}");
    }
    println!(
        "trained {} epoch(s) in {:.1} s ({:.0} train img/s, validation included)",
        report.epochs_run, report.seconds, report.images_per_second
    );
    println!(
        "test accuracy: {:.2}% ({}/{})",
        100.0 * report.test.accuracy,
        report.test.correct,
        report.test.total
    );
    println!("model saved in {}", report.out.display());
    Ok(())
}
