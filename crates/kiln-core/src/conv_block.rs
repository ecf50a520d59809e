//! Convolution → optional BatchNorm → activation.

use crate::{Activation, Init};
use burn::{
    config::Config,
    module::Module,
    nn::{
        BatchNorm, BatchNormConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
    },
    tensor::{Device, Tensor},
};

/// Configuration of a [`ConvBnAct`] block.
#[derive(Config, Debug)]
pub struct ConvBnActConfig {
    /// `[in_channels, out_channels]`.
    pub channels: [usize; 2],
    /// `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// `[sh, sw]`.
    #[config(default = "[1, 1]")]
    pub stride: [usize; 2],
    /// `[ph, pw]`, symmetric zero padding (ignored when `same_padding` is set).
    #[config(default = "[0, 0]")]
    pub padding: [usize; 2],
    /// torchvision's `Conv2dNormActivation` padding: `(k - 1) / 2 · dilation` per side, which
    /// keeps the size at stride 1 for odd kernels.
    #[config(default = false)]
    pub same_padding: bool,
    /// Channel groups: 1 dense, `in_channels` depthwise. The weight is
    /// `[out, in / groups, kh, kw]`.
    #[config(default = 1)]
    pub groups: usize,
    /// Dilation of the kernel.
    #[config(default = "[1, 1]")]
    pub dilation: [usize; 2],
    /// Insert BatchNorm between the convolution and the activation (the convolution then has no
    /// bias, as BatchNorm's beta replaces it).
    #[config(default = true)]
    pub batch_norm: bool,
    /// BatchNorm epsilon (torchvision's Inception uses 1e-3).
    #[config(default = 1e-5)]
    pub eps: f64,
    /// BatchNorm momentum of the running statistics (PyTorch's convention; MobileNet V3 uses 0.01).
    #[config(default = 0.1)]
    pub momentum: f64,
    /// The non-linearity; `None` for a linear block.
    #[config(default = "Some(Activation::Relu)")]
    pub activation: Option<Activation>,
    /// Weight initialisation.
    #[config(default = "Init::Default")]
    pub init: Init,
}

/// Convolution, optional BatchNorm, optional activation: torchvision's `BasicConv2d` (whose field
/// names `conv`, `bn` it keeps, so that checkpoints map onto it by name) and, with `same_padding`
/// and `groups`, its `Conv2dNormActivation` (a `Sequential` whose keys `.0.` and `.1.` the
/// families' key rules rename to `.conv.` and `.bn.`).
#[derive(Module, Debug)]
pub struct ConvBnAct {
    /// The convolution; weight `[out, in, kh, kw]`.
    pub conv: Conv2d,
    /// BatchNorm over the output channels, when configured.
    pub bn: Option<BatchNorm>,
    /// The activation, when configured.
    #[module(skip)]
    pub activation: Option<Activation>,
}

impl ConvBnActConfig {
    /// Builds the block on `device`.
    pub fn init(&self, device: &Device) -> ConvBnAct {
        let [ph, pw] = if self.same_padding {
            [0, 1].map(|i| (self.kernel_size[i] - 1) / 2 * self.dilation[i])
        } else {
            self.padding
        };
        let conv = Conv2dConfig::new(self.channels, self.kernel_size)
            .with_stride(self.stride)
            .with_dilation(self.dilation)
            .with_groups(self.groups)
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .with_bias(!self.batch_norm)
            .with_initializer(self.init.initializer(self.activation.unwrap_or(Activation::Sigmoid)))
            .init(device);
        let bn = self.batch_norm.then(|| {
            BatchNormConfig::new(self.channels[1])
                .with_epsilon(self.eps)
                .with_momentum(self.momentum)
                .init(device)
        });
        ConvBnAct {
            conv,
            bn,
            activation: self.activation,
        }
    }
}

