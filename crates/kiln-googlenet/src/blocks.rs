//! GoogLeNet's building blocks, named as torchvision names them: `BasicConv2d` (a
//! [`ConvBnAct`]), the four-branch [`Inception`] block and the auxiliary classifier
//! [`InceptionAux`].

use burn::{
    module::Module,
    nn::{
        Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor, activation},
};
use kiln_core::{ConvBnAct, ConvBnActConfig, trace};

/// torchvision's initialisation of every convolution and linear weight:
/// `trunc_normal_(std=0.01, a=-2, b=2)`. Its bounds are absolute values, ±200 standard
/// deviations, so the truncation never acts and Burn's untruncated normal draws from the same
/// distribution.
pub const WEIGHT_INIT: Initializer = Initializer::Normal { mean: 0.0, std: 0.01 };

/// torchvision's `BasicConv2d`: a bias-free `k×k` convolution (stride `stride`, zero padding
/// `pad`), BatchNorm with eps 0.001 (momentum 0.1, gamma 1, beta 0) and ReLU; fields `conv` and
/// `bn` as torchvision's, so that checkpoints map onto it by name. The weight is drawn from
/// [`WEIGHT_INIT`].
pub(crate) fn basic_conv(in_c: usize, out_c: usize, k: usize, stride: usize, pad: usize, device: &Device) -> ConvBnAct {
    let mut block = ConvBnActConfig::new([in_c, out_c], [k, k])
        .with_stride([stride, stride])
        .with_padding([pad, pad])
        .with_eps(1e-3)
        .init(device);
    block.conv.weight = WEIGHT_INIT.init([out_c, in_c, k, k], device);
    block
}

/// A linear layer initialised as torchvision's GoogLeNet: weight from [`WEIGHT_INIT`], bias
/// left at PyTorch's default `U(-1/√d_in, 1/√d_in)` (torchvision's loop touches only weights).
pub(crate) fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_in, d_out)
        .with_initializer(WEIGHT_INIT)
        .init(device);
    let bound = 1.0 / (d_in as f64).sqrt();
    layer.bias = Some(
        Initializer::Uniform {
            min: -bound,
            max: bound,
        }
        .init([d_out], device),
    );
    layer
}

/// The channels of one Inception block: torchvision's `Inception(in_channels, ch1x1, ch3x3red,
/// ch3x3, ch5x5red, ch5x5, pool_proj)` arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InceptionSpec {
    /// The block's name in the model (`inception3a`).
    pub name: &'static str,
    /// Input channels.
    pub in_channels: usize,
    /// Branch 1: 1×1 output.
    pub ch1x1: usize,
    /// Branch 2: 1×1 reduction before the 3×3.
    pub ch3x3red: usize,
    /// Branch 2: 3×3 output.
    pub ch3x3: usize,
    /// Branch 3: 1×1 reduction before the paper's 5×5 (a 3×3 in torchvision, see [`Inception`]).
    pub ch5x5red: usize,
    /// Branch 3: output.
    pub ch5x5: usize,
    /// Branch 4: 1×1 projection after 3×3 max pooling.
    pub pool_proj: usize,
}

impl InceptionSpec {
    /// Output channels: the four branches concatenated.
    pub const fn out_channels(&self) -> usize {
        self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj
    }

    /// Builds the block.
    pub fn init(&self, device: &Device) -> Inception {
        let (c, d) = (self.in_channels, device);
        Inception {
            branch1: basic_conv(c, self.ch1x1, 1, 1, 0, d),
            branch2: vec![
                basic_conv(c, self.ch3x3red, 1, 1, 0, d),
                basic_conv(self.ch3x3red, self.ch3x3, 3, 1, 1, d),
            ],
            branch3: vec![
                basic_conv(c, self.ch5x5red, 1, 1, 0, d),
                // torchvision's kernel_size=3 where the paper has 5×5 (pytorch/vision#906).
                basic_conv(self.ch5x5red, self.ch5x5, 3, 1, 1, d),
            ],
            branch4_pool: MaxPool2dConfig::new([3, 3])
                .with_strides([1, 1])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            branch4: basic_conv(c, self.pool_proj, 1, 1, 0, d),
        }
    }
}

/// GoogLeNet's Inception block: four parallel branches concatenated along the channels.
///
/// | branch | torchvision keys | layers |
/// |---|---|---|
/// | `branch1` | `branch1` | 1×1 → `ch1x1` |
/// | `branch2` | `branch2.0`, `branch2.1` | 1×1 → `ch3x3red`, 3×3 → `ch3x3` |
/// | `branch3` | `branch3.0`, `branch3.1` | 1×1 → `ch5x5red`, **3×3** → `ch5x5` |
/// | `branch4_pool`, `branch4` | `branch4.0`, `branch4.1` | max pool 3×3/1 pad 1, 1×1 → `pool_proj` |
///
/// `branch3`'s second convolution is 3×3, not the paper's 5×5: a known torchvision bug
/// (pytorch/vision#906) kept for compatibility with its published weights, which were trained
/// with it. Kiln matches torchvision, so the weights load.
///
/// torchvision's `branch4` pool has `ceil_mode=True`; at stride 1 with padding 1, ceil and
/// floor give the same size, so it is built in floor mode, which lets Kiln's own max-pool kernel
/// run it on `flex`.
#[derive(Module, Debug)]
pub struct Inception {
    /// 1×1 convolution.
    pub branch1: ConvBnAct,
    /// 1×1 reduction, 3×3 convolution.
    pub branch2: Vec<ConvBnAct>,
    /// 1×1 reduction, 3×3 convolution (torchvision's "5×5" branch).
    pub branch3: Vec<ConvBnAct>,
    /// 3×3 stride-1 max pooling with padding 1 (torchvision's `branch4.0`).
    pub branch4_pool: MaxPool2d,
    /// 1×1 projection after the pooling (torchvision's `branch4.1`).
    pub branch4: ConvBnAct,
}

