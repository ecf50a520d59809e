//! Transfer learning by fine-tuning: start from a pretrained backbone and train everything, the
//! backbone at a tenth of the classifier's learning rate; compared with training from scratch.
//!
//! ```text
//! cargo run --release -p kiln --example transfer_finetune -- [LABELS_PER_CLASS] [PRETRAINED] [TARGET]
//! ```
//! Arguments as in `transfer_feature_extraction`. The same choice on the command line:
//! `cargo xtask train lenet5 --init-from DIR --backbone-lr-mult 0.1`.

use kiln::tasks::{Strategy, TransferConfig, markdown_table, transfer_study};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = TransferConfig::from_example_args(&args, vec![Strategy::Scratch, Strategy::FineTune { mult: 0.1 }])?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = [root.join("datasets"), root.join("data")];
    let out = kiln::run_dir::choose_out(None, &root.join("runs/example-finetune"), false, false)?.path;
    let rows = transfer_study(&config, &out, &data)?;
    println!("{}", markdown_table(&rows));
    Ok(())
}
