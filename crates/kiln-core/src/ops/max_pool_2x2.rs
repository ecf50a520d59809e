//! The 2×2 stride-2 max-pooling window (LeNet-5's, VGG's, SegNet's) over one pair of input
//! rows: the forward's maxima and the backward's routed gradient, by Burn's rule (the first
//! maximum in row-major order wins; a NaN always wins). AVX-512 (16 outputs per step, the last
//! step masked: the rows' even and odd columns separated by two permutes, the window's maximum
//! and position by masked blends) where the CPU has it, scalar selects otherwise. The scalar
//! form was 11–13% of LeNet-5's training step (`perf record`: the compiler does not vectorise
//! the stride-2 reads).

/// The maximum of a 2×2 window in row-major order and its position 0..4, by Burn's rule,
/// without branches.
#[inline(always)]
fn max4(v: [f32; 4]) -> (f32, u32) {
    let (mut best, mut at) = (v[0], 0);
    for (i, &x) in v.iter().enumerate().skip(1) {
        let take = x > best || x.is_nan();
        best = if take { x } else { best };
        at = if take { i as u32 } else { at };
    }
    (best, at)
}

/// `out[b]` = the maximum of `r0[2b..2b+2]` and `r1[2b..2b+2]`.
///
/// # Shapes
/// `r0`, `r1`: `[≥ 2·wo]`, `out`: `[wo]`
pub fn forward_rows(r0: &[f32], r1: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        return unsafe { avx512::forward_rows(r0, r1, out) };
    }
    forward_rows_scalar(r0, r1, out);
}

/// The input gradient of one row pair: `dy[b]` goes to the maximum's place in the window of
/// `r0[2b..2b+2]`, `r1[2b..2b+2]` (in `d0` or `d1`), zeros to the other three.
///
/// # Shapes
/// `r0`, `r1`: `[≥ 2·wo]`, `dy`: `[wo]`, `d0`, `d1`: `[≥ 2·wo]` (only the first `2·wo` written)
pub fn backward_rows(r0: &[f32], r1: &[f32], dy: &[f32], d0: &mut [f32], d1: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        return unsafe { avx512::backward_rows(r0, r1, dy, d0, d1) };
    }
    backward_rows_scalar(r0, r1, dy, d0, d1);
}

/// [`forward_rows`], scalar.
fn forward_rows_scalar(r0: &[f32], r1: &[f32], out: &mut [f32]) {
    let wo = out.len();
    let (r0, r1) = (&r0[..2 * wo], &r1[..2 * wo]);
    for (b, o) in out.iter_mut().enumerate() {
        *o = max4([r0[2 * b], r0[2 * b + 1], r1[2 * b], r1[2 * b + 1]]).0;
    }
}

