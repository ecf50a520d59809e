//! Batch normalisation in training mode on `flex`, fused: per-channel statistics in one pass
//! each (f64 accumulators), the normalisation as one multiply-add pass, and the backward as
//! per-channel sums then one pass for the input gradient. Burn's generic path builds the same
//! from tensor operations whose `swap_dims` + `reshape` copy the activation several times over.
//!
//! Every function takes `x` as `[n, c, ...]` (any contiguous layout is made so) and returns
//! `None` for anything but f32, where the caller takes Burn's path.

use super::tiles::{contiguous, f32_tensor};
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use rayon::prelude::*;

/// `[n, c, h·w…]` of an f32 tensor of rank ≥ 2, contiguous.
fn dims(t: &FlexTensor) -> Option<(FlexTensor, [usize; 3])> {
    let shape = t.layout().shape();
    if t.dtype() != DType::F32 || shape.num_dims() < 2 {
        return None;
    }
    let (n, c) = (shape[0], shape[1]);
    let inner = (2..shape.num_dims()).map(|d| shape[d]).product::<usize>();
    Some((contiguous(t), [n, c, inner]))
}

fn vector(t: &FlexTensor, len: usize) -> Option<Vec<f32>> {
    if t.dtype() != DType::F32 || t.layout().shape().num_elements() != len {
        return None;
    }
    Some(contiguous(t).storage::<f32>().to_vec())
}

fn channels(v: Vec<f32>) -> FlexTensor {
    let c = v.len();
    f32_tensor(v, [c])
}

/// Per channel, `Σ f(value…)` over every image and position, in f64.
fn per_channel(c: usize, f: impl Fn(usize) -> f64 + Sync + Send) -> Vec<f64> {
    (0..c).into_par_iter().map(f).collect()
}

/// The batch mean per channel.
///
/// # Shapes
/// `[n, c, ...]` → `[c]`
pub fn mean(x: &FlexTensor) -> Option<FlexTensor> {
    let (x, [n, c, hw]) = dims(x)?;
    let xs = x.storage::<f32>();
    let m = (n * hw).max(1) as f64;
    let sums = per_channel(c, |ch| {
        (0..n)
            .map(|i| xs[(i * c + ch) * hw..][..hw].iter().map(|&v| v as f64).sum::<f64>())
            .sum()
    });
    Some(channels(sums.into_iter().map(|s| (s / m) as f32).collect()))
}

/// The biased batch variance per channel, around `mean`.
///
/// # Shapes
/// `x`: `[n, c, ...]`, `mean`: `[c]` → `[c]`
pub fn variance(x: &FlexTensor, mean: &FlexTensor) -> Option<FlexTensor> {
    let (x, [n, c, hw]) = dims(x)?;
    let mean = vector(mean, c)?;
    let xs = x.storage::<f32>();
    let m = (n * hw).max(1) as f64;
    let sums = per_channel(c, |ch| {
        let mu = mean[ch] as f64;
        (0..n)
            .map(|i| {
                xs[(i * c + ch) * hw..][..hw]
                    .iter()
                    .map(|&v| (v as f64 - mu) * (v as f64 - mu))
                    .sum::<f64>()
            })
            .sum()
    });
    Some(channels(sums.into_iter().map(|s| (s / m) as f32).collect()))
}

/// `y = (x - mean) / sqrt(var + eps) · gamma + beta`, as one multiply-add per value.
///
/// # Shapes
/// `x`: `[n, c, ...]`, the others `[c]` → as `x`
pub fn normalize(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    mean: &FlexTensor,
    var: &FlexTensor,
    eps: f64,
) -> Option<FlexTensor> {
    let shape = x.layout().shape().clone();
    let (x, [_, c, hw]) = dims(x)?;
    let (gamma, beta, mean, var) = (vector(gamma, c)?, vector(beta, c)?, vector(mean, c)?, vector(var, c)?);
    let scale: Vec<f32> = (0..c)
        .map(|ch| (gamma[ch] as f64 / (var[ch] as f64 + eps).sqrt()) as f32)
        .collect();
    let shift: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
    let xs = x.storage::<f32>();
    let mut y = vec![0f32; xs.len()];
    if hw > 0 {
        y.par_chunks_mut(hw)
            .zip(xs.par_chunks(hw))
            .enumerate()
            .for_each(|(plane, (dst, src))| {
                let ch = plane % c;
                let (a, b) = (scale[ch], shift[ch]);
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = v * a + b;
                }
            });
    }
    Some(f32_tensor(y, shape))
}

