//! Patch tiles for Kiln's convolution kernels: column blocks of a convolution's patch matrix
//! `P[(c, i, j), κ]` (the input value tap `(i, j)` of channel `c` meets at position `κ`), gathered
//! on demand, sized for L2, so that no kernel ever materialises the whole matrix.
//!
//! Two layouts of the positions `κ`:
//! - **Phases** (large maps): the zero-padded input is split into its `s_h·s_w` stride phases
//!   (`phase[ph, pw][c, n, u, v] = Xp[n, c, u·s_h + ph, v·s_w + pw]`, each `Hq × Wq`), every image
//!   on one `Hq × Wq` grid, `κ = (img·Hq + a)·Wq + b`. Tap `(i, j)` reads phase
//!   `((i·d_h) mod s_h, (j·d_w) mod s_w)` shifted by `((i·d_h) div s_h, (j·d_w) div s_w)`: the
//!   **same flat row shifted by one offset**, so a tile row is one contiguous copy. Grid positions
//!   outside `Ho × Wo` are computed and dropped (forward) or meet zeros (weight gradient): a few
//!   percent for padded 3×3 layers on large maps.
//! - **Patches** (small maps, where that grid wastes more than 20%: a 7×7 map padded to 9×9
//!   holds 1.65× the positions): `κ = (img·Ho + a)·Wo + b` exactly, each tile row gathered by
//!   index arithmetic from the input.

use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

/// A 2-D convolution's geometry (groups = 1).
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Top and left padding (bottom and right only bound `ho`, `wo`).
    pub pad: [usize; 2],
    /// The phase grid, `ceil((h + pads) / s_h) × ceil((w + pads) / s_w)`.
    pub grid: [usize; 2],
}

impl Geometry {
    /// The geometry of `x: [n, c_in, h, w]` with kernel `[kh, kw]`, or `None` if the
    /// convolution is empty or the kernel does not fit the padded input.
    pub fn new(
        [n, c_in, h, w]: [usize; 4],
        [kh, kw]: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        [(pt, pb), (pl, pr)]: [(usize, usize); 2],
    ) -> Option<Self> {
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        let (eh, ew) = (
            (kh.checked_sub(1)?) * dilation[0] + 1,
            (kw.checked_sub(1)?) * dilation[1] + 1,
        );
        if n * c_in * h * w == 0 || hp < eh || wp < ew || stride.contains(&0) || dilation.contains(&0) {
            return None;
        }
        Some(Self {
            n,
            c_in,
            h,
            w,
            kh,
            kw,
            ho: (hp - eh) / stride[0] + 1,
            wo: (wp - ew) / stride[1] + 1,
            stride,
            dilation,
            pad: [pt, pl],
            grid: [hp.div_ceil(stride[0]), wp.div_ceil(stride[1])],
        })
    }

    /// Rows of the patch matrix: `c_in·kh·kw`.
    pub fn rows(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
}

/// Where tiles come from.
pub(super) enum Source<'a> {
    /// The phase-split input, `[s_h·s_w][c_in][row]`, and each tap's offset in it.
    Phases {
        data: Vec<f32>,
        offsets: Vec<usize>,
        row: usize,
    },
    /// The input itself, `[n, c_in, h, w]`.
    Patches(&'a [f32]),
}

/// Which layout for `g` with `c_out` output channels: `KILN_CONV_LAYOUT=phases|patches` forces
/// one (the tests check both); otherwise patches where the phase grid holds over 20% more
/// positions than the output and the layer is wide enough for that to matter, or where the
/// phases would be the larger copy (a strided 1×1 layer reads a quarter of them).
pub(super) fn choose<'a>(x: &'a [f32], g: &Geometry, c_out: usize) -> Source<'a> {
    if use_patches(g, c_out) {
        Source::Patches(x)
    } else {
        phases(x, g)
    }
}

/// Whether [`choose`] takes patches for `g`.
pub(super) fn use_patches(g: &Geometry, c_out: usize) -> bool {
    let [hq, wq] = g.grid;
    let waste = (hq * wq) as f64 / (g.ho * g.wo) as f64;
    let phase_len = g.stride[0] * g.stride[1] * hq * wq;
    let patch_len = g.kh * g.kw * g.ho * g.wo;
    match std::env::var("KILN_CONV_LAYOUT").as_deref() {
        Ok("phases") => false,
        Ok("patches") => true,
        // The waste costs gemm work in proportion to `c_out`; gathering patches by index costs
        // more per value than copying phase rows: with few output channels (LeNet-5's 6 and 16)
        // the copies dominate and phases win even at 2× waste (measured, `bench --models lenet5`).
        _ => (waste > 1.2 && c_out >= 64) || patch_len < phase_len,
    }
}

