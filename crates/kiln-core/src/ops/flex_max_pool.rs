//! 2-D max pooling on `flex` (f32, no dilation, floor mode, symmetric padding): each output
//! plane in one pass with the window's valid input range per output row and column computed
//! once, not per value. The backward recomputes each window's argmax from the input (one more
//! pass, no index tensor kept) and adds the output gradient there. Ties and NaNs follow Burn's
//! rule exactly (the first maximum in row-major order wins; a NaN always wins), so gradients
//! equal Burn's. Burn's flex path is a generic 3-D loop that recomputes the valid window range
//! (with integer divisions) for every output value. The 2×2 stride-2 window (LeNet-5, VGG)
//! has a path of its own, vectorised ([`super::max_pool_2x2`]; through the generic loop it was
//! 16% of LeNet-5's training step).

use super::max_pool_2x2;
use super::tiles::{contiguous, f32_tensor};
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Shape};
use rayon::prelude::*;

/// The pooling geometry of `x: [n, c, h, w]`.
struct Pool {
    planes: usize,
    h: usize,
    w: usize,
    /// Valid input rows `[lo, hi)` per output row, and columns per output column.
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
}

fn ranges(input: usize, kernel: usize, stride: usize, pad: usize) -> Option<Vec<(usize, usize)>> {
    let padded = input + 2 * pad;
    if kernel == 0 || stride == 0 || padded < kernel {
        return None;
    }
    let out = (padded - kernel) / stride + 1;
    Some(
        (0..out)
            .map(|o| {
                let start = o * stride;
                (
                    start.saturating_sub(pad).min(input),
                    (start + kernel).saturating_sub(pad).min(input),
                )
            })
            .collect(),
    )
}

fn geometry(shape: &Shape, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Option<Pool> {
    if shape.num_dims() != 4 {
        return None;
    }
    let (h, w) = (shape[2], shape[3]);
    Some(Pool {
        planes: shape[0] * shape[1],
        h,
        w,
        rows: ranges(h, kernel[0], stride[0], padding[0])?,
        cols: ranges(w, kernel[1], stride[1], padding[1])?,
    })
}

/// The window's maximum and its flat index in the plane (Burn's rule), or `(-inf, None)` for an
/// empty window.
#[inline]
fn window_max(plane: &[f32], w: usize, (r0, r1): (usize, usize), (c0, c1): (usize, usize)) -> (f32, Option<usize>) {
    let mut best = f32::NEG_INFINITY;
    let mut at = None;
    for r in r0..r1 {
        let row = &plane[r * w..][..w];
        for (c, &v) in row.iter().enumerate().take(c1).skip(c0) {
            if at.is_none() || v > best || v.is_nan() {
                best = v;
                at = Some(r * w + c);
            }
        }
    }
    (best, at)
}

/// The 2×2 window with stride 2 and no padding (LeNet's, VGG's, SegNet's): a branch-free pass
/// per pair of input rows.
fn is_2x2(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> bool {
    kernel == [2, 2] && stride == [2, 2] && padding == [0, 0]
}

/// Max pooling, or `None` where this kernel does not apply.
///
/// # Shapes
/// `[n, c, h, w]` → `[n, c, h', w']`
pub fn forward_f32(x: &FlexTensor, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 {
        return None;
    }
    let shape = x.layout().shape().clone();
    let g = geometry(&shape, kernel, stride, padding)?;
    let x = contiguous(x);
    let xs = x.storage::<f32>();
    let (ho, wo) = (g.rows.len(), g.cols.len());
    let mut y = vec![0f32; g.planes * ho * wo];
    if ho * wo > 0 && g.h * g.w > 0 && is_2x2(kernel, stride, padding) {
        y.par_chunks_mut(ho * wo)
            .zip(xs.par_chunks(g.h * g.w))
            .for_each(|(dst, plane)| {
                for (a, out) in dst.chunks_exact_mut(wo).enumerate() {
                    max_pool_2x2::forward_rows(&plane[2 * a * g.w..], &plane[(2 * a + 1) * g.w..], out);
                }
            });
    } else if ho * wo > 0 && g.h * g.w > 0 {
        y.par_chunks_mut(ho * wo)
            .zip(xs.par_chunks(g.h * g.w))
            .for_each(|(dst, plane)| {
                for (a, &rr) in g.rows.iter().enumerate() {
                    for (b, &cr) in g.cols.iter().enumerate() {
                        dst[a * wo + b] = window_max(plane, g.w, rr, cr).0;
                    }
                }
            });
    }
    Some(f32_tensor(y, [shape[0], shape[1], ho, wo]))
}

/// The input gradient of [`forward_f32`], or `None` where this kernel does not apply.
///
/// # Shapes
/// `x`: `[n, c, h, w]`, `grad`: `[n, c, h', w']` → `[n, c, h, w]`
pub fn backward_f32(
    x: &FlexTensor,
    grad: &FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
        return None;
    }
    let shape = x.layout().shape().clone();
    let g = geometry(&shape, kernel, stride, padding)?;
    let (ho, wo) = (g.rows.len(), g.cols.len());
    let gs = grad.layout().shape();
    if gs.num_dims() != 4 || gs[0] * gs[1] != g.planes || gs[2] != ho || gs[3] != wo {
        return None;
    }
    let x = contiguous(x);
    let grad = contiguous(grad);
    let (xs, dys) = (x.storage::<f32>(), grad.storage::<f32>());
    let mut dx = vec![0f32; xs.len()];
    if ho * wo > 0 && g.h * g.w > 0 && is_2x2(kernel, stride, padding) {
        // Windows do not overlap: each input receives its window's gradient or nothing.
        dx.par_chunks_mut(g.h * g.w)
            .zip(xs.par_chunks(g.h * g.w))
            .zip(dys.par_chunks(ho * wo))
            .for_each(|((dst, plane), dy)| {
                for (a, dy) in dy.chunks_exact(wo).enumerate() {
                    let (r0, r1) = (&plane[2 * a * g.w..], &plane[(2 * a + 1) * g.w..]);
                    let (d0, d1) = dst[2 * a * g.w..][..g.w + 2 * wo].split_at_mut(g.w);
                    max_pool_2x2::backward_rows(r0, r1, dy, d0, d1);
                }
            });
    } else if ho * wo > 0 && g.h * g.w > 0 {
        dx.par_chunks_mut(g.h * g.w)
            .zip(xs.par_chunks(g.h * g.w))
            .zip(dys.par_chunks(ho * wo))
            .for_each(|((dst, plane), dy)| {
                for (a, &rr) in g.rows.iter().enumerate() {
                    for (b, &cr) in g.cols.iter().enumerate() {
                        if let (_, Some(i)) = window_max(plane, g.w, rr, cr) {
                            dst[i] += dy[a * wo + b];
                        }
                    }
                }
            });
    }
    Some(f32_tensor(dx, shape))
}
