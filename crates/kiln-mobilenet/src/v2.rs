//! MobileNet V2.

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

/// torchvision's table: `[expansion t, channels c, repeats n, stride s]` per stage.
pub const MOBILENET_V2_SETTING: [[usize; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];

/// Configuration of a [`MobileNetV2`].
#[derive(Config, Debug)]
pub struct MobileNetV2Config {
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Width multiplier of every layer (channels rounded to multiples of 8).
    #[config(default = 1.0)]
    pub width_mult: f64,
    /// Dropout before the classifier.
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// One block of the trunk, with its stride: what [`MobileNetV2Config::blocks`] lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockPlan {
    pub(crate) in_channels: usize,
    pub(crate) out_channels: usize,
    pub(crate) expansion: usize,
    pub(crate) stride: usize,
}

impl MobileNetV2Config {
    fn stem_channels(&self) -> usize {
        make_divisible(32.0 * self.width_mult, 8, None)
    }

    fn last_channels(&self) -> usize {
        make_divisible(1280.0 * self.width_mult.max(1.0), 8, None)
    }

    /// The 17 inverted residual blocks (at width 1), in order.
    pub(crate) fn blocks(&self) -> Vec<BlockPlan> {
        let mut c = self.stem_channels();
        let mut plans = Vec::new();
        for [t, ch, n, s] in MOBILENET_V2_SETTING {
            let out = make_divisible(ch as f64 * self.width_mult, 8, None);
            for i in 0..n {
                plans.push(BlockPlan {
                    in_channels: c,
                    out_channels: out,
                    expansion: t,
                    stride: if i == 0 { s } else { 1 },
                });
                c = out;
            }
        }
        plans
    }

    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> MobileNetV2 {
        let conv = |channels, kernel, stride| {
            ConvBnActConfig::new(channels, [kernel, kernel])
                .with_stride([stride, stride])
                .with_same_padding(true)
                .with_activation(Some(Activation::Relu6))
                .with_init(Init::HeFanOut)
                .init(device)
        };
        let plans = self.blocks();
        let blocks = plans
            .iter()
            .map(|p| {
                InvertedResidualConfig::new(
                    p.in_channels,
                    (p.in_channels as f64 * p.expansion as f64).round() as usize,
                    p.out_channels,
                    3,
                    p.stride,
                )
                .init(device)
            })
            .collect();
        let last_in = plans.last().expect("seven stages").out_channels;
        MobileNetV2 {
            stem: conv([self.in_channels, self.stem_channels()], 3, 2),
            blocks,
            last: conv([last_in, self.last_channels()], 1, 1),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: LinearConfig::new(self.last_channels(), self.num_classes)
                .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 })
                .init(device),
        }
    }
}

/// MobileNet V2.
///
/// | torchvision | field | output at 224×224 |
/// |---|---|---|
/// | `features.0` | `stem`: 3×3/2 conv, BN, ReLU6 | 32×112×112 |
/// | `features.1`–`17` | `blocks`: inverted residuals (t, c, n, s) of [`MOBILENET_V2_SETTING`] | 320×7×7 |
/// | `features.18` | `last`: 1×1 conv, BN, ReLU6 | 1280×7×7 |
/// | `classifier.1` | `classifier` after global pooling and dropout | num_classes |
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    /// 3×3 stride-2 convolution, BatchNorm, ReLU6.
    pub stem: ConvBnAct,
    /// The 17 inverted residual blocks.
    pub blocks: Vec<InvertedResidual>,
    /// 1×1 convolution to 1280 channels, BatchNorm, ReLU6.
    pub last: ConvBnAct,
    /// Global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// Dropout before the classifier.
    pub dropout: Dropout,
    /// `1280 → num_classes`.
    pub classifier: Linear,
}

/// Indices (into `blocks`) of the last block of each resolution, and their reductions.
fn stage_ends(blocks: &[InvertedResidual]) -> Vec<(usize, usize)> {
    let mut ends = Vec::new();
    let mut reduction = 2;
    for (i, b) in blocks.iter().enumerate() {
        let stride = b.depthwise.conv.stride[0];
        if stride == 2 && i > 0 {
            ends.push((i - 1, reduction));
        }
        reduction *= stride;
    }
    ends.push((blocks.len() - 1, reduction));
    ends
}

impl MobileNetV2 {
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns logits `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(images).pop().expect("stages");
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3);
        trace::linear("classifier", &self.classifier, self.dropout.forward(x))
    }
}

impl ImageClassifier for MobileNetV2 {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn num_classes(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}

impl Backbone for MobileNetV2 {
    /// timm's stages: the last block at each resolution (reductions 2, 4, 8, 16) and the final
    /// 1×1 convolution (32).
    fn feature_info(&self) -> Vec<FeatureInfo> {
        let ends = stage_ends(&self.blocks);
        let mut info: Vec<FeatureInfo> = ends[..ends.len() - 1]
            .iter()
            .map(|&(i, r)| FeatureInfo::new(format!("blocks.{i}"), self.blocks[i].project.conv.weight.dims()[0], r))
            .collect();
        let r = ends.last().expect("a final stage").1;
        info.push(FeatureInfo::new("last", self.last.conv.weight.dims()[0], r));
        info
    }

    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let ends: Vec<usize> = stage_ends(&self.blocks).iter().map(|e| e.0).collect();
        let mut x = trace::scope("stem", || self.stem.forward(images)); // [b, 32, h/2, w/2]
        let mut out = Vec::new();
        trace::scope("blocks", || {
            for (i, b) in self.blocks.iter().enumerate() {
                x = trace::scope(&i.to_string(), || b.forward(x.clone()));
                if ends[..ends.len() - 1].contains(&i) {
                    out.push(x.clone());
                }
            }
        });
        out.push(trace::scope("last", || self.last.forward(x))); // [b, 1280, h/32, w/32]
        out
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        let [d_in, _] = self.classifier.weight.dims();
        self.classifier = LinearConfig::new(d_in, num_classes)
            .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 })
            .init(device);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torchvision's `mobilenet_v2()`: 3,504,872 parameters.
    #[test]
    fn parameters_and_stages() {
        let device = Device::flex();
        let model = MobileNetV2Config::new().init(&device);
        assert_eq!(kiln_core::count_params(&model), 3_504_872);
        let info = model.feature_info();
        let shape: Vec<(usize, usize)> = info.iter().map(|f| (f.channels, f.reduction)).collect();
        assert_eq!(shape, [(16, 2), (24, 4), (32, 8), (96, 16), (1280, 32)]);
        let x = Tensor::<4>::zeros([1, 3, 64, 64], &device);
        let features = model.forward_features(x.clone());
        assert_eq!(features[3].dims(), [1, 96, 4, 4]);
        assert_eq!(model.forward(x).dims(), [1, 1000]);
    }
}
