use crate::checkpoint_args::CheckpointArgs;
use kiln::{
    tasks::{ModelSource, eval},
    weights::PretrainedOptions,
};
use kiln_train::EvalOptions;
use std::{io::Write, path::PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// A model directory written by `cargo xtask train` or `import`.
    #[arg(long, conflicts_with_all = ["arch", "weights"])]
    model: Option<PathBuf>,
    /// Architecture of --weights [default: the weights table's, for a published file name].
    #[arg(long, requires = "weights")]
    arch: Option<String>,
    /// A checkpoint (.pth, .safetensors) or fetched weights-table name to evaluate directly.
    #[arg(long)]
    weights: Option<PathBuf>,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
    /// Data set: a name (its test split), or `folder:PATH` (an image folder: its val/ or test/
    /// when it has one, else every image; or a path,label .csv/.tsv) [default: the one the model
    /// was trained on].
    #[arg(long)]
    dataset: Option<String>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Decoding threads [default: the number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Skip (and count) images that cannot be decoded instead of stopping.
    #[arg(long)]
    skip_bad_images: bool,
    /// Accept truncated image files (the missing part filled grey), with a warning; by default
    /// they are an error naming the file, as in Pillow.
    #[arg(long)]
    allow_truncated: bool,
    /// Backend.
    #[arg(long, default_value = kiln::core::DEFAULT_BACKEND)]
    backend: String,
    /// Print JSON (top-1, top-5, per class, confusion matrix, rates) instead of a table.
    #[arg(long)]
    json: bool,
    /// Extra directory searched first for data sets.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let source = match (&a.model, &a.weights) {
        (Some(dir), _) => ModelSource::Dir(dir.clone()),
        (None, Some(file)) => ModelSource::Weights(
            file.clone(),
            PretrainedOptions {
                arch: a.arch.clone(),
                import: a.checkpoint.options(),
                ..PretrainedOptions::default()
            },
        ),
        _ => anyhow::bail!(
            "give either --model DIR, or --weights FILE (with --arch NAME unless its name is a published one)"
        ),
    };
    let options = EvalOptions {
        batch_size: a.batch_size,
        workers: a
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        skip_bad: a.skip_bad_images,
        decode: kiln::data::image::DecodeOptions {
            allow_truncated: a.allow_truncated,
        },
    };
    let started = std::time::Instant::now();
    let mut shown = 0.0;
    let progress = |done: usize, total: usize| {
        // A progress line on stderr, about every 2% (a terminal shows it in place).
        let fraction = done as f64 / total.max(1) as f64;
        if fraction - shown >= 0.02 || done == total {
            shown = fraction;
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let width = 30;
            let filled = (fraction * width as f64) as usize;
            eprint!(
                "\r[{}{}] {done}/{total} images, {rate:.0} img/s ",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            let _ = std::io::stderr().flush();
        }
    };
    let out = eval(
        &source,
        a.dataset.as_deref(),
        &a.backend,
        &crate::data_roots(a.data_dir),
        &options,
        progress,
    )?;
    eprintln!();
    for note in &out.notes {
        eprintln!("note: {note}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let r = &out.report;
    println!(
        "{}: top-1 accuracy {:.2}% ({}/{}){}",
        out.dataset,
        100.0 * r.accuracy,
        r.correct,
        r.total,
        match (r.top5_accuracy, r.top5_correct) {
            (Some(acc), Some(n)) => format!(", top-5 {:.2}% ({n}/{})", 100.0 * acc, r.total),
            _ => String::new(),
        }
    );
    println!(
        "{:.0} img/s end to end; model {:.0} img/s, data loading {:.0} img/s on {} worker(s){}",
        r.images_per_second,
        r.model_images_per_second,
        r.data_images_per_second,
        options.workers.max(1),
        if r.skipped > 0 {
            format!("; {} undecodable image(s) skipped", r.skipped)
        } else {
            String::new()
        }
    );
    println!("\nper class:");
    for (name, acc) in out.classes.iter().zip(&r.per_class_accuracy) {
        println!("  {name:>12}  {:6.2}%", 100.0 * acc);
    }
    if out.classes.len() > 30 {
        println!("\n(confusion matrix of {} classes: see --json)", out.classes.len());
        return Ok(());
    }
    println!("\nconfusion matrix (rows: true class, columns: predicted):");
    print!("{:>12}", "");
    for c in 0..out.classes.len() {
        print!("{c:>6}");
    }
    println!();
    for (c, row) in r.confusion.iter().enumerate() {
        let name = &out.classes[c];
        let label = if *name == c.to_string() {
            name.clone()
        } else {
            format!("{c} {}", name.chars().take(9).collect::<String>())
        };
        print!("{label:>12}");
        for v in row {
            print!("{v:>6}");
        }
        println!();
    }
    Ok(())
}
