//! The ConvNeXt model and its variants as data.

use crate::{
    block::{CNBlock, Downsample, Stem, linear},
    norm::layer_norm,
};
use burn::{
    config::Config,
    module::Module,
    nn::{
        LayerNorm, Linear,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig},
    },
    tensor::{Device, Tensor},
};
use kiln_core::{Backbone, FeatureInfo, ImageClassifier, trace};

/// A row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct ConvNextVariant {
    /// Registry name.
    pub name: &'static str,
    /// Channels of the four stages.
    pub dims: [usize; 4],
    /// Blocks in the four stages.
    pub depths: [usize; 4],
    /// Stochastic depth probability of the last block (torchvision's builder default).
    pub stochastic_depth_prob: f64,
    /// torchvision's parameter count with 1000 classes (its weights' `num_params`).
    pub num_params: usize,
}

/// Every ConvNeXt of torchvision.
pub const CONVNEXT_VARIANTS: [ConvNextVariant; 4] = [
    ConvNextVariant {
        name: "convnext_tiny",
        dims: [96, 192, 384, 768],
        depths: [3, 3, 9, 3],
        stochastic_depth_prob: 0.1,
        num_params: 28_589_128,
    },
    ConvNextVariant {
        name: "convnext_small",
        dims: [96, 192, 384, 768],
        depths: [3, 3, 27, 3],
        stochastic_depth_prob: 0.4,
        num_params: 50_223_688,
    },
    ConvNextVariant {
        name: "convnext_base",
        dims: [128, 256, 512, 1024],
        depths: [3, 3, 27, 3],
        stochastic_depth_prob: 0.5,
        num_params: 88_591_464,
    },
    ConvNextVariant {
        name: "convnext_large",
        dims: [192, 384, 768, 1536],
        depths: [3, 3, 27, 3],
        stochastic_depth_prob: 0.5,
        num_params: 197_767_336,
    },
];

/// Downsampling from the input of each stage's output: the stem's 4, then ×2 per stage.
pub(crate) const REDUCTIONS: [usize; 4] = [4, 8, 16, 32];

/// Position of stage `s` in torchvision's `features` `Sequential` (0 is the stem; a
/// downsampling layer sits between two stages).
pub(crate) fn stage_position(s: usize) -> usize {
    2 * s + 1
}

/// Position of the downsampling layer that follows stage `s` (0, 1, 2).
pub(crate) fn downsample_position(s: usize) -> usize {
    2 * s + 2
}

/// Configuration of a [`ConvNext`].
#[derive(Config, Debug)]
pub struct ConvNextConfig {
    /// Channels of the four stages, e.g. `[96, 192, 384, 768]`.
    pub dims: [usize; 4],
    /// Blocks per stage, e.g. `[3, 3, 9, 3]`.
    pub depths: [usize; 4],
    /// Stochastic depth probability of the last block; block `i` of `n` (counted over all
    /// stages) gets `stochastic_depth_prob · i / (n - 1)`. torchvision's class default is 0; its
    /// builders use 0.1 (tiny), 0.4 (small), 0.5 (base, large), as [`ConvNextConfig::from_variant`].
    #[config(default = 0.0)]
    pub stochastic_depth_prob: f64,
    /// Initial value of every block's layer scale.
    #[config(default = 1e-6)]
    pub layer_scale: f64,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels (torchvision's stem takes 3).
    #[config(default = 3)]
    pub in_channels: usize,
}

impl ConvNextConfig {
    /// The configuration of a table row, with its stochastic depth probability.
    pub fn from_variant(v: &ConvNextVariant) -> Self {
        Self::new(v.dims, v.depths).with_stochastic_depth_prob(v.stochastic_depth_prob)
    }

