//! The Inception blocks A–E and the auxiliary classifier. Field names are torchvision's.

use burn::{
    module::Module,
    nn::{
        Initializer, Linear, LinearConfig, PaddingConfig2d,
        pool::{AvgPool2dConfig, MaxPool2dConfig},
    },
    tensor::{Device, Tensor, module::adaptive_avg_pool2d},
};
use kiln_core::{ConvBnAct, ConvBnActConfig, trace};

/// torchvision's `BasicConv2d`: conv (no bias) → BatchNorm (eps 0.001) → ReLU.
pub(crate) fn basic(
    in_c: usize,
    out_c: usize,
    k: [usize; 2],
    stride: usize,
    pad: [usize; 2],
    device: &Device,
) -> ConvBnAct {
    ConvBnActConfig::new([in_c, out_c], k)
        .with_stride([stride, stride])
        .with_padding(pad)
        .with_eps(1e-3)
        .init(device)
}

fn run(name: &str, block: &ConvBnAct, x: Tensor<4>) -> Tensor<4> {
    trace::scope(name, || block.forward(x))
}

/// 3×3 stride-1 average pooling with padding 1 (the pool branches of blocks A, C and E). With
/// `count_include_pad` (torchvision's `F.avg_pool2d`) a border window divides by 9, padding
/// included; without (Keras's `AveragePooling2D(padding="same")`) by its count of real pixels
/// (4 at a corner, 6 along an edge).
fn avg3(x: Tensor<4>, count_include_pad: bool) -> Tensor<4> {
    let pool = AvgPool2dConfig::new([3, 3])
        .with_strides([1, 1])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_count_include_pad(count_include_pad)
        .init();
    trace::avg_pool2d("avg_pool", &pool, x)
}

/// 3×3 stride-2 max pooling, no padding.
fn max3s2(x: Tensor<4>) -> Tensor<4> {
    trace::max_pool2d("max_pool", &MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(), x)
}

/// Block A (35×35): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 (a 5×5 field from two 3×3) | pool→1×1.
#[derive(Module, Debug)]
pub struct InceptionA {
    /// 1×1 → 64.
    pub branch1x1: ConvBnAct,
    /// 1×1 → 48.
    pub branch5x5_1: ConvBnAct,
    /// 5×5 → 64.
    pub branch5x5_2: ConvBnAct,
    /// 1×1 → 64.
    pub branch3x3dbl_1: ConvBnAct,
    /// 3×3 → 96.
    pub branch3x3dbl_2: ConvBnAct,
    /// 3×3 → 96.
    pub branch3x3dbl_3: ConvBnAct,
    /// After 3×3 average pooling, 1×1 → `pool_features`.
    pub branch_pool: ConvBnAct,
    /// The pooling counts the padding in its border averages (torchvision; Keras does not).
    pub count_include_pad: bool,
}

impl InceptionA {
    /// `in_c` → `224 + pool_features` channels.
    pub fn new(in_c: usize, pool_features: usize, device: &Device) -> Self {
        Self {
            branch1x1: basic(in_c, 64, [1, 1], 1, [0, 0], device),
            branch5x5_1: basic(in_c, 48, [1, 1], 1, [0, 0], device),
            branch5x5_2: basic(48, 64, [5, 5], 1, [2, 2], device),
            branch3x3dbl_1: basic(in_c, 64, [1, 1], 1, [0, 0], device),
            branch3x3dbl_2: basic(64, 96, [3, 3], 1, [1, 1], device),
            branch3x3dbl_3: basic(96, 96, [3, 3], 1, [1, 1], device),
            branch_pool: basic(in_c, pool_features, [1, 1], 1, [0, 0], device),
            count_include_pad: true,
        }
    }

