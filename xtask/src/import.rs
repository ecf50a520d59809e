use kiln::{
    model_dir::{self, ModelCard},
    weights::{imagenet_preprocessing, import_arch},
};
use kiln_train::import::ImportOptions;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Architecture (see `cargo xtask list`), e.g. resnet50.
    arch: String,
    /// The checkpoint: PyTorch .pth/.pt or .safetensors, torchvision's key names.
    #[arg(long)]
    from: PathBuf,
    /// The model directory to write.
    #[arg(long)]
    out: PathBuf,
    /// Classes of the new model [default: the checkpoint's]; another count keeps the backbone
    /// and initialises a fresh classifier.
    #[arg(long)]
    num_classes: Option<usize>,
    /// Strip this prefix from every key (DataParallel's `module.` and Lightning's `model.` are
    /// recognised without it).
    #[arg(long)]
    key_prefix: Option<String>,
    /// The dictionary key holding the state dict (`state_dict`, `model`).
    #[arg(long)]
    top_level_key: Option<String>,
    /// A text file with one class name per line [default: the class indices].
    #[arg(long)]
    classes: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let info = kiln::lookup(&a.arch)?;
    let device = kiln::device(kiln::core::DEFAULT_BACKEND)?;
    let options = ImportOptions {
        top_level_key: a.top_level_key,
        key_prefix: a.key_prefix,
        new_head: a.num_classes.is_some(),
    };
    let (model, spec, report) = import_arch(info.name, info.input[0], a.num_classes, &a.from, &options, &device)?;
    let num_classes = kiln::ImageClassifier::num_classes(&model);
    let classes = match &a.classes {
        Some(file) => {
            let names: Vec<String> = std::fs::read_to_string(file)?
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
            names
        }
        None => (0..num_classes).map(|c| c.to_string()).collect(),
    };
    let card = ModelCard {
        model: spec,
        classes,
        dataset: format!("imported from {}", a.from.display()),
        preprocessing: imagenet_preprocessing(info.name)?,
        kiln_version: env!("CARGO_PKG_VERSION").into(),
    };
    model_dir::save(&a.out, model, &card)?;
    println!(
        "imported {} tensors ({}) into {} with {num_classes} classes -> {}",
        report.applied,
        report.format.as_deref().unwrap_or("?"),
        info.name,
        a.out.display()
    );
    if let Some(p) = &report.stripped_prefix {
        println!("stripped key prefix `{p}`");
    }
    if !report.head_reinitialised.is_empty() {
        println!(
            "new classifier (freshly initialised): {}",
            report.head_reinitialised.join(", ")
        );
    }
    if !report.unused.is_empty() {
        eprintln!(
            "warning: {} checkpoint tensors were not used: {}",
            report.unused.len(),
            report.unused.join(", ")
        );
    }
    Ok(())
}
