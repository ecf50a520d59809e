//! Image resizing as Pillow does it (`Image.resize` with `BILINEAR` or `BICUBIC`, Pillow's
//! `libImaging/Resample.c`; `NEAREST`, its `ImagingScaleAffine`), so that Kiln's preprocessing of a photo gives the bytes
//! torchvision's `Resize` gives on a PIL image.
//!
//! Pillow's convolution-based resampler: each output pixel is a weighted sum of the input pixels
//! under a filter stretched by the scale factor when shrinking (antialiasing); weights are
//! normalised per output pixel, then converted to fixed point with 22 fractional bits; the
//! horizontal pass runs first, its result rounded and clipped to `u8`, then the vertical pass.
//! A pass is skipped when its dimension does not change. Every step below follows that order,
//! including the C casts (truncation toward zero), so the result is bit-exact.

use kiln_core::Interpolation;

/// Fractional bits of the fixed-point weights (`PRECISION_BITS` in Pillow).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The filter and its support (half-width, in input pixels at scale 1).
fn filter(kind: Interpolation) -> (fn(f64) -> f64, f64) {
    match kind {
        Interpolation::Bilinear => (bilinear, 1.0),
        Interpolation::Bicubic => (bicubic, 2.0),
        Interpolation::Nearest => unreachable!("nearest is not a convolution filter"),
    }
}

/// Pillow's `NEAREST` resize (`ImagingScaleAffine`): the source position of output pixel `x` is
/// accumulated in f64 from `0.5 · scale` by steps of `scale` (as Pillow adds, not multiplies, so
/// that boundary cases round as Pillow's do) and truncated.
fn nearest_indices(in_size: usize, out_size: usize) -> Vec<usize> {
    let step = in_size as f64 / out_size as f64;
    let mut at = step * 0.5;
    (0..out_size)
        .map(|_| {
            let i = (at as usize).min(in_size - 1);
            at += step;
            i
        })
        .collect()
}

fn resize_nearest(plane: &[u8], width: usize, height: usize, new_width: usize, new_height: usize) -> Vec<u8> {
    let xs = nearest_indices(width, new_width);
    let ys = nearest_indices(height, new_height);
    let mut out = Vec::with_capacity(new_width * new_height);
    for &y in &ys {
        let row = &plane[y * width..][..width];
        out.extend(xs.iter().map(|&x| row[x]));
    }
    out
}

fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Keys' cubic convolution with a = -0.5, as Pillow.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The fixed-point weights of one pass: for each output position the first input index, the
/// number of inputs, and `ksize` weights.
struct Coefficients {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

impl Coefficients {
    /// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the box
    /// `[0, in_size)` mapped onto `out_size` pixels.
    fn new(in_size: usize, out_size: usize, kind: Interpolation) -> Self {
        let (f, support) = filter(kind);
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = support * filterscale;
        let ksize = support.ceil() as usize * 2 + 1;
        let mut bounds = Vec::with_capacity(out_size);
        let mut weights = vec![0i32; out_size * ksize];
        let mut k = vec![0f64; ksize];
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // C's (int) casts truncate toward zero.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) - xmin;
            let n = xmax.max(0) as usize;
            let mut ww = 0.0;
            for (x, kx) in k.iter_mut().enumerate().take(n) {
                let w = f(((x as i64 + xmin) as f64 - center + 0.5) * ss);
                *kx = w;
                ww += w;
            }
            let row = &mut weights[xx * ksize..xx * ksize + ksize];
            for (x, out) in row.iter_mut().enumerate().take(n) {
                let w = if ww != 0.0 { k[x] / ww } else { k[x] };
                let scaled = w * (1u32 << PRECISION_BITS) as f64;
                *out = if w < 0.0 {
                    (-0.5 + scaled) as i32
                } else {
                    (0.5 + scaled) as i32
                };
            }
            bounds.push((xmin as usize, n));
        }
        Self { ksize, bounds, weights }
    }

