//! Stochastic depth (Huang et al., 2016), torchvision's `StochasticDepth(p, "row")`.

use burn::{
    module::{Flag, Module, Param},
    tensor::{Distribution, Tensor},
};

/// Drops a residual branch for whole samples: in training each sample's branch output is zeroed
/// with probability `prob` and the survivors scaled by `1 / (1 - prob)` (torchvision's `row`
/// mode); in evaluation (a device without autodiff, or a frozen module) it is the identity.
#[derive(Module, Debug)]
pub struct StochasticDepth {
    /// Probability of dropping the branch, in `[0, 1)`.
    pub prob: f64,
    /// Whether to behave as in training (cleared by `freeze`, as Burn's `Dropout`).
    pub training: Param<Flag>,
}

impl StochasticDepth {
    /// A drop-path with probability `prob`.
    ///
    /// # Panics
    /// If `prob` is not in `[0, 1)`.
    pub fn new(prob: f64) -> Self {
        assert!(
            prob.is_finite() && (0.0..1.0).contains(&prob),
            "stochastic depth probability must be in [0, 1), got {prob}"
        );
        Self {
            prob,
            training: Param::from_bool(true),
        }
    }

    /// # Shapes
    /// `[b, ...]` → the same
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.prob == 0.0 || !self.training.is_enabled() || !x.device().is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        let mut shape = [1usize; D];
        shape[0] = x.dims()[0];
        let noise = Tensor::<D>::random(shape, Distribution::Bernoulli(keep), &x.device());
        x * noise.div_scalar(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn identity_in_evaluation() {
        let x = Tensor::<4>::ones([8, 2, 3, 3], &Device::flex());
        let y = StochasticDepth::new(0.5).forward(x.clone());
        assert_eq!(y.into_data(), x.into_data());
    }

    /// In training whole rows are kept (scaled by 1/(1-p)) or dropped, and about 1-p are kept.
    #[test]
    fn drops_whole_rows_in_training() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::ones([400, 2, 2, 2], &device);
        let y: Vec<f32> = StochasticDepth::new(0.25)
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mut kept = 0;
        for row in y.chunks(8) {
            let first = row[0];
            assert!(row.iter().all(|v| *v == first), "a row is kept or dropped whole");
            assert!(first == 0.0 || (first - 1.0 / 0.75).abs() < 1e-6, "{first}");
            kept += (first != 0.0) as usize;
        }
        assert!((250..350).contains(&kept), "kept {kept} of 400 at p = 0.25");
    }
}
