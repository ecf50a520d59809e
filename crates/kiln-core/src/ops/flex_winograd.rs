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

use super::tiles::{SendPtr, View, f32_tensor, matmul};
use super::winograd_transforms::{Plane, Scratch, Tiles, filter_gradient, filter_transform};
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;
use burn::tensor::ops::ConvOptions;
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
    Some(f32_tensor(y, [xs[0], c_out, ho, wo]))
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
    Some(f32_tensor(dx, [xs[0], c_in, h, w]))
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
    Some(f32_tensor(filter_gradient(&du, c_out, c_in), weight_shape))
}

/// `dU[ξ][o][c] = Σ_t (A dY_t Aᵀ)[ξ][o] · (Bᵀ d_t B)[ξ][c]` over every tile `t`, `[16][m][c]`:
/// blocks of tile rows split in one range per thread, each range accumulating into its own
/// result; the results are then added.
fn products(x: &[f32], dy: &[f32], input: Plane, m: usize, pad: [usize; 2], [ho, wo]: [usize; 2]) -> Vec<f32> {
    let Plane { n, c, h, w } = input;
    assert!(x.len() >= n * c * h * w && dy.len() >= n * m * ho * wo);
    let geometry = Tiles::new(input, m, pad, [ho, wo]);
    let (blocks, block) = (geometry.blocks, geometry.block);
    let tasks = rayon::current_num_threads().min(blocks).max(1);
    let parallelism = geometry.parallelism(m);
    let len = 16 * m * c;
    let partial = |task: usize| -> Vec<f32> {
        let mut du = vec![0f32; len];
        let mut scratch = Scratch::new(&geometry, m);
        let (b0, b1) = (task * blocks / tasks, (task + 1) * blocks / tasks);
        for b in b0..b1 {
            let (rows, tl) = geometry.rows(b);
            geometry.input_transform(x, rows.clone(), &mut scratch);
            geometry.gradient_transform(dy, m, rows, &mut scratch);
            for xi in 0..16 {
                // SAFETY: `prod[ξ]` is `m` rows of `block ≥ tl`, `v[ξ]` `c` rows of `block`
                // (read as its `tl × c` transpose), `du[ξ]` `m` rows of `c`; all this task's own.
                unsafe {
                    matmul(
                        m,
                        c,
                        tl,
                        du.as_mut_ptr().add(xi * m * c),
                        c,
                        View::new(scratch.prod.as_ptr().add(xi * m * block), block, 1),
                        View::new(scratch.v.as_ptr().add(xi * c * block), 1, block),
                        true,
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
    super::tiles::sum_partials(&partials, len)
}

/// The Winograd convolution of `x` (`[n, c, h, w]`, padded by `[top, left]` and zeros up to what
/// `[ho, wo]` needs) with the transformed filters `u` (`[m][16][c]`) → `[n, m, ho, wo]`.
fn convolve(x: &[f32], input: Plane, u: &[f32], m: usize, pad: [usize; 2], [ho, wo]: [usize; 2]) -> Vec<f32> {
    let Plane { n, c, h, w } = input;
    assert!(x.len() >= n * c * h * w && u.len() >= 16 * m * c);
    let geometry = Tiles::new(input, m, pad, [ho, wo]);
    let (blocks, block) = (geometry.blocks, geometry.block);
    let mut y = vec![0f32; n * m * ho * wo];
    let out = SendPtr(y.as_mut_ptr());
    let parallelism = geometry.parallelism(m);
    let run = |scratch: &mut Scratch, b: usize| {
        let (rows, tl) = geometry.rows(b);
        geometry.input_transform(x, rows.clone(), scratch);
        for xi in 0..16 {
            // SAFETY: `u[·][ξ]` is `m` rows of `c` (asserted), `v[ξ]` `c` rows of `block ≥ tl`, `prod[ξ]`
            // `m` rows of `block`; all thread-local except `u`, which is only read.
            unsafe {
                matmul(
                    m,
                    tl,
                    c,
                    scratch.prod.as_mut_ptr().add(xi * m * block),
                    block,
                    View::new(u.as_ptr().add(xi * c), 16 * c, 1),
                    View::new(scratch.v.as_ptr().add(xi * c * block), block, 1),
                    false,
                    parallelism,
                );
            }
        }
        // SAFETY: a block owns whole tile rows, so the output rows `2a, 2a + 1` of its tile rows
        // (every channel) are written by this block only, within `y`'s `n·m·ho·wo` values.
        unsafe { geometry.output_transform(m, rows, scratch, out) };
    };
    let scratch = || Scratch::new(&geometry, m);
    if blocks < rayon::current_num_threads() {
        let mut s = scratch();
        (0..blocks).for_each(|b| run(&mut s, b));
    } else {
        (0..blocks).into_par_iter().for_each_init(scratch, run);
    }
    y
}
