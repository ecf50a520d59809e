use crate::checkpoint_args::CheckpointArgs;
use kiln::{
    Preprocessing,
    core::Interpolation,
    tasks::{PredictOptions, Prediction, predict_batches},
    weights::{PretrainedOptions, load_pretrained, resolve_weights},
};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A model directory written by `cargo xtask train` or `cargo xtask import`.
    #[arg(long, conflicts_with_all = ["arch", "weights"])]
    model: Option<PathBuf>,
    /// Architecture of --weights [default: the weights table's, for a published file name].
    #[arg(long, requires = "weights")]
    arch: Option<String>,
    /// A checkpoint (.pth, .safetensors, or Keras .h5 / .weights.h5 / .keras for a keras_*
    /// architecture) to predict with directly, or a weights-table name
    /// (`ResNet50_Weights.IMAGENET1K_V2`) once `cargo xtask weights fetch` has cached it.
    #[arg(long)]
    weights: Option<PathBuf>,
    #[command(flatten)]
    checkpoint: CheckpointArgs,
    /// Inception v3's transform_input [default: the weights entry's; on for other files, as
    /// torchvision's pretrained model].
    #[arg(long)]
    transform_input: Option<bool>,
    /// Image files, or directories (every image under them); a dense model without images
    /// predicts on generated test canvases.
    images: Vec<PathBuf>,
    /// Images per forward pass (results print as each batch finishes; memory stays bounded).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Decoding threads [default: the number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Accept truncated image files (the missing part filled grey), with a warning; by default
    /// they are an error naming the file, as in Pillow.
    #[arg(long)]
    allow_truncated: bool,
    /// Dense models: how many generated test canvases to draw when no images are given.
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// Dense models: the folder pictures are written to [default: MODEL/pictures].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Shorter side resized to this before the crop [default: the weights entry's; 256, 342 for
    /// Inception].
    #[arg(long)]
    resize: Option<usize>,
    /// Centre crop size [default: the weights entry's; 224, 299 for Inception].
    #[arg(long)]
    crop: Option<usize>,
    /// Resampling filter of the resize, bilinear, bicubic or nearest [default: the weights entry's].
    #[arg(long)]
    interpolation: Option<Interpolation>,
    /// Per-channel mean, comma-separated [default: the weights entry's; ImageNet's].
    #[arg(long, value_delimiter = ',')]
    mean: Option<Vec<f32>>,
    /// Per-channel standard deviation [default: the weights entry's; ImageNet's].
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
    /// Print JSON lines: one object per image with `image` and `top` (index, name, probability).
    #[arg(long)]
    json: bool,
}

