//! torchvision's `LayerNorm2d`: a LayerNorm over the channels of an NCHW tensor (eps 1e-6).
//!
//! ConvNeXt normalises each pixel's channel vector (not each channel over the image, as
//! BatchNorm does). Burn's [`LayerNorm`] normalises the last axis, so the NCHW tensor is permuted
//! to NHWC around it, as torchvision does. The parameters are Burn's `gamma`/`beta`; the PyTorch
//! adapter of the importer renames torchvision's `weight`/`bias` onto them.

use burn::{
    nn::{LayerNorm, LayerNormConfig},
    tensor::{Device, Tensor},
};
use kiln_core::trace;

/// ConvNeXt's LayerNorm epsilon (torchvision's `eps=1e-6`; PyTorch's and Burn's default is 1e-5).
pub const LAYER_NORM_EPS: f64 = 1e-6;

/// A LayerNorm over `dim` features with eps [`LAYER_NORM_EPS`], weight ones and bias zeros
/// (PyTorch's initialisation of `nn.LayerNorm`).
pub fn layer_norm(dim: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(dim).with_epsilon(LAYER_NORM_EPS).init(device)
}

/// torchvision's `LayerNorm2d.forward`, traced as `name`: permute to channels-last, normalise
/// each position's `c` channels, permute back. The trace records the channels-last shape the
/// normalisation sees (`[h, w, c]`).
///
/// # Shapes
/// `[b, c, h, w]` → `[b, c, h, w]`
pub fn layer_norm_2d(name: &str, norm: &LayerNorm, x: Tensor<4>) -> Tensor<4> {
    let x = x.permute([0, 2, 3, 1]); // [b, h, w, c]
    let x = trace::layer_norm(name, norm, x); // [b, h, w, c]
    x.permute([0, 3, 1, 2]) // [b, c, h, w]
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::{module::Param, tensor::TensorData};
    use kiln_core::floats;

    fn close(actual: &[f32], expected: &[f32], tol: f32) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() <= tol, "element {i}: {a} vs {e} (all: {actual:?})");
        }
    }

    /// Two channels, one row of two pixels. Pixel 0 holds channels (1, 3), pixel 1 holds (0, 4):
    /// each has its own mean (2) and biased variance (1, 4), so both normalise to (-1, 1), up to
    /// eps. Normalising over the width instead would give channel 0 (1, 0) → (1, -1).
    #[test]
    fn normalises_each_pixel_over_its_channels() {
        let device = Device::flex();
        let x = || Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 0.0, 3.0, 4.0], [1, 2, 1, 2]), &device);
        let mut norm = layer_norm(2, &device);
        let y = floats(layer_norm_2d("norm", &norm, x()));
        // NCHW: channel 0 of both pixels, then channel 1.
        close(&y, &[-1.0, -1.0, 1.0, 1.0], 1e-5);

        // weight (2, 3) and bias (0.5, -1) act per channel: channel 0 → -2 + 0.5, channel 1 → 3 - 1.
        norm.gamma = Param::from_tensor(Tensor::<1>::from_data(TensorData::new(vec![2.0f32, 3.0], [2]), &device));
        norm.beta = Some(Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(vec![0.5f32, -1.0], [2]),
            &device,
        )));
        let y = floats(layer_norm_2d("norm", &norm, x()));
        close(&y, &[-1.5, -1.5, 2.0, 2.0], 1e-5);
    }

    /// eps is torchvision's 1e-6: a pixel whose channels are 0 and 2e-3 (variance 1e-6)
    /// normalises to ±1/√2 rather than to ±1 (eps 0) or ±0.3015 (Burn's default 1e-5).
    #[test]
    fn uses_torchvision_epsilon() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 2e-3], [1, 2, 1, 1]), &device);
        let y = floats(layer_norm_2d("norm", &layer_norm(2, &device), x));
        let r = std::f32::consts::FRAC_1_SQRT_2;
        close(&y, &[-r, r], 1e-3);
    }
}