    /// The stochastic depth probability of every block, stage by stage: rising linearly from 0
    /// at the first block to `stochastic_depth_prob` at the last (torchvision's
    /// `stochastic_depth_prob * stage_block_id / (total_stage_blocks - 1.0)`). A model of one
    /// block gets 0, where torchvision would divide 0 by 0.
    pub fn stochastic_depth_probs(&self) -> Vec<f64> {
        let total: usize = self.depths.iter().sum();
        (0..total)
            .map(|i| {
                if total > 1 {
                    self.stochastic_depth_prob * i as f64 / (total - 1) as f64
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Builds the model.
    ///
    /// # Panics
    /// When a stage has no channels, a count (`in_channels`, `num_classes`) is 0, or
    /// `stochastic_depth_prob` is not in `[0, 1)`.
    pub fn init(&self, device: &Device) -> ConvNext {
        assert!(
            self.dims.iter().all(|d| *d > 0),
            "every stage needs channels, got dims {:?}",
            self.dims
        );
        assert!(
            self.in_channels > 0 && self.num_classes > 0,
            "in_channels and num_classes must be positive, got {} and {}",
            self.in_channels,
            self.num_classes
        );
        assert!(
            (0.0..1.0).contains(&self.stochastic_depth_prob),
            "stochastic_depth_prob must be in [0, 1), got {}",
            self.stochastic_depth_prob
        );
        let mut probs = self.stochastic_depth_probs().into_iter();
        let mut stages = Vec::with_capacity(self.dims.len());
        for (&dim, &depth) in self.dims.iter().zip(&self.depths) {
            let blocks: Vec<CNBlock> = (0..depth)
                .map(|_| {
                    let p = probs.next().expect("one probability per block");
                    CNBlock::new(dim, self.layer_scale, p, device)
                })
                .collect();
            stages.push(blocks);
        }
        let downsample = self
            .dims
            .windows(2)
            .map(|pair| Downsample::new(pair[0], pair[1], device))
            .collect();
        let last = self.dims[3];
        ConvNext {
            stem: Stem::new(self.in_channels, self.dims[0], device),
            stages,
            downsample,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head_norm: layer_norm(last, device),
            classifier: linear(last, self.num_classes, device),
            dims: self.dims,
        }
    }
}

/// ConvNeXt (Liu et al., "A ConvNet for the 2020s", 2022) as torchvision builds it; parameters
/// 28,589,128 / 50,223,688 / 88,591,464 / 197,767,336 for tiny / small / base / large with 1000
/// classes.
///
/// | torchvision module | layers | output at 224×224, tiny |
/// |---|---|---|
/// | `features.0` | conv 4×4/4, LayerNorm2d | 96×56×56 |
/// | `features.1` | 3 × block | 96×56×56 |
/// | `features.2` | LayerNorm2d, conv 2×2/2 | 192×28×28 |
/// | `features.3` | 3 × block | 192×28×28 |
/// | `features.4` | LayerNorm2d, conv 2×2/2 | 384×14×14 |
/// | `features.5` | 9 × block (27 in small, base, large) | 384×14×14 |
/// | `features.6` | LayerNorm2d, conv 2×2/2 | 768×7×7 |
/// | `features.7` | 3 × block | 768×7×7 |
/// | `avgpool` | global average | 768×1×1 |
/// | `classifier` | LayerNorm2d, flatten, linear | num_classes |
///
/// A block is 7×7 depthwise conv, LayerNorm, linear to 4×, GELU, linear back, layer scale,
/// stochastic depth, plus the input ([`CNBlock`]). Layers are traced under torchvision's module
/// paths (`features.1.0.block.3`, `classifier.2`). The classifier's LayerNorm2d acts on the
/// pooled `[b, c, 1, 1]` map; here it normalises the flattened `[b, c]`, the same numbers.
///
/// # Shapes
/// - images `[batch, in_channels, h, w]`, `h, w ≥ 32` (each stride floors: `⌊h / 4⌋`, then `⌊· / 2⌋`)
/// - stages `[batch, dims[i], h / r, w / r]` for `r` = 4, 8, 16, 32
/// - logits `[batch, num_classes]`
#[derive(Module, Debug)]
pub struct ConvNext {
    /// `features.0`: the patchify stem.
    pub stem: Stem,
    /// `features.1`, `.3`, `.5`, `.7`: the four stages of blocks.
    pub stages: Vec<Vec<CNBlock>>,
    /// `features.2`, `.4`, `.6`: LayerNorm2d + 2×2/2 convolution between stages.
    pub downsample: Vec<Downsample>,
    /// `avgpool`: global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// `classifier.0`: LayerNorm over the pooled channels, eps 1e-6.
    pub head_norm: LayerNorm,
    /// `classifier.2`: `dims[3] → num_classes`.
    pub classifier: Linear,
    /// Channels of the four stages.
    #[module(skip)]
    pub dims: [usize; 4],
}

/// The blocks of a stage in order, each traced under its index.
///
/// # Shapes
/// `[b, dim, h, w]` → `[b, dim, h, w]`
fn run_stage(blocks: &[CNBlock], x: Tensor<4>) -> Tensor<4> {
    blocks
        .iter()
        .enumerate()
        .fold(x, |x, (i, b)| trace::scope(&i.to_string(), || b.forward(x)))
}

impl ConvNext {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("four stages"); // [b, d3, h/32, w/32]
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, d3]
        trace::scope("classifier", || {
            let x = trace::layer_norm("0", &self.head_norm, x); // [b, d3]
            trace::linear("2", &self.classifier, x) // [b, num_classes]
        })
    }
}

impl ImageClassifier for ConvNext {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}

impl Backbone for ConvNext {
    /// The four stages (`features.1`, `.3`, `.5`, `.7`: reductions 4, 8, 16, 32), as timm picks
    /// ConvNeXt's stages.
    fn feature_info(&self) -> Vec<FeatureInfo> {
        (0..4)
            .map(|s| FeatureInfo::new(format!("features.{}", stage_position(s)), self.dims[s], REDUCTIONS[s]))
            .collect()
    }

    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        trace::scope("features", || {
            let mut x = trace::scope("0", || self.stem.forward(images)); // [b, d0, h/4, w/4]
            let mut stages = Vec::with_capacity(self.stages.len());
            for (s, blocks) in self.stages.iter().enumerate() {
                if s > 0 {
                    // [b, d_s, h/r, w/r]
                    let down = &self.downsample[s - 1];
                    x = trace::scope(&downsample_position(s - 1).to_string(), || down.forward(x));
                }
                x = trace::scope(&stage_position(s).to_string(), || run_stage(blocks, x));
                stages.push(x.clone());
            }
            stages
        })
    }

    /// A fresh `classifier.2` (torchvision's initialisation); the classifier's LayerNorm is kept.
    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        self.classifier = linear(self.dims[3], num_classes, device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::{count_params, summary::summarize};

    /// A small ConvNeXt with torchvision's layout (72,690 parameters with 10 classes, by
    /// `ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 2),
    /// CNBlockConfig(64, None, 1)], num_classes=10)`).
    fn toy() -> ConvNextConfig {
        ConvNextConfig::new([8, 16, 32, 64], [1, 1, 2, 1]).with_num_classes(10)
    }

    #[test]
    fn parameter_counts_match_torchvision() {
        let device = Device::flex();
        for v in &CONVNEXT_VARIANTS {
            let model = ConvNextConfig::from_variant(v).init(&device);
            assert_eq!(count_params(&model), v.num_params, "{}", v.name);
        }
        assert_eq!(count_params(&toy().init(&device)), 72_690);
    }

    /// torchvision's convnext_tiny (10 classes) on 64×64: `features.1`, `.3`, `.5`, `.7` give
    /// 96×16×16, 192×8×8, 384×4×4, 768×2×2.
    #[test]
    fn shapes_and_stages_on_64px() {
        let device = Device::flex();
        let model = ConvNextConfig::from_variant(&CONVNEXT_VARIANTS[0])
            .with_num_classes(10)
            .init(&device);
        let x = Tensor::<4>::ones([1, 3, 64, 64], &device);
        let dims: Vec<[usize; 4]> = model.forward_features(x.clone()).iter().map(|f| f.dims()).collect();
        assert_eq!(dims, [[1, 96, 16, 16], [1, 192, 8, 8], [1, 384, 4, 4], [1, 768, 2, 2]]);
        let info = model.feature_info();
        let names: Vec<&str> = info.iter().map(|f| f.module.as_str()).collect();
        assert_eq!(names, ["features.1", "features.3", "features.5", "features.7"]);
        let channels: Vec<usize> = info.iter().map(|f| f.channels).collect();
        assert_eq!(channels, [96, 192, 384, 768]);
        let reductions: Vec<usize> = info.iter().map(|f| f.reduction).collect();
        assert_eq!(reductions, [4, 8, 16, 32]);
        assert_eq!(model.forward(x.clone()).dims(), [1, 10]);
        assert_eq!(model.num_classes(), 10);
        let model = model.reset_classifier(7, &device);
        assert_eq!(model.forward(x).dims(), [1, 7]);
        assert_eq!(model.num_classes(), 7);
    }

    /// torchvision's drop probabilities: `p · i / (n - 1)` over all n blocks, 0 for the first.
    #[test]
    fn stochastic_depth_rises_linearly() {
        let config = ConvNextConfig::from_variant(&CONVNEXT_VARIANTS[0]);
        let probs = config.stochastic_depth_probs();
        assert_eq!(probs.len(), 18);
        assert_eq!(probs[0], 0.0);
        assert!((probs[17] - 0.1).abs() < 1e-12);
        let model = config.init(&Device::flex());
        let built: Vec<f64> = model.stages.iter().flatten().map(|b| b.stochastic_depth.prob).collect();
        assert_eq!(built, probs);
        // Block 0 of stage 3 is block 6 of 18.
        assert!((model.stages[2][0].stochastic_depth.prob - 0.1 * 6.0 / 17.0).abs() < 1e-12);
        let single = ConvNextConfig::new([8, 8, 8, 8], [1, 0, 0, 0]).with_stochastic_depth_prob(0.5);
        assert_eq!(single.stochastic_depth_probs(), [0.0]);
    }

    /// The summary sees every layer under torchvision's paths and counts torchvision's
    /// multiply-accumulates: 1,065,856 for the toy model at 64×64 (forward hooks on its Conv2d
    /// and Linear modules), and every parameter but the layer scales (which no layer record
    /// holds) in the layer records.
    #[test]
    fn trace_covers_every_layer() {
        let device = Device::flex();
        let config = toy();
        let model = config.init(&device);
        let x = Tensor::<4>::zeros([1, 3, 64, 64], &device);
        let (y, records) = trace::collect(|| model.forward(x));
        assert_eq!(y.dims(), [1, 10]);
        let layer_scales: usize = config.dims.iter().zip(&config.depths).map(|(d, n)| d * n).sum();
        let params: usize = records.iter().map(|r| r.params).sum();
        assert_eq!(params + layer_scales, count_params(&model));
        let macs: u64 = records.iter().map(|r| r.macs).sum();
        assert_eq!(macs, 1_065_856);
        let paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
        for p in [
            "features.0.0",
            "features.0.1",
            "features.1.0.block.0",
            "features.1.0.block.2",
            "features.1.0.block.3",
            "features.1.0.block.5",
            "features.2.0",
            "features.2.1",
            "features.5.1.block.5",
            "features.6.1",
            "features.7.0.block.0",
            "avgpool",
            "classifier.0",
            "classifier.2",
        ] {
            assert!(paths.contains(&p), "{p} not traced: {paths:?}");
        }
        // Per block: depthwise conv, LayerNorm, two linear; plus stem 2, downsampling 3 × 2,
        // avgpool, classifier 2.
        assert_eq!(records.len(), 5 * 4 + 2 + 6 + 1 + 2);
        assert_eq!(records.last().and_then(|r| r.receptive_field), None);
    }

    /// convnext_tiny at 224×224: torchvision's `_ops` is 4.456 GFLOPS; forward hooks on its
    /// Conv2d and Linear modules count 4,455,531,264 multiply-accumulates. Receptive field by
    /// hand (field += (k - 1)·jump, jump ×= stride): stem 4 (jump 4); stage 1 adds 3 · 6 · 4 → 76;
    /// downsampling +4 → 80 (jump 8); stage 2 +144 → 224; +8 → 232 (jump 16); stage 3 +9·96 →
    /// 1096; +16 → 1112 (jump 32); stage 4 +3·192 → 1688.
    #[test]
    fn tiny_summary_matches_torchvision() {
        let device = Device::flex();
        let model = ConvNextConfig::from_variant(&CONVNEXT_VARIANTS[0]).init(&device);
        let summary = summarize(&model, [3, 224, 224], &device);
        assert_eq!(summary.total_macs, 4_455_531_264);
        let g = summary.total_macs as f64 / 1e9;
        assert!((g - 4.456).abs() / 4.456 < 0.02, "{g}");
        assert_eq!(summary.total_params, 28_589_128);
        assert_eq!(summary.output, [1000]);
        assert_eq!(summary.receptive_field, [1688, 1688]);
    }

    /// convnext_small (27 blocks in stage 3) at 32×32, the smallest input torchvision's weights
    /// accept: 177,970,944 multiply-accumulates by forward hooks.
    #[test]
    fn small_multiply_accumulates_at_32px() {
        let device = Device::flex();
        let model = ConvNextConfig::from_variant(&CONVNEXT_VARIANTS[1]).init(&device);
        let summary = summarize(&model, [3, 32, 32], &device);
        assert_eq!(summary.total_macs, 177_970_944);
        assert_eq!(summary.output, [1000]);
    }
}
