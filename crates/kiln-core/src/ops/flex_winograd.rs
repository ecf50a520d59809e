//! 3×3 stride-1 convolutions on `flex` by Winograd's minimal filtering, F(2×2, 3×3) (Lavin and
//! Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2×2 block of outputs
//! from a 4×4 input tile `d` with 16 multiplications instead of 36,
//! `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Over channels the element-wise product becomes 16 gemms
//! `M[ξ] = U[ξ] · V[ξ]` (`[c_out, c_in] × [c_in, tiles]`), one per position `ξ` of the 4×4 tile.
//!
//! Tiles are processed in blocks sized for L2, spread over threads: transform the block's input
//! tiles, 16 products, transform back into the output. The input gradient of a 3×3 stride-1
//! layer is the same computation on the output gradient with the flipped, transposed kernel
//! ([`input_grad_f32`]; Burn computes it as a transposed convolution), and the weight gradient
//! is the adjoint of the same form ([`weight_grad_f32`]). The
//! transforms' constants are 0, ±1 and ±½, so results differ from a direct convolution by
//! rounding only: within 1e-5 of Burn's (relative to the largest value) in `tests/kiln/kernels.rs`,
//! and the logit parity tests against torchvision and Keras (1e-4) pass unchanged.
//!
//! `KILN_WINOGRAD=off` turns it off (the direct kernels and Burn's path take these layers);
//! `KILN_WINOGRAD=on` uses it for every 3×3 stride-1 layer, however few channels (the tests).

use super::tiles::SendPtr;
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bytes, DType, Shape};
use rayon::prelude::*;

/// When Winograd is used: `Auto` for layers with at least [`MIN_CHANNELS`] input and output
/// channels.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Off,
    On,
    Auto,
}

/// Below this many channels the transforms cost more than the multiplications they save (the
/// small ResNet stem's 1→64 layer: 4.8 ms against 3.9 direct). From 16 up Winograd measured
/// faster on every ResNet-18 layer, 4² to 56² maps, 64 to 512 channels (`bench --convs`).
const MIN_CHANNELS: usize = 16;

/// The kernel transform (16 values per `c_out·c_in` kernel, every call) pays off only over enough
/// tiles: ResNet-18 inference on one image (7² and 14² maps: 16 and 49 tiles) ran at 17–20 img/s
/// without this bound, 26–27 with it (`bench --models resnet18 --mode infer --batch-size 1`).
const MIN_TILES: usize = 128;

fn mode() -> Mode {
    use std::sync::OnceLock;
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("KILN_WINOGRAD").as_deref() {
        Ok("off") => Mode::Off,
        Ok("on") => Mode::On,
        _ => Mode::Auto,
    })
}

/// Whether a convolution with this geometry, `n` images computing an `[ho, wo]` map, goes
/// through Winograd.
fn applies(
    c_in: usize,
    c_out: usize,
    kernel: [usize; 2],
    options: &ConvOptions<2>,
    n: usize,
    [ho, wo]: [usize; 2],
) -> bool {
    let geometry = kernel == [3, 3] && options.stride == [1, 1] && options.dilation == [1, 1] && options.groups == 1;
    let tiles = n * ho.div_ceil(2) * wo.div_ceil(2);
    geometry
        && match mode() {
            Mode::Off => false,
            Mode::On => true,
            Mode::Auto => c_in >= MIN_CHANNELS && c_out >= MIN_CHANNELS && tiles >= MIN_TILES,
        }
}

