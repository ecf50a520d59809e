//! The weight gradient of a 2-D convolution on `flex`, as `kh·kw` large gemms.
//!
//! For one kernel tap `(i, j)`, `dW[:, :, i, j] = Σ_{n,a,b} dY[n, :, a, b] · Xp[n, :, a·s + i·d, b·s + j·d]ᵀ`
//! (`Xp` the zero-padded input). Split `Xp` into its `s_h·s_w` stride phases
//! (`phase[ph, pw][c, n, u, v] = Xp[n, c, u·s_h + ph, v·s_w + pw]`, each `Hq × Wq`); tap `(i, j)` reads
//! phase `((i·d_h) mod s_h, (j·d_w) mod s_w)` shifted by `((i·d_h) div s_h, (j·d_w) div s_w)`. Lay the
//! output gradient out on the same `Hq × Wq` grid (`G[o, n·Hq·Wq + a·Wq + b]`, zero elsewhere): then
//! the shifted phase is the **same flat row shifted by one offset**, a strided view with no copy,
//! and each tap is one gemm `[c_out, K] × [K, c_in]` with `K = n·Hq·Wq` (tens of thousands), where
//! gemm runs near its peak. Burn's generic path instead runs a convolution whose kernel is the whole
//! output-gradient map: a gemm with `N = kh·kw` (9 for a 3×3 layer) that gemm runs far below it.
//!
//! Cost: one copy of the padded input (`c_in · n · Hp · Wp`) and one of the output gradient, plus
//! the gemms' `c_out · c_in · kh · kw · K` multiply-adds (the true count times `Hq·Wq / (Ho·Wo)`,
//! a few percent for padded 3×3 layers). Positions outside the output are zeros in `G`, so the
//! values they meet in the shifted input never reach the sum.

use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bytes, DType, Shape};
use rayon::prelude::*;

