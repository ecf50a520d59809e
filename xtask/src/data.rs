use kiln_data::fetch::{FASHION_MNIST_DEB, FASHION_MNIST_FILES, fetch_debian, verify};

#[derive(clap::Args)]
pub struct Args {
    /// fashion-mnist (from Debian's dataset-fashion-mnist) or mnist (check the shipped files).
    name: String,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    match a.name.as_str() {
        "fashion-mnist" => {
            let dest = root.join("data").join("fashion-mnist");
            fetch_debian(FASHION_MNIST_DEB, &FASHION_MNIST_FILES, &dest)?;
            println!("fashion-mnist ready in {} (checksums verified)", dest.display());
        }
        "mnist" => {
            let dir = root.join("datasets").join("mnist");
            verify(&dir, &kiln_data::fetch::MNIST_FILES)?;
            println!("mnist ships in {} (checksums verified)", dir.display());
        }
        other => anyhow::bail!("unknown data set `{other}`; known: fashion-mnist, mnist"),
    }
    Ok(())
}