/// `conv2d(x, w)` without bias for a 3×3 stride-1 layer, or `None` where Winograd does not apply.
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, 3, 3]` → `[n, c_out, h + pads − 2, w + pads − 2]`
pub fn conv2d_f32(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<FlexTensor> {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || xs.num_dims() != 4 || ws.num_dims() != 4 {
        return None;
    }
    let (c_in, c_out) = (xs[1], ws[0]);
    let [(pt, pb), (pl, pr)] = options.padding;
    let (hp, wp) = (xs[2] + pt + pb, xs[3] + pl + pr);
    if xs[0] * c_in * xs[2] * xs[3] == 0 || c_out == 0 || hp < 3 || wp < 3 {
        return None;
    }
    if ws[1] != c_in || !applies(c_in, c_out, [ws[2], ws[3]], options, xs[0], [hp - 2, wp - 2]) {
        return None;
    }
    let x = super::tiles::contiguous(x);
    let weight = super::tiles::contiguous(weight);
    let u = filter_transform(weight.storage::<f32>(), c_out, c_in, false);
    let input = Plane {
        n: xs[0],
        c: c_in,
        h: xs[2],
        w: xs[3],
    };
    let [ho, wo] = [hp - 2, wp - 2];
    let y = convolve(x.storage::<f32>(), input, &u, c_out, [pt, pl], [ho, wo]);
    Some(FlexTensor::new(
        Bytes::from_elems(y),
        Layout::contiguous(Shape::new([xs[0], c_out, ho, wo])),
        DType::F32,
    ))
}

/// The input gradient of a 3×3 stride-1 `conv2d(x, w)` given the output gradient `dy`: a 3×3
/// convolution of `dy` with `w` flipped and its channel axes swapped, padded by `2 − p` on each
/// side; `None` where Winograd does not apply (or a padding exceeds 2).
///
/// # Shapes
/// `x`: `[n, c_in, h, w]` (its shape only), `weight`: `[c_out, c_in, 3, 3]`, `dy`:
/// `[n, c_out, h', w']` → `[n, c_in, h, w]`
pub fn input_grad_f32(
    x: &FlexTensor,
    weight: &FlexTensor,
    dy: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let (xs, ws, ys) = (x.layout().shape(), weight.layout().shape(), dy.layout().shape());
    if weight.dtype() != DType::F32 || dy.dtype() != DType::F32 || ws.num_dims() != 4 || ys.num_dims() != 4 {
        return None;
    }
    let (c_out, c_in) = (ws[0], ws[1]);
    if xs.num_dims() != 4 || xs[1] != c_in || ys[1] != c_out || ys[0] != xs[0] {
        return None;
    }
    if !applies(c_in, c_out, [ws[2], ws[3]], options, xs[0], [xs[2], xs[3]]) {
        return None;
    }
    let [(pt, pb), (pl, pr)] = options.padding;
    if pt.max(pb).max(pl).max(pr) > 2 || xs[0] * c_in * c_out * ys[2] * ys[3] == 0 {
        return None;
    }
    // The forward's output size is `h + pt + pb − 2`: `dy` must be that.
    let [h, w] = [xs[2], xs[3]];
    if ys[2] + 2 != h + pt + pb || ys[3] + 2 != w + pl + pr {
        return None;
    }
    let dy = super::tiles::contiguous(dy);
    let weight = super::tiles::contiguous(weight);
    let u = filter_transform(weight.storage::<f32>(), c_out, c_in, true);
    let input = Plane {
        n: xs[0],
        c: c_out,
        h: ys[2],
        w: ys[3],
    };
    let dx = convolve(dy.storage::<f32>(), input, &u, c_in, [2 - pt, 2 - pl], [h, w]);
    Some(FlexTensor::new(
        Bytes::from_elems(dx),
        Layout::contiguous(Shape::new([xs[0], c_in, h, w])),
        DType::F32,
    ))
}

/// The weight gradient of a 3×3 stride-1 `conv2d(x, w)` given the output gradient `dy`, as the
/// adjoint of the forward's Winograd form: `dW = Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)] G`, 16 gemms
/// `[c_out, tiles] × [tiles, c_in]`; `None` where Winograd does not apply.
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `dy`: `[n, c_out, h', w']` → `weight_shape` = `[c_out, c_in, 3, 3]`
pub fn weight_grad_f32(
    x: &FlexTensor,
    dy: &FlexTensor,
    weight_shape: [usize; 4],
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let [c_out, c_in, kh, kw] = weight_shape;
    let (xs, ys) = (x.layout().shape(), dy.layout().shape());
    if x.dtype() != DType::F32 || dy.dtype() != DType::F32 || xs.num_dims() != 4 || ys.num_dims() != 4 {
        return None;
    }
    if xs[1] != c_in || ys[1] != c_out || ys[0] != xs[0] || xs[0] * c_in * c_out * ys[2] * ys[3] == 0 {
        return None;
    }
    let [(pt, pb), (pl, pr)] = options.padding;
    let [ho, wo] = [ys[2], ys[3]];
    if ho + 2 != xs[2] + pt + pb || wo + 2 != xs[3] + pl + pr {
        return None;
    }
    if !applies(c_in, c_out, [kh, kw], options, xs[0], [ho, wo]) {
        return None;
    }
    let x = super::tiles::contiguous(x);
    let dy = super::tiles::contiguous(dy);
    let input = Plane {
        n: xs[0],
        c: c_in,
        h: xs[2],
        w: xs[3],
    };
    let du = products(
        x.storage::<f32>(),
        dy.storage::<f32>(),
        input,
        c_out,
        [pt, pl],
        [ho, wo],
    );
    Some(FlexTensor::new(
        Bytes::from_elems(filter_gradient(&du, c_out, c_in)),
        Layout::contiguous(Shape::new(weight_shape)),
        DType::F32,
    ))
}

/// `dU[ξ][o][c] = Σ_t (A dY_t Aᵀ)[ξ][o] · (Bᵀ d_t B)[ξ][c]` over every tile `t`, `[16][m][c]`:
/// blocks of tile rows split in one range per thread, each range accumulating into its own
/// result; the results are then added.
fn products(x: &[f32], dy: &[f32], input: Plane, m: usize, pad: [usize; 2], [ho, wo]: [usize; 2]) -> Vec<f32> {
    let Plane { n, c, h, w } = input;
    assert!(x.len() >= n * c * h * w && dy.len() >= n * m * ho * wo);
    let (th, tw) = (ho.div_ceil(2), wo.div_ceil(2));
    let rows = n * th;
    let (rows_per_block, block) = blocking(m, c, tw);
    let blocks = rows.div_ceil(rows_per_block);
    let threads = rayon::current_num_threads();
    let tasks = threads.min(blocks).max(1);
    let parallelism = if tasks < threads && m * c * rows * tw >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let geometry = Tiles {
        input,
        pad,
        out: [ho, wo],
        grid: [th, tw],
        block,
    };
    let len = 16 * m * c;
    let partial = |task: usize| -> Vec<f32> {
        let mut du = vec![0f32; len];
        let mut scratch = Scratch::new(&geometry, m);
        let (b0, b1) = (task * blocks / tasks, (task + 1) * blocks / tasks);
        for b in b0..b1 {
            let r0 = b * rows_per_block;
            let r1 = (r0 + rows_per_block).min(rows);
            let tl = (r1 - r0) * tw;
            geometry.input_transform(x, r0..r1, &mut scratch);
            geometry.gradient_transform(dy, m, r0..r1, &mut scratch);
            for xi in 0..16 {
                // SAFETY: `prod[ξ]` is `m` rows of `block ≥ tl`, `v[ξ]` `c` rows of `block`
                // (read as its `tl × c` transpose), `du[ξ]` `m` rows of `c`; all this task's own.
                unsafe {
                    gemm::gemm(
                        m,
                        c,
                        tl,
                        du.as_mut_ptr().add(xi * m * c),
                        1,
                        c as isize,
                        true,
                        scratch.prod.as_ptr().add(xi * m * block),
                        1,
                        block as isize,
                        scratch.v.as_ptr().add(xi * c * block),
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
        }
        du
    };
    if tasks == 1 {
        return partial(0);
    }
    let partials: Vec<Vec<f32>> = (0..tasks).into_par_iter().map(partial).collect();
    let mut du = vec![0f32; len];
    du.par_chunks_mut(4096).enumerate().for_each(|(b, dst)| {
        for p in &partials {
            for (d, v) in dst.iter_mut().zip(&p[b * 4096..]) {
                *d += *v;
            }
        }
    });
    du
}

/// `dW[o][c] = Gᵀ dU[·][o][c] G` (4×4 → 3×3) from `du` (`[16][m][k]`) → `[m, k, 3, 3]`.
fn filter_gradient(du: &[f32], m: usize, k: usize) -> Vec<f32> {
    let plane = m * k;
    assert!(du.len() >= 16 * plane);
    let mut dw = vec![0f32; plane * 9];
    // Gᵀ's rows: (1, ½, ½, 0), (0, ½, −½, 0), (0, ½, ½, 1).
    let gt = |u: [f32; 4]| {
        [
            u[0] + 0.5 * (u[1] + u[2]),
            0.5 * (u[1] - u[2]),
            0.5 * (u[1] + u[2]) + u[3],
        ]
    };
    dw.par_chunks_mut(9).enumerate().for_each(|(oc, dst)| {
        let at = |xi: usize| du[xi * plane + oc];
        // Down each of the 4 columns, then along each of the 3 rows.
        let cols: [[f32; 3]; 4] = std::array::from_fn(|j| gt([at(j), at(4 + j), at(8 + j), at(12 + j)]));
        for i in 0..3 {
            let row = gt([cols[0][i], cols[1][i], cols[2][i], cols[3][i]]);
            dst[i * 3..][..3].copy_from_slice(&row);
        }
    });
    dw
}

/// A batch of input planes, `[n, c, h, w]`.
#[derive(Clone, Copy)]
struct Plane {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
}

/// `U[o][ξ][c] = (G g Gᵀ)[ξ]` for each kernel `g = w[o, c]`, `[m][16][k]`; `transposed` reads
/// `w` as `[k, m, 3, 3]` with each kernel flipped (the input gradient's kernel).
fn filter_transform(w: &[f32], c_out: usize, c_in: usize, transposed: bool) -> Vec<f32> {
    let (m, k) = if transposed { (c_in, c_out) } else { (c_out, c_in) };
    assert!(w.len() >= c_out * c_in * 9);
    let mut u = vec![0f32; m * 16 * k];
    u.par_chunks_mut(16 * k).enumerate().for_each(|(o, u)| {
        for c in 0..k {
            let g: [f32; 9] = if transposed {
                let src = &w[(c * c_in + o) * 9..][..9];
                std::array::from_fn(|t| src[8 - t])
            } else {
                w[(o * c_in + c) * 9..][..9].try_into().expect("nine taps")
            };
            // G g: rows (g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2) of the 3 columns.
            let mut t = [[0f32; 3]; 4];
            for j in 0..3 {
                let (a, b, c2) = (g[j], g[3 + j], g[6 + j]);
                t[0][j] = a;
                t[1][j] = 0.5 * (a + b + c2);
                t[2][j] = 0.5 * (a - b + c2);
                t[3][j] = c2;
            }
            for (i, r) in t.iter().enumerate() {
                let v = [r[0], 0.5 * (r[0] + r[1] + r[2]), 0.5 * (r[0] - r[1] + r[2]), r[2]];
                for (j, v) in v.into_iter().enumerate() {
                    u[(i * 4 + j) * k + c] = v;
                }
            }
        }
    });
    u
}

/// The Winograd convolution of `x` (`[n, c, h, w]`, padded by `[top, left]` and zeros up to what
/// `[ho, wo]` needs) with the transformed filters `u` (`[m][16][c]`) → `[n, m, ho, wo]`.
fn convolve(x: &[f32], input: Plane, u: &[f32], m: usize, pad: [usize; 2], [ho, wo]: [usize; 2]) -> Vec<f32> {
    let Plane { n, c, h, w } = input;
    assert!(x.len() >= n * c * h * w && u.len() >= 16 * m * c);
    let (th, tw) = (ho.div_ceil(2), wo.div_ceil(2));
    let rows = n * th;
    let (rows_per_block, block) = blocking(m, c, tw);
    let blocks = rows.div_ceil(rows_per_block);
    let mut y = vec![0f32; n * m * ho * wo];
    let out = SendPtr(y.as_mut_ptr());
    let threads = rayon::current_num_threads();
    let parallelism = if blocks < threads && m * c * rows * tw >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let geometry = Tiles {
        input,
        pad,
        out: [ho, wo],
        grid: [th, tw],
        block,
    };
    let run = |scratch: &mut Scratch, b: usize| {
        let r0 = b * rows_per_block;
        let r1 = (r0 + rows_per_block).min(rows);
        let tl = (r1 - r0) * tw;
        geometry.input_transform(x, r0..r1, scratch);
        for xi in 0..16 {
            // SAFETY: `u[·][ξ]` is `m` rows of `c` (asserted), `v[ξ]` `c` rows of `block ≥ tl`, `prod[ξ]`
            // `m` rows of `block`; all thread-local except `u`, which is only read.
            unsafe {
                gemm::gemm(
                    m,
                    tl,
                    c,
                    scratch.prod.as_mut_ptr().add(xi * m * block),
                    1,
                    block as isize,
                    false,
                    u.as_ptr().add(xi * c),
                    1,
                    (16 * c) as isize,
                    scratch.v.as_ptr().add(xi * c * block),
                    1,
                    block as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
        }
        // SAFETY: a block owns whole tile rows, so the output rows `2a, 2a + 1` of its tile rows
        // (every channel) are written by this block only, within `y`'s `n·m·ho·wo` values.
        unsafe { geometry.output_transform(m, r0..r1, scratch, out) };
    };
    let scratch = || Scratch::new(&geometry, m);
    if blocks < threads {
        let mut s = scratch();
        (0..blocks).for_each(|b| run(&mut s, b));
    } else {
        (0..blocks).into_par_iter().for_each_init(scratch, run);
    }
    y
}

/// Blocks of whole tile rows (`tw` tiles each), 64 to 256 tiles: `v` and `prod` of a block stay
/// within 512 KiB down to 64 tiles (measured best on ResNet-18's layers: `bench --convs`, 64–4096
/// tried). Returns the tile rows per block and the block's width in tiles.
fn blocking(m: usize, c: usize, tw: usize) -> (usize, usize) {
    let target = (32_768 / (m + c)).clamp(64, 256);
    let rows_per_block = (target / tw).max(1);
    (rows_per_block, rows_per_block * tw)
}

/// Where the tiles lie: tile `(img, a, b)` reads input rows `2a − top ..+ 4` and columns
/// `2b − left ..+ 4` and writes outputs `2a ..+ 2`, `2b ..+ 2`. Tile row `q = img·th + a`;
/// within a block, tile `(q − r0)·tw + b`.
struct Tiles {
    input: Plane,
    pad: [usize; 2],
    out: [usize; 2],
    grid: [usize; 2],
    block: usize,
}

/// A thread's buffers: the transformed input `v` (`[16][c][block]`), the products `prod`
/// (`[16][m][block]`), four padded input rows, their row transform, two output rows.
struct Scratch {
    v: Vec<f32>,
    prod: Vec<f32>,
    rows: Vec<f32>,
    sums: Vec<f32>,
    out_rows: Vec<f32>,
}

impl Scratch {
    fn new(t: &Tiles, m: usize) -> Self {
        let tw = t.grid[1];
        let width = 2 * tw + 2;
        Self {
            v: vec![0f32; 16 * t.input.c * t.block],
            prod: vec![0f32; 16 * m * t.block],
            rows: vec![0f32; 4 * width],
            sums: vec![0f32; 4 * width],
            out_rows: vec![0f32; 4 * tw],
        }
    }
}

impl Tiles {
    /// `V[ξ][ch][t] = (Bᵀ d B)[ξ]` for the tiles of tile rows `rows` into `s.v`.
    fn input_transform(&self, x: &[f32], rows: std::ops::Range<usize>, s: &mut Scratch) {
        let Plane { c, h, w, .. } = self.input;
        let [th, tw] = self.grid;
        let [pt, pl] = self.pad;
        let width = 2 * tw + 2;
        let (block, plane) = (self.block, c * self.block);
        // Input columns `col − left` for `col` in `0..width` that lie in the image.
        let (lo, hi) = (pl.min(width), (w + pl).min(width));
        for ch in 0..c {
            for (qi, q) in rows.clone().enumerate() {
                let (img, a) = (q / th, q % th);
                let src = &x[(img * c + ch) * h * w..][..h * w];
                // The four input rows of this tile row, zero-padded to `width`.
                for i in 0..4 {
                    let dst = &mut s.rows[i * width..][..width];
                    let r = (2 * a + i).wrapping_sub(pt);
                    if r >= h || hi <= lo {
                        dst.fill(0.0);
                        continue;
                    }
                    dst[..lo].fill(0.0);
                    dst[lo..hi].copy_from_slice(&src[r * w..][..hi - lo]);
                    dst[hi..].fill(0.0);
                }
                // Bᵀ d down each column: (d0 − d2, d1 + d2, d2 − d1, d1 − d3).
                {
                    let (d, sums) = (&s.rows, &mut s.sums);
                    let (d0, d1, d2, d3) = (
                        &d[..width],
                        &d[width..][..width],
                        &d[2 * width..][..width],
                        &d[3 * width..],
                    );
                    let (s01, s23) = sums.split_at_mut(2 * width);
                    let (s0, s1) = s01.split_at_mut(width);
                    let (s2, s3) = s23.split_at_mut(width);
                    for k in 0..width {
                        s0[k] = d0[k] - d2[k];
                        s1[k] = d1[k] + d2[k];
                        s2[k] = d2[k] - d1[k];
                        s3[k] = d1[k] - d3[k];
                    }
                }
                // Then along each row, per tile: (e0 − e2, e1 + e2, e2 − e1, e1 − e3).
                let t0 = ch * block + qi * tw;
                for i in 0..4 {
                    let e = &s.sums[i * width..][..width];
                    let (v01, v23) = s.v[(4 * i) * plane..][..4 * plane].split_at_mut(2 * plane);
                    let (v0, v1) = v01.split_at_mut(plane);
                    let (v2, v3) = v23.split_at_mut(plane);
                    let (v0, v1, v2, v3) = (
                        &mut v0[t0..][..tw],
                        &mut v1[t0..][..tw],
                        &mut v2[t0..][..tw],
                        &mut v3[t0..][..tw],
                    );
                    for b in 0..tw {
                        let (e0, e1, e2, e3) = (e[2 * b], e[2 * b + 1], e[2 * b + 2], e[2 * b + 3]);
                        v0[b] = e0 - e2;
                        v1[b] = e1 + e2;
                        v2[b] = e2 - e1;
                        v3[b] = e1 - e3;
                    }
                }
            }
        }
    }

    /// `A dY Aᵀ` (2×2 → 4×4) for the tiles of tile rows `rows` of the output gradient `dy`
    /// (`[n, m, ho, wo]`, zeros past its edge) into `s.prod` (`[16][m][block]`).
    fn gradient_transform(&self, dy: &[f32], m: usize, rows: std::ops::Range<usize>, s: &mut Scratch) {
        let [th, tw] = self.grid;
        let [ho, wo] = self.out;
        let (block, plane) = (self.block, m * self.block);
        let width = 2 * tw;
        for o in 0..m {
            for (qi, q) in rows.clone().enumerate() {
                let (img, a) = (q / th, q % th);
                let src = &dy[(img * m + o) * ho * wo..][..ho * wo];
                // The tile row's two output-gradient rows, zero-padded to `2·tw`.
                for i in 0..2 {
                    let dst = &mut s.rows[i * width..][..width];
                    if 2 * a + i < ho {
                        dst[..wo].copy_from_slice(&src[(2 * a + i) * wo..][..wo]);
                        dst[wo..].fill(0.0);
                    } else {
                        dst.fill(0.0);
                    }
                }
                // A down each column: (y0, y0 + y1, y0 − y1, −y1); then along each row.
                let (y0, y1) = (&s.rows[..width], &s.rows[width..][..width]);
                let t0 = o * block + qi * tw;
                for (i, z) in [[1f32, 0.0], [1.0, 1.0], [1.0, -1.0], [0.0, -1.0]]
                    .into_iter()
                    .enumerate()
                {
                    let (p01, p23) = s.prod[(4 * i) * plane..][..4 * plane].split_at_mut(2 * plane);
                    let (p0, p1) = p01.split_at_mut(plane);
                    let (p2, p3) = p23.split_at_mut(plane);
                    let (p0, p1, p2, p3) = (
                        &mut p0[t0..][..tw],
                        &mut p1[t0..][..tw],
                        &mut p2[t0..][..tw],
                        &mut p3[t0..][..tw],
                    );
                    for b in 0..tw {
                        let e0 = z[0] * y0[2 * b] + z[1] * y1[2 * b];
                        let e1 = z[0] * y0[2 * b + 1] + z[1] * y1[2 * b + 1];
                        p0[b] = e0;
                        p1[b] = e0 + e1;
                        p2[b] = e0 - e1;
                        p3[b] = -e1;
                    }
                }
            }
        }
    }

    /// `Y = Aᵀ M A` for the tiles of tile rows `rows`, from `s.prod` into `y` (`[n, m, ho, wo]`).
    ///
    /// # Safety
    /// `y` must hold `n·m·ho·wo` values, and no other thread may write these tile rows' outputs.
    unsafe fn output_transform(&self, m: usize, rows: std::ops::Range<usize>, s: &mut Scratch, y: SendPtr) {
        let [th, tw] = self.grid;
        let [ho, wo] = self.out;
        let (block, plane) = (self.block, m * self.block);
        for o in 0..m {
            for (qi, q) in rows.clone().enumerate() {
                let (img, a) = (q / th, q % th);
                let t0 = o * block + qi * tw;
                let p = |xi: usize| &s.prod[xi * plane + t0..][..tw];
                let (m0, m1, m2, m3) = (p(0), p(1), p(2), p(3));
                let (m4, m5, m6, m7) = (p(4), p(5), p(6), p(7));
                let (m8, m9, m10, m11) = (p(8), p(9), p(10), p(11));
                let (m12, m13, m14, m15) = (p(12), p(13), p(14), p(15));
                let (r0, r1) = s.out_rows.split_at_mut(2 * tw);
                for b in 0..tw {
                    // Aᵀ M down each column: (m0 + m1 + m2, m1 − m2 − m3); then along rows.
                    let c0 = [
                        m0[b] + m4[b] + m8[b],
                        m1[b] + m5[b] + m9[b],
                        m2[b] + m6[b] + m10[b],
                        m3[b] + m7[b] + m11[b],
                    ];
                    let c1 = [
                        m4[b] - m8[b] - m12[b],
                        m5[b] - m9[b] - m13[b],
                        m6[b] - m10[b] - m14[b],
                        m7[b] - m11[b] - m15[b],
                    ];
                    r0[2 * b] = c0[0] + c0[1] + c0[2];
                    r0[2 * b + 1] = c0[1] - c0[2] - c0[3];
                    r1[2 * b] = c1[0] + c1[1] + c1[2];
                    r1[2 * b + 1] = c1[1] - c1[2] - c1[3];
                }
                let base = (img * m + o) * ho * wo;
                for (i, src) in [&*r0, &*r1].into_iter().enumerate() {
                    let row = 2 * a + i;
                    if row < ho {
                        // SAFETY: `row < ho`, `wo ≤ 2·tw` values, `img < n`, `o < m`: inside `y`,
                        // and owned by this tile row (the caller's contract).
                        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), y.get().add(base + row * wo), wo) };
                    }
                }
            }
        }
    }
}