    /// The block with its pool branch counting the padding (`true`, torchvision's, the default
    /// of [`Self::new`]) or not (Keras's).
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }

    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, 224 + pool_features, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut br = trace::branches();
        let b1 = br.run(|| run("branch1x1", &self.branch1x1, x.clone()));
        let b5 = br.run(|| {
            run(
                "branch5x5_2",
                &self.branch5x5_2,
                run("branch5x5_1", &self.branch5x5_1, x.clone()),
            )
        });
        let b3 = br.run(|| {
            let y = run("branch3x3dbl_1", &self.branch3x3dbl_1, x.clone());
            let y = run("branch3x3dbl_2", &self.branch3x3dbl_2, y);
            run("branch3x3dbl_3", &self.branch3x3dbl_3, y)
        });
        let bp = br.run(|| run("branch_pool", &self.branch_pool, avg3(x, self.count_include_pad)));
        br.join();
        Tensor::cat(vec![b1, b5, b3, bp], 1)
    }
}

/// Block B, grid reduction 35→17: 3×3/2 | 1×1→3×3→3×3/2 | max pool 3×3/2.
#[derive(Module, Debug)]
pub struct InceptionB {
    /// 3×3 stride 2 → 384.
    pub branch3x3: ConvBnAct,
    /// 1×1 → 64.
    pub branch3x3dbl_1: ConvBnAct,
    /// 3×3 → 96.
    pub branch3x3dbl_2: ConvBnAct,
    /// 3×3 stride 2 → 96.
    pub branch3x3dbl_3: ConvBnAct,
}

impl InceptionB {
    /// `in_c` → `480 + in_c` channels at half the size.
    pub fn new(in_c: usize, device: &Device) -> Self {
        Self {
            branch3x3: basic(in_c, 384, [3, 3], 2, [0, 0], device),
            branch3x3dbl_1: basic(in_c, 64, [1, 1], 1, [0, 0], device),
            branch3x3dbl_2: basic(64, 96, [3, 3], 1, [1, 1], device),
            branch3x3dbl_3: basic(96, 96, [3, 3], 2, [0, 0], device),
        }
    }

    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, 480 + in_c, (h-3)/2+1, (w-3)/2+1]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut br = trace::branches();
        let b3 = br.run(|| run("branch3x3", &self.branch3x3, x.clone()));
        let bd = br.run(|| {
            let y = run("branch3x3dbl_1", &self.branch3x3dbl_1, x.clone());
            let y = run("branch3x3dbl_2", &self.branch3x3dbl_2, y);
            run("branch3x3dbl_3", &self.branch3x3dbl_3, y)
        });
        let bp = br.run(|| max3s2(x));
        br.join();
        Tensor::cat(vec![b3, bd, bp], 1)
    }
}

/// Block C (17×17): 7×7 factorised into 1×7 then 7×1, once and twice.
#[derive(Module, Debug)]
pub struct InceptionC {
    /// 1×1 → 192.
    pub branch1x1: ConvBnAct,
    /// 1×1 → c7.
    pub branch7x7_1: ConvBnAct,
    /// 1×7 → c7.
    pub branch7x7_2: ConvBnAct,
    /// 7×1 → 192.
    pub branch7x7_3: ConvBnAct,
    /// 1×1 → c7.
    pub branch7x7dbl_1: ConvBnAct,
    /// 7×1 → c7.
    pub branch7x7dbl_2: ConvBnAct,
    /// 1×7 → c7.
    pub branch7x7dbl_3: ConvBnAct,
    /// 7×1 → c7.
    pub branch7x7dbl_4: ConvBnAct,
    /// 1×7 → 192.
    pub branch7x7dbl_5: ConvBnAct,
    /// After 3×3 average pooling, 1×1 → 192.
    pub branch_pool: ConvBnAct,
    /// The pooling counts the padding in its border averages (torchvision; Keras does not).
    pub count_include_pad: bool,
}

