//! The gradients of a depthwise convolution on `flex` (groups = channels in = channels out, one
//! k×k filter per channel):
//!
//! - weight: `dW[c, 0, i, j] = Σ_n Σ_(oh, ow) dY[n, c, oh, ow] · X[n, c, oh·s + i·d - p,
//!   ow·s + j·d - p]`, channels in parallel, each tap a dot product along the output rows
//!   (contiguous at stride 1);
//! - input: `dX[n, c, oh·s + i·d - p, ow·s + j·d - p] += dY[n, c, oh, ow] · W[c, 0, i, j]`, one
//!   image plane per task, each tap an axpy along the row.
//!
//! Burn's generic path computes a grouped weight gradient group by group (for a depthwise layer
//! of MobileNet or EfficientNet, hundreds of one-channel convolutions, each with its own slicing
//! and `slice_assign` into the result) and the input gradient as a grouped transposed
//! convolution.

use super::tiles::{contiguous, f32_tensor};
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

/// `dW` for a depthwise `conv2d(x, w)` with output gradient `dy`, or `None` where this kernel
/// does not apply (not f32, not depthwise) and the caller takes Burn's path.
///
/// # Shapes
/// `x`: `[n, c, h, w]`, `dy`: `[n, c, h', w']` → `weight_shape` = `[c, 1, kh, kw]`
pub fn weight_grad_f32(
    x: &FlexTensor,
    dy: &FlexTensor,
    weight_shape: [usize; 4],
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if !depthwise_geometry(x, dy, weight_shape, options) {
        return None;
    }
    let [c, _, kh, kw] = weight_shape;
    let xs = x.layout().shape();
    let ys = dy.layout().shape();
    let [n, h, w] = [xs[0], xs[2], xs[3]];
    let [ho, wo] = [ys[2], ys[3]];
    let [(pt, _), (pl, _)] = options.padding;
    let [sh, sw] = options.stride;
    let [dh, dw] = options.dilation;
    let x = contiguous(x);
    let dy = contiguous(dy);
    let (xv, gv) = (x.storage::<f32>(), dy.storage::<f32>());
    let mut out = vec![0f32; c * kh * kw];
    out.par_chunks_mut(kh * kw).enumerate().for_each(|(ch, taps)| {
        for b in 0..n {
            let xp = &xv[(b * c + ch) * h * w..][..h * w];
            let gp = &gv[(b * c + ch) * ho * wo..][..ho * wo];
            for i in 0..kh {
                for j in 0..kw {
                    let (di, dj) = (i * dh, j * dw);
                    // Output columns whose input column `ow·sw + dj - pl` lies in [0, w).
                    let ow_lo = pl.saturating_sub(dj).div_ceil(sw);
                    let ow_hi = if w + pl > dj {
                        ((w + pl - dj - 1) / sw + 1).min(wo)
                    } else {
                        0
                    };
                    if ow_lo >= ow_hi {
                        continue;
                    }
                    let mut acc = 0f32;
                    for oh in 0..ho {
                        let ih = oh * sh + di;
                        if ih < pt || ih - pt >= h {
                            continue;
                        }
                        let row = &xp[(ih - pt) * w..][..w];
                        let grow = &gp[oh * wo..][ow_lo..ow_hi];
                        let iw0 = ow_lo * sw + dj - pl;
                        acc += if sw == 1 {
                            dot(grow, &row[iw0..iw0 + grow.len()])
                        } else {
                            grow.iter().enumerate().map(|(t, g)| g * row[iw0 + t * sw]).sum()
                        };
                    }
                    taps[i * kw + j] += acc;
                }
            }
        }
    });
    Some(f32_tensor(out, weight_shape))
}

