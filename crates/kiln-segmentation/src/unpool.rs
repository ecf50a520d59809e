//! Max unpooling (SegNet): the inverse of a max pool that recorded its argmax positions. Burn has
//! no unpool operation; this one is a scatter, so autodiff differentiates it (the gradient of each
//! pooled value is the output gradient at the position it was put back to).

use burn::tensor::{IndexingUpdateOp, Int, Tensor};

/// Puts every value of `x` back at the position its max pool took it from; every other position
/// is zero.
///
/// With overlapping pooling windows two values can share a position; they are summed there.
/// (Kiln's encoders pool 2×2 with stride 2, where positions are unique.)
///
/// # Shapes
/// - x `[batch, channels, h, w]`: the pooled values (or anything of their shape)
/// - indices `[batch, channels, h, w]`: flat positions in the `output_size` plane, as returned by
///   `max_pool2d_with_indices`
/// - returns `[batch, channels, output_size[0], output_size[1]]`
///
/// # Panics
/// When `x` and `indices` differ in shape (a programming error, not a data error).
pub fn max_unpool2d(x: Tensor<4>, indices: Tensor<4, Int>, output_size: [usize; 2]) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    assert_eq!(
        indices.dims(),
        [b, c, h, w],
        "max_unpool2d: values and indices differ in shape"
    );
    let [oh, ow] = output_size;
    let zeros = Tensor::<3>::zeros([b, c, oh * ow], &x.device());
    zeros
        .scatter(
            2,
            indices.reshape([b, c, h * w]),
            x.reshape([b, c, h * w]),
            IndexingUpdateOp::Add,
        )
        .reshape([b, c, oh, ow])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData, module::max_pool2d_with_indices, ops::MaxPoolOptions};

    fn input(device: &Device) -> Tensor<4> {
        // One plane, 4×4, distinct values so that argmaxes are unambiguous.
        let v: Vec<f32> = vec![
            1., 5., 2., 0., //
            3., 4., 8., 7., //
            9., 0., 1., 1., //
            2., 6., 3., 4.,
        ];
        Tensor::from_data(TensorData::new(v, [1, 1, 4, 4]), device)
    }

    /// Forward: each pooled value returns to its argmax; zeros elsewhere.
    #[test]
    fn values_go_back_to_their_argmax() {
        let device = Device::flex();
        let (pooled, idx) = max_pool2d_with_indices(input(&device), MaxPoolOptions::new([2, 2]));
        assert_eq!(pooled.to_data().try_to_vec::<f32>().unwrap(), vec![5., 8., 9., 4.]);
        let out = max_unpool2d(pooled, idx, [4, 4]);
        let expected: Vec<f32> = vec![
            0., 5., 0., 0., //
            0., 0., 8., 0., //
            9., 0., 0., 0., //
            0., 0., 0., 4.,
        ];
        assert_eq!(out.to_data().try_to_vec::<f32>().unwrap(), expected);
    }

    /// Backward, checked numerically: d(sum(w ⊙ unpool(p)))/dp equals central differences, and
    /// is w at the argmax positions.
    #[test]
    fn gradient_routes_to_the_pooled_positions() {
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let (_, idx) = max_pool2d_with_indices(input(&device), MaxPoolOptions::new([2, 2]));
        let weights: Vec<f32> = (0..16).map(|i| (i as f32 + 1.0) * 0.1).collect();
        let w = Tensor::<4>::from_data(TensorData::new(weights.clone(), [1, 1, 4, 4]), &ad);
        let objective = |p: Tensor<4>, idx: Tensor<4, Int>| (max_unpool2d(p, idx, [4, 4]) * w.clone()).sum();

        let base = vec![0.3f32, -1.2, 2.0, 0.7];
        let p = Tensor::<4>::from_data(TensorData::new(base.clone(), [1, 1, 2, 2]), &ad).require_grad();
        let grads = objective(p.clone(), idx.clone().to_device(&ad)).backward();
        let analytic = p.grad(&grads).unwrap().to_data().try_to_vec::<f32>().unwrap();

        let eps = 1e-2f32;
        let f = |v: Vec<f32>| {
            let t = Tensor::<4>::from_data(TensorData::new(v, [1, 1, 2, 2]), &ad);
            objective(t, idx.clone().to_device(&ad)).into_scalar::<f32>()
        };
        for k in 0..4 {
            let (mut up, mut down) = (base.clone(), base.clone());
            up[k] += eps;
            down[k] -= eps;
            let numeric = (f(up) - f(down)) / (2.0 * eps);
            assert!(
                (numeric - analytic[k]).abs() < 1e-3,
                "element {k}: numeric {numeric}, analytic {}",
                analytic[k]
            );
        }
        // The argmax positions are 1, 6, 8, 15 → weights 0.2, 0.7, 0.9, 1.6.
        let expected = [0.2f32, 0.7, 0.9, 1.6];
        for (a, e) in analytic.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6, "{analytic:?}");
        }
    }
}
