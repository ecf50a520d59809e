//! Transfer learning by feature extraction: a pretrained backbone, frozen (its BatchNorm
//! statistics too), and a new classifier trained on a few labels; compared with training from
//! scratch.
//!
//! ```text
//! cargo run --release -p kiln --example transfer_feature_extraction -- [LABELS_PER_CLASS] [PRETRAINED] [TARGET]
//! ```
//! - default: pretrain LeNet-5 on MNIST digits 0–4 here, then learn digits 5–9 from 100 labels
//!   per class;
//! - `PRETRAINED`: a Kiln model directory, or a torchvision checkpoint (`resnet18-f37072fd.pth`,
//!   `.safetensors`; its architecture is `$KILN_ARCH`, default resnet18);
//! - `TARGET`: a data set name, or your photos as an image folder: `folder:PATH,size=224`.

use kiln::tasks::{Strategy, TransferConfig, markdown_table, transfer_study};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = TransferConfig::from_example_args(&args, vec![Strategy::Scratch, Strategy::FeatureExtraction])?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = [root.join("datasets"), root.join("data")];
    let out = kiln::run_dir::choose_out(None, &root.join("runs/example-feature-extraction"), false, false)?.path;
    let rows = transfer_study(&config, &out, &data)?;
    println!("{}", markdown_table(&rows));
    Ok(())
}
