//! MobileNet V3 small and large.

use burn::{
    config::Config,
    module::Module,
    nn::{
        Dropout, DropoutConfig, Initializer, Linear, LinearConfig, pool::AdaptiveAvgPool2d,
        pool::AdaptiveAvgPool2dConfig,
    },
    tensor::{Device, Tensor},
};
use kiln_core::{
    Activation, Backbone, ConvBnAct, ConvBnActConfig, FeatureInfo, ImageClassifier, Init,
    layers::{InvertedResidual, InvertedResidualConfig, make_divisible},
    trace,
};
use serde::{Deserialize, Serialize};

/// One row of torchvision's `bneck_conf` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct V3Block {
    /// Input channels.
    pub input: usize,
    /// Depthwise kernel.
    pub kernel: usize,
    /// Expanded channels.
    pub expanded: usize,
    /// Output channels.
    pub out: usize,
    /// Squeeze-and-excitation.
    pub se: bool,
    /// Hard-swish (`"HS"`) rather than ReLU (`"RE"`).
    pub hard_swish: bool,
    /// Stride.
    pub stride: usize,
}

const fn b(input: usize, kernel: usize, expanded: usize, out: usize, se: bool, hs: bool, stride: usize) -> V3Block {
    V3Block {
        input,
        kernel,
        expanded,
        out,
        se,
        hard_swish: hs,
        stride,
    }
}

/// A variant: its blocks and the width of the classifier's hidden layer.
#[derive(Clone, Copy, Debug)]
pub struct MobileNetV3Variant {
    /// Registry name.
    pub name: &'static str,
    /// The blocks, torchvision's `_mobilenet_v3_conf`.
    pub blocks: &'static [V3Block],
    /// The classifier's hidden width (`last_channel`).
    pub last_channel: usize,
}

const LARGE: &[V3Block] = &[
    b(16, 3, 16, 16, false, false, 1),
    b(16, 3, 64, 24, false, false, 2),
    b(24, 3, 72, 24, false, false, 1),
    b(24, 5, 72, 40, true, false, 2),
    b(40, 5, 120, 40, true, false, 1),
    b(40, 5, 120, 40, true, false, 1),
    b(40, 3, 240, 80, false, true, 2),
    b(80, 3, 200, 80, false, true, 1),
    b(80, 3, 184, 80, false, true, 1),
    b(80, 3, 184, 80, false, true, 1),
    b(80, 3, 480, 112, true, true, 1),
    b(112, 3, 672, 112, true, true, 1),
    b(112, 5, 672, 160, true, true, 2),
    b(160, 5, 960, 160, true, true, 1),
    b(160, 5, 960, 160, true, true, 1),
];

const SMALL: &[V3Block] = &[
    b(16, 3, 16, 16, true, false, 2),
    b(16, 3, 72, 24, false, false, 2),
    b(24, 3, 88, 24, false, false, 1),
    b(24, 5, 96, 40, true, true, 2),
    b(40, 5, 240, 40, true, true, 1),
    b(40, 5, 240, 40, true, true, 1),
    b(40, 5, 120, 48, true, true, 1),
    b(48, 5, 144, 48, true, true, 1),
    b(48, 5, 288, 96, true, true, 2),
    b(96, 5, 576, 96, true, true, 1),
    b(96, 5, 576, 96, true, true, 1),
];

/// torchvision's two MobileNet V3s.
pub const MOBILENET_V3_VARIANTS: [MobileNetV3Variant; 2] = [
    MobileNetV3Variant {
        name: "mobilenet_v3_large",
        blocks: LARGE,
        last_channel: 1280,
    },
    MobileNetV3Variant {
        name: "mobilenet_v3_small",
        blocks: SMALL,
        last_channel: 1024,
    },
];

