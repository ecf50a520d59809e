//! ConvNeXt's building blocks: the block (torchvision's `CNBlock`), the patchify stem and the
//! downsampling layers between stages, with torchvision's initialisation.

use crate::norm::{layer_norm, layer_norm_2d};
use burn::{
    module::{Module, Param},
    nn::{
        Initializer, LayerNorm, Linear, LinearConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
    },
    tensor::{Device, Tensor, activation::gelu},
};
use kiln_core::{layers::StochasticDepth, trace};

/// Standard deviation of the convolution and linear weights (torchvision's
/// `trunc_normal_(std=0.02)`, drawn here without truncation: PyTorch's bounds ±2 are ±100σ).
pub const WEIGHT_STD: f64 = 0.02;

/// Hidden width of the block's MLP, in multiples of its channels.
pub const MLP_RATIO: usize = 4;

fn weight_init() -> Initializer {
    Initializer::Normal {
        mean: 0.0,
        std: WEIGHT_STD,
    }
}

/// A `k×k` convolution with bias, initialised as torchvision does (weights N(0, 0.02²), zero bias).
pub(crate) fn conv(
    in_c: usize,
    out_c: usize,
    k: usize,
    stride: usize,
    padding: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    let mut conv = Conv2dConfig::new([in_c, out_c], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
        .with_groups(groups)
        .with_initializer(weight_init())
        .init(device);
    conv.bias = Some(Initializer::Zeros.init([out_c], device));
    conv
}

/// A linear layer initialised as torchvision does (weights N(0, 0.02²), zero bias).
pub(crate) fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, d_out)
        .with_initializer(weight_init())
        .init(device);
    linear.bias = Some(Initializer::Zeros.init([d_out], device));
    linear
}

/// The ConvNeXt block (torchvision's `CNBlock`): a residual branch of 7×7 depthwise convolution,
/// LayerNorm over channels, `dim → 4·dim` linear, GELU (exact, erf), `4·dim → dim` linear, scaled
/// per channel by `layer_scale` and dropped per sample by stochastic depth in training; the input
/// is added.
///
/// torchvision holds the branch in a `Sequential` `block` (0 convolution, 1 permute to NHWC,
/// 2 LayerNorm, 3 linear, 4 GELU, 5 linear, 6 permute back); here the layers with parameters are
/// named fields (the names of the ConvNeXt authors' code), and the key rules rename. The linear
/// layers act on each pixel's channel vector of the NHWC tensor, which is a 1×1 convolution.
#[derive(Module, Debug)]
pub struct CNBlock {
    /// `block.0`: 7×7 depthwise convolution with bias, padding 3.
    pub dwconv: Conv2d,
    /// `block.2`: LayerNorm over the channels, eps 1e-6.
    pub norm: LayerNorm,
    /// `block.3`: `dim → 4·dim`, per pixel.
    pub pwconv1: Linear,
    /// `block.5`: `4·dim → dim`, per pixel.
    pub pwconv2: Linear,
    /// `layer_scale`: per-channel scale of the branch, `[dim, 1, 1]`, initialised to the
    /// configuration's `layer_scale` (1e-6).
    pub layer_scale: Param<Tensor<3>>,
    /// Stochastic depth ("row" mode: whole samples), identity in evaluation.
    pub stochastic_depth: StochasticDepth,
}

impl CNBlock {
    /// A block of `dim` channels whose branch starts scaled by `layer_scale` and is dropped with
    /// probability `stochastic_depth_prob` in training.
    ///
    /// # Panics
    /// When `stochastic_depth_prob` is not in `[0, 1)`.
    pub fn new(dim: usize, layer_scale: f64, stochastic_depth_prob: f64, device: &Device) -> Self {
        Self {
            dwconv: conv(dim, dim, 7, 1, 3, dim, device),
            norm: layer_norm(dim, device),
            pwconv1: linear(dim, MLP_RATIO * dim, device),
            pwconv2: linear(MLP_RATIO * dim, dim, device),
            layer_scale: Initializer::Constant { value: layer_scale }.init([dim, 1, 1], device),
            stochastic_depth: StochasticDepth::new(stochastic_depth_prob),
        }
    }

    /// torchvision's `block` `Sequential`, traced under its positions.
    ///
    /// # Shapes
    /// `[b, dim, h, w]` → `[b, dim, h, w]`
    fn branch(&self, x: Tensor<4>) -> Tensor<4> {
        trace::scope("block", || {
            let x = trace::conv2d("0", &self.dwconv, x); // [b, dim, h, w]
            let x = x.permute([0, 2, 3, 1]); // block.1: [b, h, w, dim]
            let x = trace::layer_norm("2", &self.norm, x); // [b, h, w, dim]
            let x = trace::linear_nd("3", &self.pwconv1, x); // [b, h, w, 4·dim]
            let x = gelu(x); // block.4
            let x = trace::linear_nd("5", &self.pwconv2, x); // [b, h, w, dim]
            x.permute([0, 3, 1, 2]) // block.6: [b, dim, h, w]
        })
    }

