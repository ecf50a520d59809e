//! `cargo xtask bench`: how fast Kiln trains and infers, measured as a user can trust: any
//! registry model, one process per workload (so peak RSS is that workload's), warm-up steps,
//! then every timed step measured alone; the median step time, images per second, achieved
//! GFLOP/s (from the summary's multiply-accumulates: ×2 for FLOPs, ×3 for a training step) and
//! peak RSS. `--compare` alternates Kiln and PyTorch (`scripts/bench/torch_reference.py`: same
//! architecture, input, batch, optimizer and thread count) on the standard workloads and prints
//! the ratio table. A benchmark, never a test: it asserts nothing.

use burn::{
    optim::GradientsParams,
    tensor::{Distribution, Int, Tensor},
};
use kiln::{BuildOptions, ModelSpec, build_seeded, build_spec};
use kiln_train::{ClassificationModel, LossGuard, OptimSettings, OptimizerKind};
use serde::{Deserialize, Serialize};
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Instant,
};

#[derive(clap::Args)]
pub struct Args {
    /// Models to time, comma-separated [default: lenet5,resnet18]; with --compare, each model
    /// training (batch --batch-size) and inferring (batch 1) instead of the standard workloads.
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// train (forward, backward, SGD step) or infer (forward, inference mode).
    #[arg(long, default_value = "train")]
    mode: String,
    /// Input as CxHxW [default: the model's, e.g. 1x28x28 for LeNet-5, 3x224x224].
    #[arg(long)]
    input: Option<String>,
    /// Images per step.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Backend.
    #[arg(long, default_value = kiln::core::DEFAULT_BACKEND)]
    backend: String,
    /// ResNet stem: small (3×3, no max pool) or imagenet [default: small below 64 px].
    #[arg(long)]
    stem: Option<String>,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed steps (the median is reported): at least this many...
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// ...and more until the timed steps add up to this many seconds (a 5 ms step, LeNet-5's,
    /// is otherwise timed over 50 ms, one burst of a neighbour on a shared machine).
    #[arg(long, default_value_t = 1.0)]
    min_seconds: f64,
    /// Threads (rayon's for Kiln, torch.set_num_threads for PyTorch) [default: every core].
    #[arg(long)]
    threads: Option<usize>,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
    /// The standard workloads, alternating Kiln and PyTorch, and their ratio table.
    #[arg(long)]
    compare: bool,
    /// ResNet-18's convolutions one by one (forward, input gradient, weight gradient; at --input,
    /// default 3x224x224, with --stem; LeNet-5's with --models lenet5), alternating Kiln and
    /// PyTorch: where a training step's convolution time goes.
    #[arg(long)]
    convs: bool,
    /// Rounds of --compare and --convs (medians over rounds).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The Python that runs the PyTorch side.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Also time the MNIST augmentation pipeline (one thread).
    #[arg(long)]
    pipeline: bool,
    /// Also time an image folder: decoding + random resized crop 224 + flip + batching on each
    /// worker count of --workers, against a ResNet-18 training step at 224.
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Worker counts for --folder.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    workers: Vec<usize>,
    /// Images through the pipeline / folder rows.
    #[arg(long, default_value_t = 2000)]
    images: usize,
    /// Run one workload in this process (used by the others).
    #[arg(long, hide = true)]
    one: bool,
}

/// One timed workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    model: String,
    mode: String,
    input: [usize; 3],
    batch: usize,
    stem: String,
}

/// What a workload measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Measured {
    #[serde(flatten)]
    workload: Workload,
    backend: String,
    threads: usize,
    median_ms: f64,
    img_s: f64,
    gflops: f64,
    macs_per_image: u64,
    #[serde(default)]
    peak_rss_mb: f64,
}

/// The standard workloads of the comparison (the speed issue's table).
fn standard() -> Vec<Workload> {
    let w = |model: &str, mode: &str, input: [usize; 3], batch: usize, stem: &str| Workload {
        model: model.into(),
        mode: mode.into(),
        input,
        batch,
        stem: stem.into(),
    };
    vec![
        w("lenet5", "train", [1, 28, 28], 64, "small"),
        w("resnet18", "train", [1, 28, 28], 64, "small"),
        w("resnet18", "train", [3, 224, 224], 16, "imagenet"),
        w("resnet18", "infer", [3, 224, 224], 1, "imagenet"),
        w("resnet50", "infer", [3, 224, 224], 1, "imagenet"),
        w("resnet50", "infer", [3, 224, 224], 16, "imagenet"),
        w("vgg16", "infer", [3, 224, 224], 1, "imagenet"),
    ]
}

