//! The weight gradient of a 2-D convolution on `flex`: `dW[o, r] = Σ_κ G[o, κ] · P[r, κ]`, with
//! `P` the patch matrix (`r = (c, i, j)`, `ops/tiles.rs`) and `G` the output gradient
//! laid out on the same positions (zeros where the phase grid exceeds the output). K (every
//! position of every image: tens of thousands) is split in one range per thread, each range in
//! L2-sized blocks: gather the block's patch tile, one gemm `[c_out, block] × [block,
//! c_in·kh·kw]` accumulating into the range's own result; the results are then added.
//!
//! Burn's generic path instead runs a convolution whose kernel is the whole output-gradient map:
//! a gemm with `N = kh·kw` (9 for a 3×3 layer) and a huge K, which gemm runs far below its peak.

use super::tiles::{Geometry, Source, View, block_width, choose, contiguous, f32_tensor, matmul, on_grid};
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

/// `dW` for `conv2d(x, w)` with output gradient `dy`, or `None` where this kernel does not apply
/// (not f32, grouped but not depthwise) and the caller takes Burn's path; depthwise layers go to
/// `flex_depthwise`.
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `dy`: `[n, c_out, h', w']` → `weight_shape` = `[c_out, c_in, kh, kw]`
pub fn weight_grad_f32(
    x: &FlexTensor,
    dy: &FlexTensor,
    weight_shape: [usize; 4],
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    if options.groups != 1 {
        return super::flex_depthwise::weight_grad_f32(x, dy, weight_shape, options);
    }
    if x.dtype() != DType::F32 || dy.dtype() != DType::F32 {
        return None;
    }
    if let Some(dw) = super::flex_winograd::weight_grad_f32(x, dy, weight_shape, options) {
        return Some(dw);
    }
    let [c_out, c_in, kh, kw] = weight_shape;
    let xs = x.layout().shape();
    let ys = dy.layout().shape();
    if xs.num_dims() != 4 || ys.num_dims() != 4 || xs[1] != c_in || ys[0] != xs[0] || ys[1] != c_out || c_out == 0 {
        return None;
    }
    if super::flex_conv_direct::applies([xs[0], xs[1], xs[2], xs[3]], c_out, options) {
        return super::flex_weight_grad_direct::weight_grad_f32(x, dy, weight_shape, options);
    }
    let g = Geometry::new(
        [xs[0], c_in, xs[2], xs[3]],
        [kh, kw],
        options.stride,
        options.dilation,
        options.padding,
    )?;
    if [g.ho, g.wo] != [ys[2], ys[3]] {
        return None;
    }
    let x = contiguous(x);
    let dy = contiguous(dy);
    let source = choose(x.storage::<f32>(), &g, c_out);
    let grad = on_grid(dy.storage::<f32>(), [g.n, c_out, g.ho, g.wo], source.grid(&g));
    let out = product(&grad, &source, &g, c_out);
    Some(f32_tensor(out, weight_shape))
}

/// `dW[o, r] = Σ_κ G[o, κ] · P[r, κ]`, `[m][rows]`.
fn product(grad: &[f32], source: &Source, g: &Geometry, m: usize) -> Vec<f32> {
    let kdim = g.rows();
    let [gh, gw] = source.grid(g);
    let k = g.n * gh * gw;
    let len = m * kdim;
    assert!(grad.len() >= m * k);
    let threads = rayon::current_num_threads();
    let tasks = if threads > 1 && k >= 1024 * threads { threads } else { 1 };
    let range = k.div_ceil(tasks);
    // Each block adds into the whole `m × kdim` result: at least 256 positions per block keep
    // that traffic small against the block's products.
    let block = block_width(kdim, m).max(256);
    let parallelism = if tasks == 1 && m * kdim * k >= 128 * 128 * 128 {
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
            source.gather(g, k0, kl, block, &mut tile);
            // SAFETY: `grad` holds `m` rows of `k ≥ k0 + kl` (asserted), the tile `kdim` rows
            // of `block ≥ kl`, `out` `m` rows of `kdim`.
            unsafe {
                matmul(
                    m,
                    kdim,
                    kl,
                    out.as_mut_ptr(),
                    kdim,
                    View::new(grad.as_ptr().add(k0), k, 1),
                    View::new(tile.as_ptr(), 1, block),
                    true,
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
    super::tiles::sum_partials(&partials, len)
}