impl InceptionC {
    /// `in_c` → 768 channels; `c7` channels inside the factorised branches.
    pub fn new(in_c: usize, c7: usize, device: &Device) -> Self {
        let (row, col) = ([1, 7], [7, 1]);
        let (prow, pcol) = ([0, 3], [3, 0]);
        Self {
            branch1x1: basic(in_c, 192, [1, 1], 1, [0, 0], device),
            branch7x7_1: basic(in_c, c7, [1, 1], 1, [0, 0], device),
            branch7x7_2: basic(c7, c7, row, 1, prow, device),
            branch7x7_3: basic(c7, 192, col, 1, pcol, device),
            branch7x7dbl_1: basic(in_c, c7, [1, 1], 1, [0, 0], device),
            branch7x7dbl_2: basic(c7, c7, col, 1, pcol, device),
            branch7x7dbl_3: basic(c7, c7, row, 1, prow, device),
            branch7x7dbl_4: basic(c7, c7, col, 1, pcol, device),
            branch7x7dbl_5: basic(c7, 192, row, 1, prow, device),
            branch_pool: basic(in_c, 192, [1, 1], 1, [0, 0], device),
            count_include_pad: true,
        }
    }

    /// The block with its pool branch counting the padding (`true`, torchvision's, the default
    /// of [`Self::new`]) or not (Keras's).
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }

    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, 768, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut br = trace::branches();
        let b1 = br.run(|| run("branch1x1", &self.branch1x1, x.clone()));
        let b7 = br.run(|| {
            let y = run("branch7x7_1", &self.branch7x7_1, x.clone());
            let y = run("branch7x7_2", &self.branch7x7_2, y);
            run("branch7x7_3", &self.branch7x7_3, y)
        });
        let bd = br.run(|| {
            let y = run("branch7x7dbl_1", &self.branch7x7dbl_1, x.clone());
            let y = run("branch7x7dbl_2", &self.branch7x7dbl_2, y);
            let y = run("branch7x7dbl_3", &self.branch7x7dbl_3, y);
            let y = run("branch7x7dbl_4", &self.branch7x7dbl_4, y);
            run("branch7x7dbl_5", &self.branch7x7dbl_5, y)
        });
        let bp = br.run(|| run("branch_pool", &self.branch_pool, avg3(x, self.count_include_pad)));
        br.join();
        Tensor::cat(vec![b1, b7, bd, bp], 1)
    }
}

/// Block D, grid reduction 17→8: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max pool 3×3/2.
#[derive(Module, Debug)]
pub struct InceptionD {
    /// 1×1 → 192.
    pub branch3x3_1: ConvBnAct,
    /// 3×3 stride 2 → 320.
    pub branch3x3_2: ConvBnAct,
    /// 1×1 → 192.
    pub branch7x7x3_1: ConvBnAct,
    /// 1×7 → 192.
    pub branch7x7x3_2: ConvBnAct,
    /// 7×1 → 192.
    pub branch7x7x3_3: ConvBnAct,
    /// 3×3 stride 2 → 192.
    pub branch7x7x3_4: ConvBnAct,
}

impl InceptionD {
    /// `in_c` → `512 + in_c` channels at half the size.
    pub fn new(in_c: usize, device: &Device) -> Self {
        Self {
            branch3x3_1: basic(in_c, 192, [1, 1], 1, [0, 0], device),
            branch3x3_2: basic(192, 320, [3, 3], 2, [0, 0], device),
            branch7x7x3_1: basic(in_c, 192, [1, 1], 1, [0, 0], device),
            branch7x7x3_2: basic(192, 192, [1, 7], 1, [0, 3], device),
            branch7x7x3_3: basic(192, 192, [7, 1], 1, [3, 0], device),
            branch7x7x3_4: basic(192, 192, [3, 3], 2, [0, 0], device),
        }
    }

    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, 512 + in_c, (h-3)/2+1, (w-3)/2+1]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut br = trace::branches();
        let b3 = br.run(|| {
            run(
                "branch3x3_2",
                &self.branch3x3_2,
                run("branch3x3_1", &self.branch3x3_1, x.clone()),
            )
        });
        let b7 = br.run(|| {
            let y = run("branch7x7x3_1", &self.branch7x7x3_1, x.clone());
            let y = run("branch7x7x3_2", &self.branch7x7x3_2, y);
            let y = run("branch7x7x3_3", &self.branch7x7x3_3, y);
            run("branch7x7x3_4", &self.branch7x7x3_4, y)
        });
        let bp = br.run(|| max3s2(x));
        br.join();
        Tensor::cat(vec![b3, b7, bp], 1)
    }
}

