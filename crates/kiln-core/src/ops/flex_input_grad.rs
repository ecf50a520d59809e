//! The input gradient of a 2-D convolution on `flex`: `dP[r, κ] = Σ_o W[o, r] · G[o, κ]` (the
//! patch matrix's gradient, `r = (c, i, j)`) added back to where each patch value came from: the
//! transpose of the forward ([`flex_conv_forward`](super::flex_conv_forward)), on the same
//! layouts (`ops/tiles.rs`). Threads take disjoint ranges of input channels (so their additions
//! never meet); each walks the positions in L2-sized blocks: one gemm `[rows, c_out] × [c_out,
//! block]` into a tile, then the tile added into the phase-split gradient (one contiguous add per
//! `(c, tap)`, then un-split) or, for patches, into the input gradient by index.
//!
//! Burn's flex path runs a transposed convolution per image; on small maps (ResNet's last
//! stages) that is 2–3× slower than PyTorch.

use super::flex_weight_grad::contiguous;
use super::tiles::{Geometry, SendPtr, block_width, on_grid, phase_offsets, scatter_patches, unsplit, use_patches};
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bytes, DType, Shape};
use rayon::prelude::*;

/// `dX` for `conv2d(x, w)` with output gradient `dy`, or `None` where this kernel does not apply
/// (not f32, grouped) and the caller takes Burn's path.
///
/// # Shapes
/// `weight`: `[c_out, c_in, kh, kw]`, `dy`: `[n, c_out, h', w']` → `x_shape` = `[n, c_in, h, w]`
pub fn input_grad_f32(
    weight: &FlexTensor,
    dy: &FlexTensor,
    x_shape: [usize; 4],
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if weight.dtype() != DType::F32 || dy.dtype() != DType::F32 || options.groups != 1 {
        return None;
    }
    let ws = weight.layout().shape();
    let ys = dy.layout().shape();
    let c_out = ws[0];
    if ws.num_dims() != 4
        || ys.num_dims() != 4
        || ws[1] != x_shape[1]
        || ys[0] != x_shape[0]
        || ys[1] != c_out
        || c_out == 0
    {
        return None;
    }
    let g = Geometry::new(
        x_shape,
        [ws[2], ws[3]],
        options.stride,
        options.dilation,
        options.padding,
    )?;
    if [g.ho, g.wo] != [ys[2], ys[3]] {
        return None;
    }
    let weight = contiguous(weight);
    let dy = contiguous(dy);
    let wt = weight.storage::<f32>();
    let patches = use_patches(&g);
    let grid = if patches { [g.ho, g.wo] } else { g.grid };
    let grad = on_grid(dy.storage::<f32>(), [g.n, c_out, g.ho, g.wo], grid);
    let k = g.n * grid[0] * grid[1];
    let taps = g.kh * g.kw;
    let kdim = g.rows();
    assert!(wt.len() >= c_out * kdim && grad.len() >= c_out * k);

    let (mut dst, row, offsets) = if patches {
        (vec![0f32; g.n * g.c_in * g.h * g.w], 0, Vec::new())
    } else {
        let (row, offsets) = phase_offsets(&g);
        (vec![0f32; g.stride[0] * g.stride[1] * g.c_in * row], row, offsets)
    };
    for &o in &offsets {
        assert!(o + (g.c_in - 1) * row + k <= dst.len());
    }
    let dst_ptr = SendPtr(dst.as_mut_ptr());
    let threads = rayon::current_num_threads();
    let groups = g.c_in.min(threads * 2).max(1);
    let per = g.c_in.div_ceil(groups);
    (0..g.c_in.div_ceil(per)).into_par_iter().for_each(|grp| {
        let c0 = grp * per;
        let cs = per.min(g.c_in - c0);
        let rows = cs * taps;
        let block = block_width(rows, c_out);
        let mut tile = vec![0f32; rows * block];
        for k0 in (0..k).step_by(block) {
            let kl = block.min(k - k0);
            // SAFETY: `wt` holds `c_out` rows of `kdim ≥ (c0 + cs)·taps` (asserted), read
            // transposed; `grad` `c_out` rows of `k ≥ k0 + kl`; the tile `rows` rows of `block`.
            unsafe {
                gemm::gemm(
                    rows,
                    kl,
                    c_out,
                    tile.as_mut_ptr(),
                    1,
                    block as isize,
                    false,
                    wt.as_ptr().add(c0 * taps),
                    kdim as isize,
                    1,
                    grad.as_ptr().add(k0),
                    1,
                    k as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            if patches {
                // SAFETY: this task alone writes channels `c0..c0 + cs`.
                unsafe { scatter_patches(dst_ptr, &g, c0, &tile, rows, k0, kl, block) };
            } else {
                for c in 0..cs {
                    for (t, &o) in offsets.iter().enumerate() {
                        let start = o + (c0 + c) * row + k0;
                        let src = &tile[(c * taps + t) * block..][..kl];
                        // SAFETY: `start + kl ≤ o + (c_in - 1)·row + k ≤` the split's length
                        // (asserted above); this task alone writes channel `c0 + c` of every
                        // phase.
                        for (q, v) in src.iter().enumerate() {
                            unsafe { *dst_ptr.get().add(start + q) += *v };
                        }
                    }
                }
            }
        }
    });
    let dx = if patches { dst } else { unsplit(&dst, &g, row) };
    Some(FlexTensor::new(
        Bytes::from_elems(dx),
        Layout::contiguous(Shape::new(x_shape)),
        DType::F32,
    ))
}
