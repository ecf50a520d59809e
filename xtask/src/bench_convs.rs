//! `cargo xtask bench --convs`: ResNet-18's convolutions (at `--input`, with `--stem`; or
//! LeNet-5's with `--models lenet5`), one by one: forward, input
//! gradient and weight gradient (Kiln's kernel and Burn's path) on Kiln's backend, against
//! PyTorch's (`scripts/bench/torch_convs.py`: `conv2d` and `aten.convolution_backward`), taken
//! alternately in one run. Where a training step's convolution time goes, per op and per layer.

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};
use kiln::core::ops;
use serde::{Deserialize, Serialize};
use std::process::Command;
use std::time::Instant;

/// One convolution: (c_in, c_out, kernel, stride, padding, input size, how many such layers).
type Conv = (usize, usize, usize, usize, usize, usize, usize);

/// ResNet-18's distinct convolutions for a `c_in × size × size` input, with torchvision's stem
/// (7×7 stride 2, then a 3×3 stride-2 max pool) or the small-image one (3×3 stride 1, no pool).
fn resnet18_convs(c_in: usize, size: usize, small_stem: bool) -> Vec<Conv> {
    let mut convs = Vec::new();
    let mut s = if small_stem {
        convs.push((c_in, 64, 3, 1, 1, size, 1));
        size
    } else {
        convs.push((c_in, 64, 7, 2, 3, size, 1));
        let after_conv = (size + 6 - 7) / 2 + 1;
        (after_conv + 2 - 3) / 2 + 1
    };
    convs.push((64, 64, 3, 1, 1, s, 4));
    for (ci, co) in [(64, 128), (128, 256), (256, 512)] {
        convs.push((ci, co, 3, 2, 1, s, 1));
        convs.push((ci, co, 1, 2, 0, s, 1));
        s = (s + 2 - 3) / 2 + 1;
        convs.push((co, co, 3, 1, 1, s, 3));
    }
    convs
}

/// LeNet-5's two convolutions (1×28×28 input: 5×5 with padding 2, then 5×5 on the 14×14 pooled
/// maps).
fn lenet5_convs() -> Vec<Conv> {
    vec![(1, 6, 5, 1, 2, 28, 1), (6, 16, 5, 1, 0, 14, 1)]
}

/// The convolutions `--convs` times: `model`'s (resnet18 or lenet5).
fn model_convs(model: &str, input: [usize; 3], small_stem: bool) -> anyhow::Result<Vec<Conv>> {
    match model {
        "resnet18" => Ok(resnet18_convs(input[0], input[1], small_stem)),
        "lenet5" => Ok(lenet5_convs()),
        other => anyhow::bail!("--convs knows the convolutions of resnet18 and lenet5, not `{other}`"),
    }
}

/// Milliseconds as the table shows them: two decimals under 10 ms (LeNet-5's layers), one above.
fn ms(v: f64) -> String {
    if v < 10.0 { format!("{v:.2}") } else { format!("{v:.1}") }
}

/// Median milliseconds of one layer's ops.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct LayerTimes {
    forward: f64,
    input_grad: f64,
    weight_grad: f64,
    /// Burn's own weight-gradient path (Kiln only).
    #[serde(default)]
    weight_grad_burn: f64,
    /// Burn's own forward (Kiln only).
    #[serde(default)]
    forward_burn: f64,
}

fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn kiln_layers(layers: &[Conv], batch: usize, reps: usize, device: &burn::tensor::Device) -> Vec<LayerTimes> {
    layers
        .iter()
        .map(|&(c_in, c_out, k, s, p, size, _)| {
            let out = (size + 2 * p - k) / s + 1;
            let options = ConvOptions::new([s, s], [p, p], [1, 1], 1);
            let x = Tensor::<4>::random([batch, c_in, size, size], Distribution::Normal(0.0, 1.0), device);
            let w = Tensor::<4>::random([c_out, c_in, k, k], Distribution::Normal(0.0, 0.1), device);
            let dy = Tensor::<4>::random([batch, c_out, out, out], Distribution::Normal(0.0, 1.0), device);
            let sync = |t: Tensor<4>| std::hint::black_box(t.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>());
            LayerTimes {
                forward: median_ms(reps, || {
                    sync(ops::conv2d(x.clone(), w.clone(), None, options.clone()));
                }),
                forward_burn: median_ms(reps, || {
                    sync(burn::tensor::module::conv2d(
                        x.clone(),
                        w.clone(),
                        None,
                        options.clone(),
                    ));
                }),
                input_grad: median_ms(reps, || {
                    sync(ops::conv2d_input_grad(
                        x.clone(),
                        w.clone(),
                        dy.clone(),
                        options.clone(),
                    ));
                }),
                weight_grad: median_ms(reps, || {
                    sync(ops::conv2d_weight_grad(
                        x.clone(),
                        w.clone(),
                        dy.clone(),
                        options.clone(),
                    ));
                }),
                weight_grad_burn: median_ms(reps, || {
                    sync(ops::conv2d_weight_grad_burn(
                        x.clone(),
                        w.clone(),
                        dy.clone(),
                        options.clone(),
                    ));
                }),
            }
        })
        .collect()
}

