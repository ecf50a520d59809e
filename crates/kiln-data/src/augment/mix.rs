//! Batch-level mixing: MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019).

use super::Rng;
use burn::tensor::{Int, Tensor};

/// Which mixing, with the α of its Beta(α, α) mixing weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BatchMix {
    /// Convex combination of two images and their labels.
    MixUp {
        /// Beta parameter.
        alpha: f32,
    },
    /// A box of one image pasted into another; labels weighted by area.
    CutMix {
        /// Beta parameter.
        alpha: f32,
    },
    /// Both, one per batch: CutMix with probability 1/2, as timm's `Mixup` with `switch_prob`
    /// 0.5.
    Both {
        /// MixUp's Beta parameter.
        mixup: f32,
        /// CutMix's Beta parameter.
        cutmix: f32,
    },
}

/// The second label of each mixed image and the weight of the first.
#[derive(Clone, Debug)]
pub struct Mix {
    /// `[batch]` labels of the images mixed in.
    pub targets_b: Tensor<1, Int>,
    /// Weight of the original labels; the loss is `λ·CE(y) + (1-λ)·CE(y_b)`.
    pub lambda: f32,
}

fn normal(rng: &mut Rng) -> f32 {
    // Box–Muller.
    let u1 = rng.unit().max(1e-7);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn gamma(rng: &mut Rng, a: f32) -> f32 {
    // Marsaglia–Tsang; a < 1 through a + 1 and a power of a uniform.
    if a < 1.0 {
        return gamma(rng, a + 1.0) * rng.unit().max(1e-7).powf(1.0 / a);
    }
    let d = a - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.unit().max(1e-7);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A draw from Beta(α, α).
pub fn beta(rng: &mut Rng, alpha: f32) -> f32 {
    let (x, y) = (gamma(rng, alpha), gamma(rng, alpha));
    x / (x + y)
}

impl BatchMix {
    /// Mixes a batch with itself reversed (image `i` with image `n-1-i`).
    ///
    /// # Shapes
    /// - images `[n, c, h, w]`, targets `[n]`
    /// - returns the mixed images `[n, c, h, w]` and the [`Mix`] for the loss
    pub fn apply(&self, images: Tensor<4>, targets: Tensor<1, Int>, rng: &mut Rng) -> (Tensor<4>, Mix) {
        let [n, _, h, w] = images.dims();
        let device = images.device();
        let reversed: Vec<i64> = (0..n as i64).rev().collect();
        let order = Tensor::<1, Int>::from_ints(reversed.as_slice(), &device);
        let other = images.clone().select(0, order.clone());
        let targets_b = targets.select(0, order);
        let this = match *self {
            BatchMix::Both { mixup, cutmix } => {
                if rng.chance(0.5) {
                    BatchMix::CutMix { alpha: cutmix }
                } else {
                    BatchMix::MixUp { alpha: mixup }
                }
            }
            other => other,
        };
        match this {
            BatchMix::Both { .. } => unreachable!("chosen above"),
            BatchMix::MixUp { alpha } => {
                let lambda = beta(rng, alpha);
                (images * lambda + other * (1.0 - lambda), Mix { targets_b, lambda })
            }
            BatchMix::CutMix { alpha } => {
                let lambda = beta(rng, alpha);
                let cut = (1.0 - lambda).sqrt();
                let (ch, cw) = ((h as f32 * cut) as usize, (w as f32 * cut) as usize);
                let (cy, cx) = (rng.below(h), rng.below(w));
                let (y0, y1) = (cy.saturating_sub(ch / 2), (cy + ch / 2).min(h));
                let (x0, x1) = (cx.saturating_sub(cw / 2), (cx + cw / 2).min(w));
                let mut mask = vec![0f32; h * w];
                for y in y0..y1 {
                    for x in x0..x1 {
                        mask[y * w + x] = 1.0;
                    }
                }
                let area = ((y1 - y0) * (x1 - x0)) as f32 / (h * w) as f32;
                let m = Tensor::<1>::from_floats(mask.as_slice(), &device).reshape([1, 1, h, w]);
                let mixed = images * (m.clone().neg() + 1.0) + other * m;
                (
                    mixed,
                    Mix {
                        targets_b,
                        lambda: 1.0 - area,
                    },
                )
            }
        }
    }
}
