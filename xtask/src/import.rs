use crate::checkpoint_args::CheckpointArgs;
use kiln::{
    model_dir::{self, ModelCard},
    weights::{PretrainedOptions, load_pretrained, resolve_weights},
};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Architecture (see `cargo xtask list`), e.g. resnet50 [default: the weights table's, for a
    /// published file name].
    arch: Option<String>,
    /// The checkpoint: PyTorch .pth/.pt or .safetensors with torchvision's key names, a Keras
    /// .h5 / .weights.h5 / .keras file (for a keras_* architecture), or a weights-table name once
    /// fetched.
    #[arg(long)]
    from: PathBuf,
    /// The model directory to write (refused when it holds a model, unless --overwrite).
    #[arg(long)]
    out: PathBuf,
    /// When --out already holds a model: move it aside (to DIR.old-N) first.
    #[arg(long)]
    overwrite: bool,
    /// Classes of the new model [default: the checkpoint's]; another count keeps the backbone
    /// and initialises a fresh classifier.
    #[arg(long)]
    num_classes: Option<usize>,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
    /// Inception v3's transform_input [default: the weights entry's; on for other files, as
    /// torchvision's pretrained model].
    #[arg(long)]
    transform_input: Option<bool>,
    /// A text file with one class name per line [default: the weights entry's names, else the
    /// class indices].
    #[arg(long)]
    classes: Option<PathBuf>,
}

fn read_classes(file: &std::path::Path, num_classes: usize) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("--classes {}: {e}", file.display()))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    anyhow::ensure!(
        names.len() == num_classes,
        "{} lists {} classes but the model has {num_classes}",
        file.display(),
        names.len()
    );
    Ok(names)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let chosen = kiln::run_dir::choose_out(Some(&a.out), &a.out, false, a.overwrite)?;
    if let Some(note) = &chosen.note {
        println!("{note}");
    }
    let device = kiln::device(kiln::core::DEFAULT_BACKEND)?;
    let file = resolve_weights(&a.from)?;
    if let Some(w) = file.warning() {
        eprintln!("{w}");
    }
    let options = PretrainedOptions {
        arch: a.arch.clone(),
        num_classes: a.num_classes,
        import: a.checkpoint.options(),
        transform_input: a.transform_input,
        ..PretrainedOptions::default()
    };
    let p = load_pretrained(&file, &options, &device)?;
    let num_classes = kiln::ImageClassifier::num_classes(&p.model);
    let classes = match &a.classes {
        Some(list) => read_classes(list, num_classes)?,
        None => p.classes.clone(),
    };
    let arch = p.spec.arch.clone();
    let card = ModelCard {
        model: p.spec,
        classes,
        dataset: match p.entry {
            Some(e) => format!("{} ({})", e.name, e.file),
            None => format!("imported from {}", a.from.display()),
        },
        preprocessing: p.preprocessing,
        kiln_version: env!("CARGO_PKG_VERSION").into(),
    };
    model_dir::save(&a.out, p.model, &card)?;
    println!(
        "imported {} tensors ({}) into {arch} with {num_classes} classes -> {}",
        p.report.applied,
        p.report.format.as_deref().unwrap_or("?"),
        a.out.display()
    );
    for line in p.report.lines() {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// `--classes FILE` that is missing is named.
    #[test]
    fn a_missing_class_list_is_named() {
        let err = super::read_classes(std::path::Path::new("/nonexistent/classes.txt"), 3).unwrap_err();
        assert!(err.to_string().contains("--classes /nonexistent/classes.txt"), "{err}");
    }
}