/// The length of a phase-split row (the `n` images' grids and the tail every tap's shift
/// needs) and each tap's offset in the split.
fn phase_offsets(g: &Geometry) -> (usize, Vec<usize>) {
    let ([sh, sw], [dh, dw], [hq, wq]) = (g.stride, g.dilation, g.grid);
    let tail = ((g.kh - 1) * dh / sh) * wq + (g.kw - 1) * dw / sw;
    let row = g.n * hq * wq + tail;
    let mut offsets = Vec::with_capacity(g.kh * g.kw);
    for i in 0..g.kh {
        for j in 0..g.kw {
            let (ph, qh) = ((i * dh) % sh, (i * dh) / sh);
            let (pw, qw) = ((j * dw) % sw, (j * dw) / sw);
            offsets.push((ph * sw + pw) * g.c_in * row + qh * wq + qw);
        }
    }
    (row, offsets)
}

/// The output (gradient) on the positions' grid: `[c_out][n·gh·gw]`, zeros outside `ho × wo`.
pub(super) fn on_grid(dy: &[f32], [n, c_out, ho, wo]: [usize; 4], [gh, gw]: [usize; 2]) -> Vec<f32> {
    let k = n * gh * gw;
    let mut out = vec![0f32; c_out * k];
    out.par_chunks_mut(k).enumerate().for_each(|(o, dst)| {
        for img in 0..n {
            let src = &dy[(img * c_out + o) * ho * wo..][..ho * wo];
            for a in 0..ho {
                dst[img * gh * gw + a * gw..][..wo].copy_from_slice(&src[a * wo..][..wo]);
            }
        }
    });
    out
}

impl Source<'_> {
    /// The positions' grid per image: `[Hq, Wq]` for phases, `[Ho, Wo]` for patches.
    pub fn grid(&self, g: &Geometry) -> [usize; 2] {
        match self {
            Source::Phases { .. } => g.grid,
            Source::Patches(_) => [g.ho, g.wo],
        }
    }

    /// Columns `k0..k0 + kl` of the patch matrix into `tile` (`g.rows()` rows of `block ≥ kl`).
    pub fn gather(&self, g: &Geometry, k0: usize, kl: usize, block: usize, tile: &mut [f32]) {
        match self {
            Source::Phases { data, offsets, row } => {
                let taps = offsets.len();
                for c in 0..g.c_in {
                    for (t, &o) in offsets.iter().enumerate() {
                        tile[(c * taps + t) * block..][..kl].copy_from_slice(&data[o + c * row + k0..][..kl]);
                    }
                }
            }
            Source::Patches(x) => patch_tile(x, g, k0, kl, block, tile),
        }
    }
}

/// The phase-split input: `[s_h·s_w][c_in][row]`, each row holding the `n` images' `Hq × Wq`
/// phase grids then `tail` zeros (so that every tap's shifted row stays inside), and the offset
/// of each tap `(i, j)`.
fn phases<'a>(x: &[f32], g: &Geometry) -> Source<'a> {
    let (&Geometry { n, c_in: c, h, w, .. }, [sh, sw], [pt, pl], [hq, wq]) = (g, g.stride, g.pad, g.grid);
    let (row, offsets) = phase_offsets(g);
    let mut data = vec![0f32; sh * sw * c * row];
    data.par_chunks_mut(row).enumerate().for_each(|(pc, dst)| {
        let (phase, ch) = (pc / c, pc % c);
        let (ph, pw) = (phase / sw, phase % sw);
        // Columns v with 0 <= v·sw + pw - pl < w.
        let first = pl.saturating_sub(pw).div_ceil(sw);
        for img in 0..n {
            let src = &x[(img * c + ch) * h * w..][..h * w];
            let dst = &mut dst[img * hq * wq..][..hq * wq];
            for u in 0..hq {
                let r = u * sh + ph;
                if r < pt || r - pt >= h {
                    continue;
                }
                let src_row = &src[(r - pt) * w..][..w];
                for (v, d) in dst[u * wq..][..wq].iter_mut().enumerate().skip(first) {
                    let col = v * sw + pw - pl;
                    if col >= w {
                        break;
                    }
                    *d = src_row[col];
                }
            }
        }
    });
    Source::Phases { data, offsets, row }
}

