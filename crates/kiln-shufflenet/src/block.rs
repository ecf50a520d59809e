//! The ShuffleNet V2 unit (torchvision's `InvertedResidual`): the input is split in two halves
//! (stride 1) or read twice (stride 2), one half goes through 1×1 → depthwise 3×3 → 1×1, the two
//! halves are concatenated and their channels shuffled.

use burn::{
    module::Module,
    tensor::{Device, Tensor},
};
use kiln_core::{ConvBnAct, ConvBnActConfig, layers::channel_shuffle, trace};

/// 1×1 convolution (no bias), BatchNorm, ReLU.
fn pointwise(in_c: usize, out_c: usize, device: &Device) -> ConvBnAct {
    ConvBnActConfig::new([in_c, out_c], [1, 1]).init(device)
}

/// Depthwise 3×3 convolution (padding 1, no bias) and BatchNorm, no activation.
fn depthwise(c: usize, stride: usize, device: &Device) -> ConvBnAct {
    ConvBnActConfig::new([c, c], [3, 3])
        .with_stride([stride, stride])
        .with_padding([1, 1])
        .with_groups(c)
        .with_activation(None)
        .init(device)
}

/// The left branch of a downsampling unit (torchvision's `branch1`, present only when the stride
/// is above 1): depthwise 3×3 with the stride, BatchNorm, 1×1, BatchNorm, ReLU.
#[derive(Module, Debug)]
pub struct LeftBranch {
    /// Depthwise 3×3 and BatchNorm (torchvision's `branch1.0`, `branch1.1`).
    pub depthwise: ConvBnAct,
    /// 1×1 to half the unit's output, BatchNorm, ReLU (`branch1.2`, `branch1.3`).
    pub pointwise: ConvBnAct,
}

impl LeftBranch {
    fn new(in_c: usize, out_c: usize, stride: usize, device: &Device) -> Self {
        Self {
            depthwise: depthwise(in_c, stride, device),
            pointwise: pointwise(in_c, out_c, device),
        }
    }

    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, out_c, ⌈h/stride⌉, ⌈w/stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = trace::scope("depthwise", || self.depthwise.forward(x));
        trace::scope("pointwise", || self.pointwise.forward(x))
    }
}

/// The right branch of every unit (torchvision's `branch2`): 1×1, BatchNorm, ReLU, depthwise 3×3
/// with the stride, BatchNorm, 1×1, BatchNorm, ReLU.
#[derive(Module, Debug)]
pub struct RightBranch {
    /// 1×1, BatchNorm, ReLU (torchvision's `branch2.0`, `branch2.1`).
    pub pointwise1: ConvBnAct,
    /// Depthwise 3×3 and BatchNorm (`branch2.3`, `branch2.4`).
    pub depthwise: ConvBnAct,
    /// 1×1, BatchNorm, ReLU (`branch2.5`, `branch2.6`).
    pub pointwise2: ConvBnAct,
}

impl RightBranch {
    fn new(in_c: usize, out_c: usize, stride: usize, device: &Device) -> Self {
        Self {
            pointwise1: pointwise(in_c, out_c, device),
            depthwise: depthwise(out_c, stride, device),
            pointwise2: pointwise(out_c, out_c, device),
        }
    }

    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, out_c, ⌈h/stride⌉, ⌈w/stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = trace::scope("pointwise1", || self.pointwise1.forward(x));
        let x = trace::scope("depthwise", || self.depthwise.forward(x));
        trace::scope("pointwise2", || self.pointwise2.forward(x))
    }
}

/// One ShuffleNet V2 unit, torchvision's `InvertedResidual(inp, oup, stride)`.
///
/// - stride 1 (`branch1` absent): the input's first half passes unchanged, the second half goes
///   through `branch2`; needs `in_c == out_c` (even).
/// - stride 2 (`branch1` present): the whole input goes through both branches, each giving
///   `out_c / 2` channels at half the resolution.
///
/// Then the halves are concatenated and shuffled with 2 groups.
#[derive(Module, Debug)]
pub struct ShuffleUnit {
    /// The left branch of a downsampling unit; `None` at stride 1.
    pub branch1: Option<LeftBranch>,
    /// The right branch.
    pub branch2: RightBranch,
}

impl ShuffleUnit {
    /// torchvision's `InvertedResidual(in_c, out_c, stride)`.
    ///
    /// # Panics
    /// As torchvision raises: a stride outside 1..=3, or a stride-1 unit whose `in_c` is not
    /// `2 · (out_c / 2)`.
    pub fn new(in_c: usize, out_c: usize, stride: usize, device: &Device) -> Self {
        assert!((1..=3).contains(&stride), "ShuffleNet V2 unit: illegal stride {stride}");
        let branch_c = out_c / 2;
        assert!(
            stride > 1 || in_c == branch_c * 2,
            "ShuffleNet V2 unit: at stride 1 the input ({in_c} channels) must equal 2 · ({out_c} / 2)"
        );
        let branch1 = (stride > 1).then(|| LeftBranch::new(in_c, branch_c, stride, device));
        let branch2_in = if stride > 1 { in_c } else { branch_c };
        Self {
            branch1,
            branch2: RightBranch::new(branch2_in, branch_c, stride, device),
        }
    }

    /// # Shapes
    /// `[b, in_c, h, w]` → `[b, out_c, ⌈h/stride⌉, ⌈w/stride⌉]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut paths = trace::branches();
        let (left, right) = match &self.branch1 {
            Some(branch1) => {
                let left = paths.run(|| trace::scope("branch1", || branch1.forward(x.clone())));
                let right = paths.run(|| trace::scope("branch2", || self.branch2.forward(x)));
                (left, right)
            }
            None => {
                // torchvision's `x.chunk(2, dim=1)`; the channel count is even here.
                let [_, c, _, _] = x.dims();
                let half = c / 2;
                let x1 = x.clone().narrow(1, 0, half); // [b, c/2, h, w]
                let x2 = x.narrow(1, half, c - half); // [b, c/2, h, w]
                let left = paths.run(|| x1);
                let right = paths.run(|| trace::scope("branch2", || self.branch2.forward(x2)));
                (left, right)
            }
        };
        paths.join();
        channel_shuffle(Tensor::cat(vec![left, right], 1), 2) // [b, out_c, h', w']
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At stride 1 the untouched first half lands on the even output channels: after the
    /// concatenation `[x1, branch2(x2)]`, the shuffle with 2 groups sends channel `i` to `2i`.
    #[test]
    fn stride_one_passes_the_first_half_to_even_channels() {
        let device = Device::flex();
        let unit = ShuffleUnit::new(8, 8, 1, &device);
        assert!(unit.branch1.is_none());
        let x = Tensor::<4>::random([1, 8, 5, 5], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
        let y = unit.forward(x.clone());
        assert_eq!(y.dims(), [1, 8, 5, 5]);
        let even = y.reshape([1, 4, 2, 25]).narrow(2, 0, 1).reshape([1, 4, 5, 5]);
        assert_eq!(kiln_core::floats(even), kiln_core::floats(x.narrow(1, 0, 4)));
    }

    #[test]
    fn stride_two_halves_the_size_with_both_branches() {
        let device = Device::flex();
        let unit = ShuffleUnit::new(24, 116, 2, &device);
        assert!(unit.branch1.is_some());
        let x = Tensor::<4>::zeros([2, 24, 7, 8], &device);
        assert_eq!(unit.forward(x).dims(), [2, 116, 4, 4]);
    }
}