impl ConvBnAct {
    /// # Shapes
    /// - input `[batch, in, h, w]`
    /// - output `[batch, out, (h + 2ph - d(kh - 1) - 1) / sh + 1, likewise for w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = crate::trace::conv2d("conv", &self.conv, x);
        let x = match &self.bn {
            Some(bn) => crate::trace::batch_norm("bn", bn, x),
            None => x,
        };
        match self.activation {
            Some(a) => a.forward(x),
            None => x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace;

    /// The course's formula: N stacked 3×3 stride-1 convolutions see 2N + 1 pixels.
    #[test]
    fn stacked_3x3_receptive_field_is_2n_plus_1() {
        let device = Device::flex();
        let layers: Vec<ConvBnAct> = (0..6)
            .map(|_| ConvBnActConfig::new([2, 2], [3, 3]).with_padding([1, 1]).init(&device))
            .collect();
        let x = Tensor::<4>::zeros([1, 2, 32, 32], &device);
        let (y, records) = trace::collect(|| layers.iter().fold(x, |x, l| l.forward(x)));
        assert_eq!(y.dims(), [1, 2, 32, 32]);
        let convs: Vec<_> = records.iter().filter(|r| r.kind.starts_with("Conv2d")).collect();
        for (n, r) in convs.iter().enumerate() {
            let n = n + 1;
            assert_eq!(r.receptive_field, Some([2 * n + 1, 2 * n + 1]), "after {n} layers");
            assert_eq!(r.macs, (2 * 32 * 32 * 2 * 9) as u64);
        }
    }

    /// Dilation widens the kernel to d(k - 1) + 1 and stride multiplies the jump.
    #[test]
    fn strided_and_dilated_receptive_fields() {
        let device = Device::flex();
        let strided = ConvBnActConfig::new([1, 1], [3, 3]).with_stride([2, 2]).init(&device);
        let mut dilated = ConvBnActConfig::new([1, 1], [3, 3]).init(&device);
        dilated.conv.dilation = [2, 2];
        let x = Tensor::<4>::zeros([1, 1, 32, 32], &device);
        let (_, records) = trace::collect(|| dilated.forward(strided.forward(x)));
        // 3; then a 5-wide kernel at jump 2: 3 + 4·2 = 11.
        let rf: Vec<_> = records
            .iter()
            .filter(|r| r.kind.starts_with("Conv2d"))
            .map(|r| r.receptive_field)
            .collect();
        assert_eq!(rf, [Some([3, 3]), Some([11, 11])]);
    }

    /// Grouped and depthwise convolutions: weight `[out, in / groups, k, k]`, mult-adds
    /// `out · h · w · (in / groups) · k²`, padding `(k - 1) / 2 · d`, receptive field as a dense
    /// convolution of the same kernel.
    #[test]
    fn grouped_and_depthwise_convolutions() {
        let device = Device::flex();
        let depthwise = ConvBnActConfig::new([32, 32], [3, 3])
            .with_groups(32)
            .with_same_padding(true)
            .with_stride([2, 2])
            .init(&device);
        let grouped = ConvBnActConfig::new([32, 64], [5, 5])
            .with_groups(4)
            .with_same_padding(true)
            .with_dilation([2, 2])
            .init(&device);
        assert_eq!(depthwise.conv.weight.dims(), [32, 1, 3, 3]);
        assert_eq!(grouped.conv.weight.dims(), [64, 8, 5, 5]);
        let x = Tensor::<4>::zeros([1, 32, 16, 16], &device);
        let (y, records) = trace::collect(|| grouped.forward(depthwise.forward(x)));
        assert_eq!(y.dims(), [1, 64, 8, 8]);
        let convs: Vec<_> = records.iter().filter(|r| r.kind.starts_with("Conv2d")).collect();
        assert_eq!(convs[0].macs, 32 * 8 * 8 * 9);
        assert_eq!(convs[1].macs, 64 * 8 * 8 * 8 * 25);
        // 3; then a dilated 5×5 (9 wide) at jump 2: 3 + 8·2 = 19.
        assert_eq!(convs[0].receptive_field, Some([3, 3]));
        assert_eq!(convs[1].receptive_field, Some([19, 19]));
    }

    /// The grouped convolution computes each group from its own input channels only.
    #[test]
    fn groups_are_independent() {
        let device = Device::flex();
        let conv = ConvBnActConfig::new([4, 4], [1, 1])
            .with_groups(2)
            .with_batch_norm(false)
            .with_activation(None)
            .init(&device);
        // Input channel values 1, 2 (group 0) and 0, 0 (group 1): group 1's outputs are its bias.
        let x = Tensor::<1>::from_floats([1.0, 2.0, 0.0, 0.0], &device).reshape([1, 4, 1, 1]);
        let y: Vec<f32> = conv.forward(x).into_data().try_to_vec::<f32>().unwrap();
        let b: Vec<f32> = conv
            .conv
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(&y[2..], &b[2..]);
        let w: Vec<f32> = conv.conv.weight.val().into_data().try_to_vec::<f32>().unwrap(); // [4, 2, 1, 1]
        assert!((y[0] - (w[0] + 2.0 * w[1] + b[0])).abs() < 1e-5);
    }
}
