//! The weight gradient of a 2-D convolution on `flex`, as large gemms over one of two layouts.
//!
//! **Phases** (large maps):
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
//!
//! **Patches** (small maps, where that grid wastes more than 20%: a 7×7 map padded to 9×9
//! computes 1.65× the products): an explicit patch matrix `[c_in·kh·kw, n·Ho·Wo]` and one gemm
//! `[c_out, K] × [K, c_in·kh·kw]` whose result is the weight gradient as laid out.
//!
//! Either way K is split across threads and blocked for L2 ([`chunked_gemm`]).

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
    let x = contiguous(x);
    let dy = contiguous(dy);
    let (x, dy) = (x.storage::<f32>(), dy.storage::<f32>());
    let taps = kh * kw;
    // Small maps waste much of the phase grid (a 7×7 map padded to 9×9 computes 1.65× the
    // products); there an explicit patch matrix costs less than the wasted products.
    let waste = (hq * wq) as f64 / (ho * wo) as f64;
    let patches = c_in * taps * n * ho * wo;
    // `KILN_WGRAD_LAYOUT=phases|patches` forces one layout (the tests check both everywhere).
    let use_patches = match std::env::var("KILN_WGRAD_LAYOUT").as_deref() {
        Ok("phases") => false,
        Ok("patches") => patches <= PATCH_LIMIT,
        _ => waste > 1.2 && patches <= PATCH_LIMIT,
    };
    let out = if use_patches {
        let k = n * ho * wo;
        let cols = im2col(x, [n, c_in, h, w], [kh, kw], [ho, wo], [sh, sw], [dh, dw], [pt, pl]);
        let g = grid_grad(dy, [n, c_out, ho, wo], [ho, wo]);
        // One gemm: dW[o, (c, i, j)] = Σ_κ G[o, κ] · cols[(c, i, j), κ].
        let spec = GemmSpec {
            m: c_out,
            n: c_in * taps,
            k,
            lhs_rs: k,
            rhs_cs: k,
            dst_cs: 1,
            dst_rs: c_in * taps,
        };
        chunked_gemm(&g, &cols, &spec, &[(0, 0)], c_out * c_in * taps)
    } else {
        let tail = ((kh - 1) * dh / sh) * wq + (kw - 1) * dw / sw;
        let k = n * hq * wq;
        let row = k + tail;
        let phases = phase_split(x, [n, c_in, h, w], [sh, sw], [pt, pl], [hq, wq], row);
        let g = grid_grad(dy, [n, c_out, ho, wo], [hq, wq]);
        // dW[o, (c, i, j)] = Σ_κ G[o, κ] · phases[start(i, j) + c·row + κ].
        let mut offsets = Vec::with_capacity(taps);
        for i in 0..kh {
            for j in 0..kw {
                let (ph, qh) = ((i * dh) % sh, (i * dh) / sh);
                let (pw, qw) = ((j * dw) % sw, (j * dw) / sw);
                offsets.push((ph * sw + pw) * c_in * row + qh * wq + qw);
            }
        }
        tiled(&g, &phases, &offsets, c_out, c_in, row, k)
    };
    Some(FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::new(weight_shape)),
        DType::F32,
    ))
}

