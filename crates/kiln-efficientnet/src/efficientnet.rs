//! The EfficientNet model.

use crate::{EfficientNetVariant, FusedMbConv, FusedMbConvConfig, StageKind, StageRow};
use burn::{
    config::Config,
    module::Module,
    nn::{
        Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig},
    },
    tensor::{Device, Tensor},
};
use kiln_core::{
    Activation, Backbone, ConvBnAct, ConvBnActConfig, FeatureInfo, ImageClassifier, Init,
    layers::{InvertedResidual, InvertedResidualConfig, make_divisible},
    trace,
};

/// Configuration of an [`EfficientNet`].
#[derive(Config, Debug)]
pub struct EfficientNetConfig {
    /// Stages before scaling (a variant's).
    pub stages: Vec<StageRow>,
    /// Channel multiplier.
    #[config(default = 1.0)]
    pub width_mult: f64,
    /// Depth multiplier.
    #[config(default = 1.0)]
    pub depth_mult: f64,
    /// Channels of the last 1×1 convolution; `None` for four times the last stage's.
    #[config(default = "None")]
    pub last_channel: Option<usize>,
    /// BatchNorm epsilon.
    #[config(default = 1e-5)]
    pub eps: f64,
    /// BatchNorm momentum.
    #[config(default = 0.1)]
    pub momentum: f64,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Dropout before the classifier.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Stochastic depth of the last block; block `i` of `n` drops with `p · i / n`.
    #[config(default = 0.2)]
    pub stochastic_depth: f64,
}

/// A stage after scaling: block type, `(in, out, stride)` per block, expansion and kernel.
pub(crate) struct StagePlan {
    pub(crate) kind: StageKind,
    pub(crate) blocks: Vec<(usize, usize, usize)>,
    pub(crate) expand_ratio: f64,
    pub(crate) kernel: usize,
}

impl EfficientNetConfig {
    /// The configuration of a table row.
    pub fn from_variant(v: &EfficientNetVariant) -> Self {
        Self::new(v.stages.to_vec())
            .with_width_mult(v.width_mult)
            .with_depth_mult(v.depth_mult)
            .with_last_channel(v.last_channel)
            .with_eps(v.norm.0)
            .with_momentum(v.norm.1)
            .with_dropout(v.dropout)
    }

    fn channels(&self, c: usize) -> usize {
        make_divisible(c as f64 * self.width_mult, 8, None)
    }

    /// The stages after compound scaling (torchvision's `MBConvConfig` adjusts V1's channels and
    /// depths; V2's rows are used as they are).
    pub(crate) fn plan(&self) -> Vec<StagePlan> {
        self.stages
            .iter()
            .map(|row| {
                let (input, out, layers) = match row.kind {
                    StageKind::MbConv => (
                        self.channels(row.input),
                        self.channels(row.out),
                        (row.layers as f64 * self.depth_mult).ceil() as usize,
                    ),
                    StageKind::Fused => (row.input, row.out, row.layers),
                };
                StagePlan {
                    kind: row.kind,
                    blocks: (0..layers)
                        .map(|i| {
                            if i == 0 {
                                (input, out, row.stride)
                            } else {
                                (out, out, 1)
                            }
                        })
                        .collect(),
                    expand_ratio: row.expand_ratio,
                    kernel: row.kernel,
                }
            })
            .collect()
    }