/// Block E (8×8): 3×3 expanded into parallel 1×3 and 3×1 outputs.
#[derive(Module, Debug)]
pub struct InceptionE {
    /// 1×1 → 320.
    pub branch1x1: ConvBnAct,
    /// 1×1 → 384.
    pub branch3x3_1: ConvBnAct,
    /// 1×3 → 384.
    pub branch3x3_2a: ConvBnAct,
    /// 3×1 → 384.
    pub branch3x3_2b: ConvBnAct,
    /// 1×1 → 448.
    pub branch3x3dbl_1: ConvBnAct,
    /// 3×3 → 384.
    pub branch3x3dbl_2: ConvBnAct,
    /// 1×3 → 384.
    pub branch3x3dbl_3a: ConvBnAct,
    /// 3×1 → 384.
    pub branch3x3dbl_3b: ConvBnAct,
    /// After 3×3 average pooling, 1×1 → 192.
    pub branch_pool: ConvBnAct,
    /// The pooling counts the padding in its border averages (torchvision; Keras does not).
    pub count_include_pad: bool,
}

impl InceptionE {
    /// `in_c` → 2048 channels.
    pub fn new(in_c: usize, device: &Device) -> Self {
        Self {
            branch1x1: basic(in_c, 320, [1, 1], 1, [0, 0], device),
            branch3x3_1: basic(in_c, 384, [1, 1], 1, [0, 0], device),
            branch3x3_2a: basic(384, 384, [1, 3], 1, [0, 1], device),
            branch3x3_2b: basic(384, 384, [3, 1], 1, [1, 0], device),
            branch3x3dbl_1: basic(in_c, 448, [1, 1], 1, [0, 0], device),
            branch3x3dbl_2: basic(448, 384, [3, 3], 1, [1, 1], device),
            branch3x3dbl_3a: basic(384, 384, [1, 3], 1, [0, 1], device),
            branch3x3dbl_3b: basic(384, 384, [3, 1], 1, [1, 0], device),
            branch_pool: basic(in_c, 192, [1, 1], 1, [0, 0], device),
            count_include_pad: true,
        }
    }

    /// The block with its pool branch counting the padding (`true`, torchvision's, the default
    /// of [`Self::new`]) or not (Keras's).
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }

    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, 2048, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut br = trace::branches();
        let b1 = br.run(|| run("branch1x1", &self.branch1x1, x.clone()));
        let b3 = br.run(|| {
            let y = run("branch3x3_1", &self.branch3x3_1, x.clone());
            let mut split = trace::branches();
            let a = split.run(|| run("branch3x3_2a", &self.branch3x3_2a, y.clone()));
            let b = split.run(|| run("branch3x3_2b", &self.branch3x3_2b, y));
            split.join();
            Tensor::cat(vec![a, b], 1)
        });
        let bd = br.run(|| {
            let y = run("branch3x3dbl_1", &self.branch3x3dbl_1, x.clone());
            let y = run("branch3x3dbl_2", &self.branch3x3dbl_2, y);
            let mut split = trace::branches();
            let a = split.run(|| run("branch3x3dbl_3a", &self.branch3x3dbl_3a, y.clone()));
            let b = split.run(|| run("branch3x3dbl_3b", &self.branch3x3dbl_3b, y));
            split.join();
            Tensor::cat(vec![a, b], 1)
        });
        let bp = br.run(|| run("branch_pool", &self.branch_pool, avg3(x, self.count_include_pad)));
        br.join();
        Tensor::cat(vec![b1, b3, bd, bp], 1)
    }
}

/// The auxiliary classifier on the 17×17 grid: 5×5/3 average pooling, 1×1 → 128, 5×5 → 768,
/// global average pooling, linear → classes.
#[derive(Module, Debug)]
pub struct InceptionAux {
    /// 1×1 → 128.
    pub conv0: ConvBnAct,
    /// 5×5 → 768.
    pub conv1: ConvBnAct,
    /// 768 → classes.
    pub fc: Linear,
}