/// Per channel `(Σ dy, Σ dy · x̂)` with `x̂ = (x - mean) / sqrt(var + eps)`.
fn grad_sums(xs: &[f32], dys: &[f32], [n, c, hw]: [usize; 3], mean: &[f32], inv_std: &[f64]) -> Vec<(f64, f64)> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let mu = mean[ch] as f64;
            let (mut s, mut sx) = (0f64, 0f64);
            for i in 0..n {
                let off = (i * c + ch) * hw;
                for (&v, &g) in xs[off..][..hw].iter().zip(&dys[off..][..hw]) {
                    s += g as f64;
                    sx += g as f64 * (v as f64 - mu);
                }
            }
            (s, sx * inv_std[ch])
        })
        .collect()
}

fn inv_std(var: &[f32], eps: f64) -> Vec<f64> {
    var.iter().map(|&v| 1.0 / (v as f64 + eps).sqrt()).collect()
}

/// The gradients of [`normalize`] with the batch's own statistics: `(dx, dgamma, dbeta)`,
/// `dx = gamma / σ · (dy - mean(dy) - x̂ · mean(dy · x̂))`.
///
/// # Shapes
/// `x`, `grad`: `[n, c, ...]`; `gamma`, `mean`, `var`: `[c]` → (`[n, c, ...]`, `[c]`, `[c]`)
pub fn backward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    mean: &FlexTensor,
    var: &FlexTensor,
    grad: &FlexTensor,
    eps: f64,
) -> Option<(FlexTensor, FlexTensor, FlexTensor)> {
    let shape = x.layout().shape().clone();
    let (x, [n, c, hw]) = dims(x)?;
    let (grad, gdims) = dims(grad)?;
    if gdims != [n, c, hw] {
        return None;
    }
    let (gamma, mean, var) = (vector(gamma, c)?, vector(mean, c)?, vector(var, c)?);
    let inv = inv_std(&var, eps);
    let (xs, dys) = (x.storage::<f32>(), grad.storage::<f32>());
    let sums = grad_sums(xs, dys, [n, c, hw], &mean, &inv);
    let m = (n * hw).max(1) as f64;
    // dx = A·dy + B·x + C per channel, A = γ/σ, B = -A·mean(dy·x̂)/σ, C = A·(μ·mean(dy·x̂)/σ - mean(dy)).
    let coeffs: Vec<[f32; 3]> = (0..c)
        .map(|ch| {
            let (mu, is) = (mean[ch] as f64, inv[ch]);
            let (mean_dy, mean_dy_xhat) = (sums[ch].0 / m, sums[ch].1 / m);
            let a = gamma[ch] as f64 * is;
            [
                a as f32,
                (-a * is * mean_dy_xhat) as f32,
                (a * (mu * is * mean_dy_xhat - mean_dy)) as f32,
            ]
        })
        .collect();
    let mut dx = vec![0f32; xs.len()];
    if hw > 0 {
        dx.par_chunks_mut(hw).enumerate().for_each(|(plane, dst)| {
            let [a, b, k] = coeffs[plane % c];
            let off = plane * hw;
            for ((d, &v), &g) in dst.iter_mut().zip(&xs[off..][..hw]).zip(&dys[off..][..hw]) {
                *d = a * g + b * v + k;
            }
        });
    }
    let dgamma = channels(sums.iter().map(|s| s.1 as f32).collect());
    let dbeta = channels(sums.iter().map(|s| s.0 as f32).collect());
    Some((f32_tensor(dx, shape), dgamma, dbeta))
}
