use kiln::tasks::predict;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A model directory written by `cargo xtask train`.
    #[arg(long)]
    model: PathBuf,
    /// Image files (PNG or JPEG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
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

pub fn run(a: Args) -> anyhow::Result<()> {
    let predictions = predict(&a.model, &a.images, a.top, &a.backend)?;
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