/// Columns `k0..k0 + kl` of the exact patch matrix (`κ = (img·Ho + a)·Wo + b`), gathered from
/// `x`, zeros in the padding.
fn patch_tile(x: &[f32], g: &Geometry, k0: usize, kl: usize, block: usize, tile: &mut [f32]) {
    let ([sh, sw], [dh, dw], [pt, pl]) = (g.stride, g.dilation, g.pad);
    let (hw, taps) = (g.ho * g.wo, g.kh * g.kw);
    for r in 0..g.rows() {
        let (ch, i, j) = (r / taps, (r / g.kw) % g.kh, r % g.kw);
        // Output columns b whose input column b·sw + j·dw - pl lies in 0..w.
        let b_lo = pl.saturating_sub(j * dw).div_ceil(sw).min(g.wo);
        let b_hi = (g.w + pl).saturating_sub(j * dw).div_ceil(sw).clamp(b_lo, g.wo);
        let dst = &mut tile[r * block..][..kl];
        let (mut img, rem) = (k0 / hw, k0 % hw);
        let (mut a, mut b0) = (rem / g.wo, rem % g.wo);
        let mut done = 0;
        while done < kl {
            let seg = (g.wo - b0).min(kl - done);
            let out = &mut dst[done..][..seg];
            let r_in = a * sh + i * dh;
            if r_in < pt || r_in - pt >= g.h {
                out.fill(0.0);
            } else {
                let src = &x[((img * g.c_in + ch) * g.h + r_in - pt) * g.w..][..g.w];
                // Zeros left of b_lo and from b_hi on; values between.
                let (lo, hi) = (b_lo.clamp(b0, b0 + seg), b_hi.clamp(b0, b0 + seg));
                out[..lo - b0].fill(0.0);
                out[hi - b0..].fill(0.0);
                if hi > lo {
                    let first = lo * sw + j * dw - pl;
                    let vals = &mut out[lo - b0..hi - b0];
                    if sw == 1 {
                        vals.copy_from_slice(&src[first..][..hi - lo]);
                    } else {
                        for (t, v) in vals.iter_mut().enumerate() {
                            *v = src[first + t * sw];
                        }
                    }
                }
            }
            done += seg;
            b0 += seg;
            if b0 == g.wo {
                b0 = 0;
                a += 1;
                if a == g.ho {
                    a = 0;
                    img += 1;
                }
            }
        }
    }
}

/// Tile width (a multiple of 16) keeping `rows` tile rows plus `extra` rows of the other operand
/// within 512 KiB.
pub(super) fn block_width(rows: usize, extra: usize) -> usize {
    ((131_072 / (rows + extra)).clamp(64, 4096) / 16) * 16
}

/// A raw pointer that parallel blocks share, each writing its own disjoint part.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub *mut f32);
// SAFETY: users write disjoint ranges only (see each use).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

/// A contiguous tensor with no start offset (a view is copied).
pub(super) fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// The element-wise sum of per-thread partial results, each `len` long.
pub(super) fn sum_partials(partials: &[Vec<f32>], len: usize) -> Vec<f32> {
    let mut out = vec![0f32; len];
    out.par_chunks_mut(4096).enumerate().for_each(|(b, dst)| {
        for p in partials {
            for (d, v) in dst.iter_mut().zip(&p[b * 4096..]) {
                *d += *v;
            }
        }
    });
    out
}

/// A matrix operand of [`matmul`]: element `(i, j)` at `ptr + i·rs + j·cs` (strides in elements).
#[derive(Clone, Copy)]
pub(super) struct View {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

impl View {
    /// The matrix at `ptr` with row stride `rs` and column stride `cs`.
    pub fn new(ptr: *const f32, rs: usize, cs: usize) -> Self {
        Self {
            ptr,
            rs: rs as isize,
            cs: cs as isize,
        }
    }
}

/// `dst = lhs · rhs` (`[m, k] × [k, n]`), or `dst += lhs · rhs` with `accumulate`, `dst` with row
/// stride `dst_rs` and unit column stride: gemm's call with its scale and conjugation arguments
/// fixed.
///
/// # Safety
/// As `gemm::gemm`: each operand must address its whole matrix, and `dst` must be writable and
/// overlap neither operand nor any other thread's writes.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    lhs: View,
    rhs: View,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    let alpha = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            alpha,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// A contiguous f32 flex tensor of `shape` holding `values`.
pub(super) fn f32_tensor(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
    use burn::backend::flex::Layout;
    use burn::tensor::{Bytes, DType};
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape.into()), DType::F32)
}
