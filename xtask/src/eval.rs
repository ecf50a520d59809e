use kiln::tasks::eval;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A model directory written by `cargo xtask train`.
    #[arg(long)]
    model: PathBuf,
    /// Data set [default: the one the model was trained on].
    #[arg(long)]
    dataset: Option<String>,
    /// Backend.
    #[arg(long, default_value = kiln::core::DEFAULT_BACKEND)]
    backend: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Extra directory searched first for data sets.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let out = eval(
        &a.model,
        a.dataset.as_deref(),
        &a.backend,
        &crate::data_roots(a.data_dir),
        256,
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let r = &out.report;
    println!(
        "{} test set: accuracy {:.2}% ({}/{})",
        out.dataset,
        100.0 * r.accuracy,
        r.correct,
        r.total
    );
    println!("\nper class:");
    for (name, acc) in out.classes.iter().zip(&r.per_class_accuracy) {
        println!("  {name:>12}  {:6.2}%", 100.0 * acc);
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
