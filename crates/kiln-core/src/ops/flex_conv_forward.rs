//! The forward pass of a 2-D convolution on `flex`: `Y[o, κ] = Σ_r W[o, r] · P[r, κ]` over the
//! patch matrix `P` (`r = (c, i, j)`), one gemm `[c_out, c_in·kh·kw] × [c_in·kh·kw, block]` per
//! column block of L2-sized patch tiles (`ops/tiles.rs`), every image of the batch in
//! one product, blocks spread over threads. The valid `Ho × Wo` corner of each image's grid is
//! then copied out. A 1×1 layer with stride 1 and no padding multiplies the input directly;
//! narrow stride-1 layers on small maps (≤ 16 output channels: LeNet-5's) take
//! [`super::flex_conv_direct`].
//!
//! Burn's flex path converts the input to NHWC and builds im2col tiles per image; batching every
//! image into one product is what lets gemm reach its peak on small maps.

use super::tiles::{Geometry, SendPtr, Source, View, block_width, choose, contiguous, f32_tensor, matmul};
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Shape};
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
    if let Some(y) = super::flex_winograd::conv2d_f32(x, weight, options) {
        return Some(y);
    }
    let xs = x.layout().shape();
    let ws = weight.layout().shape();
    let c_out = ws[0];
    if xs.num_dims() != 4 || ws.num_dims() != 4 || ws[1] != xs[1] || c_out == 0 {
        return None;
    }
    if super::flex_conv_direct::applies([xs[0], xs[1], xs[2], xs[3]], c_out, options) {
        return super::flex_conv_direct::conv2d_f32(x, weight, options);
    }
    let g = Geometry::new(
        [xs[0], xs[1], xs[2], xs[3]],
        [ws[2], ws[3]],
        options.stride,
        options.dilation,
        options.padding,
    )?;
    let x = contiguous(x);
    let weight = contiguous(weight);
    let (x, wt) = (x.storage::<f32>(), weight.storage::<f32>());
    let (n, ho, wo) = (g.n, g.ho, g.wo);
    if g.kh == 1 && g.kw == 1 && options.stride == [1, 1] && options.padding == [(0, 0), (0, 0)] {
        return Some(pointwise(x, wt, &g, c_out));
    }
    let source = choose(x, &g, c_out);
    let [gh, gw] = source.grid(&g);
    let grid = product(wt, &source, &g, c_out);
    let shape = Shape::new([n, c_out, ho, wo]);
    // One image on an exact grid is the output as laid out.
    if n == 1 && [gh, gw] == [ho, wo] {
        return Some(f32_tensor(grid, shape));
    }
    let k = n * gh * gw;
    let mut y = vec![0f32; n * c_out * ho * wo];
    y.par_chunks_mut(ho * wo).enumerate().for_each(|(io, dst)| {
        let (img, o) = (io / c_out, io % c_out);
        let src = &grid[o * k + img * gh * gw..];
        for a in 0..ho {
            dst[a * wo..][..wo].copy_from_slice(&src[a * gw..][..wo]);
        }
    });
    Some(f32_tensor(y, shape))
}

/// `Y[o, κ] = Σ_r W[o, r] · P[r, κ]` over all `n·grid` positions, `[c_out][n·gh·gw]`.
fn product(wt: &[f32], source: &Source, g: &Geometry, m: usize) -> Vec<f32> {
    let kdim = g.rows();
    let [gh, gw] = source.grid(g);
    let cols = g.n * gh * gw;
    assert!(wt.len() >= m * kdim);
    let mut dst = vec![0f32; m * cols];
    let block = block_width(kdim, 0);
    let dst_ptr = SendPtr(dst.as_mut_ptr());
    let blocks = cols.div_ceil(block);
    // Fewer blocks than threads (a small batch of small maps): gemm's own threads, per block.
    let threads = rayon::current_num_threads();
    let parallelism = if blocks < threads && m * kdim * cols >= 128 * 128 * 128 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let run = |tile: &mut Vec<f32>, b: usize| {
        let c0 = b * block;
        let cl = block.min(cols - c0);
        source.gather(g, c0, cl, block, tile);
        // SAFETY: `wt` holds `m` rows of `kdim` (asserted), the tile `kdim` rows of
        // `block ≥ cl`; the writes go to columns `c0..c0 + cl` of `dst` (`m` rows of `cols`),
        // disjoint between blocks, so the blocks may run on different threads.
        unsafe {
            matmul(
                m,
                cl,
                kdim,
                dst_ptr.get().add(c0),
                cols,
                View::new(wt.as_ptr(), kdim, 1),
                View::new(tile.as_ptr(), block, 1),
                false,
                parallelism,
            );
        }
    };
    if blocks < threads {
        let mut tile = vec![0f32; kdim * block];
        (0..blocks).for_each(|b| run(&mut tile, b));
    } else {
        (0..blocks)
            .into_par_iter()
            .for_each_init(|| vec![0f32; kdim * block], run);
    }
    dst
}

/// A 1×1 convolution with stride 1 and no padding: per image `y[img] = W · x[img]`
/// (`[c_out, c_in] × [c_in, h·w]`), straight from and into the tensors' storage.
fn pointwise(x: &[f32], wt: &[f32], g: &Geometry, c_out: usize) -> FlexTensor {
    let (n, c_in, hw) = (g.n, g.c_in, g.h * g.w);
    assert!(x.len() >= n * c_in * hw && wt.len() >= c_out * c_in);
    let mut y = vec![0f32; n * c_out * hw];
    let per_image = |(img, dst): (usize, &mut [f32]), parallelism: gemm::Parallelism| {
        // SAFETY: `x` holds `n` images of `c_in × hw`, `wt` `c_out × c_in`, `dst` `c_out × hw`
        // (asserted above).
        unsafe {
            matmul(
                c_out,
                hw,
                c_in,
                dst.as_mut_ptr(),
                hw,
                View::new(wt.as_ptr(), c_in, 1),
                View::new(x.as_ptr().add(img * c_in * hw), hw, 1),
                false,
                parallelism,
            );
        }
    };
    let threads = rayon::current_num_threads();
    if n >= threads && threads > 1 {
        y.par_chunks_mut(c_out * hw)
            .enumerate()
            .for_each(|job| per_image(job, gemm::Parallelism::None));
    } else {
        let parallelism = if c_out * c_in * hw >= 192 * 192 * 192 {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        };
        y.chunks_mut(c_out * hw)
            .enumerate()
            .for_each(|job| per_image(job, parallelism));
    }
    f32_tensor(y, [n, c_out, g.h, g.w])
}
