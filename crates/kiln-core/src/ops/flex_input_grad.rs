//! The input gradient of a widening stride-1 2-D convolution on `flex` (`c_out > c_in`, kernel
//! larger than 1×1: LeNet-5's, small networks' first layers): per image the columns
//! `cols = Wᵀ · dy` (`[c_in·kh·kw, c_out] × [c_out, ho·wo]`, one gemm) are added back into place
//! row segment by row segment, vectorised. Burn's path (a transposed convolution) is the same
//! column form with the adding as a scalar loop, 7–11% of LeNet-5's training step for its second
//! convolution alone (`perf record`); this one takes 0.3–0.8 ms there against Burn's 1.0–1.7
//! (batch 64, alternating). Elsewhere Burn's path stays: for a layer that does not widen the
//! columns outgrow `dx` itself, a forward convolution of `dy` with the flipped kernel measured no
//! better on 1×1 layers, and 3×3 layers large enough for Winograd take
//! [`super::flex_winograd::input_grad_f32`] first.

use super::tiles::contiguous;
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use burn::tensor::ops::ConvOptions;

/// `dx` of a widening stride-1, undilated, ungrouped f32 convolution, or `None` where this path
/// does not apply (the caller takes Burn's).
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, kh, kw]`, `dy`: `[n, c_out, h', w']` →
/// `[n, c_in, h, w]`
pub fn input_grad_f32(
    x: &FlexTensor,
    weight: &FlexTensor,
    dy: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let (xs, ws, ys) = (x.layout().shape(), weight.layout().shape(), dy.layout().shape());
    if weight.dtype() != DType::F32
        || dy.dtype() != DType::F32
        || xs.num_dims() != 4
        || ws.num_dims() != 4
        || ys.num_dims() != 4
    {
        return None;
    }
    if options.groups != 1 || options.stride != [1, 1] || options.dilation != [1, 1] {
        return None;
    }
    let (c_out, c_in, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    if xs[1] != c_in || ys[0] != xs[0] || ys[1] != c_out || kh == 0 || kw == 0 {
        return None;
    }
    let [(pt, pb), (pl, pr)] = options.padding;
    // The forward's output size, `h + pt + pb − kh + 1`, must be `dy`'s.
    if ys[2] + kh != xs[2] + pt + pb + 1 || ys[3] + kw != xs[3] + pl + pr + 1 {
        return None;
    }
    // Where the layer does not widen, Burn's path stays (see the module's note).
    if kh * kw == 1 || c_out <= c_in {
        return None;
    }
    let (weight, dy) = (contiguous(weight), contiguous(dy));
    let [n, _, h, w] = [xs[0], xs[1], xs[2], xs[3]];
    let dx = col2im(
        weight.storage::<f32>(),
        dy.storage::<f32>(),
        [n, c_in, h, w],
        [c_out, kh, kw],
        [pt, pl],
        [ys[2], ys[3]],
    );
    Some(super::tiles::f32_tensor(dx, [n, c_in, h, w]))
}

/// `dx` per image as `cols = Wᵀ · dy` (`[c_in·kh·kw, c_out] × [c_out, ho·wo]`, one gemm) and
/// the columns added back into place, row segments at a time.
///
/// # Shapes
/// `w`: `[c_out, c_in, kh, kw]`, `dy`: `[n, c_out, ho, wo]` → `[n, c_in, h, w]`
fn col2im(
    w: &[f32],
    dy: &[f32],
    [n, c_in, h, wd]: [usize; 4],
    [c_out, kh, kw]: [usize; 3],
    [pt, pl]: [usize; 2],
    [ho, wo]: [usize; 2],
) -> Vec<f32> {
    use super::tiles::{View, matmul};
    use rayon::prelude::*;
    let (rows, positions) = (c_in * kh * kw, ho * wo);
    assert!(w.len() >= c_out * rows && dy.len() >= n * c_out * positions);
    let layout = Columns {
        h,
        wd,
        ho,
        wo,
        kh,
        kw,
        pt,
        pl,
    };
    let mut dx = vec![0f32; n * c_in * h * wd];
    if dx.is_empty() || positions == 0 {
        return dx;
    }
    let parallelism = if n < rayon::current_num_threads() {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    dx.par_chunks_mut(c_in * h * wd).enumerate().for_each_init(
        || vec![0f32; rows * positions],
        |cols, (img, dxi)| {
            // SAFETY: `Wᵀ` is `[rows, c_out]` inside `w` (checked above), this image's `dy`
            // is `[c_out, positions]` inside `dy`, `cols` is this task's own `[rows, positions]`.
            unsafe {
                matmul(
                    rows,
                    positions,
                    c_out,
                    cols.as_mut_ptr(),
                    positions,
                    View::new(w.as_ptr(), 1, rows),
                    View::new(dy[img * c_out * positions..].as_ptr(), positions, 1),
                    false,
                    parallelism,
                )
            };
            add_columns(dxi, cols, &layout);
        },
    );
    dx
}

/// Where the columns of one image go back: `dx` `[c_in, h, wd]`, columns
/// `[c_in·kh·kw, ho·wo]`, top and left padding `pt`, `pl`.
struct Columns {
    h: usize,
    wd: usize,
    ho: usize,
    wo: usize,
    kh: usize,
    kw: usize,
    pt: usize,
    pl: usize,
}

/// Adds each column row back into place: row `(ci, u, v)`'s value at output `(a, b)` goes to
/// `dx[ci, a + u − pt, b + v − pl]` where that lies inside.
fn add_columns(dx: &mut [f32], cols: &[f32], l: &Columns) {
    let (h, wd, ho, wo, kh, kw, pt, pl) = (l.h, l.wd, l.ho, l.wo, l.kh, l.kw, l.pt, l.pl);
    for (r, col) in cols.chunks_exact(ho * wo).enumerate() {
        let (ci, u, v) = (r / (kh * kw), r / kw % kh, r % kw);
        // Output column b lands on input column b + v − pl, inside [0, wd).
        let b_lo = pl.saturating_sub(v).min(wo);
        let b_hi = (wd + pl).saturating_sub(v).min(wo);
        if b_lo >= b_hi {
            continue;
        }
        for a in 0..ho {
            let y = a + u;
            if y < pt || y - pt >= h {
                continue;
            }
            let dst = &mut dx[(ci * h + y - pt) * wd + b_lo + v - pl..][..b_hi - b_lo];
            for (d, s) in dst.iter_mut().zip(&col[a * wo + b_lo..a * wo + b_hi]) {
                *d += *s;
            }
        }
    }
}