/// `dW` for `conv2d(x, w)` with output gradient `dy`, or `None` where this kernel does not apply
/// (not f32, grouped) and the caller takes Burn's path.
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `dy`: `[n, c_out, h', w']` → `weight_shape` = `[c_out, c_in, kh, kw]`
pub fn weight_grad_f32(
    x: &FlexTensor,
    dy: &FlexTensor,
    weight_shape: [usize; 4],
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 || dy.dtype() != DType::F32 || options.groups != 1 {
        return None;
    }
    let [c_out, c_in, kh, kw] = weight_shape;
    let xs = x.layout().shape();
    let ys = dy.layout().shape();
    let (n, h, w) = (xs[0], xs[2], xs[3]);
    let (ho, wo) = (ys[2], ys[3]);
    if xs[1] != c_in || ys[0] != n || ys[1] != c_out || n * c_in * c_out * ho * wo == 0 {
        return None;
    }
    let [sh, sw] = options.stride;
    let [dh, dw] = options.dilation;
    let [(pt, pb), (pl, pr)] = options.padding;
    let (hp, wp) = (h + pt + pb, w + pl + pr);
    let (hq, wq) = (hp.div_ceil(sh), wp.div_ceil(sw));
    // The taps must stay inside the padded input (they do for any valid convolution).
    if (ho - 1) * sh + (kh - 1) * dh >= hp || (wo - 1) * sw + (kw - 1) * dw >= wp {
        return None;
    }
    let tail = ((kh - 1) * dh / sh) * wq + (kw - 1) * dw / sw;
    let k = n * hq * wq;
    let row = k + tail;

    let x = contiguous(x);
    let dy = contiguous(dy);
    let phases = phase_split(x.storage::<f32>(), [n, c_in, h, w], [sh, sw], [pt, pl], [hq, wq], row);
    let g = grid_grad(dy.storage::<f32>(), [n, c_out, ho, wo], [hq, wq]);

    let taps = kh * kw;
    let wlen = c_out * c_in * taps;
    // Parallel over chunks of K when the gemms are thin (few channels, many positions: gemm
    // parallelises over M and N only); one chunk, gemm's own threads, when they are wide.
    let threads = rayon::current_num_threads();
    let chunks = if threads > 1 && k >= 8192 { (k / 4096).clamp(1, 4 * threads) } else { 1 };
    let chunk_len = k.div_ceil(chunks);
    let wide = c_out * c_in * k >= 192 * 192 * 192;
    let parallelism = if chunks == 1 && wide { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    let partial = |ci: usize| -> Vec<f32> {
        let k0 = ci * chunk_len;
        let kl = chunk_len.min(k - k0);
        let mut out = vec![0f32; wlen];
        for i in 0..kh {
            for j in 0..kw {
                let (ph, qh) = ((i * dh) % sh, (i * dh) / sh);
                let (pw, qw) = ((j * dw) % sw, (j * dw) / sw);
                let start = (ph * sw + pw) * c_in * row + qh * wq + qw + k0;
                // out[o, c, i, j] = Σ_κ G[o, k0 + κ] · phases[start + c·row + κ]
                // SAFETY: every index gemm reads or writes is in bounds: `out` has `c_out · c_in ·
                // taps` elements and the tap offset `i·kw + j < taps`; G rows hold `k ≥ k0 + kl`
                // values; a phase row holds `row = k + tail` values and `start - phase base ≤
                // tail + k0`, so `start + (c_in - 1)·row + kl` stays inside `phases`.
                unsafe {
                    gemm::gemm(
                        c_out,
                        c_in,
                        kl,
                        out.as_mut_ptr().add(i * kw + j),
                        taps as isize,
                        (c_in * taps) as isize,
                        false,
                        g.as_ptr().add(k0),
                        1,
                        k as isize,
                        phases.as_ptr().add(start),
                        row as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        parallelism,
                    );
                }
            }
        }
        out
    };
    let out = if chunks == 1 {
        partial(0)
    } else {
        let partials: Vec<Vec<f32>> = (0..chunks).into_par_iter().map(partial).collect();
        let mut out = vec![0f32; wlen];
        out.par_chunks_mut(4096).enumerate().for_each(|(b, dst)| {
            for p in &partials {
                for (d, v) in dst.iter_mut().zip(&p[b * 4096..]) {
                    *d += *v;
                }
            }
        });
        out
    };
    Some(FlexTensor::new(Bytes::from_elems(out), Layout::contiguous(Shape::new(weight_shape)), DType::F32))
}

fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// The padded input split into stride phases: `[sh·sw][c][row]`, each row holding
/// `n` images of `hq × wq` then zeros.
fn phase_split(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    [sh, sw]: [usize; 2],
    [pt, pl]: [usize; 2],
    [hq, wq]: [usize; 2],
    row: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; sh * sw * c * row];
    out.par_chunks_mut(row).enumerate().for_each(|(pc, dst)| {
        let (phase, ch) = (pc / c, pc % c);
        let (ph, pw) = (phase / sw, phase % sw);
        for img in 0..n {
            let src = &x[(img * c + ch) * h * w..][..h * w];
            let dst = &mut dst[img * hq * wq..][..hq * wq];
            for u in 0..hq {
                let r = u * sh + ph;
                if r < pt || r - pt >= h {
                    continue;
                }
                let src_row = &src[(r - pt) * w..][..w];
                let dst_row = &mut dst[u * wq..][..wq];
                // Columns v with 0 <= v·sw + pw - pl < w.
                let first = pl.saturating_sub(pw).div_ceil(sw);
                for (v, d) in dst_row.iter_mut().enumerate().skip(first) {
                    let col = v * sw + pw - pl;
                    if col >= w {
                        break;
                    }
                    *d = src_row[col];
                }
            }
        }
    });
    out
}

/// The output gradient on the phases' grid: `[c_out][n·hq·wq]`, zeros outside `ho × wo`.
fn grid_grad(dy: &[f32], [n, c_out, ho, wo]: [usize; 4], [hq, wq]: [usize; 2]) -> Vec<f32> {
    let k = n * hq * wq;
    let mut out = vec![0f32; c_out * k];
    out.par_chunks_mut(k).enumerate().for_each(|(o, dst)| {
        for img in 0..n {
            let src = &dy[(img * c_out + o) * ho * wo..][..ho * wo];
            for a in 0..ho {
                dst[img * hq * wq + a * wq..][..wo].copy_from_slice(&src[a * wo..][..wo]);
            }
        }
    });
    out
}
