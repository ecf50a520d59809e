//! The forward pass of a 2-D convolution on `flex`, as gemms over the weight gradient's layouts
//! ([`flex_weight_grad`](super::flex_weight_grad)).
//!
//! **Phases** (large maps): with the padded input split into stride phases laid out on one
//! `Hq × Wq` grid per image, tap `(i, j)` of every output position reads the same flat row shifted
//! by one offset, so `Yg[o, κ] = Σ_(c, i, j) W[o, c, i, j] · phases[start(i, j) + c·row + κ]`
//! over `K = n·Hq·Wq` grid positions. Taken in column blocks sized for L2: each block's patch tile
//! is a contiguous copy per `(c, i, j)` (no index arithmetic per element), then one gemm
//! `[c_out, c_in·kh·kw] × [c_in·kh·kw, block]`; blocks spread over threads. The valid `Ho × Wo`
//! corner of each image's grid is then copied out.
//!
//! **Patches** (small maps, where the grid wastes more than 20%, and whenever the patch matrix is
//! smaller than the phases, as for strided 1×1 layers): `Y[o, κ] = W[o, :] · cols[:, κ]`, one
//! gemm `[c_out, c_in·kh·kw] × [c_in·kh·kw, n·Ho·Wo]`.
//!
//! Burn's flex path converts to NHWC and builds im2col tiles per image; both layouts here batch
//! every image into one product, which is what lets gemm reach its peak on small maps.

use super::flex_weight_grad::{contiguous, gather_tile, im2col, phase_split};
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bytes, DType, Shape};
use rayon::prelude::*;

