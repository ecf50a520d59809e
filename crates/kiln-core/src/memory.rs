//! Up-front memory estimates, so that a batch or an input too large for the machine is an
//! error naming the flag, not minutes of swapping or an abort: parameters (with their gradients
//! and optimizer state when training) plus activations (all kept for the backward pass when
//! training; the largest few at a time in inference), measured by one traced forward pass at a
//! small input and scaled by area.

use crate::{ImageClassifier, summary::summarize};
use burn::tensor::Device;

/// Bytes the machine can still give (`MemAvailable` of `/proc/meminfo`), when known.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// An estimate of the bytes `model` needs for `batch` images of `input` (`[c, h, w]`),
/// measured at `probe` (a small input of the same aspect that the model accepts).
pub fn estimate_bytes<M: ImageClassifier>(
    model: &M,
    input: [usize; 3],
    probe: [usize; 3],
    batch: usize,
    training: bool,
    device: &Device,
) -> u64 {
    let summary = summarize(model, probe, device);
    let scale = (input[1] * input[2]) as f64 / (probe[1] * probe[2]).max(1) as f64;
    let per_layer: Vec<f64> = summary
        .layers
        .iter()
        .map(|l| l.output.iter().product::<usize>() as f64)
        .collect();
    let input_elems = (input[0] * input[1] * input[2]) as f64;
    let activations = if training {
        per_layer.iter().sum::<f64>() * scale * 2.0
    } else {
        per_layer.iter().fold(0f64, |m, &v| m.max(v)) * scale * 3.0
    };
    let params = summary.total_params as f64 * if training { 4.0 } else { 1.0 };
    ((activations + input_elems) * batch as f64 * 4.0 + params * 4.0) as u64
}

/// An error when `needed` bytes exceed 90% of what the machine has: it names `what` (the flags
/// that set the size) and both figures.
pub fn check_fits(needed: u64, what: &str) -> Result<(), String> {
    let Some(available) = available_bytes() else {
        return Ok(());
    };
    if needed as f64 > 0.9 * available as f64 {
        return Err(format!(
            "{what} needs about {} (estimated), more than the {} this machine has available: lower it",
            human(needed),
            human(available)
        ));
    }
    Ok(())
}

/// Bytes as `1.2 GB`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}
