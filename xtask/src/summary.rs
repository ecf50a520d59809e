use kiln::{BuildOptions, ModelSpec, build_spec, core::summary::summarize};

#[derive(clap::Args)]
pub struct Args {
    /// Model name (see `cargo xtask list`).
    model: String,
    /// Input as CxHxW [default: the architecture's, e.g. 3x224x224].
    #[arg(long)]
    input: Option<String>,
    /// Output classes [default: 10 for LeNet-5, 1000 otherwise].
    #[arg(long)]
    num_classes: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_input(s: &str) -> anyhow::Result<[usize; 3]> {
    let parts: Vec<usize> = s
        .split(['x', 'X', ','])
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--input must look like 3x224x224, got `{s}`"))?;
    match parts[..] {
        [c, h, w] => {
            use kiln::core::limits::{CHANNELS, IMAGE_SIDE};
            CHANNELS.check_as("--input channels", c).map_err(anyhow::Error::msg)?;
            IMAGE_SIDE.check_as("--input height", h).map_err(anyhow::Error::msg)?;
            IMAGE_SIDE.check_as("--input width", w).map_err(anyhow::Error::msg)?;
            Ok([c, h, w])
        }
        _ => anyhow::bail!("--input must be CxHxW with three positive numbers, got `{s}`"),
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let info = kiln::lookup(&a.model)?;
    let input = match &a.input {
        Some(s) => parse_input(s)?,
        None => info.input,
    };
    let [c, h, w] = input;
    let options = BuildOptions {
        image_size: Some([h, w]),
        ..BuildOptions::new(
            a.num_classes
                .unwrap_or(if info.family == kiln::Family::LeNet { 10 } else { 1000 }),
            c,
        )
    };
    let device = kiln::device(kiln::core::DEFAULT_BACKEND)?;
    let model = build_spec(&ModelSpec::new(info.name, &options)?, &device)?;
    kiln::memory::check(
        &model,
        info.name,
        input,
        1,
        false,
        &format!("summary of {} at --input {c}x{h}x{w}", info.name),
        &device,
    )
    .map_err(anyhow::Error::msg)?;
    let summary = summarize(&model, input, &device);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{} ({})", info.name, info.paper);
        print!("{summary}");
    }
    Ok(())
}