    /// One output value from the inputs `get(first..first + n)`.
    #[inline]
    fn apply(&self, out: usize, get: impl Fn(usize) -> u8) -> u8 {
        let (first, n) = self.bounds[out];
        let k = &self.weights[out * self.ksize..out * self.ksize + n];
        let mut ss: i32 = 1 << (PRECISION_BITS - 1);
        for (i, w) in k.iter().enumerate() {
            ss = ss.wrapping_add((get(first + i) as i32).wrapping_mul(*w));
        }
        clip8(ss)
    }
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes one 8-bit plane (`height × width`, row-major) to `new_height × new_width` as Pillow's
/// `Image.resize((new_width, new_height), filter)` does.
///
/// # Panics
/// When `plane.len() != width * height` or a size is zero.
pub fn resize_plane(
    plane: &[u8],
    width: usize,
    height: usize,
    new_width: usize,
    new_height: usize,
    kind: Interpolation,
) -> Vec<u8> {
    assert_eq!(plane.len(), width * height, "plane size");
    assert!(
        width > 0 && height > 0 && new_width > 0 && new_height > 0,
        "empty image"
    );
    if kind == Interpolation::Nearest {
        return resize_nearest(plane, width, height, new_width, new_height);
    }
    let vertical = Coefficients::new(height, new_height, kind);
    // Only the input rows the vertical pass reads go through the horizontal pass.
    let (first_row, last_row) = if new_height != height {
        let (f, _) = vertical.bounds[0];
        let (l, n) = vertical.bounds[new_height - 1];
        (f, l + n)
    } else {
        (0, height)
    };
    let (rows, row_offset, w) = if new_width != width {
        let horizontal = Coefficients::new(width, new_width, kind);
        let mut out = vec![0u8; (last_row - first_row) * new_width];
        for (y, out_row) in out.chunks_exact_mut(new_width).enumerate() {
            let src = &plane[(first_row + y) * width..(first_row + y + 1) * width];
            for (x, v) in out_row.iter_mut().enumerate() {
                *v = horizontal.apply(x, |i| src[i]);
            }
        }
        (std::borrow::Cow::Owned(out), first_row, new_width)
    } else {
        (std::borrow::Cow::Borrowed(plane), 0, width)
    };
    if new_height == height {
        return rows.into_owned();
    }
    let mut out = vec![0u8; new_height * w];
    for y in 0..new_height {
        for x in 0..w {
            out[y * w + x] = vertical.apply(y, |i| rows[(i - row_offset) * w + x]);
        }
    }
    out
}

/// Resizes planar pixels (`[channels, height, width]`), each channel as [`resize_plane`].
pub fn resize_planar(
    pixels: &[u8],
    channels: usize,
    width: usize,
    height: usize,
    new_width: usize,
    new_height: usize,
    kind: Interpolation,
) -> Vec<u8> {
    let plane = width * height;
    pixels
        .chunks_exact(plane)
        .take(channels)
        .flat_map(|p| resize_plane(p, width, height, new_width, new_height, kind))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity_and_constant_stays_constant() {
        let plane: Vec<u8> = (0..35).map(|v| (v * 7) as u8).collect();
        assert_eq!(resize_plane(&plane, 7, 5, 7, 5, Interpolation::Bilinear), plane);
        let flat = vec![200u8; 40 * 30];
        for kind in [Interpolation::Bilinear, Interpolation::Bicubic] {
            for (w, h) in [(13, 9), (80, 61), (40, 7)] {
                assert!(resize_plane(&flat, 40, 30, w, h, kind).iter().all(|&v| v == 200));
            }
        }
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for kind in [Interpolation::Bilinear, Interpolation::Bicubic] {
            for (i, o) in [(451, 256), (256, 451), (300, 7), (7, 300)] {
                let c = Coefficients::new(i, o, kind);
                for (x, &(_, n)) in c.bounds.iter().enumerate() {
                    let sum: i64 = c.weights[x * c.ksize..x * c.ksize + n].iter().map(|&w| w as i64).sum();
                    assert!(
                        (sum - (1 << PRECISION_BITS)).abs() <= n as i64,
                        "{i}->{o} at {x}: {sum}"
                    );
                }
            }
        }
    }

    #[test]
    fn bicubic_overshoot_is_clipped() {
        // A step edge: bicubic rings past 0 and 255, Pillow clips.
        let plane: Vec<u8> = (0..16).map(|x| if x < 8 { 0 } else { 255 }).collect();
        let up = resize_plane(&plane, 16, 1, 64, 1, Interpolation::Bicubic);
        assert_eq!(up.first(), Some(&0));
        assert_eq!(up.last(), Some(&255));
    }
}