fn torch_layers(
    layers: &[Conv],
    python: &str,
    batch: usize,
    reps: usize,
    threads: usize,
) -> anyhow::Result<(Vec<LayerTimes>, String)> {
    let script = crate::workspace_root().join("scripts/bench/torch_convs.py");
    let layers: Vec<String> = layers
        .iter()
        .map(|&(ci, co, k, s, p, n, _)| format!("{ci},{co},{k},{s},{p},{n}"))
        .collect();
    let out = Command::new(python)
        .arg(script)
        .args([
            "--batch",
            &batch.to_string(),
            "--reps",
            &reps.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .args(["--layers", &layers.join(";")])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "torch_convs.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[derive(Deserialize)]
    struct Reply {
        torch: String,
        layers: Vec<LayerTimes>,
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let reply: Reply = serde_json::from_str(text.lines().last().unwrap_or_default())?;
    Ok((reply.layers, reply.torch))
}

/// Runs the comparison for ResNet-18 on `input` (`rounds` alternations, medians over rounds)
/// and prints the table.
pub fn run(
    model: &str,
    backend: &str,
    python: &str,
    input: [usize; 3],
    small_stem: bool,
    batch: usize,
    rounds: usize,
    threads: usize,
) -> anyhow::Result<()> {
    let device = kiln::core::backend::checked_device(backend)?;
    let layers = model_convs(model, input, small_stem)?;
    let reps = 9;
    let mut kiln_rounds = Vec::new();
    let mut torch_rounds = Vec::new();
    let mut version = String::new();
    for round in 0..rounds.max(1) {
        eprintln!("round {}/{}", round + 1, rounds.max(1));
        if round % 2 == 0 {
            kiln_rounds.push(kiln_layers(&layers, batch, reps, &device));
        }
        let (t, v) = torch_layers(&layers, python, batch, reps, threads)?;
        torch_rounds.push(t);
        version = v;
        if round % 2 == 1 {
            kiln_rounds.push(kiln_layers(&layers, batch, reps, &device));
        }
    }
    let med = |rounds: &[Vec<LayerTimes>], i: usize, f: fn(&LayerTimes) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(|r| f(&r[i])).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{model} convolutions, batch {batch}, {threads} threads; Kiln on {backend} vs PyTorch {version}; ms per layer (median of {reps} reps, median over {} rounds)\n",
        rounds.max(1)
    );
    println!(
        "| layer (c_in→c_out, k, stride, input) | × | forward Kiln (Burn's path) / PyTorch | input grad Kiln (Burn's) / PyTorch | weight grad Kiln (Burn's path) / PyTorch |"
    );
    println!("|---|---|---|---|---|");
    let mut totals = [0f64; 8];
    for (i, &(ci, co, k, s, _, n, count)) in layers.iter().enumerate() {
        let kf = med(&kiln_rounds, i, |t| t.forward);
        let kx = med(&kiln_rounds, i, |t| t.input_grad);
        let kw = med(&kiln_rounds, i, |t| t.weight_grad);
        let kb = med(&kiln_rounds, i, |t| t.weight_grad_burn);
        let kfb = med(&kiln_rounds, i, |t| t.forward_burn);
        let tf = med(&torch_rounds, i, |t| t.forward);
        let tx = med(&torch_rounds, i, |t| t.input_grad);
        let tw = med(&torch_rounds, i, |t| t.weight_grad);
        // The stem's input gradient is never computed in training (the images need none).
        let (kx, tx) = if i == 0 { (0.0, 0.0) } else { (kx, tx) };
        for (total, v) in totals.iter_mut().zip([kf, kx, kw, kb, tf, tx, tw, kfb]) {
            *total += v * count as f64;
        }
        let [kf, kfb, tf, kx, tx, kw, kb, tw] = [kf, kfb, tf, kx, tx, kw, kb, tw].map(ms);
        println!(
            "| {ci}→{co}, {k}×{k}, s{s}, {n}² | {count} | {kf} ({kfb}) / {tf} | {kx} / {tx} | {kw} ({kb}) / {tw} |"
        );
    }
    let [kf, kx, kw, kb, tf, tx, tw, kfb] = totals;
    let t = [kf, kfb, tf, kx, tx, kw, kb, tw].map(ms);
    println!(
        "| **all convolutions** | | **{} ({}) / {}** | **{} / {}** | **{} ({}) / {}** |",
        t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]
    );
    println!(
        "\nKiln / PyTorch speed: forward {:.2} (Burn's path {:.2}), input gradient {:.2}, weight gradient {:.2} (Burn's path {:.2}); all three {:.2} (Burn's paths {:.2})",
        tf / kf,
        tf / kfb,
        tx / kx,
        tw / kw,
        tw / kb,
        (tf + tx + tw) / (kf + kx + kw),
        (tf + tx + tw) / (kfb + kx + kb)
    );
    Ok(())
}
