//! The transforms of Winograd's F(2×2, 3×3) for [`flex_winograd`](super::flex_winograd): the
//! kernel's `U = G g Gᵀ` and its adjoint `Gᵀ dU G`, the input tiles' `V = Bᵀ d B`, the output
//! gradient tiles' `A dY Aᵀ` and the output's `Y = Aᵀ M A`, each over whole tile rows with loops
//! the compiler vectorises, and the per-thread buffers they fill.

use super::tiles::SendPtr;
use rayon::prelude::*;

/// A batch of input planes, `[n, c, h, w]`.
#[derive(Clone, Copy)]
pub(super) struct Plane {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

/// `U[o][ξ][c] = (G g Gᵀ)[ξ]` for each kernel `g = w[o, c]`, `[m][16][k]`; `transposed` reads
/// `w` as `[k, m, 3, 3]` with each kernel flipped (the input gradient's kernel).
pub(super) fn filter_transform(w: &[f32], c_out: usize, c_in: usize, transposed: bool) -> Vec<f32> {
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

/// `dW[o][c] = Gᵀ dU[·][o][c] G` (4×4 → 3×3) from `du` (`[16][m][k]`) → `[m, k, 3, 3]`.
pub(super) fn filter_gradient(du: &[f32], m: usize, k: usize) -> Vec<f32> {
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

/// Where the tiles lie: tile `(img, a, b)` reads input rows `2a − top ..+ 4` and columns
/// `2b − left ..+ 4` and writes outputs `2a ..+ 2`, `2b ..+ 2`. Tile row `q = img·th + a`;
/// within a block, tile `(q − r0)·tw + b`. Blocks are whole tile rows, 64 to 256 tiles: `v` and
/// `prod` of a block stay within 512 KiB down to 64 tiles (measured best on ResNet-18's layers:
/// `bench --convs`, 64–4,096 tried).
pub(super) struct Tiles {
    pub input: Plane,
    pub pad: [usize; 2],
    pub out: [usize; 2],
    pub grid: [usize; 2],
    /// Tiles per block (room for; the last block may hold fewer).
    pub block: usize,
    /// Tile rows per block, and blocks.
    pub rows_per_block: usize,
    pub blocks: usize,
}

impl Tiles {
    /// The tiles of an `out` map computed from `input` padded by `pad` (top, left), `m` output
    /// channels.
    pub fn new(input: Plane, m: usize, pad: [usize; 2], out: [usize; 2]) -> Self {
        let (th, tw) = (out[0].div_ceil(2), out[1].div_ceil(2));
        let target = (32_768 / (m + input.c)).clamp(64, 256);
        let rows_per_block = (target / tw).max(1);
        Self {
            input,
            pad,
            out,
            grid: [th, tw],
            block: rows_per_block * tw,
            rows_per_block,
            blocks: (input.n * th).div_ceil(rows_per_block),
        }
    }

    /// Block `b`'s tile rows and its number of tiles.
    pub fn rows(&self, b: usize) -> (std::ops::Range<usize>, usize) {
        let r0 = b * self.rows_per_block;
        let r1 = (r0 + self.rows_per_block).min(self.input.n * self.grid[0]);
        (r0..r1, (r1 - r0) * self.grid[1])
    }

    /// gemm's own threads when the blocks are fewer than rayon's and the product is large.
    pub fn parallelism(&self, m: usize) -> gemm::Parallelism {
        let tiles = self.input.n * self.grid[0] * self.grid[1];
        if self.blocks < rayon::current_num_threads() && m * self.input.c * tiles >= 64 * 64 * 64 {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        }
    }
}

/// A thread's buffers: the transformed input `v` (`[16][c][block]`), the products `prod`
/// (`[16][m][block]`), four padded input rows, their row transform, two output rows.
pub(super) struct Scratch {
    pub v: Vec<f32>,
    pub prod: Vec<f32>,
    rows: Vec<f32>,
    sums: Vec<f32>,
    out_rows: Vec<f32>,
}

impl Scratch {
    pub fn new(t: &Tiles, m: usize) -> Self {
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
    pub fn input_transform(&self, x: &[f32], rows: std::ops::Range<usize>, s: &mut Scratch) {
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
    pub fn gradient_transform(&self, dy: &[f32], m: usize, rows: std::ops::Range<usize>, s: &mut Scratch) {
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
    pub unsafe fn output_transform(&self, m: usize, rows: std::ops::Range<usize>, s: &mut Scratch, y: SendPtr) {
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