/// [`backward_rows`], scalar.
fn backward_rows_scalar(r0: &[f32], r1: &[f32], dy: &[f32], d0: &mut [f32], d1: &mut [f32]) {
    let wo = dy.len();
    let (r0, r1) = (&r0[..2 * wo], &r1[..2 * wo]);
    let (d0, d1) = (&mut d0[..2 * wo], &mut d1[..2 * wo]);
    for (b, &g) in dy.iter().enumerate() {
        let k = max4([r0[2 * b], r0[2 * b + 1], r1[2 * b], r1[2 * b + 1]]).1;
        d0[2 * b] = if k == 0 { g } else { 0.0 };
        d0[2 * b + 1] = if k == 1 { g } else { 0.0 };
        d1[2 * b] = if k == 2 { g } else { 0.0 };
        d1[2 * b + 1] = if k == 3 { g } else { 0.0 };
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Lane `i` ← even column `2i` (`EVEN`) or odd column `2i + 1` (`ODD`) of 32 values held in
    /// two registers; `LO`/`HI` interleave two registers back (`e0 o0 e1 o1 …`).
    const EVEN: [i32; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
    const ODD: [i32; 16] = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31];
    const LO: [i32; 16] = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
    const HI: [i32; 16] = [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31];

    #[inline(always)]
    fn idx(v: [i32; 16]) -> __m512i {
        // SAFETY: an unaligned load of 16 i32 from an array of 16.
        unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
    }

    /// The mask of the first `n` lanes (`n` ≤ 16).
    #[inline(always)]
    fn first(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// Up to 32 values of `src` into two registers, zeros past its end.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load32(src: &[f32]) -> (__m512, __m512) {
        let n = src.len().min(32);
        let (a, b) = (n.min(16), n.saturating_sub(16));
        // SAFETY: masked loads touch only the first `a` and the next `b` values, all in `src`.
        unsafe {
            let lo = _mm512_maskz_loadu_ps(first(a), src.as_ptr());
            let hi = if b > 0 {
                _mm512_maskz_loadu_ps(first(b), src.as_ptr().add(16))
            } else {
                _mm512_setzero_ps()
            };
            (lo, hi)
        }
    }

    /// Two registers into the first `dst.len()` (≤ 32) places of `dst`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store32(dst: &mut [f32], lo: __m512, hi: __m512) {
        let n = dst.len().min(32);
        let (a, b) = (n.min(16), n.saturating_sub(16));
        // SAFETY: masked stores touch only the first `a` and the next `b` values, all in `dst`.
        unsafe {
            _mm512_mask_storeu_ps(dst.as_mut_ptr(), first(a), lo);
            if b > 0 {
                _mm512_mask_storeu_ps(dst.as_mut_ptr().add(16), first(b), hi);
            }
        }
    }

    /// The four window values of up to 16 outputs from `r0`, `r1` (≤ 32 values each), in
    /// row-major window order.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn windows(r0: &[f32], r1: &[f32]) -> [__m512; 4] {
        let (even, odd) = (idx(EVEN), idx(ODD));
        let ((a0, a1), (b0, b1)) = (load32(r0), load32(r1));
        [
            _mm512_permutex2var_ps(a0, even, a1),
            _mm512_permutex2var_ps(a0, odd, a1),
            _mm512_permutex2var_ps(b0, even, b1),
            _mm512_permutex2var_ps(b0, odd, b1),
        ]
    }

    /// The windows' maxima and their positions 0..4 by Burn's rule: a later value is taken
    /// when it is greater or NaN.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn max4(v: [__m512; 4]) -> (__m512, __m512i) {
        let (mut best, mut at) = (v[0], _mm512_setzero_si512());
        for (i, &x) in v.iter().enumerate().skip(1) {
            let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, best) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
            best = _mm512_mask_blend_ps(take, best, x);
            at = _mm512_mask_blend_epi32(take, at, _mm512_set1_epi32(i as i32));
        }
        (best, at)
    }

    /// `g` where the window's maximum is at position `k`, zero elsewhere.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn route(at: __m512i, g: __m512, k: i32) -> __m512 {
        _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_set1_epi32(k)), g)
    }

    /// The forward, 16 outputs at a time (the last block masked).
    #[target_feature(enable = "avx512f")]
    pub fn forward_rows(r0: &[f32], r1: &[f32], out: &mut [f32]) {
        let wo = out.len();
        let (r0, r1) = (&r0[..2 * wo], &r1[..2 * wo]);
        for (j, dst) in out.chunks_mut(16).enumerate() {
            let span = 32 * j..(32 * j + 32).min(2 * wo);
            let (best, _) = max4(windows(&r0[span.clone()], &r1[span]));
            store32(dst, best, _mm512_setzero_ps());
        }
    }

    /// The backward, 16 outputs at a time (the last block masked).
    #[target_feature(enable = "avx512f")]
    pub fn backward_rows(r0: &[f32], r1: &[f32], dy: &[f32], d0: &mut [f32], d1: &mut [f32]) {
        let wo = dy.len();
        let (r0, r1) = (&r0[..2 * wo], &r1[..2 * wo]);
        let (d0, d1) = (&mut d0[..2 * wo], &mut d1[..2 * wo]);
        let (lo, hi) = (idx(LO), idx(HI));
        for (j, g) in dy.chunks(16).enumerate() {
            let span = 32 * j..(32 * j + 32).min(2 * wo);
            let (_, at) = max4(windows(&r0[span.clone()], &r1[span.clone()]));
            let (g, _) = load32(g);
            for (d, k) in [(&mut d0[span.clone()], 0), (&mut d1[span.clone()], 2)] {
                let (e, o) = (route(at, g, k), route(at, g, k + 1));
                store32(d, _mm512_permutex2var_ps(e, lo, o), _mm512_permutex2var_ps(e, hi, o));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows with ties (values in quarters over a small range), NaNs and signed zeros, long
    /// enough for two AVX-512 blocks and a tail.
    fn rows(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                match s >> 27 {
                    0 => f32::NAN,
                    1 => -0.0,
                    r => (r % 5) as f32 * 0.25 - 0.5,
                }
            })
            .collect()
    }

    /// The vector path (where the CPU has it) gives exactly the scalar path's result.
    #[test]
    fn vector_and_scalar_paths_agree() {
        for wo in [1, 15, 16, 17, 35, 64] {
            for seed in 1..20 {
                let (r0, r1) = (rows(2 * wo, seed), rows(2 * wo + 3, seed + 100));
                let dy: Vec<f32> = (0..wo).map(|i| 1.0 + i as f32).collect();
                let (mut fast, mut slow) = (vec![0f32; wo], vec![0f32; wo]);
                forward_rows(&r0, &r1, &mut fast);
                forward_rows_scalar(&r0, &r1, &mut slow);
                let bits = |v: &[f32]| {
                    v.iter()
                        .map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() })
                        .collect::<Vec<_>>()
                };
                assert_eq!(bits(&fast), bits(&slow), "forward, {wo} outputs, seed {seed}");
                let mut fast = (vec![7f32; 2 * wo + 1], vec![7f32; 2 * wo + 1]);
                let mut slow = fast.clone();
                backward_rows(&r0, &r1, &dy, &mut fast.0, &mut fast.1);
                backward_rows_scalar(&r0, &r1, &dy, &mut slow.0, &mut slow.1);
                assert_eq!(fast, slow, "backward, {wo} outputs, seed {seed}");
                assert_eq!(fast.0[2 * wo], 7.0, "wrote past 2·wo");
            }
        }
    }

    /// The rule itself: the first maximum wins, a NaN wins over everything after it.
    #[test]
    fn first_maximum_and_nan_win() {
        assert_eq!(max4([1.0, 1.0, 0.0, 1.0]), (1.0, 0));
        assert_eq!(max4([0.0, 2.0, 2.0, 1.0]), (2.0, 1));
        let (v, at) = max4([3.0, f32::NAN, 5.0, f32::NAN]);
        assert!(v.is_nan() && at == 3);
    }
}
