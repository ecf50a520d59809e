//! `cargo xtask fuzz`: a seeded, time-bounded fuzz harness over every input Kiln reads. Real
//! files (PNG, JPEG, IDX plain and gzipped, `.pth` zip and legacy pickle, `.safetensors`,
//! Keras's `.h5`, `.weights.h5` and `.keras`, `.bpk`, `model.json`, recipe TOML) and text specs (augmentation, schedules) are mutated by
//! truncation, bit flips, byte writes, length-field edits, chunk copies and splicing, and fed to
//! the function that reads them. Each must return `Ok` or `Err`: a panic is a failure, and so is
//! a worker that dies (an allocation beyond the address-space cap aborts it: unbounded memory).
//!
//! Cases run in worker processes (this binary, `fuzz-worker`) with an address-space limit
//! (`setrlimit(RLIMIT_AS)`); a worker that dies is reported with the case it was running and
//! replaced. Everything is a function of the seed: a failure names the seed and case number that
//! reproduce it.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[derive(clap::Args)]
pub struct Args {
    /// How long to fuzz, in seconds.
    #[arg(long, conflicts_with = "minutes")]
    seconds: Option<u64>,
    /// How long to fuzz, in minutes [default: 1].
    #[arg(long)]
    minutes: Option<u64>,
    /// Seed of the mutations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Address-space limit of a worker, in MiB.
    #[arg(long, default_value_t = 6144)]
    memory_mb: u64,
    /// Check the harness itself: case 3 panics and case 6 aborts, which must be reported.
    #[arg(long, hide = true)]
    self_test: bool,
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    first_case: u64,
    #[arg(long)]
    until_ms: u64,
    #[arg(long)]
    memory_mb: u64,
    #[arg(long)]
    dir: PathBuf,
    #[arg(long)]
    self_test: bool,
}

/// The kinds of input, and the seed files of each.
const TARGETS: [&str; 12] = [
    "png",
    "jpeg",
    "idx",
    "idx.gz",
    "pth",
    "pth-legacy",
    "safetensors",
    "keras",
    "bpk",
    "model.json",
    "recipe",
    "spec",
];

