//! torchvision's `BlockParams.from_init_params`: the per-stage widths, depths and group widths of
//! a RegNet from its six design parameters (depth, `w_0`, `w_a`, `w_m`, group width, bottleneck
//! multiplier), with the same arithmetic and the same rounding.
//!
//! torchvision computes the block widths with torch tensors in the default dtype, float32
//! (`torch.arange(depth) * w_a + w_0`), so this port computes them in `f32` as torch does: the
//! Python floats `w_a`, `w_m` and `math.log(w_m)` (a float64) are cast to `f32` where they meet
//! the tensor, and `torch.round` rounds half to even. Emulated in numpy over 100,000 random
//! settings, float64 arithmetic gave torchvision's block widths in all but 72, float32 in all but
//! one (an exact tie, `log(1.5) / log(2.25) = 0.5`, decided by the last bit of the logarithm);
//! all of torchvision's variants come out the same either way, the nearest call being 0.003 from
//! a tie, except the exact tie of `regnet_x_1_6gf` (80 · 2.25 / 8 = 22.5, rounded to 22), which
//! needs the half-to-even rounding. The stage widths are then adjusted in float64 Python
//! arithmetic (`_adjust_widths_groups_compatibilty`, with `_make_divisible`).

use kiln_core::layers::make_divisible;

/// Width quantum of the block widths (torchvision's `QUANT`).
pub const QUANT: usize = 8;

/// Stride of the first block of every stage (torchvision's `STRIDE`).
pub const STAGE_STRIDE: usize = 2;

/// One stage (torchvision's `AnyStage`): a row of `BlockParams._get_expanded_params()`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageParams {
    /// Output channels of every block of the stage.
    pub width: usize,
    /// Stride of the first block.
    pub stride: usize,
    /// Blocks in the stage.
    pub depth: usize,
    /// Channels per group of the 3×3 grouped convolution.
    pub group_width: usize,
    /// Bottleneck channels per output channel.
    pub bottleneck_multiplier: f64,
}

/// torchvision's `BlockParams`: per-stage lists, all of one length.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockParams {
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Output channels per stage.
    pub widths: Vec<usize>,
    /// Group widths per stage (at most the stage's bottleneck width).
    pub group_widths: Vec<usize>,
    /// Bottleneck multipliers per stage.
    pub bottleneck_multipliers: Vec<f64>,
    /// Stride of each stage's first block.
    pub strides: Vec<usize>,
    /// Squeeze-and-excitation ratio (of a block's input channels); `None` for RegNet X.
    pub se_ratio: Option<f64>,
}

/// The quantised width of each of the `depth` blocks, as torchvision's `from_init_params`
/// computes `block_widths` (in `f32`, see the module documentation):
///
/// ```text
/// widths_cont    = arange(depth) * w_a + w_0
/// block_capacity = round(log(widths_cont / w_0) / log(w_m))
/// block_widths   = round(w_0 * w_m ** block_capacity / 8) * 8
/// ```
pub fn block_widths(depth: usize, w_0: usize, w_a: f64, w_m: f64) -> Vec<usize> {
    let w0 = w_0 as f32;
    let wa = w_a as f32;
    let wm = w_m as f32;
    // `math.log(w_m)` is a Python float (float64), cast to float32 by the tensor division.
    let log_wm = w_m.ln() as f32;
    let quant = QUANT as f32;
    (0..depth)
        .map(|i| {
            let cont = i as f32 * wa + w0;
            let capacity = ((cont / w0).ln() / log_wm).round_ties_even();
            let quantised = (w0 * wm.powf(capacity) / quant).round_ties_even() * quant;
            // `.int()` truncates; the value is a non-negative whole number here.
            quantised as usize
        })
        .collect()
}

/// torchvision's `_adjust_widths_groups_compatibilty`: each group width is capped at the
/// stage's bottleneck width `int(w · b)`, which is then rounded to a multiple of it
/// (`_make_divisible`), and the stage width recomputed as `int(w_bot / b)`.
///
/// # Panics
/// When a bottleneck width is 0 (Python raises `ZeroDivisionError` there).
pub fn adjust_widths_groups(
    stage_widths: &[usize],
    bottleneck_ratios: &[f64],
    group_widths: &[usize],
) -> (Vec<usize>, Vec<usize>) {
    let bottleneck: Vec<usize> = stage_widths
        .iter()
        .zip(bottleneck_ratios)
        .map(|(&w, &b)| (w as f64 * b) as usize)
        .collect();
    let groups_min: Vec<usize> = group_widths
        .iter()
        .zip(&bottleneck)
        .map(|(&g, &w_bot)| g.min(w_bot))
        .collect();
    let widths = bottleneck
        .iter()
        .zip(&groups_min)
        .map(|(&w_bot, &g)| make_divisible(w_bot as f64, g, None))
        .zip(bottleneck_ratios)
        .map(|(w_bot, &b)| (w_bot as f64 / b) as usize)
        .collect();
    (widths, groups_min)
}