    /// `input + stochastic_depth(layer_scale · block(input))`.
    ///
    /// # Shapes
    /// `[b, dim, h, w]` → `[b, dim, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut paths = trace::branches();
        let residual = paths.run(|| {
            let scale = self.layer_scale.val().unsqueeze::<4>(); // [1, dim, 1, 1]
            self.stochastic_depth.forward(self.branch(x.clone()) * scale) // [b, dim, h, w]
        });
        let identity = paths.run(|| x);
        paths.join();
        residual + identity
    }
}

/// The patchify stem (`features.0`, torchvision's `Conv2dNormActivation` without activation):
/// 4×4 convolution with stride 4 and bias, then LayerNorm over channels.
#[derive(Module, Debug)]
pub struct Stem {
    /// `features.0.0`: `in_channels → dim`, 4×4/4, no padding.
    pub conv: Conv2d,
    /// `features.0.1`: LayerNorm2d, eps 1e-6.
    pub norm: LayerNorm,
}

impl Stem {
    /// The stem from `in_channels` to `dim` channels.
    pub fn new(in_channels: usize, dim: usize, device: &Device) -> Self {
        Self {
            conv: conv(in_channels, dim, 4, 4, 0, 1, device),
            norm: layer_norm(dim, device),
        }
    }

    /// Traced as `0` (convolution) and `1` (LayerNorm2d), its positions in torchvision.
    ///
    /// # Shapes
    /// `[b, in_channels, h, w]` → `[b, dim, ⌊h / 4⌋, ⌊w / 4⌋]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = trace::conv2d("0", &self.conv, x); // [b, dim, h/4, w/4]
        layer_norm_2d("1", &self.norm, x)
    }
}

/// The downsampling layer between two stages (`features.2`, `.4`, `.6`): LayerNorm over
/// channels, then a 2×2 convolution with stride 2 and bias.
#[derive(Module, Debug)]
pub struct Downsample {
    /// `….0`: LayerNorm2d over the input channels, eps 1e-6.
    pub norm: LayerNorm,
    /// `….1`: `in → out`, 2×2/2, no padding.
    pub conv: Conv2d,
}

impl Downsample {
    /// The layer from `in_c` to `out_c` channels.
    pub fn new(in_c: usize, out_c: usize, device: &Device) -> Self {
        Self {
            norm: layer_norm(in_c, device),
            conv: conv(in_c, out_c, 2, 2, 0, 1, device),
        }
    }

    /// Traced as `0` (LayerNorm2d) and `1` (convolution).
    ///
    /// # Shapes
    /// `[b, in, h, w]` → `[b, out, ⌊h / 2⌋, ⌊w / 2⌋]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = layer_norm_2d("0", &self.norm, x); // [b, in, h, w]
        trace::conv2d("1", &self.conv, x) // [b, out, h/2, w/2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use kiln_core::floats;

    /// Deterministic test values, the same formula as the Python that produced the expected
    /// outputs: `(((i·37 + a) mod 23) - 11) / 10 · scale`.
    fn seq(n: usize, a: usize, scale: f64) -> Vec<f32> {
        (0..n)
            .map(|i| ((((i * 37 + a) % 23) as f64 - 11.0) / 10.0 * scale) as f32)
            .collect()
    }