/// SplitMix64: the mutations' randomness, a function of (seed, case).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Seed files, one list per target, from the repository and made here.
fn corpus(dir: &Path) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    let root = crate::workspace_root();
    let fixtures = root.join("crates/kiln/tests/fixtures");
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()));
    let mut out = vec![
        ("png", read(root.join("datasets/samples/mnist-test-0-label-7.png"))?),
        ("png", read(fixtures.join("modes/palette.png"))?),
        ("png", read(fixtures.join("modes/grey16.png"))?),
        ("jpeg", read(fixtures.join("modes/cmyk.jpg"))?),
        ("jpeg", read(root.join("datasets/samples/chelsea-q90.jpg"))?),
        ("pth", read(fixtures.join("parity/lenet5.pth"))?),
        (
            "pth",
            read(fixtures.join("checkpoints/lenet5-torchvision-reference.pth"))?,
        ),
        ("pth-legacy", read(fixtures.join("checkpoints/lenet5-legacy.pth"))?),
        ("safetensors", read(fixtures.join("parity/lenet5.safetensors"))?),
        ("recipe", read(root.join("examples/recipes/lenet5-mnist.toml"))?),
        // Keras files of each format, written by Keras (scripts/keras/make_fixtures.py).
        ("keras", read(fixtures.join("keras/tiny/tiny.h5"))?),
        ("keras", read(fixtures.join("keras/tiny/tiny_keras2.h5"))?),
        ("keras", read(fixtures.join("keras/tiny/tiny.weights.h5"))?),
        ("keras", read(fixtures.join("keras/tiny/tiny.keras"))?),
    ];
    // IDX: the first 16 MNIST test images, plain and gzipped.
    let mnist = kiln_data::idx::read_idx(root.join("datasets/mnist/t10k-images-idx3-ubyte.gz"))?;
    let small = kiln_data::idx::IdxArray {
        dims: vec![16, 28, 28],
        data: mnist.data[..16 * 784].to_vec(),
    };
    let plain = dir.join("small.idx");
    kiln_data::idx::write_idx(&plain, &small, false)?;
    out.push(("idx", read(plain.clone())?));
    kiln_data::idx::write_idx(&plain, &small, true)?;
    out.push(("idx.gz", read(plain)?));
    // A model directory: weights and card.
    let device = kiln::device("flex")?;
    let model = kiln::build("lenet5", 10, 1, &device)?;
    let model_dir = dir.join("model");
    let card = kiln::model_dir::ModelCard {
        model: kiln::ModelSpec::new("lenet5", &kiln::BuildOptions::new(10, 1))?,
        classes: (0..10).map(|c| c.to_string()).collect(),
        dataset: "mnist".into(),
        preprocessing: kiln::Preprocessing::mnist(),
        kiln_version: "fuzz".into(),
    };
    kiln::model_dir::save(&model_dir, model, &card)?;
    out.push(("bpk", read(model_dir.join("model.bpk"))?));
    out.push(("model.json", read(model_dir.join("model.json"))?));
    for spec in [
        "crop:28,pad=2;affine:deg=10,translate=0.1,scale=0.9-1.1,shear=5",
        "rrc:24,scale=0.08-1,ratio=0.75-1.333;flip:0.5;jitter:b=0.4,c=0.4,s=0.4,h=0.1;erase:0.25",
        "resize:32,crop=28;mixup:0.2;cutmix:1.0",
        "multiscale:28-40,crop=28;rotate:15",
        "spec:cosine:warmup=1,min=0.0001",
        "spec:step:every=30,gamma=0.1",
        "spec:onecycle:pct=0.3,div=25,final=10000",
        "spec:plateau:factor=0.1,patience=2,threshold=0.0001,min=0",
        "spec:multistep:30-60,gamma=0.1",
    ] {
        out.push(("spec", spec.as_bytes().to_vec()));
    }
    for t in TARGETS {
        anyhow::ensure!(out.iter().any(|(k, _)| *k == t), "no seed file for {t}");
    }
    Ok(out)
}

/// A mutated copy of `input` (`text` keeps it printable and favours number edits).
fn mutate(input: &[u8], other: &[u8], text: bool, rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(3) {
        if out.is_empty() {
            out.push(b'0');
        }
        let n = out.len();
        match rng.below(if text { 4 } else { 7 }) {
            // Truncation.
            0 => out.truncate(rng.below(n)),
            // A number (or any token) replaced by an extreme one.
            1 if text => {
                let words = [
                    &b"nan"[..],
                    b"-1",
                    b"0",
                    b"1e30",
                    b"inf",
                    b"99999999999",
                    b"-0",
                    b"100000",
                ];
                let w = words[rng.below(words.len())];
                let at = rng.below(n);
                let end = (at + 1 + rng.below(4)).min(n);
                out.splice(at..end, w.iter().copied());
            }
            // Bit flips.
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(n);
                    out[i] ^= 1 << rng.below(8);
                }
            }
            // Splicing: a prefix of this input, the rest of another of the same kind.
            2 => {
                let cut = rng.below(n);
                let from = rng.below(other.len().max(1));
                out.truncate(cut);
                out.extend_from_slice(other.get(from..).unwrap_or_default());
            }
            // A chunk copied elsewhere (repeated structure).
            3 => {
                let a = rng.below(n);
                let len = 1 + rng.below(64.min(n - a));
                let chunk = out[a..a + len].to_vec();
                let at = rng.below(n);
                out.splice(at..at, chunk);
            }
            // A length field: 4 bytes near the start set to an extreme value.
            4 => {
                let at = rng.below(n.min(512)).min(n.saturating_sub(4));
                let v: u32 = [u32::MAX, 0x7FFF_FFFF, 0, 0x0100_0000, rng.next() as u32][rng.below(5)];
                let bytes = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                for (k, b) in bytes.iter().enumerate() {
                    if at + k < n {
                        out[at + k] = *b;
                    }
                }
            }
            // Bytes set to extremes.
            _ => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(n);
                    out[i] = [0x00, 0xFF, 0x7F, 0x80][rng.below(4)];
                }
            }
        }
    }
    out
}