/// Configuration of a [`MobileNetV3`].
#[derive(Config, Debug)]
pub struct MobileNetV3Config {
    /// The blocks (a [`MobileNetV3Variant`]'s).
    pub blocks: Vec<V3Block>,
    /// The classifier's hidden width.
    pub last_channel: usize,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Dropout in the classifier.
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// torchvision's BatchNorm for MobileNet V3: eps 1e-3, momentum 0.01.
const EPS: f64 = 1e-3;
const MOMENTUM: f64 = 0.01;

impl MobileNetV3Config {
    /// The configuration of a table row.
    pub fn from_variant(v: &MobileNetV3Variant) -> Self {
        Self::new(v.blocks.to_vec(), v.last_channel)
    }

    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> MobileNetV3 {
        let conv = |channels, kernel, stride| {
            ConvBnActConfig::new(channels, [kernel, kernel])
                .with_stride([stride, stride])
                .with_same_padding(true)
                .with_eps(EPS)
                .with_momentum(MOMENTUM)
                .with_activation(Some(Activation::HardSwish))
                .with_init(Init::HeFanOut)
                .init(device)
        };
        let blocks: Vec<InvertedResidual> = self
            .blocks
            .iter()
            .map(|c| {
                let activation = if c.hard_swish {
                    Activation::HardSwish
                } else {
                    Activation::Relu
                };
                let se = c.se.then(|| {
                    (
                        make_divisible((c.expanded / 4) as f64, 8, None),
                        Activation::Relu,
                        Activation::HardSigmoid,
                    )
                });
                InvertedResidualConfig::new(c.input, c.expanded, c.out, c.kernel, c.stride)
                    .with_activation(activation)
                    .with_se(se)
                    .with_eps(EPS)
                    .with_momentum(MOMENTUM)
                    .init(device)
            })
            .collect();
        let first = self.blocks.first().map_or(16, |c| c.input);
        let last_in = self.blocks.last().map_or(16, |c| c.out);
        let linear = |d_in, d_out| {
            LinearConfig::new(d_in, d_out)
                .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 })
                .init(device)
        };
        MobileNetV3 {
            stem: conv([self.in_channels, first], 3, 2),
            blocks,
            last: conv([last_in, 6 * last_in], 1, 1),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            classifier: vec![
                linear(6 * last_in, self.last_channel),
                linear(self.last_channel, self.num_classes),
            ],
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// MobileNet V3.
///
/// | torchvision | field | large at 224×224 | small at 224×224 |
/// |---|---|---|---|
/// | `features.0` | `stem`: 3×3/2 conv, BN, hard-swish | 16×112×112 | 16×112×112 |
/// | `features.1`–`n` | `blocks`: inverted residuals with SE, ReLU or hard-swish | 160×7×7 | 96×7×7 |
/// | `features.n+1` | `last`: 1×1 conv to 6× channels, BN, hard-swish | 960×7×7 | 576×7×7 |
/// | `classifier.0`, `.3` | `classifier`: Linear, hard-swish, dropout, Linear | num_classes | num_classes |
#[derive(Module, Debug)]
pub struct MobileNetV3 {
    /// 3×3 stride-2 convolution, BatchNorm, hard-swish.
    pub stem: ConvBnAct,
    /// The inverted residual blocks.
    pub blocks: Vec<InvertedResidual>,
    /// 1×1 convolution to six times the channels, BatchNorm, hard-swish.
    pub last: ConvBnAct,
    /// Global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// `[6c → last_channel, last_channel → num_classes]`, hard-swish and dropout between.
    pub classifier: Vec<Linear>,
    /// Dropout between the two linear layers.
    pub dropout: Dropout,
}

impl MobileNetV3 {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("stages");
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3);
        trace::scope("classifier", || {
            let x = Activation::HardSwish.forward(trace::linear("0", &self.classifier[0], x));
            trace::linear("1", &self.classifier[1], self.dropout.forward(x))
        })
    }

    /// `(index of the last block, reduction)` at each resolution.
    fn stage_ends(&self) -> Vec<(usize, usize)> {
        let mut ends = Vec::new();
        let mut reduction = 2;
        for (i, b) in self.blocks.iter().enumerate() {
            let stride = b.depthwise.conv.stride[0];
            if stride == 2 {
                if i > 0 {
                    ends.push((i - 1, reduction));
                } else {
                    ends.push((usize::MAX, reduction)); // the stem
                }
            }
            reduction *= stride;
        }
        ends
    }
}

impl ImageClassifier for MobileNetV3 {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier[1].weight.dims()[1]
    }
}

impl Backbone for MobileNetV3 {
    /// timm's stages: the last tensor at each resolution (reductions 2, 4, 8, 16; the stem for
    /// small, whose first block strides) and the final 1×1 convolution (32).
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut info: Vec<FeatureInfo> = self
            .stage_ends()
            .iter()
            .map(|&(i, r)| match i {
                usize::MAX => FeatureInfo::new("stem", self.stem.conv.weight.dims()[0], r),
                i => FeatureInfo::new(format!("blocks.{i}"), self.blocks[i].project.conv.weight.dims()[0], r),
            })
            .collect();
        let r = info.last().map_or(16, |f| f.reduction * 2);
        info.push(FeatureInfo::new("last", self.last.conv.weight.dims()[0], r));
        info
    }

    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let ends: Vec<usize> = self.stage_ends().iter().map(|e| e.0).collect();
        let mut x = trace::scope("stem", || self.stem.forward(images)); // [b, 16, h/2, w/2]
        let mut out = Vec::new();
        if ends.contains(&usize::MAX) {
            out.push(x.clone());
        }
        trace::scope("blocks", || {
            for (i, b) in self.blocks.iter().enumerate() {
                x = trace::scope(&i.to_string(), || b.forward(x.clone()));
                if ends.contains(&i) {
                    out.push(x.clone());
                }
            }
        });
        out.push(trace::scope("last", || self.last.forward(x))); // [b, 6c, h/32, w/32]
        out
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        let [d_in, _] = self.classifier[1].weight.dims();
        self.classifier[1] = LinearConfig::new(d_in, num_classes)
            .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 })
            .init(device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torchvision: mobilenet_v3_large 5,483,032 parameters, small 2,542,856.
    #[test]
    fn parameters_and_stages() {
        let device = Device::flex();
        for (v, params, stages) in [
            (
                &MOBILENET_V3_VARIANTS[0],
                5_483_032,
                vec![(16, 2), (24, 4), (40, 8), (112, 16), (960, 32)],
            ),
            (
                &MOBILENET_V3_VARIANTS[1],
                2_542_856,
                vec![(16, 2), (16, 4), (24, 8), (48, 16), (576, 32)],
            ),
        ] {
            let model = MobileNetV3Config::from_variant(v).init(&device);
            assert_eq!(kiln_core::count_params(&model), params, "{}", v.name);
            let got: Vec<(usize, usize)> = model.feature_info().iter().map(|f| (f.channels, f.reduction)).collect();
            assert_eq!(got, stages, "{}", v.name);
            let x = Tensor::<4>::zeros([1, 3, 64, 64], &device);
            let features = model.forward_features(x.clone());
            assert_eq!(features.len(), stages.len());
            assert_eq!(features.last().unwrap().dims(), [1, stages[4].0, 2, 2]);
            assert_eq!(model.forward(x).dims(), [1, 1000]);
        }
    }
}