    fn last_channels(&self, last_in: usize) -> usize {
        self.last_channel.unwrap_or(4 * last_in)
    }

    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> EfficientNet {
        let plan = self.plan();
        let total: usize = plan.iter().map(|s| s.blocks.len()).sum();
        let conv = |channels, kernel: usize, stride: usize| {
            ConvBnActConfig::new(channels, [kernel, kernel])
                .with_stride([stride, stride])
                .with_same_padding(true)
                .with_eps(self.eps)
                .with_momentum(self.momentum)
                .with_activation(Some(Activation::Silu))
                .with_init(Init::HeFanOut)
                .init(device)
        };
        let mut id = 0;
        let stages = plan
            .iter()
            .map(|s| {
                let mut stage = EfficientNetStage {
                    mb_conv: Vec::new(),
                    fused: Vec::new(),
                };
                for &(input, out, stride) in &s.blocks {
                    let drop_path = self.stochastic_depth * id as f64 / total as f64;
                    id += 1;
                    let expanded = make_divisible(input as f64 * s.expand_ratio, 8, None);
                    match s.kind {
                        StageKind::MbConv => stage.mb_conv.push(
                            InvertedResidualConfig::new(input, expanded, out, s.kernel, stride)
                                .with_activation(Activation::Silu)
                                .with_se(Some(((input / 4).max(1), Activation::Silu, Activation::Sigmoid)))
                                .with_eps(self.eps)
                                .with_momentum(self.momentum)
                                .with_drop_path(drop_path)
                                .init(device),
                        ),
                        StageKind::Fused => stage.fused.push(
                            FusedMbConvConfig::new(input, expanded, out, s.kernel, stride)
                                .with_eps(self.eps)
                                .with_momentum(self.momentum)
                                .with_drop_path(drop_path)
                                .init(device),
                        ),
                    }
                }
                stage
            })
            .collect();
        let first = plan[0].blocks[0].0;
        let last_in = plan.last().expect("stages").blocks[0].1;
        let last = self.last_channels(last_in);
        let range = 1.0 / (self.num_classes as f64).sqrt();
        EfficientNet {
            stem: conv([self.in_channels, first], 3, 2),
            stages,
            last: conv([last_in, last], 1, 1),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: LinearConfig::new(last, self.num_classes)
                .with_initializer(Initializer::Uniform {
                    min: -range,
                    max: range,
                })
                .init(device),
        }
    }
}

/// One stage: MBConv blocks or Fused-MBConv blocks (one of the two is empty).
#[derive(Module, Debug)]
pub struct EfficientNetStage {
    /// MBConv blocks.
    pub mb_conv: Vec<InvertedResidual>,
    /// Fused-MBConv blocks.
    pub fused: Vec<FusedMbConv>,
}

impl EfficientNetStage {
    /// # Shapes
    /// `[b, in, h, w]` → `[b, out, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self
            .fused
            .iter()
            .enumerate()
            .fold(x, |x, (i, b)| trace::scope(&i.to_string(), || b.forward(x)));
        self.mb_conv
            .iter()
            .enumerate()
            .fold(x, |x, (i, b)| trace::scope(&i.to_string(), || b.forward(x)))
    }

    fn stride(&self) -> usize {
        match (self.fused.first(), self.mb_conv.first()) {
            (Some(f), _) => f.fused.conv.stride[0],
            (None, Some(m)) => m.depthwise.conv.stride[0],
            (None, None) => 1,
        }
    }

    fn out_channels(&self) -> usize {
        match (self.fused.last(), self.mb_conv.last()) {
            (Some(f), _) => f.project.as_ref().unwrap_or(&f.fused).conv.weight.dims()[0],
            (None, Some(m)) => m.project.conv.weight.dims()[0],
            (None, None) => 0,
        }
    }
}

/// EfficientNet (V1 and V2).
///
/// | torchvision | field | B0 at 224×224 |
/// |---|---|---|
/// | `features.0` | `stem`: 3×3/2 conv, BN, SiLU | 32×112×112 |
/// | `features.1`–`n` | `stages`: MBConv / Fused-MBConv stages | 320×7×7 |
/// | `features.n+1` | `last`: 1×1 conv, BN, SiLU | 1280×7×7 |
/// | `classifier.1` | `classifier` after global pooling and dropout | num_classes |
#[derive(Module, Debug)]
pub struct EfficientNet {
    /// 3×3 stride-2 convolution, BatchNorm, SiLU.
    pub stem: ConvBnAct,
    /// The stages.
    pub stages: Vec<EfficientNetStage>,
    /// 1×1 convolution, BatchNorm, SiLU.
    pub last: ConvBnAct,
    /// Global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// Dropout before the classifier.
    pub dropout: Dropout,
    /// `last → num_classes`.
    pub classifier: Linear,
}

