use kiln::{
    Preprocessing,
    tasks::{predict, predict_with},
    weights::{imagenet_preprocessing, import_arch},
};
use kiln_train::import::ImportOptions;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A model directory written by `cargo xtask train` or `cargo xtask import`.
    #[arg(long, conflicts_with_all = ["arch", "weights"])]
    model: Option<PathBuf>,
    /// Architecture of --weights.
    #[arg(long, requires = "weights")]
    arch: Option<String>,
    /// A checkpoint (.pth or .safetensors) to predict with directly.
    #[arg(long, requires = "arch")]
    weights: Option<PathBuf>,
    /// Image files (PNG or JPEG); a dense model without images predicts on generated test canvases.
    images: Vec<PathBuf>,
    /// Dense models: how many generated test canvases to draw when no images are given.
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// Dense models: the folder pictures are written to [default: MODEL/pictures].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Shorter side resized to this before the crop [default: torchvision's, 256; 342 for Inception].
    #[arg(long)]
    resize: Option<usize>,
    /// Centre crop size [default: 224; 299 for Inception].
    #[arg(long)]
    crop: Option<usize>,
    /// Per-channel mean, comma-separated [default: 0.485,0.456,0.406].
    #[arg(long, value_delimiter = ',')]
    mean: Option<Vec<f32>>,
    /// Per-channel standard deviation [default: 0.229,0.224,0.225].
    #[arg(long, value_delimiter = ',')]
    std: Option<Vec<f32>>,
    /// Write the raw logits of each image to this JSON file.
    #[arg(long)]
    logits_json: Option<PathBuf>,
    /// How many classes to show per image.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Backend.
    #[arg(long, default_value = kiln::core::DEFAULT_BACKEND)]
    backend: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn preprocessing(a: &Args, arch: &str) -> anyhow::Result<Preprocessing> {
    let mut p = imagenet_preprocessing(arch)?;
    if let Some(r) = a.resize {
        p.resize = Some(r);
    }
    if let Some(c) = a.crop {
        p.height = c;
        p.width = c;
    }
    if let Some(m) = &a.mean {
        anyhow::ensure!(
            m.len() == p.channels,
            "--mean needs {} values, got {}",
            p.channels,
            m.len()
        );
        p.mean = m.clone();
    }
    if let Some(s) = &a.std {
        anyhow::ensure!(
            s.len() == p.channels,
            "--std needs {} values, got {}",
            p.channels,
            s.len()
        );
        anyhow::ensure!(s.iter().all(|v| *v > 0.0), "--std values must be positive");
        p.std = s.clone();
    }
    Ok(p)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(dir) = a.model.as_ref().filter(|d| kiln::dense::is_dense_dir(d)) {
        return crate::dense::predict(dir, &a.images, a.count, a.out.clone(), &a.backend);
    }
    anyhow::ensure!(!a.images.is_empty(), "name at least one image to classify");
    let predictions = match (&a.model, &a.arch, &a.weights) {
        (Some(dir), _, _) => predict(dir, &a.images, a.top, &a.backend)?,
        (None, Some(arch), Some(weights)) => {
            let info = kiln::lookup(arch)?;
            let device = kiln::core::backend::checked_device(&a.backend)?;
            let (model, _, _) = import_arch(
                info.name,
                info.input[0],
                None,
                weights,
                &ImportOptions::default(),
                &device,
            )?;
            let classes: Vec<String> = (0..kiln::ImageClassifier::num_classes(&model))
                .map(|c| c.to_string())
                .collect();
            predict_with(
                &model,
                &classes,
                &preprocessing(&a, info.name)?,
                &a.images,
                a.top,
                &device,
            )?
        }
        _ => anyhow::bail!("give either --model DIR, or --arch NAME with --weights FILE"),
    };
    if let Some(path) = &a.logits_json {
        let rows: Vec<serde_json::Value> = predictions
            .iter()
            .map(|p| serde_json::json!({"image": p.image, "logits": p.logits}))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&predictions)?);
        return Ok(());
    }
    for p in predictions {
        let top: Vec<String> = p
            .top
            .iter()
            .map(|(class, prob)| format!("{class} {:.2}%", 100.0 * prob))
            .collect();
        println!("{}: {}", p.image.display(), top.join(", "));
    }
    Ok(())
}