/// `conv2d(x, w)` without bias, or `None` where this kernel does not apply (not f32, grouped)
/// and the caller takes Burn's path.
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, kh, kw]` → `[n, c_out, h', w']`
pub fn conv2d_f32(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || options.groups != 1 {
        return None;
    }
    let xs = x.layout().shape();
    let ws = weight.layout().shape();
    let (n, c_in, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let (c_out, kh, kw) = (ws[0], ws[2], ws[3]);
    if ws[1] != c_in || n * c_in * c_out * kh * kw == 0 {
        return None;
    }
    let [sh, sw] = options.stride;
    let [dh, dw] = options.dilation;
    let [(pt, pb), (pl, pr)] = options.padding;
    let (hp, wp) = (h + pt + pb, w + pl + pr);
    let (eh, ew) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1);
    if hp < eh || wp < ew || sh == 0 || sw == 0 {
        return None;
    }
    let (ho, wo) = ((hp - eh) / sh + 1, (wp - ew) / sw + 1);
    let (hq, wq) = (hp.div_ceil(sh), wp.div_ceil(sw));
    let taps = kh * kw;
    let x = contiguous(x);
    let weight = contiguous(weight);
    let (x, wt) = (x.storage::<f32>(), weight.storage::<f32>());

    let waste = (hq * wq) as f64 / (ho * wo) as f64;
    let patch_len = c_in * taps * n * ho * wo;
    let phase_len = sh * sw * c_in * n * hq * wq;
    let use_patches = match std::env::var("KILN_CONV_LAYOUT").as_deref() {
        Ok("phases") => false,
        Ok("patches") => true,
        _ => waste > 1.2 || patch_len <= phase_len,
    };
    let (grid, [gh, gw]) = if use_patches {
        let k = n * ho * wo;
        let cols = im2col(x, [n, c_in, h, w], [kh, kw], [ho, wo], [sh, sw], [dh, dw], [pt, pl]);
        let spec = Product {
            m: c_out,
            kdim: c_in * taps,
            cols: k,
            lhs_cs: 1,
            lhs_rs: c_in * taps,
            rhs_rs: k,
        };
        (product(wt, &cols, &spec), [ho, wo])
    } else {
        let tail = ((kh - 1) * dh / sh) * wq + (kw - 1) * dw / sw;
        let k = n * hq * wq;
        let row = k + tail;
        let phases = phase_split(x, [n, c_in, h, w], [sh, sw], [pt, pl], [hq, wq], row);
        let mut offsets = Vec::with_capacity(taps);
        for i in 0..kh {
            for j in 0..kw {
                let (ph, qh) = ((i * dh) % sh, (i * dh) / sh);
                let (pw, qw) = ((j * dw) % sw, (j * dw) / sw);
                offsets.push((ph * sw + pw) * c_in * row + qh * wq + qw);
            }
        }
        (tiled(wt, &phases, &offsets, c_out, c_in, row, k), [hq, wq])
    };
    // The valid corner of each image's grid, as [n, c_out, ho, wo].
    let k = n * gh * gw;
    let mut y = vec![0f32; n * c_out * ho * wo];
    y.par_chunks_mut(ho * wo).enumerate().for_each(|(io, dst)| {
        let (img, o) = (io / c_out, io % c_out);
        let src = &grid[o * k + img * gh * gw..];
        for a in 0..ho {
            dst[a * wo..][..wo].copy_from_slice(&src[a * gw..][..wo]);
        }
    });
    Some(FlexTensor::new(
        Bytes::from_elems(y),
        Layout::contiguous(Shape::new([n, c_out, ho, wo])),
        DType::F32,
    ))
}

/// `dst[m, cols] = lhs · rhs`, with `lhs` `[m, kdim]` of strides (`lhs_rs`, `lhs_cs`) and `rhs`
/// `[kdim, cols]` of strides (`rhs_rs`, 1).
struct Product {
    m: usize,
    kdim: usize,
    cols: usize,
    lhs_cs: usize,
    lhs_rs: usize,
    rhs_rs: usize,
}

/// The product of `spec` in one gemm call on gemm's own threads (which block it for the caches).
fn product(lhs: &[f32], rhs: &[f32], spec: &Product) -> Vec<f32> {
    assert!((spec.m - 1) * spec.lhs_rs + (spec.kdim - 1) * spec.lhs_cs < lhs.len());
    assert!((spec.kdim - 1) * spec.rhs_rs + spec.cols <= rhs.len());
    let mut dst = vec![0f32; spec.m * spec.cols];
    let parallelism = if spec.m * spec.kdim * spec.cols >= 192 * 192 * 192 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above bound every read; `dst` holds `m` rows of `cols`.
    unsafe {
        gemm::gemm(
            spec.m,
            spec.cols,
            spec.kdim,
            dst.as_mut_ptr(),
            1,
            spec.cols as isize,
            false,
            lhs.as_ptr(),
            spec.lhs_cs as isize,
            spec.lhs_rs as isize,
            rhs.as_ptr(),
            1,
            spec.rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    dst
}

/// `Yg[o, κ] = Σ_(c, tap) W[o, c, tap] · phases[offsets[tap] + c·row + κ]` for `κ < cols`, in
/// column blocks: each block gathers its `[c_in·taps, block]` tile (one contiguous copy per
/// `(c, tap)`: the shifted phase rows), sized for L2, and runs one gemm with K = `c_in·taps`.
/// Blocks spread over threads, each with its own tile.
fn tiled(wt: &[f32], phases: &[f32], offsets: &[usize], m: usize, c_in: usize, row: usize, cols: usize) -> Vec<f32> {
    let taps = offsets.len();
    let kdim = c_in * taps;
    assert!(wt.len() >= m * kdim);
    for &o in offsets {
        assert!(o + (c_in - 1) * row + cols <= phases.len());
    }
    let mut dst = vec![0f32; m * cols];
    let block = ((131_072 / kdim).clamp(64, 4096) / 16) * 16;
    let blocks = cols.div_ceil(block);
    let dst_ptr = SendPtr(dst.as_mut_ptr());
    let run = |tile: &mut Vec<f32>, b: usize| {
        let c0 = b * block;
        let cl = block.min(cols - c0);
        gather_tile(phases, offsets, c_in, row, c0, cl, block, tile);
        // SAFETY: `wt` holds `m` rows of `kdim` (asserted); the tile `kdim` rows of `block ≥ cl`;
        // the writes go to columns `c0..c0 + cl` of `dst` (`m` rows of `cols`), disjoint between
        // blocks, so the blocks may run on different threads.
        unsafe {
            gemm::gemm(
                m,
                cl,
                kdim,
                dst_ptr.get().add(c0),
                1,
                cols as isize,
                false,
                wt.as_ptr(),
                1,
                kdim as isize,
                tile.as_ptr(),
                1,
                block as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    };
    (0..blocks)
        .into_par_iter()
        .for_each_init(|| vec![0f32; kdim * block], run);
    dst
}

/// A raw pointer the blocks share (each writes its own columns).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the blocks write disjoint columns (see `accumulate`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}
