//! The course's lessons, checked numerically.

use burn::tensor::{
    Tensor, TensorData,
    module::max_pool2d,
    ops::MaxPoolOptions,
};

fn pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

/// "Maximum is not a differentiable function, so there is no gradient with respect to
/// non-maximum neurons": the backward pass of max pooling sends each output's gradient to the
/// input that was the maximum of its window and nothing to the others. Checked against central
/// finite differences of the pooled sum, input by input.
#[test]
fn max_pool_gradient_goes_only_to_the_maximum() {
    let device = super::common::device().autodiff();
    #[rustfmt::skip]
    let values: Vec<f32> = vec![
        1.0, 5.0,   2.0, 0.5,
        3.0, 4.0,   7.0, 6.0,

        -1.0, -2.0, 9.0, 8.0,
        -3.0, -0.5, 1.0, 2.0,
    ];
    let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [1, 1, 4, 4]), &device).require_grad();
    // Weight each window's output differently so that a gradient sent to the wrong place shows.
    let w = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &device);
    let loss = (pool(x.clone()) * w.clone()).sum();
    let grads = loss.backward();
    let analytic: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();

    // The gradient is the window's weight at the argmax, zero elsewhere.
    #[rustfmt::skip]
    let expected = vec![
        0.0, 1.0,   0.0, 0.0,
        0.0, 0.0,   2.0, 0.0,

        0.0, 0.0,   4.0, 0.0,
        0.0, 3.0,   0.0, 0.0,
    ];
    assert_eq!(analytic, expected);

    // Central differences on the plain (non-autodiff) device.
    let plain = super::common::device();
    let f = |v: &[f32]| -> f32 {
        let t = Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, 4, 4]), &plain);
        let w = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &plain);
        (pool(t) * w).sum().into_scalar::<f32>()
    };
    let h = 1e-2;
    for i in 0..values.len() {
        let (mut up, mut down) = (values.clone(), values.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (f(&up) - f(&down)) / (2.0 * h);
        assert!(
            (numeric - analytic[i]).abs() < 1e-3,
            "input {i}: finite difference {numeric}, autodiff {}",
            analytic[i]
        );
    }
}