impl InceptionAux {
    /// An auxiliary head for `in_c` channels.
    pub fn new(in_c: usize, num_classes: usize, device: &Device) -> Self {
        Self {
            conv0: basic(in_c, 128, [1, 1], 1, [0, 0], device),
            conv1: basic(128, 768, [5, 5], 1, [0, 0], device),
            fc: LinearConfig::new(768, num_classes)
                .with_initializer(Initializer::Normal { mean: 0.0, std: 0.001 })
                .init(device),
        }
    }

    /// # Shapes
    /// `[b, in_c, 17, 17]` → `[b, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let pool = AvgPool2dConfig::new([5, 5]).with_strides([3, 3]).init();
        let x = trace::avg_pool2d("avg_pool", &pool, x); // [b, in_c, 5, 5]
        let x = run("conv0", &self.conv0, x); // [b, 128, 5, 5]
        let x = run("conv1", &self.conv1, x); // [b, 768, 1, 1]
        let x = adaptive_avg_pool2d(x, [1, 1]).flatten::<2>(1, 3); // [b, 768]
        trace::linear("fc", &self.fc, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(x: Tensor<4>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().expect("f32 data")
    }

    /// The pool branches' 3×3 average of a constant map of ones: without `count_include_pad`
    /// (Keras) every output is 1, the border ones included; with it (torchvision) a corner is
    /// 4/9, an edge 6/9, the interior 1.
    #[test]
    fn pool_branch_border_average_with_and_without_the_padding() {
        let device = Device::flex();
        let ones = Tensor::<4>::ones([1, 2, 5, 5], &device);
        let keras = values(avg3(ones.clone(), false));
        assert_eq!(keras.len(), 2 * 5 * 5);
        assert!(keras.iter().all(|v| (v - 1.0).abs() < 1e-6), "{keras:?}");
        let torch = values(avg3(ones, true));
        let at = |c: usize, h: usize, w: usize| torch[c * 25 + h * 5 + w];
        for c in 0..2 {
            for (h, w) in [(0, 0), (0, 4), (4, 0), (4, 4)] {
                assert!((at(c, h, w) - 4.0 / 9.0).abs() < 1e-6, "corner ({h}, {w})");
            }
            assert!((at(c, 0, 2) - 6.0 / 9.0).abs() < 1e-6, "edge");
            assert!((at(c, 2, 0) - 6.0 / 9.0).abs() < 1e-6, "edge");
            assert!((at(c, 2, 2) - 1.0).abs() < 1e-6, "interior");
        }
    }

    /// A block's pool branch follows its flag: Keras's and torchvision's outputs differ only
    /// in the pool branch's channels, and only on the border.
    #[test]
    fn block_a_pool_branch_follows_the_flag() {
        let device = Device::flex();
        let torch = InceptionA::new(4, 8, &device);
        assert!(torch.count_include_pad);
        let keras = torch.clone().with_count_include_pad(false);
        assert!(!keras.count_include_pad);
        let x = Tensor::<4>::ones([1, 4, 5, 5], &device);
        let (a, b) = (values(torch.forward(x.clone())), values(keras.forward(x)));
        // Channels: 64 (1×1), 64 (5×5), 96 (3×3 double), 8 (pool branch); 5×5 each.
        let pool_start = (64 + 64 + 96) * 25;
        assert_eq!(a.len(), pool_start + 8 * 25);
        assert!(
            a[..pool_start]
                .iter()
                .zip(&b[..pool_start])
                .all(|(x, y)| (x - y).abs() < 1e-6)
        );
        // The interior of the pool branch agrees (1×1 convolution of the same averages).
        for c in 0..8 {
            let i = pool_start + c * 25 + 2 * 5 + 2;
            assert!((a[i] - b[i]).abs() < 1e-5);
        }
    }
}
