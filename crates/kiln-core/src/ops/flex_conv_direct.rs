//! The forward pass of a narrow stride-1 convolution on `flex` (at most 16 output channels,
//! a padded image of at most 64 Ki values: LeNet-5's two layers, 1×5×5 → 6 and 6×5×5 → 16),
//! computed directly: each output row is a sum of `c_in·kh·kw` shifted rows of the zero-padded
//! input, each scaled by one weight. Where the CPU has AVX-512, 16 outputs of 8 channels at a
//! time in 8 registers, each input vector loaded once for the 8 (independent fused
//! multiply-add chains); a generic loop otherwise. The patch-matrix form
//! ([`super::flex_conv_forward`]) writes `c_in·kh·kw` copies of the input and gemm packs them
//! again, for a product with only `c_out` rows. At batch 64 (each op alone, median of 41):
//! LeNet-5's first layer 0.58 ms → 0.16–0.23 ms, its second 0.55 → 0.28–0.35 ms.

use super::tiles::{contiguous, f32_tensor};
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

/// Outputs per accumulator (one AVX-512 register), and the input's slack past its end.
pub(super) const LANES: usize = 16;

/// The zero-padded input of a stride-1 convolution and where each tap reads it.
pub(super) struct Padded {
    /// `[n, c_in, hp, wp]`, then `wp + LANES` zeros of slack.
    pub data: Vec<f32>,
    /// Values per image, `c_in·hp·wp`.
    pub image: usize,
    /// Padded row length.
    pub wp: usize,
    pub ho: usize,
    pub wo: usize,
    /// Tap `t = (ci, u, v)` reads an image from `(ci·hp + u)·wp + v` on.
    pub offsets: Vec<usize>,
}

impl Padded {
    /// `x` padded by `options.padding` for a `[kh, kw]` kernel, or `None` if the kernel does not
    /// fit.
    ///
    /// # Shapes
    /// `x`: `[n, c_in, h, w]`
    pub fn new(x: &[f32], [n, c_in, h, w]: [usize; 4], [kh, kw]: [usize; 2], options: &ConvOptions<2>) -> Option<Self> {
        let [(pt, pb), (pl, pr)] = options.padding;
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        if hp < kh || wp < kw || kh * kw == 0 || x.len() < n * c_in * h * w {
            return None;
        }
        // Slack: a row and a vector, for reads that run past the last image's end.
        let mut data = vec![0f32; n * c_in * hp * wp + wp + LANES];
        if h * w > 0 {
            data.par_chunks_mut(hp * wp)
                .take(n * c_in)
                .zip(x.par_chunks(h * w))
                .for_each(|(dst, src)| {
                    for (r, row) in src.chunks_exact(w).enumerate() {
                        dst[(r + pt) * wp + pl..][..w].copy_from_slice(row);
                    }
                });
        }
        let offsets = (0..c_in * kh * kw)
            .map(|t| (t / (kh * kw) * hp + t / kw % kh) * wp + t % kw)
            .collect();
        Some(Self {
            data,
            image: c_in * hp * wp,
            wp,
            ho: hp - kh + 1,
            wo: wp - kw + 1,
            offsets,
        })
    }
}

/// Whether the direct form applies: stride 1, no dilation, ungrouped, `c_out` ≤ 16 and a padded
/// image of at most 64 Ki values (256 KiB: it stays in L2 while every tap reads it).
pub fn applies(x: [usize; 4], c_out: usize, options: &ConvOptions<2>) -> bool {
    let [(pt, pb), (pl, pr)] = options.padding;
    options.stride == [1, 1]
        && options.dilation == [1, 1]
        && options.groups == 1
        && c_out <= 16
        && x[1] * (x[2] + pt + pb) * (x[3] + pl + pr) <= 65_536
}

