//! `cargo xtask weights`: the weights table, and downloads into the cache.

use kiln::train::pretrained::{WeightsEntry, fetch, find_weights, weights_table};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
    /// Only the entries of this architecture.
    #[arg(long)]
    arch: Option<String>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Download a published file into the cache (`KILN_HOME`, default ~/.cache/kiln) and check
    /// its sha256 prefix; an interrupted download resumes.
    Fetch {
        /// A table name (`ResNet50_Weights.IMAGENET1K_V2`) or published file name.
        name: String,
        /// Directory to download into [default: $KILN_HOME/weights].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Download from this address instead of the published one (a mirror).
        #[arg(long)]
        url: Option<String>,
    },
}

/// Where an entry's file is on this machine, if anywhere.
fn cached(e: &WeightsEntry) -> Option<PathBuf> {
    fetch::search_dirs()
        .into_iter()
        .map(|d| d.join(&e.file))
        .find(|p| p.is_file())
}

fn list(a: &Args) -> anyhow::Result<()> {
    let entries: Vec<&WeightsEntry> = weights_table()
        .iter()
        .filter(|e| {
            a.arch
                .as_deref()
                .is_none_or(|arch| kiln::lookup(arch).is_ok_and(|i| i.name == e.arch))
        })
        .collect();
    if a.json {
        let rows: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).expect("an entry serialises");
                v["cached"] = serde_json::json!(cached(e));
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<36} {:<13} {:>7} {:>7} {:>11} {:>7}  {:<22} {:<8} file",
        "weights", "arch", "acc@1", "acc@5", "params", "GFLOPS", "transform", "cached"
    );
    for e in entries {
        let pct = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
        let t = &e.transform;
        println!(
            "{:<36} {:<13} {:>7} {:>7} {:>11} {:>7}  {:<22} {:<8} {}",
            e.name,
            e.arch,
            pct(e.acc1),
            pct(e.acc5),
            e.params.map_or_else(|| "-".into(), |p| p.to_string()),
            e.gflops.map_or_else(|| "-".into(), |g| format!("{g:.2}")),
            format!("{} {}→{}", t.interpolation, t.resize, t.crop),
            if cached(e).is_some() { "yes" } else { "no" },
            e.url
        );
    }
    println!(
        "\nDownload one with `cargo xtask weights fetch NAME` (into {}); files in torch.hub's cache are found too.",
        fetch::weights_dir().display()
    );
    Ok(())
}

fn fetch_one(name: &str, dir: Option<PathBuf>, url: Option<String>) -> anyhow::Result<()> {
    let entry = find_weights(name)
        .ok_or_else(|| anyhow::anyhow!("no weights called {name} in the table (`cargo xtask weights` lists them)"))?;
    let dir = dir.unwrap_or_else(fetch::weights_dir);
    let url = url.unwrap_or_else(|| entry.url.clone());
    eprintln!(
        "downloading {} ({}, {:.0} MB) from {url} into {}",
        entry.name,
        entry.file,
        entry.file_size_mb.unwrap_or(0.0),
        dir.display()
    );
    let mut shown = 0u64;
    let path = fetch::fetch(
        &url,
        &dir,
        &entry.file,
        entry.expected_hash().as_deref(),
        |done, total| {
            if done >= shown + (16 << 20) {
                shown = done;
                match total {
                    Some(t) => eprintln!("  {} / {} MB", done >> 20, t >> 20),
                    None => eprintln!("  {} MB", done >> 20),
                }
            }
        },
    )?;
    println!("{} -> {} (sha256 prefix checked)", entry.name, path.display());
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Some(Command::Fetch {
            ref name,
            ref dir,
            ref url,
        }) => fetch_one(name, dir.clone(), url.clone()),
        None => list(&a),
    }
}
