//! Transfer learning by fine-tuning: start from a pretrained backbone, train everything, the
//! backbone at a tenth of the head's learning rate; compared with training from scratch.
//!
//! ```text
//! cargo run --release -p kiln --example transfer_finetune -- [LABELS_PER_CLASS] [PRETRAINED] [TARGET]
//! ```
//! Arguments as in `transfer_feature_extraction`. The same choice on the command line:
//! `cargo xtask train lenet5 --init-from DIR --backbone-lr-mult 0.1`.

use kiln::tasks::{Strategy, TransferConfig, TransferSource, markdown_table, transfer_study};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = TransferConfig {
        budgets: vec![args.first().map(|s| s.parse()).transpose()?.unwrap_or(100)],
        strategies: vec![Strategy::Scratch, Strategy::FineTune { mult: 0.1 }],
        ..TransferConfig::default()
    };
    if let Some(pretrained) = args.get(1) {
        config.source = TransferSource::Dir(PathBuf::from(pretrained));
        config.arch = std::env::var("KILN_ARCH").unwrap_or_else(|_| "resnet18".into());
    }
    if let Some(target) = args.get(2) {
        config.target = target.clone();
        config.target_classes.clear();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rows = transfer_study(&config, &root.join("runs/example-finetune"), &[root.join("datasets"), root.join("data")])?;
    println!("{}", markdown_table(&rows));
    Ok(())
}