impl EfficientNet {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("stages");
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3);
        trace::linear("classifier", &self.classifier, self.dropout.forward(x))
    }

    /// `(stage index, reduction)` of the last stage at each resolution before the final one.
    fn stage_ends(&self) -> Vec<(usize, usize)> {
        let mut ends = Vec::new();
        let mut reduction = 2;
        for (i, s) in self.stages.iter().enumerate() {
            let stride = s.stride();
            if stride == 2 && i > 0 {
                ends.push((i - 1, reduction));
            }
            reduction *= stride;
        }
        ends
    }
}

impl ImageClassifier for EfficientNet {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}

impl Backbone for EfficientNet {
    /// timm's stages: the last stage at each resolution (reductions 2, 4, 8, 16) and the final
    /// 1×1 convolution (32).
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let ends = self.stage_ends();
        let mut info: Vec<FeatureInfo> = ends
            .iter()
            .map(|&(i, r)| FeatureInfo::new(format!("stages.{i}"), self.stages[i].out_channels(), r))
            .collect();
        let r = ends.last().map_or(2, |e| e.1 * 2);
        info.push(FeatureInfo::new("last", self.last.conv.weight.dims()[0], r));
        info
    }

    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let ends: Vec<usize> = self.stage_ends().iter().map(|e| e.0).collect();
        let mut x = trace::scope("stem", || self.stem.forward(images)); // [b, c0, h/2, w/2]
        let mut out = Vec::new();
        trace::scope("stages", || {
            for (i, s) in self.stages.iter().enumerate() {
                x = trace::scope(&i.to_string(), || s.forward(x.clone()));
                if ends.contains(&i) {
                    out.push(x.clone());
                }
            }
        });
        out.push(trace::scope("last", || self.last.forward(x))); // [b, last, h/32, w/32]
        out
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        let [d_in, _] = self.classifier.weight.dims();
        let range = 1.0 / (num_classes as f64).sqrt();
        self.classifier = LinearConfig::new(d_in, num_classes)
            .with_initializer(Initializer::Uniform {
                min: -range,
                max: range,
            })
            .init(device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EFFICIENTNET_VARIANTS;

    /// torchvision's parameter counts (its weights' `num_params`).
    #[test]
    fn parameters_of_every_variant() {
        let device = Device::flex();
        for (name, params) in [
            ("efficientnet_b0", 5_288_548),
            ("efficientnet_b1", 7_794_184),
            ("efficientnet_b2", 9_109_994),
            ("efficientnet_b3", 12_233_232),
            ("efficientnet_v2_s", 21_458_488),
        ] {
            let v = EFFICIENTNET_VARIANTS.iter().find(|v| v.name == name).unwrap();
            let model = EfficientNetConfig::from_variant(v).init(&device);
            assert_eq!(kiln_core::count_params(&model), params, "{name}");
        }
    }

    #[test]
    fn b0_stages_and_logits() {
        let device = Device::flex();
        let model = EfficientNetConfig::from_variant(&EFFICIENTNET_VARIANTS[0]).init(&device);
        let got: Vec<(usize, usize)> = model.feature_info().iter().map(|f| (f.channels, f.reduction)).collect();
        assert_eq!(got, [(16, 2), (24, 4), (40, 8), (112, 16), (1280, 32)]);
        let x = Tensor::<4>::zeros([1, 3, 64, 64], &device);
        assert_eq!(model.forward_features(x.clone())[3].dims(), [1, 112, 4, 4]);
        assert_eq!(model.forward(x).dims(), [1, 1000]);
    }
}
