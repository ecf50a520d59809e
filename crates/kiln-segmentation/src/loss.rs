//! Pixel-wise losses for segmentation.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, activation};

/// Mean cross-entropy over every pixel.
///
/// # Shapes
/// - logits `[batch, classes, h, w]`
/// - targets `[batch, h, w]`, class indices in `0..classes`
/// - returns `[1]`
pub fn pixel_cross_entropy(logits: Tensor<4>, targets: Tensor<3, Int>) -> Tensor<1> {
    let [b, _, h, w] = logits.dims();
    let log_p = activation::log_softmax(logits, 1);
    let picked = log_p.gather(1, targets.reshape([b, 1, h, w]));
    picked.mean().neg()
}

/// One-hot encoding of a class map.
///
/// # Shapes
/// - targets `[batch, h, w]` → `[batch, classes, h, w]` of 0/1
pub fn one_hot_map(targets: Tensor<3, Int>, classes: usize) -> Tensor<4> {
    let [b, h, w] = targets.dims();
    let device = targets.device();
    Tensor::<4>::zeros([b, classes, h, w], &device).scatter(
        1,
        targets.reshape([b, 1, h, w]),
        Tensor::<4>::ones([b, 1, h, w], &device),
        IndexingUpdateOp::Add,
    )
}

/// Soft Dice loss (Milletari et al. 2016), averaged over the classes present in the batch or
/// predicted: `1 - mean_c (2 Σ p·t + ε) / (Σ p + Σ t + ε)`, with `p` the softmax probabilities.
///
/// # Shapes
/// - logits `[batch, classes, h, w]`, targets `[batch, h, w]` → `[1]`
pub fn dice_loss(logits: Tensor<4>, targets: Tensor<3, Int>) -> Tensor<1> {
    let [_, classes, _, _] = logits.dims();
    let p = activation::softmax(logits, 1);
    let t = one_hot_map(targets, classes);
    let eps = 1.0;
    // Sum over batch and pixels, per class: [classes].
    let per_class = |x: Tensor<4>| {
        x.swap_dims(0, 1)
            .reshape([classes as i32, -1])
            .sum_dim(1)
            .reshape([classes])
    };
    let inter = per_class(p.clone() * t.clone());
    let total = per_class(p) + per_class(t);
    let dice = (inter * 2.0 + eps) / (total + eps);
    dice.mean().neg() + 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn cross_entropy_matches_hand_computation() {
        let device = Device::flex();
        // 2 classes, 1×2 image: logits (0, ln 3) and (ln 3, 0); targets 1 and 1.
        let l3 = 3f32.ln();
        let logits = Tensor::<4>::from_data(TensorData::new(vec![0.0, l3, l3, 0.0], [1, 2, 1, 2]), &device);
        let targets = Tensor::<3, Int>::from_data(TensorData::new(vec![1i64, 1], [1, 1, 2]), &device);
        // p(1) = 3/4 at the first pixel, 1/4 at the second.
        let expected = -((0.75f32).ln() + (0.25f32).ln()) / 2.0;
        let got = pixel_cross_entropy(logits, targets).into_scalar::<f32>();
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn dice_is_zero_for_a_confident_perfect_prediction_and_near_one_for_the_opposite() {
        let device = Device::flex();
        let targets = Tensor::<3, Int>::from_data(TensorData::new(vec![0i64, 1, 1, 0], [1, 2, 2]), &device);
        let perfect = one_hot_map(targets.clone(), 2) * 50.0;
        let wrong = (one_hot_map(targets.clone(), 2).neg() + 1.0) * 50.0;
        let good = dice_loss(perfect, targets.clone()).into_scalar::<f32>();
        let bad = dice_loss(wrong, targets).into_scalar::<f32>();
        assert!(good < 1e-3, "{good}");
        assert!(bad > 0.6, "{bad}");
    }
}