/// The preprocessing of `p` with the flags' overrides.
fn overridden(a: &Args, mut p: Preprocessing) -> anyhow::Result<Preprocessing> {
    if let Some(r) = a.resize {
        p.resize = Some(r);
    }
    if let Some(c) = a.crop {
        p.height = c;
        p.width = c;
    }
    if let Some(i) = a.interpolation {
        p.interpolation = i;
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

/// The model, class names and preprocessing of `--model DIR` or `--weights FILE`.
fn load(a: &Args, device: &burn::tensor::Device) -> anyhow::Result<(kiln::Model, String, Vec<String>, Preprocessing)> {
    if let Some(dir) = &a.model {
        let (model, card) = kiln::model_dir::load(dir, device)?;
        return Ok((model, card.model.arch, card.classes, overridden(a, card.preprocessing)?));
    }
    let Some(weights) = &a.weights else {
        anyhow::bail!(
            "give either --model DIR, or --weights FILE (with --arch NAME unless its name is a published one)"
        );
    };
    let file = resolve_weights(weights)?;
    if let Some(w) = file.warning() {
        eprintln!("{w}");
    }
    let options = PretrainedOptions {
        arch: a.arch.clone(),
        import: a.checkpoint.options(),
        transform_input: a.transform_input,
        ..PretrainedOptions::default()
    };
    let p = load_pretrained(&file, &options, device)?;
    if let Some(e) = p.entry.filter(|e| e.features_only.is_some()) {
        let part = match e.features_only.as_deref() {
            Some("") | None => "it is the convolutional base only".to_string(),
            Some(prefix) => format!("only `{prefix}` holds valid values"),
        };
        anyhow::bail!(
            "{} has no trained classifier ({part}): use it as a backbone (`train --init-from`, or \
             `import --num-classes N`)",
            e.name,
        );
    }
    for line in p.report.lines() {
        eprintln!("{line}");
    }
    if let Some(e) = p.entry.filter(|e| e.keras_mode.is_some()) {
        eprintln!(
            "{}: {} ({}), Keras's preprocessing: nearest resize to {}, `{}` mode",
            file.path.display(),
            e.name,
            e.arch,
            e.transform.crop,
            e.keras_mode.as_deref().unwrap_or_default()
        );
    } else if let Some(e) = p.entry {
        eprintln!(
            "{}: {} ({}), resize {} {} + centre crop {}",
            file.path.display(),
            e.name,
            e.arch,
            e.transform.resize,
            e.transform.interpolation,
            e.transform.crop
        );
    }
    let preprocessing = overridden(a, p.preprocessing.clone())?;
    Ok((p.model, p.spec.arch, p.classes, preprocessing))
}

fn line(p: &Prediction) -> String {
    let top: Vec<String> = p
        .top
        .iter()
        .map(|c| {
            let label = if c.name == c.index.to_string() {
                c.name.clone()
            } else {
                format!("{} {}", c.index, c.name)
            };
            format!("{label} {:.1}%", 100.0 * c.probability)
        })
        .collect();
    format!("{}: {}", p.image.display(), top.join(", "))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(dir) = a.model.as_ref().filter(|d| kiln::dense::is_dense_dir(d)) {
        return crate::dense::predict(dir, &a.images, a.count, a.out.clone(), &a.backend);
    }
    let images = kiln::data::files::expand_image_args(&a.images)?;
    anyhow::ensure!(
        !images.is_empty(),
        "name at least one image (or a directory of images) to classify"
    );
    let device = kiln::core::backend::checked_device(&a.backend)?;
    let (model, arch, classes, preprocessing) = load(&a, &device)?;
    preprocessing
        .validate()
        .map_err(|e| anyhow::anyhow!("preprocessing: {e}"))?;
    kiln::core::limits::BATCH_SIZE
        .check(a.batch_size)
        .map_err(anyhow::Error::msg)?;
    let p = &preprocessing;
    kiln::memory::check(
        &model,
        &arch,
        [p.channels, p.height, p.width],
        a.batch_size,
        false,
        &format!(
            "predict with --batch-size {} on {}×{} images",
            a.batch_size, p.height, p.width
        ),
        &device,
    )
    .map_err(anyhow::Error::msg)?;
    let options = PredictOptions {
        top_k: a.top,
        batch_size: a.batch_size,
        workers: a
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        decode: kiln::data::image::DecodeOptions {
            allow_truncated: a.allow_truncated,
        },
    };
    let mut logits = Vec::new();
    let mut stdout = std::io::stdout().lock();
    predict_batches(&model, &classes, &preprocessing, &images, &options, &device, |batch| {
        use std::io::Write;
        for p in &batch {
            // One line per image as each batch finishes: JSON lines with --json.
            let text = if a.json {
                serde_json::to_string(&serde_json::json!({"image": p.image, "top": p.top}))
                    .expect("a prediction serialises")
            } else {
                line(p)
            };
            let _ = writeln!(stdout, "{text}");
        }
        let _ = stdout.flush();
        if a.logits_json.is_some() {
            logits.extend(
                batch
                    .into_iter()
                    .map(|p| serde_json::json!({"image": p.image, "logits": p.logits})),
            );
        }
        Ok(())
    })?;
    if let Some(path) = &a.logits_json {
        std::fs::write(path, serde_json::to_string_pretty(&logits)?)?;
    }
    Ok(())
}
