//! Reading a tensor's values back as a Rust vector.

use burn::tensor::{Int, Tensor};

/// The values of a float tensor, row-major.
pub fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("a converted float tensor reads back as f32")
}

/// The values of an integer tensor, row-major.
pub fn ints<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec()
        .expect("a converted int tensor reads back as i64")
}