/// `block.forward(x)` traced under `name`.
pub(crate) fn run(name: &str, block: &ConvBnAct, x: Tensor<4>) -> Tensor<4> {
    trace::scope(name, || block.forward(x))
}

/// A `Sequential` of convolutions, traced under their positions (`branch2.0`, `branch2.1`).
fn run_seq(name: &str, blocks: &[ConvBnAct], x: Tensor<4>) -> Tensor<4> {
    trace::scope(name, || {
        blocks
            .iter()
            .enumerate()
            .fold(x, |x, (i, block)| run(&i.to_string(), block, x))
    })
}

impl Inception {
    /// # Shapes
    /// `[b, in_channels, h, w]` → `[b, ch1x1 + ch3x3 + ch5x5 + pool_proj, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut br = trace::branches();
        let b1 = br.run(|| run("branch1", &self.branch1, x.clone()));
        let b2 = br.run(|| run_seq("branch2", &self.branch2, x.clone()));
        let b3 = br.run(|| run_seq("branch3", &self.branch3, x.clone()));
        let b4 = br.run(|| {
            trace::scope("branch4", || {
                let y = trace::max_pool2d("0", &self.branch4_pool, x);
                run("1", &self.branch4, y)
            })
        });
        br.join();
        Tensor::cat(vec![b1, b2, b3, b4], 1)
    }
}

/// torchvision's `InceptionAux`: adaptive average pooling to 4×4, `BasicConv2d` 1×1 → 128,
/// flatten (2048), `fc1` 2048 → 1024, ReLU, dropout (0.7), `fc2` 1024 → classes.
///
/// The adaptive pooling takes any grid: smaller than 4×4 (inputs under 64×64), it repeats cells,
/// as PyTorch's does.
#[derive(Module, Debug)]
pub struct InceptionAux {
    /// Adaptive average pooling to 4×4 (a function call in torchvision, no key).
    pub pool: AdaptiveAvgPool2d,
    /// 1×1 → 128.
    pub conv: ConvBnAct,
    /// 2048 → 1024.
    pub fc1: Linear,
    /// 1024 → classes.
    pub fc2: Linear,
    /// Dropout after `fc1`'s ReLU, active in training only.
    pub dropout: Dropout,
}

impl InceptionAux {
    /// An auxiliary head on a grid of `in_c` channels, with dropout probability `dropout`.
    pub fn new(in_c: usize, num_classes: usize, dropout: f64, device: &Device) -> Self {
        Self {
            pool: AdaptiveAvgPool2dConfig::new([4, 4]).init(),
            conv: basic_conv(in_c, 128, 1, 1, 0, device),
            fc1: linear(2048, 1024, device),
            fc2: linear(1024, num_classes, device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// # Shapes
    /// `[b, in_c, h, w]` (14×14 at a 224×224 input) → `[b, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = trace::adaptive_avg_pool2d("adaptive_avg_pool", &self.pool, x); // [b, in_c, 4, 4]
        let x = run("conv", &self.conv, x).flatten::<2>(1, 3); // [b, 2048]
        let x = activation::relu(trace::linear("fc1", &self.fc1, x)); // [b, 1024]
        trace::linear("fc2", &self.fc2, self.dropout.forward(x)) // [b, num_classes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::count_params;

    const SPEC: InceptionSpec = InceptionSpec {
        name: "inception3a",
        in_channels: 192,
        ch1x1: 64,
        ch3x3red: 96,
        ch3x3: 128,
        ch5x5red: 16,
        ch5x5: 32,
        pool_proj: 32,
    };

    /// torchvision's `Inception(192, 64, 96, 128, 16, 32, 32)`: 155,872 parameters (BatchNorm
    /// weight and bias included), 256 output channels at the input's size.
    #[test]
    fn inception_block_as_torchvision() {
        let device = Device::flex();
        let block = SPEC.init(&device);
        assert_eq!(count_params(&block), 155_872);
        assert_eq!(block.branch3[1].conv.weight.dims(), [32, 16, 3, 3], "torchvision's 3×3");
        let y = block.forward(Tensor::<4>::ones([2, 192, 5, 7], &device));
        assert_eq!(y.dims(), [2, SPEC.out_channels(), 5, 7]);
        assert_eq!(SPEC.out_channels(), 256);
    }

    #[test]
    fn aux_head_shapes_on_small_and_large_grids() {
        let device = Device::flex();
        let aux = InceptionAux::new(512, 10, 0.7, &device);
        assert_eq!(
            count_params(&aux),
            512 * 128 + 2 * 128 + 2048 * 1024 + 1024 + 1024 * 10 + 10
        );
        for side in [1, 4, 14] {
            let y = aux.forward(Tensor::<4>::ones([2, 512, side, side], &device));
            assert_eq!(y.dims(), [2, 10], "{side}×{side} grid");
        }
    }
}