/// `dW[o, (c, tap)] = Σ_κ G[o, κ] · phases[offsets[tap] + c·row + κ]` over `κ < k`: K split in
/// one range per thread, each range in blocks sized for L2 whose `[c_in·taps, block]` tile is
/// gathered ([`gather_tile`]) and multiplied in one gemm `[c_out, block] × [block, c_in·taps]`
/// accumulating into the range's own result; the results are then added.
fn tiled(g: &[f32], phases: &[f32], offsets: &[usize], m: usize, c_in: usize, row: usize, k: usize) -> Vec<f32> {
    let taps = offsets.len();
    let kdim = c_in * taps;
    let len = m * kdim;
    assert!(g.len() >= m * k);
    for &o in offsets {
        assert!(o + (c_in - 1) * row + k <= phases.len());
    }
    let threads = rayon::current_num_threads();
    let tasks = if threads > 1 && k >= 2048 * threads { threads } else { 1 };
    let range = k.div_ceil(tasks);
    let block = ((131_072 / (kdim + m)).clamp(64, 4096) / 16) * 16;
    let parallelism = if tasks == 1 && m * kdim * k >= 192 * 192 * 192 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let partial = |task: usize| -> Vec<f32> {
        let mut out = vec![0f32; len];
        let mut tile = vec![0f32; kdim * block];
        let start = (task * range).min(k);
        let end = (start + range).min(k);
        for k0 in (start..end).step_by(block) {
            let kl = block.min(end - k0);
            gather_tile(phases, offsets, c_in, row, k0, kl, block, &mut tile);
            // SAFETY: `g` holds `m` rows of `k ≥ k0 + kl` (asserted), the tile `kdim` rows of
            // `block ≥ kl`, `out` `m` rows of `kdim`.
            unsafe {
                gemm::gemm(
                    m,
                    kdim,
                    kl,
                    out.as_mut_ptr(),
                    1,
                    kdim as isize,
                    true,
                    g.as_ptr().add(k0),
                    1,
                    k as isize,
                    tile.as_ptr(),
                    block as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
        }
        out
    };
    if tasks == 1 {
        return partial(0);
    }
    let partials: Vec<Vec<f32>> = (0..tasks).into_par_iter().map(partial).collect();
    let mut out = vec![0f32; len];
    out.par_chunks_mut(4096).enumerate().for_each(|(b, dst)| {
        for p in &partials {
            for (d, v) in dst.iter_mut().zip(&p[b * 4096..]) {
                *d += *v;
            }
        }
    });
    out
}

/// Columns `k0..k0 + kl` of the patch matrix, from the phases: row `(c, tap)` of the tile (rows
/// of `block` values) is the contiguous run `phases[offsets[tap] + c·row + k0..][..kl]`.
pub(super) fn gather_tile(
    phases: &[f32],
    offsets: &[usize],
    c_in: usize,
    row: usize,
    k0: usize,
    kl: usize,
    block: usize,
    tile: &mut [f32],
) {
    let taps = offsets.len();
    for c in 0..c_in {
        for (t, &o) in offsets.iter().enumerate() {
            tile[(c * taps + t) * block..][..kl].copy_from_slice(&phases[o + c * row + k0..][..kl]);
        }
    }
}

/// The largest patch matrix (elements) the small-map path builds: 64 Mi floats, 256 MiB.
const PATCH_LIMIT: usize = 64 << 20;

/// Row-major operands of `dst[m, n] (+)= lhs[m, k] · rhs[k, n]` with `lhs` rows of stride
/// `lhs_rs` (columns contiguous), `rhs` columns of stride `rhs_cs` (rows contiguous) and `dst`
/// strides `dst_cs`, `dst_rs`.
struct GemmSpec {
    m: usize,
    n: usize,
    k: usize,
    lhs_rs: usize,
    rhs_cs: usize,
    dst_cs: usize,
    dst_rs: usize,
}

/// For each `(rhs_offset, dst_offset)`: `out[dst_offset..] = lhs · rhs[rhs_offset..]` as `spec`
/// lays them out. gemm parallelises over M and N only, and thin products (few channels, many
/// positions) leave threads idle, so K is split in one range per thread, each summed into its own
/// buffer, then added. Within a range K goes in blocks that keep both operands' slices in L2
/// across every offset (a 3×3 layer reads the same output-gradient block nine times).
fn chunked_gemm(lhs: &[f32], rhs: &[f32], spec: &GemmSpec, offsets: &[(usize, usize)], len: usize) -> Vec<f32> {
    assert!(lhs.len() >= (spec.m - 1) * spec.lhs_rs + spec.k);
    for &(rhs_offset, dst_offset) in offsets {
        assert!(rhs_offset + (spec.n - 1) * spec.rhs_cs + spec.k <= rhs.len());
        assert!(dst_offset + (spec.m - 1) * spec.dst_rs + (spec.n - 1) * spec.dst_cs < len);
    }
    let threads = rayon::current_num_threads();
    let tasks = if threads > 1 && spec.k >= 2048 * threads {
        threads
    } else {
        1
    };
    let range = spec.k.div_ceil(tasks);
    let parallelism = if tasks == 1 && spec.m * spec.n * spec.k >= 192 * 192 * 192 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // 512 KiB of both operands per block.
    let block = (131_072 / (spec.m + spec.n)).clamp(256, 4096);
    let partial = |task: usize| -> Vec<f32> {
        let mut out = vec![0f32; len];
        let start = (task * range).min(spec.k);
        let end = (start + range).min(spec.k);
        for k0 in (start..end).step_by(block) {
            let kl = block.min(end - k0);
            for &(rhs_offset, dst_offset) in offsets {
                // SAFETY: the asserts above bound every index gemm touches: `lhs` rows
                // `(m - 1)·lhs_rs + k`, `rhs` columns from `rhs_offset`, `(n - 1)·rhs_cs + k`,
                // and `out` from `dst_offset`, `(m - 1)·dst_rs + (n - 1)·dst_cs`; here
                // `k0 + kl ≤ k`.
                unsafe {
                    gemm::gemm(
                        spec.m,
                        spec.n,
                        kl,
                        out.as_mut_ptr().add(dst_offset),
                        spec.dst_cs as isize,
                        spec.dst_rs as isize,
                        true,
                        lhs.as_ptr().add(k0),
                        1,
                        spec.lhs_rs as isize,
                        rhs.as_ptr().add(rhs_offset + k0),
                        spec.rhs_cs as isize,
                        1,
                        1.0,
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
    if tasks == 1 {
        return partial(0);
    }
    let partials: Vec<Vec<f32>> = (0..tasks).into_par_iter().map(partial).collect();
    let mut out = vec![0f32; len];
    out.par_chunks_mut(4096).enumerate().for_each(|(b, dst)| {
        for p in &partials {
            for (d, v) in dst.iter_mut().zip(&p[b * 4096..]) {
                *d += *v;
            }
        }
    });
    out
}

/// The patch matrix `[c·kh·kw][n·ho·wo]`: row `(c, i, j)` holds, for every output position, the
/// input value tap `(i, j)` of channel `c` meets there (zero in the padding).
pub(super) fn im2col(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    [kh, kw]: [usize; 2],
    [ho, wo]: [usize; 2],
    [sh, sw]: [usize; 2],
    [dh, dw]: [usize; 2],
    [pt, pl]: [usize; 2],
) -> Vec<f32> {
    let k = n * ho * wo;
    let mut out = vec![0f32; c * kh * kw * k];
    out.par_chunks_mut(k).enumerate().for_each(|(r, dst)| {
        let (ch, i, j) = (r / (kh * kw), (r / kw) % kh, r % kw);
        // Output columns b whose input column b·sw + j·dw - pl lies in 0..w.
        let b_first = (pl.saturating_sub(j * dw)).div_ceil(sw);
        let b_end = ((w + pl).saturating_sub(j * dw)).div_ceil(sw).min(wo);
        for img in 0..n {
            let src = &x[(img * c + ch) * h * w..][..h * w];
            for a in 0..ho {
                let r_in = a * sh + i * dh;
                if r_in < pt || r_in - pt >= h {
                    continue;
                }
                let src_row = &src[(r_in - pt) * w..][..w];
                let dst_row = &mut dst[(img * ho + a) * wo..][..wo];
                for b in b_first..b_end {
                    dst_row[b] = src_row[b * sw + j * dw - pl];
                }
            }
        }
    });
    out
}

pub(super) fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// The padded input split into stride phases: `[sh·sw][c][row]`, each row holding
/// `n` images of `hq × wq` then zeros.
pub(super) fn phase_split(
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
