//! DenseNet's building blocks in torchvision's pre-activation order (BatchNorm → ReLU →
//! convolution): the dense layer (`_DenseLayer`), the dense block (`_DenseBlock`) and the
//! transition (`_Transition`).

use burn::{
    module::Module,
    nn::{
        BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
        pool::{AvgPool2d, AvgPool2dConfig},
    },
    tensor::{Device, Tensor, activation::relu},
};
use kiln_core::trace;

/// A bias-free `k×k` convolution with padding `k / 2`, drawn as torchvision's DenseNet draws
/// every convolution: `kaiming_normal_` with its defaults (fan-in, gain √2), std `√(2 / fan_in)`.
pub(crate) fn conv(in_c: usize, out_c: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([in_c, out_c], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: 2f64.sqrt(),
            fan_out_only: false,
        })
        .init(device)
}

/// PyTorch's `BatchNorm2d` defaults (eps 1e-5, momentum 0.1, weight 1, bias 0), which are Burn's.
pub(crate) fn bn(c: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(c).init(device)
}

/// torchvision's `_DenseLayer`: BatchNorm, ReLU, 1×1 convolution to `bn_size · growth_rate`
/// channels (the bottleneck), BatchNorm, ReLU, 3×3 convolution to `growth_rate` channels, and
/// dropout when `drop_rate > 0`. Its input is the concatenation of the block input and every
/// earlier layer's output; it returns only its `growth_rate` new channels.
///
/// Field names equal torchvision's modern keys (`norm1`, `conv1`, `norm2`, `conv2`); the
/// published checkpoints' legacy `norm.1`, `conv.2` … are renamed by the key rules.
#[derive(Module, Debug)]
pub struct DenseLayer {
    /// BatchNorm of the concatenated input.
    pub norm1: BatchNorm,
    /// 1×1, `in → bn_size · growth_rate`.
    pub conv1: Conv2d,
    /// BatchNorm of the bottleneck.
    pub norm2: BatchNorm,
    /// 3×3, `bn_size · growth_rate → growth_rate`.
    pub conv2: Conv2d,
    /// `F.dropout(p = drop_rate)` on the new features (training only); `None` when
    /// `drop_rate` is 0, as in every torchvision builder.
    pub dropout: Option<Dropout>,
}

impl DenseLayer {
    /// The layer reading `in_c` channels.
    pub fn new(in_c: usize, growth_rate: usize, bn_size: usize, drop_rate: f64, device: &Device) -> Self {
        let mid = bn_size * growth_rate;
        Self {
            norm1: bn(in_c, device),
            conv1: conv(in_c, mid, 1, 1, device),
            norm2: bn(mid, device),
            conv2: conv(mid, growth_rate, 3, 1, device),
            dropout: (drop_rate > 0.0).then(|| DropoutConfig::new(drop_rate).init()),
        }
    }

    /// The new features (traced as `norm1`, `conv1`, `norm2`, `conv2`).
    ///
    /// # Shapes
    /// `[b, in, h, w]` → `[b, growth_rate, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(trace::batch_norm("norm1", &self.norm1, x)); // [b, in, h, w]
        let x = trace::conv2d("conv1", &self.conv1, x); // [b, bn_size·k, h, w]
        let x = relu(trace::batch_norm("norm2", &self.norm2, x));
        let x = trace::conv2d("conv2", &self.conv2, x); // [b, k, h, w]
        match &self.dropout {
            Some(d) => d.forward(x),
            None => x,
        }
    }
}

/// torchvision's `_DenseBlock`: `num_layers` dense layers, layer `i` reading
/// `in + i · growth_rate` channels; the output is the input concatenated with every layer's new
/// features, `in + num_layers · growth_rate` channels.
///
/// torchvision keeps the list of feature maps and concatenates it anew before each layer (and
/// once more at the end); here the running concatenation grows by one layer's features at a
/// time, which gives the same tensors (same order: input first, then layer 1, 2, …) with one
/// concatenation per layer.
#[derive(Module, Debug)]
pub struct DenseBlock {
    /// `denselayer1` … `denselayerN` of torchvision.
    pub layers: Vec<DenseLayer>,
}

impl DenseBlock {
    /// The block reading `in_c` channels.
    pub fn new(
        num_layers: usize,
        in_c: usize,
        growth_rate: usize,
        bn_size: usize,
        drop_rate: f64,
        device: &Device,
    ) -> Self {
        let layers = (0..num_layers)
            .map(|i| DenseLayer::new(in_c + i * growth_rate, growth_rate, bn_size, drop_rate, device))
            .collect();
        Self { layers }
    }

    /// Each layer traced as `denselayer{i + 1}`; the concatenation is the join of two parallel
    /// paths, the identity and the layer.
    ///
    /// # Shapes
    /// `[b, in, h, w]` → `[b, in + num_layers · growth_rate, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.layers.iter().enumerate().fold(x, |x, (i, layer)| {
            trace::scope(&format!("denselayer{}", i + 1), || {
                let mut paths = trace::branches();
                let new = paths.run(|| layer.forward(x.clone())); // [b, k, h, w]
                let x = paths.run(|| x);
                paths.join();
                Tensor::cat(vec![x, new], 1) // [b, c + k, h, w]
            })
        })
    }
}

/// torchvision's `_Transition`: BatchNorm, ReLU, 1×1 convolution to `out` channels (half the
/// input in every builder), 2×2 average pooling with stride 2 (floor, as PyTorch's default).
#[derive(Module, Debug)]
pub struct Transition {
    /// BatchNorm of the block output.
    pub norm: BatchNorm,
    /// 1×1, `in → out`.
    pub conv: Conv2d,
    /// 2×2/2 average pooling.
    pub pool: AvgPool2d,
}

impl Transition {
    /// The transition from `in_c` to `out_c` channels.
    pub fn new(in_c: usize, out_c: usize, device: &Device) -> Self {
        Self {
            norm: bn(in_c, device),
            conv: conv(in_c, out_c, 1, 1, device),
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }

    /// Traced as `norm`, `conv`, `pool`.
    ///
    /// # Shapes
    /// `[b, in, h, w]` → `[b, out, ⌊h / 2⌋, ⌊w / 2⌋]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(trace::batch_norm("norm", &self.norm, x));
        let x = trace::conv2d("conv", &self.conv, x); // [b, out, h, w]
        trace::avg_pool2d("pool", &self.pool, x) // [b, out, h/2, w/2]
    }
}
