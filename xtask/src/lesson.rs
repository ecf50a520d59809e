//! `cargo xtask lesson ...`: the course's lessons as pictures and tables (runs/lessons/).

use kiln::{Activation, Init, lessons};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    lesson: Lesson,
    /// Output folder [default: runs/lessons].
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Lesson {
    /// Classic filters (blur, sharpen, Sobel, Laplacian) as convolutions on a photo.
    Filters {
        /// The photo [default: datasets/samples/chelsea.png].
        #[arg(long)]
        image: Option<PathBuf>,
    },
    /// A trained model's first-layer filters and its first stage's feature maps for an image.
    Learned {
        /// A model directory (`cargo xtask train`).
        #[arg(long)]
        model: PathBuf,
        /// The image [default: an MNIST sample].
        #[arg(long)]
        image: Option<PathBuf>,
    },
    /// Gradient norms per layer of a deep plain network at initialisation, per activation; and
    /// activation variance across depth with Xavier vs He initialisation.
    Activations {
        /// Layers.
        #[arg(long, default_value_t = 12)]
        depth: usize,
    },
    /// Each layer's receptive field drawn on an image.
    Receptive {
        /// A registry model name.
        #[arg(long, default_value = "lenet5")]
        model: String,
        /// The image [default: an MNIST sample for lenet5, the cat photo otherwise].
        #[arg(long)]
        image: Option<PathBuf>,
    },
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let out = a.out.unwrap_or_else(|| root.join("runs/lessons"));
    std::fs::create_dir_all(&out)?;
    let device = kiln::device("flex")?;
    let samples = root.join("datasets/samples");
    match a.lesson {
        Lesson::Filters { image } => {
            let photo = image::open(image.unwrap_or(samples.join("chelsea.png")))?.to_luma8();
            let (grid, names) = lessons::filters::filter_grid(&photo, &device);
            let path = out.join("filters.png");
            grid.save(&path)?;
            println!("{} (tiles, left to right: {})", path.display(), names.join(", "));
        }
        Lesson::Learned { model, image } => {
            let (m, card) = kiln::model_dir::load(&model, &device)?;
            let w =
                lessons::grids::first_conv_weight(&m).ok_or_else(|| anyhow::anyhow!("the model has no convolution"))?;
            let path = out.join("first-layer-filters.png");
            lessons::grids::filter_grid(w, 8).save(&path)?;
            println!("{}", path.display());
            let image = image.unwrap_or(samples.join("mnist-test-0-label-7.png"));
            let item = kiln_data::load_image(&image, &card.preprocessing)?;
            let batch = kiln_data::ClassificationBatcher::new(&card.preprocessing);
            let x = burn::data::dataloader::batcher::Batcher::batch(&batch, vec![item], &device).images;
            let maps =
                lessons::grids::feature_map_grid(&m, x, 0, 64, 4).ok_or_else(|| anyhow::anyhow!("no feature stage"))?;
            let path = out.join("feature-maps.png");
            maps.save(&path)?;
            println!("{}", path.display());
        }
        Lesson::Activations { depth } => {
            let ad = device.clone().autodiff();
            device.seed(1);
            let mut grads = Vec::new();
            for act in [
                Activation::Sigmoid,
                Activation::Tanh,
                Activation::Relu,
                Activation::LeakyRelu,
            ] {
                let init = if matches!(act, Activation::Sigmoid | Activation::Tanh) {
                    Init::Xavier
                } else {
                    Init::He
                };
                grads.push((
                    format!("{act} ({init})"),
                    lessons::activations::gradient_norms(depth, 128, act, init, &ad),
                ));
            }
            let mut vars = Vec::new();
            for (act, init) in [
                (Activation::Tanh, Init::Xavier),
                (Activation::Relu, Init::Xavier),
                (Activation::Relu, Init::He),
            ] {
                vars.push((
                    format!("{act} + {init}"),
                    lessons::activations::activation_variances(depth, 256, act, init, &device),
                ));
            }
            let text = format!(
                "## Weight-gradient norm per layer at initialisation (layer 1 = input side)\n\n{}\n\
                 ## Activation variance per layer\n\n{}",
                lessons::activations::table(&grads),
                lessons::activations::table(&vars)
            );
            let path = out.join("activations.md");
            std::fs::write(&path, &text)?;
            println!("{text}\n{}", path.display());
        }
        Lesson::Receptive { model, image } => {
            let info = kiln::lookup(&model)?;
            let [c, h, w] = info.input;
            let m = kiln::build(info.name, 10, c, &device)?;
            let fields = lessons::receptive::receptive_fields(&m, [c, h, w], &device);
            let default = if c == 1 {
                samples.join("mnist-test-0-label-7.png")
            } else {
                samples.join("chelsea.png")
            };
            let img = image::open(image.unwrap_or(default))?.to_rgb8();
            let img = image::imageops::resize(&img, w as u32, h as u32, image::imageops::FilterType::Triangle);
            let scale = (256 / w as u32).max(1);
            let big = image::imageops::resize(
                &img,
                w as u32 * scale,
                h as u32 * scale,
                image::imageops::FilterType::Nearest,
            );
            let scaled: Vec<(String, [usize; 2])> = fields
                .iter()
                .map(|(p, [fh, fw])| (p.clone(), [fh * scale as usize, fw * scale as usize]))
                .collect();
            let path = out.join(format!("receptive-{}.png", info.name));
            lessons::receptive::draw(&big, &scaled).save(&path)?;
            println!("{}\n{}", lessons::receptive::table(&fields), path.display());
        }
    }
    Ok(())
}
