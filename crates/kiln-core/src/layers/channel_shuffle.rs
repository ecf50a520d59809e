//! ShuffleNet's channel shuffle.

use burn::tensor::Tensor;

/// Interleaves the channels of `groups` groups (torchvision's `channel_shuffle`): channel
/// `g · (c / groups) + i` moves to `i · groups + g`, so that the next grouped convolution sees
/// every group.
///
/// # Shapes
/// `[b, c, h, w]` → `[b, c, h, w]`, `c` divisible by `groups`
pub fn channel_shuffle(x: Tensor<4>, groups: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    assert!(
        groups > 0 && c % groups == 0,
        "channel_shuffle: {c} channels do not split into {groups} groups"
    );
    x.reshape([b, groups, c / groups, h * w])
        .swap_dims(1, 2)
        .reshape([b, c, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn two_groups_interleave() {
        let device = Device::flex();
        // Channel k holds the value k.
        let x = Tensor::<1>::from_data(TensorData::new((0..6).map(|v| v as f32).collect(), [6]), &device)
            .reshape([1, 6, 1, 1]);
        let y: Vec<f32> = channel_shuffle(x.clone(), 2).into_data().try_to_vec::<f32>().unwrap();
        // torch: x.view(1, 2, 3, 1, 1).transpose(1, 2).reshape(1, 6, 1, 1) → 0 3 1 4 2 5
        assert_eq!(y, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let y: Vec<f32> = channel_shuffle(x, 3).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
    }
}