/// The shared checks: `x: [n, c, h, w]`, `dy: [n, c, h', w']`, a `[c, 1, kh, kw]` depthwise
/// weight, f32, and `h'`, `w'` what the options give.
fn depthwise_geometry(x: &FlexTensor, dy: &FlexTensor, weight_shape: [usize; 4], options: &ConvOptions<2>) -> bool {
    let [c, one, kh, kw] = weight_shape;
    let xs = x.layout().shape();
    let ys = dy.layout().shape();
    if x.dtype() != DType::F32
        || dy.dtype() != DType::F32
        || one != 1
        || options.groups != c
        || c == 0
        || xs.num_dims() != 4
        || ys.num_dims() != 4
        || xs[1] != c
        || ys[1] != c
        || ys[0] != xs[0]
    {
        return false;
    }
    let [(pt, pb), (pl, pr)] = options.padding;
    let expect = |size: usize, pads: usize, k: usize, s: usize, d: usize| -> Option<usize> {
        let extent = (k.checked_sub(1)?) * d + 1;
        (s > 0 && size + pads >= extent).then(|| (size + pads - extent) / s + 1)
    };
    expect(xs[2], pt + pb, kh, options.stride[0], options.dilation[0]) == Some(ys[2])
        && expect(xs[3], pl + pr, kw, options.stride[1], options.dilation[1]) == Some(ys[3])
}

/// `dX` for a depthwise `conv2d(x, w)` with output gradient `dy`, or `None` where this kernel
/// does not apply and the caller takes Burn's path.
///
/// # Shapes
/// `x`: `[n, c, h, w]` (its shape only), `weight`: `[c, 1, kh, kw]`, `dy`: `[n, c, h', w']` →
/// `[n, c, h, w]`
pub fn input_grad_f32(
    x: &FlexTensor,
    weight: &FlexTensor,
    dy: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let ws = weight.layout().shape();
    if weight.dtype() != DType::F32 || ws.num_dims() != 4 {
        return None;
    }
    let weight_shape = [ws[0], ws[1], ws[2], ws[3]];
    if !depthwise_geometry(x, dy, weight_shape, options) {
        return None;
    }
    let [c, _, kh, kw] = weight_shape;
    let xs = x.layout().shape();
    let [n, h, w] = [xs[0], xs[2], xs[3]];
    let ys = dy.layout().shape();
    let [ho, wo] = [ys[2], ys[3]];
    let [(pt, _), (pl, _)] = options.padding;
    let [sh, sw] = options.stride;
    let [dh, dw] = options.dilation;
    let weight = contiguous(weight);
    let dy = contiguous(dy);
    let (wv, gv) = (weight.storage::<f32>(), dy.storage::<f32>());
    let mut out = vec![0f32; n * c * h * w];
    out.par_chunks_mut(h * w).enumerate().for_each(|(plane, dx)| {
        let ch = plane % c;
        let taps = &wv[ch * kh * kw..][..kh * kw];
        let gp = &gv[plane * ho * wo..][..ho * wo];
        for j in 0..kw {
            let dj = j * dw;
            let ow_lo = pl.saturating_sub(dj).div_ceil(sw);
            let ow_hi = if w + pl > dj {
                ((w + pl - dj - 1) / sw + 1).min(wo)
            } else {
                0
            };
            if ow_lo >= ow_hi {
                continue;
            }
            let iw0 = ow_lo * sw + dj - pl;
            for oh in 0..ho {
                let grow = &gp[oh * wo..][ow_lo..ow_hi];
                for i in 0..kh {
                    let ih = oh * sh + i * dh;
                    if ih < pt || ih - pt >= h {
                        continue;
                    }
                    let t = taps[i * kw + j];
                    let row = &mut dx[(ih - pt) * w..][..w];
                    if sw == 1 {
                        for (d, g) in row[iw0..iw0 + grow.len()].iter_mut().zip(grow) {
                            *d += g * t;
                        }
                    } else {
                        for (k, g) in grow.iter().enumerate() {
                            row[iw0 + k * sw] += g * t;
                        }
                    }
                }
            }
        }
    });
    Some(f32_tensor(out, [n, c, h, w]))
}

/// `Σ a·b` in eight independent lanes (vectorised by the compiler).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