/// `conv2d(x, w)` without bias by the direct form; the caller has checked [`applies`], f32 and
/// the shapes.
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in, kh, kw]` → `[n, c_out, h', w']`
pub fn conv2d_f32(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<FlexTensor> {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    let ([n, c_in, h, w], [c_out, kh, kw]) = ([xs[0], xs[1], xs[2], xs[3]], [ws[0], ws[2], ws[3]]);
    let (x, weight) = (contiguous(x), contiguous(weight));
    let padded = Padded::new(x.storage::<f32>(), [n, c_in, h, w], [kh, kw], options)?;
    let plan = Plan::new(weight.storage::<f32>(), c_out, &padded);
    let (ho, wo) = (padded.ho, padded.wo);
    let mut y = vec![0f32; n * c_out * ho * wo];
    y.par_chunks_mut(c_out * ho * wo).enumerate().for_each(|(img, out)| {
        let input = &padded.data[img * padded.image..][..padded.image + LANES];
        image(out, input, &plan);
    });
    Some(f32_tensor(y, [n, c_out, ho, wo]))
}

/// Output channels computed together (independent accumulators sharing each input load).
const GROUP: usize = 8;

/// One convolution's layout for [`image`].
struct Plan {
    c_out: usize,
    ho: usize,
    wo: usize,
    /// Padded input row length.
    wp: usize,
    /// Tap `t = (ci, u, v)` reads the padded image from `offsets[t]` on.
    offsets: Vec<usize>,
    /// `[groups][taps][GROUP]` weights.
    grouped: Vec<f32>,
}

impl Plan {
    /// The plan of weights `[c_out, c_in, kh, kw]` over `padded`: the weights regrouped by
    /// groups of `GROUP` output channels, tap-major, zeros past `c_out`.
    fn new(weights: &[f32], c_out: usize, padded: &Padded) -> Self {
        let taps = padded.offsets.len();
        let mut grouped = vec![0f32; c_out.div_ceil(GROUP) * taps * GROUP];
        for o in 0..c_out {
            for t in 0..taps {
                grouped[((o / GROUP) * taps + t) * GROUP + o % GROUP] = weights[o * taps + t];
            }
        }
        Self {
            c_out,
            ho: padded.ho,
            wo: padded.wo,
            wp: padded.wp,
            offsets: padded.offsets.clone(),
            grouped,
        }
    }
}

/// One image: `out[o, a, b] = Σ_t w[o, t] · input[a·wp + b + offsets[t]]`.
///
/// # Shapes
/// `out`: `[c_out, ho, wo]`, `input`: the padded image `[c_in, hp, wp]` and `LANES` of slack
fn image(out: &mut [f32], input: &[f32], plan: &Plan) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        return unsafe { image_avx512(out, input, plan) };
    }
    image_generic(out, input, plan);
}

/// [`image`] for AVX-512: 16 outputs of `GROUP` channels in `GROUP` registers, each input
/// vector loaded once for all of them (fused multiply-adds in independent chains).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn image_avx512(out: &mut [f32], input: &[f32], plan: &Plan) {
    use std::arch::x86_64::*;
    let &Plan { c_out, ho, wo, wp, .. } = plan;
    let taps = plan.offsets.len();
    let last = plan.offsets.iter().max().copied().unwrap_or(0);
    for (g, weights) in plan.grouped.chunks_exact(taps * GROUP).enumerate() {
        let channels = (c_out - g * GROUP).min(GROUP);
        for a in 0..ho {
            for j in 0..wo.div_ceil(LANES) {
                let base = a * wp + j * LANES;
                // Every read below lies in `input[base..base + last + LANES]`.
                let window = &input[base..base + last + LANES];
                let mut acc = [_mm512_setzero_ps(); GROUP];
                for (&off, wt) in plan.offsets.iter().zip(weights.chunks_exact(GROUP)) {
                    // SAFETY: `off + LANES ≤ last + LANES = window.len()`.
                    let v = unsafe { _mm512_loadu_ps(window.as_ptr().add(off)) };
                    for (acc, &wk) in acc.iter_mut().zip(wt) {
                        *acc = _mm512_fmadd_ps(_mm512_set1_ps(wk), v, *acc);
                    }
                }
                let len = (wo - j * LANES).min(LANES);
                let mask = ((1u32 << len) - 1) as __mmask16;
                for (k, acc) in acc.iter().enumerate().take(channels) {
                    let dst = &mut out[((g * GROUP + k) * ho + a) * wo + j * LANES..][..len];
                    // SAFETY: the mask covers `len` values, all in `dst`.
                    unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, *acc) };
                }
            }
        }
    }
}

/// [`image`] without vector intrinsics.
fn image_generic(out: &mut [f32], input: &[f32], plan: &Plan) {
    let &Plan { ho, wo, wp, .. } = plan;
    let taps = plan.offsets.len();
    for (o, plane) in out.chunks_exact_mut(ho * wo).enumerate() {
        let weights = &plan.grouped[(o / GROUP) * taps * GROUP..][..taps * GROUP];
        for (a, row) in plane.chunks_exact_mut(wo).enumerate() {
            row.fill(0.0);
            for (&off, wt) in plan.offsets.iter().zip(weights.chunks_exact(GROUP)) {
                let src = &input[a * wp + off..][..wo];
                for (d, s) in row.iter_mut().zip(src) {
                    *d += wt[o % GROUP] * *s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 form (where the CPU has it) and the generic one agree (to rounding: one fuses
    /// the multiply-add), on rows of one partial and of two blocks, channel counts below, at
    /// and above one group.
    #[test]
    fn vector_and_generic_forms_agree() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            for (wo, kw, c_out) in [(5usize, 3usize, 3usize), (28, 5, 6), (16, 1, 8), (21, 2, 11)] {
                let (ho, kh, c_in) = (4, 2, 2);
                let (h, w) = (ho + kh - 1, wo + kw - 1);
                let x: Vec<f32> = (0..c_in * h * w)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                    .collect();
                let weights: Vec<f32> = (0..c_out * c_in * kh * kw).map(|i| (i as f32 - 9.0) / 7.0).collect();
                let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
                let padded = Padded::new(&x, [1, c_in, h, w], [kh, kw], &options).unwrap();
                let (plan, input) = (Plan::new(&weights, c_out, &padded), &padded.data);
                let (mut fast, mut slow) = (vec![9f32; c_out * ho * wo], vec![9f32; c_out * ho * wo]);
                // SAFETY: the CPU has AVX-512F (checked above).
                unsafe { image_avx512(&mut fast, input, &plan) };
                image_generic(&mut slow, input, &plan);
                for (f, s) in fast.iter().zip(&slow) {
                    assert!(
                        (f - s).abs() <= 1e-5 * s.abs().max(1.0),
                        "{wo}×{kw}, {c_out} channels: {f} vs {s}"
                    );
                }
            }
        }
    }
}