impl BlockParams {
    /// torchvision's `BlockParams.from_init_params`: block widths quantised in log space
    /// ([`block_widths`]), consecutive equal widths grouped into stages (stride 2 each), then
    /// widths and group widths made compatible ([`adjust_widths_groups`]).
    ///
    /// # Panics
    /// On torchvision's "Invalid RegNet settings": `w_a < 0`, `w_0 == 0`, `w_m <= 1` or `w_0`
    /// not a multiple of 8.
    pub fn from_init_params(
        depth: usize,
        w_0: usize,
        w_a: f64,
        w_m: f64,
        group_width: usize,
        bottleneck_multiplier: f64,
        se_ratio: Option<f64>,
    ) -> Self {
        if w_a < 0.0 || w_0 == 0 || w_m <= 1.0 || w_0 % QUANT != 0 {
            panic!("Invalid RegNet settings: w_0 = {w_0}, w_a = {w_a}, w_m = {w_m}");
        }
        let widths = block_widths(depth, w_0, w_a, w_m);
        // `num_stages = len(set(block_widths))`.
        let mut distinct = widths.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let num_stages = distinct.len();
        // A new stage wherever the width changes (the `splits` of torchvision).
        let mut stage_widths: Vec<usize> = Vec::new();
        let mut stage_depths: Vec<usize> = Vec::new();
        for (i, &w) in widths.iter().enumerate() {
            if i > 0 && widths[i - 1] == w {
                *stage_depths.last_mut().expect("a stage is open") += 1;
            } else {
                stage_widths.push(w);
                stage_depths.push(1);
            }
        }
        // The per-stage lists are `num_stages` long and Python's `zip` truncates to the
        // shortest (equal lengths unless widths went back to an earlier value).
        stage_widths.truncate(num_stages);
        stage_depths.truncate(num_stages);
        let bottleneck_multipliers = vec![bottleneck_multiplier; num_stages];
        let (widths, group_widths) =
            adjust_widths_groups(&stage_widths, &bottleneck_multipliers, &vec![group_width; num_stages]);
        Self {
            depths: stage_depths,
            widths,
            group_widths,
            bottleneck_multipliers,
            strides: vec![STAGE_STRIDE; num_stages],
            se_ratio,
        }
    }