fn parse_input(s: &str) -> anyhow::Result<[usize; 3]> {
    let v: Vec<usize> = s
        .split(['x', 'X'])
        .map(|p| p.trim().parse())
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(v.len() == 3, "--input must be CxHxW, got `{s}`");
    Ok([v[0], v[1], v[2]])
}

fn threads(a: &Args) -> usize {
    a.threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Times `w` in this process.
fn measure(w: &Workload, a: &Args) -> anyhow::Result<Measured> {
    let device = kiln::core::backend::checked_device(&a.backend)?;
    let info = kiln::lookup(&w.model)?;
    let [c, h, wd] = w.input;
    let classes = if info.family == kiln::Family::LeNet || c == 1 {
        10
    } else {
        1000
    };
    let options = BuildOptions {
        image_size: Some([h, wd]),
        small_stem: Some(w.stem == "small"),
        ..BuildOptions::new(classes, c)
    };
    let spec = ModelSpec::new(info.name, &options)?;
    let macs = kiln::core::summary::summarize(&build_spec(&spec, &device)?, w.input, &device).total_macs;
    let mut times = Vec::with_capacity(a.steps);
    if w.mode == "train" {
        let ad = device.clone().autodiff();
        let model = build_seeded(&spec, &ad, 1)?;
        let mut model = ClassificationModel::new(model, LossGuard::default());
        let settings = OptimSettings {
            momentum: Some(0.9),
            ..OptimSettings::default()
        };
        let mut optim = OptimizerKind::Sgd.build(&settings);
        let x = Tensor::<4>::random([w.batch, c, h, wd], Distribution::Normal(0.0, 1.0), &ad);
        let y = Tensor::<1, Int>::random([w.batch], Distribution::Uniform(0.0, classes as f64), &ad);
        let mut step = 0;
        while more_steps(step, &times, a) {
            step += 1;
            let started = Instant::now();
            let batch = kiln_data::ClassificationBatch {
                images: x.clone(),
                targets: y.clone(),
                mix: None,
            };
            let out = model.forward_classification(batch);
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            model = optim.step(0.01, model, grads);
            std::hint::black_box(out.loss.into_scalar::<f32>());
            if step > a.warmup {
                times.push(started.elapsed().as_secs_f64());
            }
        }
    } else {
        use burn::module::Module;
        let model = build_seeded(&spec, &device, 1)?.valid();
        let x = Tensor::<4>::random([w.batch, c, h, wd], Distribution::Normal(0.0, 1.0), &device);
        let mut step = 0;
        while more_steps(step, &times, a) {
            step += 1;
            let started = Instant::now();
            let logits = kiln::ImageClassifier::forward_logits(&model, x.clone());
            std::hint::black_box(logits.sum().into_scalar::<f32>());
            if step > a.warmup {
                times.push(started.elapsed().as_secs_f64());
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let flops = 2.0 * macs as f64 * w.batch as f64 * if w.mode == "train" { 3.0 } else { 1.0 };
    Ok(Measured {
        workload: w.clone(),
        backend: a.backend.clone(),
        threads: threads(a),
        median_ms: median * 1e3,
        img_s: w.batch as f64 / median,
        gflops: flops / median / 1e9,
        macs_per_image: macs,
        peak_rss_mb: 0.0,
    })
}

/// Whether to take another step after `done` (warm-up included): until the warm-up, `--steps`
/// timed steps and `--min-seconds` of timed steps are all done.
fn more_steps(done: usize, times: &[f64], a: &Args) -> bool {
    done < a.warmup + a.steps || times.iter().sum::<f64>() < a.min_seconds
}

/// Runs `command` to its end and returns its stdout and peak RSS in MB (`wait4`'s rusage: the
/// child's own).
fn run_child(mut command: Command) -> anyhow::Result<(String, f64)> {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("piped");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text)?;
    let mut status = 0;
    // SAFETY: waits for our own child; the rusage struct is zeroed and written by the kernel.
    let rss = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(pid, &mut status, 0, &mut usage);
        usage.ru_maxrss as f64 / 1024.0
    };
    anyhow::ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed"
    );
    Ok((text, rss))
}

/// Times `w` in a child process of its own.
fn kiln_child(w: &Workload, a: &Args) -> anyhow::Result<Measured> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["bench", "--one", "--json", "--models", &w.model, "--mode", &w.mode])
        .args(["--input", &format!("{}x{}x{}", w.input[0], w.input[1], w.input[2])])
        .args([
            "--batch-size",
            &w.batch.to_string(),
            "--stem",
            &w.stem,
            "--backend",
            &a.backend,
        ])
        .args(["--warmup", &a.warmup.to_string(), "--steps", &a.steps.to_string()])
        .args(["--min-seconds", &a.min_seconds.to_string()])
        .args(["--threads", &threads(a).to_string()])
        .env("RAYON_NUM_THREADS", threads(a).to_string());
    let (text, rss) = run_child(command)?;
    let mut m: Measured = serde_json::from_str(text.lines().last().unwrap_or_default())?;
    m.peak_rss_mb = rss;
    Ok(m)
}