/// Runs the reader of `target` on `input`; `Err` is fine, a panic is not.
fn run_case(target: &str, input: &[u8], dir: &Path, device: &burn::tensor::Device) -> Result<(), String> {
    let write = |name: &str| -> Result<PathBuf, String> {
        let p = dir.join(name);
        std::fs::write(&p, input).map_err(|e| e.to_string())?;
        Ok(p)
    };
    let lenet = || kiln::ModelSpec::new("lenet5", &kiln::BuildOptions::new(10, 1)).map_err(|e| e.to_string());
    match target {
        "png" | "jpeg" => {
            let p = write(if target == "png" { "case.png" } else { "case.jpg" })?;
            let pre = kiln::Preprocessing {
                resize: Some(32),
                ..kiln::Preprocessing::imagenet(32, 28)
            };
            kiln_data::load_image(&p, &pre).map(|_| ()).map_err(|e| e.to_string())
        }
        "idx" | "idx.gz" => {
            let p = write(if target == "idx" { "case.idx" } else { "case.idx.gz" })?;
            kiln_data::idx::read_idx(&p).map(|_| ()).map_err(|e| e.to_string())
        }
        "pth" | "pth-legacy" | "safetensors" => {
            let p = write("case.weights")?;
            kiln::weights::import(&lenet()?, &p, &Default::default(), device)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        "keras" => {
            let p = write("case.h5")?;
            kiln::train::import::keras::read(&p)
                .map(|f| {
                    std::hint::black_box(f.layers.len());
                })
                .map_err(|e| e.to_string())
        }
        "bpk" => {
            std::fs::write(dir.join("model/model.bpk"), input).map_err(|e| e.to_string())?;
            kiln::model_dir::load(&dir.join("model"), device)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        "model.json" => {
            std::fs::write(dir.join("card/model.json"), input).map_err(|e| e.to_string())?;
            kiln::model_dir::load(&dir.join("card"), device)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        "recipe" => {
            let p = write("case.toml")?;
            let o = kiln::tasks::TrainOverrides::from_recipe(&p).map_err(|e| e.to_string())?;
            kiln::tasks::resolve_train_config(&o, Path::new(""), false)
                .and_then(|c| c.fit.validate().map(|_| c))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        _ => {
            let text = String::from_utf8_lossy(input).to_string();
            if let Some(schedule) = text.strip_prefix("spec:") {
                return schedule
                    .parse::<kiln::train::Schedule>()
                    .map(|_| ())
                    .map_err(|e| e.to_string());
            }
            let aug = kiln_data::augment::parse(&text)?;
            let item = kiln_data::ImageItem {
                pixels: (0..28 * 28).map(|i| (i % 251) as u8).collect(),
                channels: 1,
                height: 28,
                width: 28,
                label: 0,
            };
            let mut rng = kiln_data::augment::Rng::new(1);
            let out = aug.pipeline.apply(kiln_data::augment::Sample::image(item), &mut rng);
            std::hint::black_box(out);
            Ok(())
        }
    }
}

/// `fuzz-worker`: runs cases from `first_case` until the deadline, printing `case N` before
/// each (so the parent knows which one a crash was) and `panic N: ...` after a panic.
pub fn worker(a: WorkerArgs) -> anyhow::Result<()> {
    let limit = a.memory_mb << 20;
    let rl = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit with a valid, initialised struct; it only lowers this process's limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) } != 0 {
        anyhow::bail!("setrlimit(RLIMIT_AS) failed");
    }
    let corpus = corpus(&a.dir)?;
    std::fs::create_dir_all(a.dir.join("card"))?;
    std::fs::copy(a.dir.join("model/model.bpk"), a.dir.join("card/model.bpk"))?;
    let device = kiln::device("flex")?;
    // Panics are caught and reported below; keep their default messages off stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let mut out = std::io::stdout().lock();
    let mut case = a.first_case;
    while (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64)
        < a.until_ms
    {
        let mut rng = Rng(a.seed ^ case.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let (target, input) = &corpus[rng.below(corpus.len())];
        let same: Vec<&Vec<u8>> = corpus.iter().filter(|(t, _)| t == target).map(|(_, b)| b).collect();
        let other = same[rng.below(same.len())];
        let text = matches!(*target, "model.json" | "recipe" | "spec");
        let mutated = mutate(input, other, text, &mut rng);
        writeln!(out, "case {case} {target}")?;
        out.flush()?;
        if a.self_test && case == 6 {
            std::process::abort();
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if a.self_test && case == 3 {
                panic!("self-test panic");
            }
            run_case(target, &mutated, &a.dir, &device)
        }));
        if let Err(panic) = result {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            std::fs::write(a.dir.join(format!("panic-{case}.bin")), &mutated)?;
            writeln!(out, "panic {case} {target}: {}", msg.replace('\n', " "))?;
        }
        case += 1;
    }
    writeln!(out, "done {case}")?;
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let seconds = a.seconds.unwrap_or(a.minutes.unwrap_or(1) * 60);
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let until_ms = (std::time::SystemTime::now() + Duration::from_secs(seconds))
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let (mut case, mut panics, mut crashes) = (0u64, Vec::new(), Vec::new());
    let mut per_target: std::collections::BTreeMap<String, u64> = Default::default();
    while Instant::now() < deadline {
        let worker_dir = dir.path().join(format!("w{case}"));
        std::fs::create_dir_all(&worker_dir)?;
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "fuzz-worker",
                "--seed",
                &a.seed.to_string(),
                "--first-case",
                &case.to_string(),
            ])
            .args([
                "--until-ms",
                &until_ms.to_string(),
                "--memory-mb",
                &a.memory_mb.to_string(),
            ])
            .arg("--dir")
            .arg(&worker_dir)
            .args(a.self_test.then_some("--self-test"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut last: Option<(u64, String)> = None;
        let mut finished = false;
        for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
            let line = line?;
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next()) {
                (Some("case"), Some(n)) => {
                    let n: u64 = n.parse()?;
                    let target = parts.next().unwrap_or("").to_string();
                    *per_target.entry(target.clone()).or_default() += 1;
                    last = Some((n, target));
                }
                (Some("panic"), Some(_)) => panics.push(format!("seed {} {line}", a.seed)),
                (Some("done"), Some(n)) => {
                    case = n.parse()?;
                    finished = true;
                }
                _ => {}
            }
        }
        let status = child.wait()?;
        if !finished {
            let (n, target) = last.clone().unwrap_or((case, "?".into()));
            crashes.push(format!(
                "seed {} case {n} ({target}): the worker died ({status})",
                a.seed
            ));
            case = n + 1;
        }
    }
    // Peak resident memory of the workers (the largest of them), from the kernel's accounting.
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let peak_mb = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss as f64 / 1024.0
    };
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "fuzz: {case} cases in {elapsed:.0} s ({:.0} cases/s), seed {}, worker address space ≤ {} MiB, peak RSS {peak_mb:.0} MB",
        case as f64 / elapsed,
        a.seed,
        a.memory_mb
    );
    println!(
        "per target: {}",
        per_target
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for p in &panics {
        println!("PANIC {p}");
    }
    for c in &crashes {
        println!("CRASH {c}");
    }
    anyhow::ensure!(
        panics.is_empty() && crashes.is_empty(),
        "{} panic(s), {} crash(es)",
        panics.len(),
        crashes.len()
    );
    Ok(())
}