    /// The stages in order (torchvision's `_get_expanded_params`).
    pub fn stages(&self) -> Vec<StageParams> {
        self.widths
            .iter()
            .zip(&self.strides)
            .zip(&self.depths)
            .zip(&self.group_widths)
            .zip(&self.bottleneck_multipliers)
            .map(
                |((((&width, &stride), &depth), &group_width), &bottleneck_multiplier)| StageParams {
                    width,
                    stride,
                    depth,
                    group_width,
                    bottleneck_multiplier,
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::REGNET_VARIANTS;

    /// `BlockParams.from_init_params(...)` of each torchvision builder: `(name, depths, widths,
    /// group_widths)`, printed by torchvision.
    const EXPECTED: [(&str, [usize; 4], [usize; 4], [usize; 4]); 14] = [
        ("regnet_x_400mf", [1, 2, 7, 12], [32, 64, 160, 400], [16, 16, 16, 16]),
        ("regnet_x_800mf", [1, 3, 7, 5], [64, 128, 288, 672], [16, 16, 16, 16]),
        ("regnet_x_1_6gf", [2, 4, 10, 2], [72, 168, 408, 912], [24, 24, 24, 24]),
        ("regnet_x_3_2gf", [2, 6, 15, 2], [96, 192, 432, 1008], [48, 48, 48, 48]),
        ("regnet_x_8gf", [2, 5, 15, 1], [80, 240, 720, 1920], [80, 120, 120, 120]),
        (
            "regnet_x_16gf",
            [2, 6, 13, 1],
            [256, 512, 896, 2048],
            [128, 128, 128, 128],
        ),
        (
            "regnet_x_32gf",
            [2, 7, 13, 1],
            [336, 672, 1344, 2520],
            [168, 168, 168, 168],
        ),
        ("regnet_y_400mf", [1, 3, 6, 6], [48, 104, 208, 440], [8, 8, 8, 8]),
        ("regnet_y_800mf", [1, 3, 8, 2], [64, 144, 320, 784], [16, 16, 16, 16]),
        ("regnet_y_1_6gf", [2, 6, 17, 2], [48, 120, 336, 888], [24, 24, 24, 24]),
        ("regnet_y_3_2gf", [2, 5, 13, 1], [72, 216, 576, 1512], [24, 24, 24, 24]),
        ("regnet_y_8gf", [2, 4, 10, 1], [224, 448, 896, 2016], [56, 56, 56, 56]),
        (
            "regnet_y_16gf",
            [2, 4, 11, 1],
            [224, 448, 1232, 3024],
            [112, 112, 112, 112],
        ),
        (
            "regnet_y_32gf",
            [2, 5, 12, 1],
            [232, 696, 1392, 3712],
            [232, 232, 232, 232],
        ),
    ];

    #[test]
    fn every_variant_as_torchvision() {
        assert_eq!(REGNET_VARIANTS.len(), EXPECTED.len());
        for (v, (name, depths, widths, groups)) in REGNET_VARIANTS.iter().zip(EXPECTED) {
            assert_eq!(v.name, name);
            let p = BlockParams::from_init_params(v.depth, v.w_0, v.w_a, v.w_m, v.group_width, 1.0, v.se_ratio);
            assert_eq!(p.depths, depths, "{name} depths");
            assert_eq!(p.widths, widths, "{name} widths");
            assert_eq!(p.group_widths, groups, "{name} group widths");
            assert_eq!(p.strides, [2; 4], "{name} strides");
            assert_eq!(p.bottleneck_multipliers, [1.0; 4], "{name} bottleneck multipliers");
            assert_eq!(p.se_ratio, v.se_ratio, "{name} se ratio");
            assert_eq!(p.depths.iter().sum::<usize>(), v.depth, "{name} total depth");
            let stages = p.stages();
            assert_eq!(stages.len(), 4);
            assert_eq!(stages[3].width, widths[3]);
            assert_eq!(stages[0].depth, depths[0]);
        }
    }

    /// The block widths before grouping, printed by torchvision for two variants; in
    /// `regnet_x_1_6gf` the third block is an exact tie (80 · 2.25 / 8 = 22.5) that rounds half
    /// to even (176, not 184: the stage would otherwise be 192 wide, not 168).
    #[test]
    fn quantised_block_widths() {
        assert_eq!(
            block_widths(16, 48, 27.89, 2.09),
            [
                48, 104, 104, 104, 208, 208, 208, 208, 208, 208, 440, 440, 440, 440, 440, 440
            ]
        );
        assert_eq!(
            block_widths(18, 80, 34.01, 2.25),
            [
                80, 80, 176, 176, 176, 176, 408, 408, 408, 408, 408, 408, 408, 408, 408, 408, 912, 912
            ]
        );
        assert!(block_widths(0, 48, 27.89, 2.09).is_empty());
    }

    /// Group widths above the bottleneck width are capped at it, and widths rounded to a
    /// multiple of the group width (as `_make_divisible` rounds: nearest, never 10% below).
    #[test]
    fn widths_and_groups_made_compatible() {
        let (w, g) = adjust_widths_groups(&[80, 176, 408, 912], &[1.0; 4], &[24; 4]);
        assert_eq!(w, [72, 168, 408, 912]);
        assert_eq!(g, [24; 4]);
        // Had the tie rounded up (184), the second stage would be 192 wide.
        let (w, _) = adjust_widths_groups(&[80, 184, 408, 912], &[1.0; 4], &[24; 4]);
        assert_eq!(w, [72, 192, 408, 912]);
        let (w, g) = adjust_widths_groups(&[80, 232], &[1.0; 2], &[120, 120]);
        assert_eq!(w, [80, 240]);
        assert_eq!(g, [80, 120]);
        // Bottleneck multiplier 0.25: 256 → 64 bottleneck channels, a multiple of 16.
        let (w, g) = adjust_widths_groups(&[256, 100], &[0.25; 2], &[16, 16]);
        assert_eq!(w, [256, 128]);
        assert_eq!(g, [16, 16]);
    }

    #[test]
    #[should_panic(expected = "Invalid RegNet settings")]
    fn w_0_must_be_a_multiple_of_8() {
        BlockParams::from_init_params(16, 44, 27.89, 2.09, 8, 1.0, None);
    }

    #[test]
    #[should_panic(expected = "Invalid RegNet settings")]
    fn w_m_must_exceed_1() {
        BlockParams::from_init_params(16, 48, 27.89, 1.0, 8, 1.0, None);
    }
}