    fn param<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
        Param::from_tensor(Tensor::<D>::from_data(TensorData::new(values, shape), device))
    }

    /// A block of 4 channels whose parameters are set from [`seq`], torchvision's layout
    /// (linear weights `[out, in]`, transposed here as the importer does).
    fn block_with_known_weights(device: &Device) -> CNBlock {
        let d = 4;
        let mut b = CNBlock::new(d, 1e-6, 0.0, device);
        b.dwconv.weight = param(seq(d * 49, 2, 0.2), [d, 1, 7, 7], device);
        b.dwconv.bias = Some(param(seq(d, 3, 1.0), [d], device));
        b.norm.gamma = param(seq(d, 4, 1.0).iter().map(|v| v + 1.5).collect(), [d], device);
        b.norm.beta = Some(param(seq(d, 5, 1.0), [d], device));
        let w1 = Tensor::<2>::from_data(TensorData::new(seq(4 * d * d, 6, 0.5), [4 * d, d]), device);
        b.pwconv1.weight = Param::from_tensor(w1.transpose());
        b.pwconv1.bias = Some(param(seq(4 * d, 7, 1.0), [4 * d], device));
        let w2 = Tensor::<2>::from_data(TensorData::new(seq(4 * d * d, 8, 0.5), [d, 4 * d]), device);
        b.pwconv2.weight = Param::from_tensor(w2.transpose());
        b.pwconv2.bias = Some(param(seq(d, 9, 1.0), [d], device));
        b.layer_scale = param(seq(d, 10, 1.0).iter().map(|v| v + 1.5).collect(), [d, 1, 1], device);
        b
    }

    /// The whole block against torchvision's `CNBlock(4, 1e-6, 0.0)` in evaluation, with the
    /// same parameters and input (computed in float64 by PyTorch 2 / torchvision 0.2x).
    #[test]
    fn matches_torchvision_cnblock() {
        let device = Device::flex();
        let block = block_with_known_weights(&device);
        let x = Tensor::<4>::from_data(TensorData::new(seq(36, 1, 1.0), [1, 4, 3, 3]), &device);
        let y = floats(block.forward(x));
        let expected: [f64; 36] = [
            3.039336, 2.679539, 2.809015, 4.048791, 3.770651, 1.577051, 2.856717, 3.103638, 4.452797, -0.592766,
            -1.198813, 0.075552, -0.797243, 0.459072, -0.206283, -1.097542, 0.125443, -0.775398, -5.779587, -2.806458,
            -3.969111, -2.482203, -4.653102, -4.237362, -2.760153, -4.3592, -3.258648, -3.101179, -3.774873, -2.120527,
            -3.002943, -2.120797, -2.714683, -3.64187, -2.219591, -3.287934,
        ];
        assert_eq!(y.len(), expected.len());
        for (i, (a, e)) in y.iter().zip(expected).enumerate() {
            assert!((*a as f64 - e).abs() < 1e-3, "element {i}: {a} vs torchvision {e}");
        }
    }

    /// The layer scale multiplies the branch per channel (axis 1 of NCHW): a zero scale leaves
    /// the input, and doubling a channel's scale doubles that channel's residual.
    #[test]
    fn layer_scale_scales_the_branch_per_channel() {
        let device = Device::flex();
        let mut block = block_with_known_weights(&device);
        let x = Tensor::<4>::from_data(TensorData::new(seq(36, 1, 1.0), [1, 4, 3, 3]), &device);
        let input = floats(x.clone());

        block.layer_scale = param(vec![1.0; 4], [4, 1, 1], &device);
        let unit: Vec<f32> = floats(block.forward(x.clone()));
        block.layer_scale = param(vec![0.0, 2.0, 1.0, 0.0], [4, 1, 1], &device);
        let scaled: Vec<f32> = floats(block.forward(x.clone()));
        for (c, factor) in [0.0f32, 2.0, 1.0, 0.0].into_iter().enumerate() {
            for p in 0..9 {
                let i = c * 9 + p;
                let want = input[i] + factor * (unit[i] - input[i]);
                assert!((scaled[i] - want).abs() < 1e-4, "channel {c}: {} vs {want}", scaled[i]);
            }
        }

        block.layer_scale = param(vec![0.0; 4], [4, 1, 1], &device);
        assert_eq!(floats(block.forward(x)), input);
    }

    /// torchvision's initial values: layer scale 1e-6 everywhere, zero biases, LayerNorm
    /// weight 1 and bias 0.
    #[test]
    fn initial_values_as_torchvision() {
        let device = Device::flex();
        let block = CNBlock::new(8, 1e-6, 0.0, &device);
        assert_eq!(block.layer_scale.val().dims(), [8, 1, 1]);
        assert!(
            floats(block.layer_scale.val())
                .iter()
                .all(|v| (*v as f64 - 1e-6).abs() < 1e-12)
        );
        for bias in [&block.dwconv.bias, &block.pwconv1.bias, &block.pwconv2.bias] {
            assert!(floats(bias.as_ref().unwrap().val()).iter().all(|v| *v == 0.0));
        }
        assert!(floats(block.norm.gamma.val()).iter().all(|v| *v == 1.0));
        assert_eq!(block.dwconv.weight.val().dims(), [8, 1, 7, 7]);
        assert_eq!(block.pwconv1.weight.val().dims(), [8, 32]);
        let w = floats(block.pwconv1.weight.val());
        let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
        assert!((0.01..0.03).contains(&std), "weight std {std}");
    }

    /// Stem and downsampling shapes (floor division, no padding).
    #[test]
    fn stem_and_downsample_shapes() {
        let device = Device::flex();
        let x = Tensor::<4>::zeros([2, 3, 66, 64], &device);
        let y = Stem::new(3, 8, &device).forward(x);
        assert_eq!(y.dims(), [2, 8, 16, 16]);
        let y = Downsample::new(8, 16, &device).forward(y);
        assert_eq!(y.dims(), [2, 16, 8, 8]);
    }
}