/// Times `w` in PyTorch; returns (img/s, peak RSS MB, torch version).
fn torch_child(w: &Workload, a: &Args) -> anyhow::Result<(f64, f64, String)> {
    let script = crate::workspace_root().join("scripts/bench/torch_reference.py");
    let mut command = Command::new(&a.python);
    command
        .arg(script)
        .args(["--model", &w.model, "--mode", &w.mode])
        .args(["--input", &format!("{}x{}x{}", w.input[0], w.input[1], w.input[2])])
        .args(["--batch", &w.batch.to_string(), "--stem", &w.stem])
        .args(["--warmup", &a.warmup.to_string(), "--steps", &a.steps.to_string()])
        .args(["--min-seconds", &a.min_seconds.to_string()])
        .args(["--threads", &threads(a).to_string()]);
    let (text, rss) = run_child(command)?;
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default())?;
    Ok((
        v["img_s"].as_f64().unwrap_or(0.0),
        rss,
        v["torch"].as_str().unwrap_or("?").to_string(),
    ))
}

/// The median (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 0 {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

fn describe(w: &Workload) -> String {
    let [c, h, wd] = w.input;
    let stem = if w.model.starts_with("resnet") && w.stem == "small" {
        " small stem"
    } else {
        ""
    };
    format!("{}{stem} {}, {c}×{h}×{wd}, batch {}", w.model, w.mode, w.batch)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// The workloads of `--compare --models A,B`: each model training at its design input (batch
/// `--batch-size`) and inferring one image at a time.
fn model_workloads(a: &Args) -> anyhow::Result<Vec<Workload>> {
    let mut out = Vec::new();
    for m in &a.models {
        let info = kiln::lookup(m)?;
        let input = match &a.input {
            Some(s) => parse_input(s)?,
            None => info.input,
        };
        for (mode, batch) in [("train", a.batch_size), ("infer", 1)] {
            out.push(Workload {
                model: info.name.into(),
                mode: mode.into(),
                input,
                batch,
                stem: "imagenet".into(),
            });
        }
    }
    Ok(out)
}

fn compare(a: &Args) -> anyhow::Result<()> {
    let workloads = if a.models.is_empty() {
        standard()
    } else {
        model_workloads(a)?
    };
    let mut kiln: Vec<Vec<Measured>> = vec![Vec::new(); workloads.len()];
    let mut torch: Vec<Vec<f64>> = vec![Vec::new(); workloads.len()];
    let mut torch_rss = vec![0f64; workloads.len()];
    let mut version = String::new();
    for round in 0..a.rounds {
        for (i, w) in workloads.iter().enumerate() {
            // Alternate which side goes first, so that neither always meets a warmer machine.
            let kiln_first = (round + i) % 2 == 0;
            let mut run_kiln = || kiln_child(w, a).map(|m| kiln[i].push(m));
            if kiln_first {
                run_kiln()?;
            }
            let (img_s, rss, v) = torch_child(w, a)?;
            torch[i].push(img_s);
            torch_rss[i] = torch_rss[i].max(rss);
            version = v;
            if !kiln_first {
                kiln_child(w, a).map(|m| kiln[i].push(m))?;
            }
            eprintln!(
                "round {}/{}: {}: Kiln {:.1} img/s, PyTorch {:.1} img/s",
                round + 1,
                a.rounds,
                describe(w),
                kiln[i].last().map_or(0.0, |m| m.img_s),
                img_s
            );
        }
    }
    println!(
        "Kiln ({} backend) vs PyTorch {version} eager, {} thread(s), SGD momentum 0.9, median of at least {} timed steps and {} s after {} warm-up, median over {} alternating rounds; {}",
        a.backend,
        threads(a),
        a.steps,
        a.min_seconds,
        a.warmup,
        a.rounds,
        machine()
    );
    println!(
        "\n| workload | Kiln img/s | PyTorch img/s | **Kiln / PyTorch** | Kiln GFLOP/s | Kiln peak RSS | PyTorch peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, w) in workloads.iter().enumerate() {
        let k = median(kiln[i].iter().map(|m| m.img_s).collect());
        let t = median(torch[i].clone());
        let ratios = median(kiln[i].iter().zip(&torch[i]).map(|(m, t)| m.img_s / t).collect());
        let gflops = median(kiln[i].iter().map(|m| m.gflops).collect());
        let rss = kiln[i].iter().map(|m| m.peak_rss_mb).fold(0f64, f64::max);
        println!(
            "| {} | {k:.1} | {t:.1} | **{ratios:.2}** | {gflops:.1} | {rss:.0} MB | {:.0} MB |",
            describe(w),
            torch_rss[i]
        );
    }
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.compare {
        return compare(&a);
    }
    if a.convs {
        let input = a
            .input
            .as_deref()
            .map(parse_input)
            .transpose()?
            .unwrap_or([3, 224, 224]);
        let small = a.stem.as_deref().map_or(input[1] < 64, |s| s == "small");
        let model = match a.models.as_slice() {
            [] => "resnet18",
            [one] => one.as_str(),
            _ => anyhow::bail!("--convs takes one model (resnet18 or lenet5)"),
        };
        return crate::bench_convs::run(
            model,
            &a.backend,
            &a.python,
            input,
            small,
            a.batch_size,
            a.rounds,
            threads(&a),
        );
    }
    let models = if a.models.is_empty() {
        vec!["lenet5".to_string(), "resnet18".to_string()]
    } else {
        a.models.clone()
    };
    let workloads: Vec<Workload> = models
        .iter()
        .map(|m| -> anyhow::Result<Workload> {
            let info = kiln::lookup(m)?;
            let input = match &a.input {
                Some(s) => parse_input(s)?,
                None => info.input,
            };
            let stem = a.stem.clone().unwrap_or_else(|| {
                if input[1].min(input[2]) < 64 {
                    "small"
                } else {
                    "imagenet"
                }
                .into()
            });
            Ok(Workload {
                model: info.name.into(),
                mode: a.mode.clone(),
                input,
                batch: a.batch_size,
                stem,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(
        matches!(a.mode.as_str(), "train" | "infer"),
        "--mode must be train or infer"
    );
    if a.one {
        let m = measure(&workloads[0], &a)?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    for w in &workloads {
        let m = kiln_child(w, &a)?;
        if a.json {
            println!("{}", serde_json::to_string(&m)?);
        } else {
            println!(
                "{}: median step {:.1} ms, {:.1} img/s, {:.1} GFLOP/s, peak RSS {:.0} MB ({}, {} threads)",
                describe(w),
                m.median_ms,
                m.img_s,
                m.gflops,
                m.peak_rss_mb,
                m.backend,
                m.threads
            );
        }
    }
    let device = kiln::core::backend::checked_device(&a.backend)?;
    if a.pipeline {
        crate::bench_pipeline::pipeline_row(a.images, &device)?;
    }
    if let Some(folder) = &a.folder {
        crate::bench_pipeline::folder_rows(folder, a.images, a.batch_size, &a.workers, a.steps, &device)?;
    }
    Ok(())
}
