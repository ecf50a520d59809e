//! `cargo xtask transfer`: the transfer-learning comparison table.

use kiln::tasks::{TransferConfig, TransferSource, markdown_table, transfer_study};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Architecture pretrained here [default: lenet5].
    #[arg(long)]
    arch: Option<String>,
    /// Use this model directory (trained or imported by Kiln), checkpoint file (.pth,
    /// .safetensors; its architecture is --arch) or fetched weights-table name as the pretrained
    /// backbone instead of pretraining here.
    #[arg(long)]
    from: Option<PathBuf>,
    #[command(flatten)]
    checkpoint: crate::checkpoint_args::CheckpointArgs,
    /// The class-split study on this data set: pretrain on its classes 0-4, learn 5-9 [default: mnist].
    #[arg(long)]
    split: Option<String>,
    /// Pretrain on this whole data set (e.g. fashion-mnist) [default: MNIST digits 0-4].
    #[arg(long)]
    pretrain_dataset: Option<String>,
    /// Target data set [default: MNIST digits 5-9]; e.g. mnist (all digits) or folder:PATH.
    #[arg(long)]
    target: Option<String>,
    /// Labelled images per class, comma-separated [default: 10,100].
    #[arg(long, value_delimiter = ',')]
    budgets: Option<Vec<usize>>,
    /// Optimizer steps per run [default: 300].
    #[arg(long)]
    steps: Option<usize>,
    /// Pretraining epochs [default: 10].
    #[arg(long)]
    pretrain_epochs: Option<usize>,
    /// Augmentation of the pretraining run [default: affine:deg=10,translate=0.1,scale=0.9-1.1; "none" for none].
    #[arg(long)]
    pretrain_augment: Option<String>,
    /// Square input size [default: the data set's].
    #[arg(long)]
    image_size: Option<usize>,
    /// ResNet stem: small (3×3, no max pool) or imagenet [default: small below 64 px].
    #[arg(long)]
    stem: Option<String>,
    /// Seed [default: 42].
    #[arg(long)]
    seed: Option<u64>,
    /// Backend.
    #[arg(long)]
    backend: Option<String>,
    /// Output directory [default: runs/transfer, or the next free runs/transfer-N].
    #[arg(long)]
    out: Option<PathBuf>,
    /// When --out already holds a study: move it aside (to DIR.old-N) and start afresh.
    #[arg(long)]
    overwrite: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut c = TransferConfig::default();
    if let Some(arch) = a.arch {
        c.arch = arch;
    }
    if let Some(d) = a.split {
        c.source = TransferSource::Classes {
            dataset: d.clone(),
            classes: (0..5).collect(),
        };
        c.target = d;
    }
    if let Some(d) = a.pretrain_dataset {
        c.source = TransferSource::Dataset(d);
    }
    if let Some(dir) = a.from {
        c.source = TransferSource::Dir(dir);
    }
    c.init_import = a.checkpoint.options();
    if let Some(t) = a.target {
        c.target = t;
        c.target_classes.clear();
    }
    c.budgets = a.budgets.unwrap_or(c.budgets);
    c.steps = a.steps.unwrap_or(c.steps);
    c.pretrain_epochs = a.pretrain_epochs.unwrap_or(c.pretrain_epochs);
    c.seed = a.seed.unwrap_or(c.seed);
    if let Some(aug) = a.pretrain_augment {
        c.pretrain_augment = (aug != "none").then_some(aug);
    }
    c.image_size = a.image_size;
    c.small_stem = match a.stem.as_deref() {
        None => None,
        Some("small") => Some(true),
        Some("imagenet") => Some(false),
        Some(other) => anyhow::bail!("--stem {other}: expected small or imagenet"),
    };
    if let Some(b) = a.backend {
        c.backend = b;
    }
    let chosen = kiln::run_dir::choose_out(
        a.out.as_deref(),
        &crate::workspace_root().join("runs/transfer"),
        false,
        a.overwrite,
    )?;
    if let Some(note) = &chosen.note {
        println!("{note}");
    }
    let out = chosen.path;
    let started = std::time::Instant::now();
    let rows = transfer_study(&c, &out, &crate::data_roots(None))?;
    println!("{}", markdown_table(&rows));
    println!(
        "total {:.0} s; table written to {}",
        started.elapsed().as_secs_f64(),
        out.join("table.md").display()
    );
    Ok(())
}
