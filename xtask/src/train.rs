use kiln::{
    Activation,
    tasks::{TrainOverrides, resolve_train_config, train},
};
use kiln_train::{OptimizerKind, Schedule};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Model name (see `cargo xtask list`), e.g. lenet; optional with --recipe.
    model: Option<String>,
    /// A TOML recipe (examples/recipes/*.toml); flags given here override its fields.
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Backend: flex, ndarray, cpu or wgpu (those compiled in).
    #[arg(long)]
    backend: Option<String>,
    /// Data set: mnist, fashion-mnist, cifar10 or cifar100 (CIFAR: the official binary files, extracted into data/).
    #[arg(long)]
    dataset: Option<String>,
    /// Passes over the training set [default: 5].
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after N optimizer steps (smoke runs); the model at that point is saved.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Images per step [default: 64].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate [default: 2e-3 for adam/adamw, 1e-3 for rmsprop, 0.05 for sgd].
    #[arg(long)]
    lr: Option<f64>,
    /// sgd, rmsprop, adam or adamw [default: adam].
    #[arg(long)]
    optimizer: Option<OptimizerKind>,
    /// Learning-rate schedule: constant, cosine[:warmup=E,min=LR], step:every=E[,gamma=G],
    /// multistep:E1-E2[,gamma=G], exponential:gamma=G, onecycle, plateau[:factor=F,patience=N] [default: cosine].
    #[arg(long)]
    schedule: Option<Schedule>,
    /// Momentum [default: 0.9 for SGD, 0 for RMSProp].
    #[arg(long)]
    momentum: Option<f64>,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    nesterov: bool,
    /// Weight decay [default: 0].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Clip gradients to this L2 norm.
    #[arg(long)]
    grad_clip: Option<f64>,
    /// No weight decay on biases and BatchNorm gamma/beta.
    #[arg(long)]
    no_decay_norm_bias: bool,
    /// Transfer learning: none, backbone (train only the new head; BatchNorm frozen) or
    /// stages:N (train the head and the last N backbone stages) [default: none].
    #[arg(long)]
    freeze: Option<kiln_train::transfer::Freeze>,
    /// Fine-tuning: the backbone's learning rate is --lr times this (e.g. 0.1).
    #[arg(long)]
    backbone_lr_mult: Option<f64>,
    /// Label smoothing of the cross-entropy [default: 0].
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Augmentation spec, e.g. "crop:28,pad=2;rotate:10;erase:0.25" (README, "Augmentation").
    #[arg(long)]
    augment: Option<String>,
    /// relu, leaky-relu, sigmoid or tanh [default: the model's].
    #[arg(long)]
    activation: Option<Activation>,
    /// Resize images to this square size [default: the data set's, raised to the model's minimum].
    #[arg(long)]
    image_size: Option<usize>,
    /// Initialise from a model directory (`cargo xtask train` or `cargo xtask import`), a
    /// checkpoint file (.pth, .safetensors) or a fetched weights-table name; other classes keep
    /// the backbone and start a fresh classifier.
    #[arg(long)]
    init_from: Option<PathBuf>,
    #[command(flatten)]
    checkpoint: crate::checkpoint_args::CheckpointArgs,
    /// Seed of initialisation, shuffling and augmentation [default: 42].
    #[arg(long)]
    seed: Option<u64>,
    /// Data-loader threads (0: on the training thread); batches are the same for any count
    /// [default: every core for image folders, 0 for data sets in memory].
    #[arg(long)]
    workers: Option<usize>,
    /// Train on the first N training images only (quick smoke runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Image folders without val/: the fraction of each class held out for validation (seeded,
    /// stratified) [default: 0.1].
    #[arg(long)]
    val_split: Option<f64>,
    /// Skip (and count) image files that cannot be decoded instead of stopping.
    #[arg(long)]
    skip_bad_images: bool,
    /// Accept truncated image files (the missing part filled grey), with a warning; by default
    /// they are an error naming the file, as in Pillow.
    #[arg(long)]
    allow_truncated: bool,
    /// Run directory [default: runs/<model>-<dataset>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from the last complete checkpoint in the run directory.
    #[arg(long)]
    resume: bool,
    /// When --out already holds a model or run: move it aside (to DIR.old-N) and start afresh.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Extra directory searched first for data sets.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Dense tasks: the encoder, `small` or a registry name (resnet18, vgg11_bn, ...) [default: small].
    #[arg(long)]
    backbone: Option<String>,
    /// Segmentation: nearest, unpool or transposed [default: segnet unpool, unet transposed, fcn nearest].
    #[arg(long)]
    upsample: Option<kiln::segmentation::Upsample>,
    /// Dense tasks: generated training canvases [default: 12000].
    #[arg(long)]
    samples: Option<usize>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(task) = a.model.as_deref().and_then(kiln::dense::DenseTask::from_name) {
        return crate::dense::train(crate::dense::DenseFlags {
            task,
            backbone: a.backbone,
            upsample: a.upsample,
            dataset: a.dataset,
            samples: a.samples,
            backend: a.backend,
            epochs: a.epochs,
            batch_size: a.batch_size,
            lr: a.lr,
            optimizer: a.optimizer,
            schedule: a.schedule,
            weight_decay: a.weight_decay,
            augment: a.augment,
            image_size: a.image_size,
            seed: a.seed,
            max_steps: a.max_steps,
            out: a.out,
            resume: a.resume,
            overwrite: a.overwrite,
            data_dir: a.data_dir,
            init_from: a.init_from,
            init_import: a.checkpoint.options(),
        });
    }
    anyhow::ensure!(
        a.backbone.is_none() && a.upsample.is_none() && a.samples.is_none(),
        "--backbone, --upsample and --samples are for dense tasks ({})",
        kiln::dense::DenseTask::NAMES.join(", ")
    );
    let flags = TrainOverrides {
        model: a.model.unwrap_or_default(),
        dataset: a.dataset,
        backend: a.backend,
        activation: a.activation,
        image_size: a.image_size,
        init_from: a.init_from,
        key_prefix: a.checkpoint.key_prefix,
        top_level_key: a.checkpoint.top_level_key,
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        optimizer: a.optimizer,
        schedule: a.schedule,
        momentum: a.momentum,
        nesterov: a.nesterov.then_some(true),
        weight_decay: a.weight_decay,
        grad_clip: a.grad_clip,
        no_decay_norm_bias: a.no_decay_norm_bias.then_some(true),
        freeze: a.freeze,
        backbone_lr_mult: a.backbone_lr_mult,
        label_smoothing: a.label_smoothing,
        max_steps: a.max_steps,
        seed: a.seed,
        num_workers: a.workers,
        val_split: a.val_split,
        skip_bad_images: a.skip_bad_images.then_some(true),
        allow_truncated: a.allow_truncated.then_some(true),
        train_limit: a.limit,
        augment: a.augment,
    };
    let overrides = match &a.recipe {
        Some(path) => TrainOverrides::from_recipe(path)?.overridden_by(flags),
        None => flags,
    };
    anyhow::ensure!(
        !overrides.model.is_empty(),
        "name a model (`cargo xtask train lenet`) or give a --recipe that does"
    );
    // The run directory depends on the resolved model and data set; resolve once without a
    // directory to learn them, then again against the directory when resuming.
    let fresh = resolve_train_config(&overrides, std::path::Path::new(""), false)?;
    let default = crate::workspace_root().join("runs").join(format!(
        "{}-{}",
        fresh.model,
        fresh.dataset.replace(['/', ':', ','], "_")
    ));
    let chosen = kiln::run_dir::choose_out(a.out.as_deref(), &default, a.resume, a.overwrite)?;
    if let Some(note) = &chosen.note {
        println!("{note}");
    }
    let out = chosen.path;
    let config = resolve_train_config(&overrides, &out, a.resume)?;
    kiln::device(&config.backend)?;
    let f = &config.fit;
    println!(
        "training {} on {} with {} (lr {}, {}, batch {}, {} epochs{}) on backend {} -> {}",
        config.model,
        config.dataset,
        f.optimizer,
        f.lr,
        f.schedule,
        f.batch_size,
        f.epochs,
        f.augment.as_ref().map(|a| format!(", augment {a}")).unwrap_or_default(),
        config.backend,
        out.display()
    );
    let report = train(&config, &crate::data_roots(a.data_dir), &out, a.resume)?;
    for note in &report.notes {
        println!("{note}");
    }
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
