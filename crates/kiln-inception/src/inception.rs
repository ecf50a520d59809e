//! The Inception v3 model.

use crate::blocks::{InceptionA, InceptionAux, InceptionB, InceptionC, InceptionD, InceptionE, basic};
use burn::{
    config::Config,
    module::{Flag, Module, Param},
    nn::{
        Dropout, DropoutConfig, Linear, LinearConfig,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor},
};
use kiln_core::{Backbone, ConvBnAct, FeatureInfo, ImageClassifier, trace};

/// Configuration of [`InceptionV3`].
#[derive(Config, Debug)]
pub struct InceptionV3Config {
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Build the auxiliary classifier (its logits are returned in training only).
    #[config(default = true)]
    pub aux_logits: bool,
    /// Re-normalise inputs given with ImageNet's mean/std to the (x - 0.5) / 0.5 the original
    /// Google weights expect (torchvision's `transform_input`, on for its pretrained weights).
    #[config(default = false)]
    pub transform_input: bool,
    /// Dropout before the classifier.
    #[config(default = 0.5)]
    pub dropout: f64,
    /// The 3×3 average pooling of the pool branches (blocks A, C, E) counts the zero padding in
    /// its border averages (torchvision's `F.avg_pool2d`) or divides by the real pixels only
    /// (`Some(false)`: Keras's `AveragePooling2D(padding="same")`). `None` is `true`: an `Option`
    /// so that configurations saved before the field existed still load (Burn's `Config` derive
    /// gives a missing field no default when deserialising; serde reads a missing `Option` as
    /// `None`).
    pub count_include_pad: Option<bool>,
}

impl InceptionV3Config {
    /// Keras's `keras.applications` InceptionV3: torchvision's layers and branch order without
    /// the auxiliary head, dropout or `transform_input`, and with pool branches that exclude the
    /// padding from their averages. Keras's BatchNormalization has no `gamma` (`scale=False`);
    /// Kiln's [`ConvBnAct`] keeps one, which the importer sets to 1. Layout: [`crate::keras_layout`].
    ///
    /// Parameters with 1000 classes: Keras counts 23,851,784 (`count_params()`, moving
    /// statistics included; 23,817,352 trainable: convolutions, BatchNorm `beta`s, `predictions`).
    /// Kiln adds one `gamma` per BatchNorm channel, C = 17,216 (94 BatchNorms): Burn's
    /// `num_params()` is 23,851,784 + C = 23,869,000, and [`kiln_core::count_params`] (running
    /// statistics left out, as PyTorch counts) 23,817,352 + C = 23,834,568, torchvision's count
    /// without the auxiliary head.
    pub fn keras() -> Self {
        Self::new()
            .with_aux_logits(false)
            .with_transform_input(false)
            .with_dropout(0.0)
            .with_count_include_pad(Some(false))
    }

    /// Whether the pool branches count the padding (`count_include_pad` with its default, `true`,
    /// resolved).
    pub fn pool_counts_padding(&self) -> bool {
        self.count_include_pad.unwrap_or(true)
    }
}

/// The typed output of [`InceptionV3::forward`], torchvision's `InceptionOutputs`.
#[derive(Debug, Clone)]
pub struct InceptionOutput {
    /// `[batch, num_classes]`.
    pub logits: Tensor<2>,
    /// `[batch, num_classes]` from the auxiliary head: `Some` only in training (autodiff device
    /// and the module not switched to `valid()`) when the head exists.
    pub aux_logits: Option<Tensor<2>>,
}

/// Inception v3: 27,161,264 parameters with the auxiliary head and 1000 classes (23,834,568
/// without). Designed for 299×299 inputs; runs on inputs of 75×75 and more (the auxiliary head
/// needs the 17×17 grid of a 299×299 input... at least 5×5).
///
/// Field names are torchvision's (`Conv2d_1a_3x3`, `Mixed_5b`, `AuxLogits`, `fc`).
#[allow(non_snake_case)]
#[derive(Module, Debug)]
pub struct InceptionV3 {
    /// 3×3/2 → 32.
    pub Conv2d_1a_3x3: ConvBnAct,
    /// 3×3 → 32.
    pub Conv2d_2a_3x3: ConvBnAct,
    /// 3×3 pad 1 → 64.
    pub Conv2d_2b_3x3: ConvBnAct,
    /// 3×3/2 max pooling.
    pub maxpool: MaxPool2d,
    /// 1×1 → 80.
    pub Conv2d_3b_1x1: ConvBnAct,
    /// 3×3 → 192.
    pub Conv2d_4a_3x3: ConvBnAct,
    /// Block A → 256.
    pub Mixed_5b: InceptionA,
    /// Block A → 288.
    pub Mixed_5c: InceptionA,
    /// Block A → 288.
    pub Mixed_5d: InceptionA,
    /// Block B, reduction → 768.
    pub Mixed_6a: InceptionB,
    /// Block C (c7 = 128).
    pub Mixed_6b: InceptionC,
    /// Block C (c7 = 160).
    pub Mixed_6c: InceptionC,
    /// Block C (c7 = 160).
    pub Mixed_6d: InceptionC,
    /// Block C (c7 = 192).
    pub Mixed_6e: InceptionC,
    /// The auxiliary classifier.
    pub AuxLogits: Option<InceptionAux>,
    /// Block D, reduction → 1280.
    pub Mixed_7a: InceptionD,
    /// Block E → 2048.
    pub Mixed_7b: InceptionE,
    /// Block E → 2048.
    pub Mixed_7c: InceptionE,
    /// Global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// Dropout before `fc`.
    pub dropout: Dropout,
    /// 2048 → classes.
    pub fc: Linear,
    /// `transform_input`.
    pub transform_input: bool,
    /// Cleared by `valid()`: the auxiliary logits are computed only while set.
    pub training: Param<Flag>,
}

impl InceptionV3Config {
    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> InceptionV3 {
        let d = device;
        let pad = self.pool_counts_padding();
        InceptionV3 {
            Conv2d_1a_3x3: basic(self.in_channels, 32, [3, 3], 2, [0, 0], d),
            Conv2d_2a_3x3: basic(32, 32, [3, 3], 1, [0, 0], d),
            Conv2d_2b_3x3: basic(32, 64, [3, 3], 1, [1, 1], d),
            maxpool: MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(),
            Conv2d_3b_1x1: basic(64, 80, [1, 1], 1, [0, 0], d),
            Conv2d_4a_3x3: basic(80, 192, [3, 3], 1, [0, 0], d),
            Mixed_5b: InceptionA::new(192, 32, d).with_count_include_pad(pad),
            Mixed_5c: InceptionA::new(256, 64, d).with_count_include_pad(pad),
            Mixed_5d: InceptionA::new(288, 64, d).with_count_include_pad(pad),
            Mixed_6a: InceptionB::new(288, d),
            Mixed_6b: InceptionC::new(768, 128, d).with_count_include_pad(pad),
            Mixed_6c: InceptionC::new(768, 160, d).with_count_include_pad(pad),
            Mixed_6d: InceptionC::new(768, 160, d).with_count_include_pad(pad),
            Mixed_6e: InceptionC::new(768, 192, d).with_count_include_pad(pad),
            AuxLogits: self.aux_logits.then(|| InceptionAux::new(768, self.num_classes, d)),
            Mixed_7a: InceptionD::new(768, d),
            Mixed_7b: InceptionE::new(1280, d).with_count_include_pad(pad),
            Mixed_7c: InceptionE::new(2048, d).with_count_include_pad(pad),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc: LinearConfig::new(2048, self.num_classes).init(d),
            transform_input: self.transform_input,
            training: Param::from_bool(true),
        }
    }
}

fn conv(name: &str, block: &ConvBnAct, x: Tensor<4>) -> Tensor<4> {
    trace::scope(name, || block.forward(x))
}

impl InceptionV3 {
    /// torchvision's `_transform_input`: from ImageNet normalisation to (x - 0.5) / 0.5.
    fn transform(&self, x: Tensor<4>) -> Tensor<4> {
        if !self.transform_input {
            return x;
        }
        let [b, c, h, w] = x.dims();
        if c != 3 {
            return x;
        }
        let mean = [0.485f32, 0.456, 0.406];
        let std = [0.229f32, 0.224, 0.225];
        let channels: Vec<Tensor<4>> = (0..3)
            .map(|i| x.clone().slice([0..b, i..i + 1, 0..h, 0..w]) * (std[i] / 0.5) + (mean[i] - 0.5) / 0.5)
            .collect();
        Tensor::cat(channels, 1)
    }

    /// The trunk up to the 17×17 grid (`Mixed_6e`), with the earlier stage outputs.
    fn trunk(&self, images: Tensor<4>) -> (Vec<Tensor<4>>, Tensor<4>) {
        let x = self.transform(images);
        let x = conv("Conv2d_1a_3x3", &self.Conv2d_1a_3x3, x); // [b, 32, 149, 149]
        let x = conv("Conv2d_2a_3x3", &self.Conv2d_2a_3x3, x); // [b, 32, 147, 147]
        let s1 = conv("Conv2d_2b_3x3", &self.Conv2d_2b_3x3, x); // [b, 64, 147, 147]
        let x = trace::max_pool2d("maxpool1", &self.maxpool, s1.clone()); // [b, 64, 73, 73]
        let x = conv("Conv2d_3b_1x1", &self.Conv2d_3b_1x1, x); // [b, 80, 73, 73]
        let s2 = conv("Conv2d_4a_3x3", &self.Conv2d_4a_3x3, x); // [b, 192, 71, 71]
        let x = trace::max_pool2d("maxpool2", &self.maxpool, s2.clone()); // [b, 192, 35, 35]
        let x = trace::scope("Mixed_5b", || self.Mixed_5b.forward(x)); // [b, 256, 35, 35]
        let x = trace::scope("Mixed_5c", || self.Mixed_5c.forward(x)); // [b, 288, 35, 35]
        let s3 = trace::scope("Mixed_5d", || self.Mixed_5d.forward(x)); // [b, 288, 35, 35]
        let x = trace::scope("Mixed_6a", || self.Mixed_6a.forward(s3.clone())); // [b, 768, 17, 17]
        let x = trace::scope("Mixed_6b", || self.Mixed_6b.forward(x));
        let x = trace::scope("Mixed_6c", || self.Mixed_6c.forward(x));
        let x = trace::scope("Mixed_6d", || self.Mixed_6d.forward(x));
        let s4 = trace::scope("Mixed_6e", || self.Mixed_6e.forward(x)); // [b, 768, 17, 17]
        (vec![s1, s2, s3], s4)
    }

    /// The head after the 17×17 grid.
    fn top(&self, x: Tensor<4>) -> Tensor<4> {
        let x = trace::scope("Mixed_7a", || self.Mixed_7a.forward(x)); // [b, 1280, 8, 8]
        let x = trace::scope("Mixed_7b", || self.Mixed_7b.forward(x)); // [b, 2048, 8, 8]
        trace::scope("Mixed_7c", || self.Mixed_7c.forward(x)) // [b, 2048, 8, 8]
    }

    fn classify(&self, x: Tensor<4>) -> Tensor<2> {
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, 2048]
        trace::linear("fc", &self.fc, self.dropout.forward(x)) // [b, num_classes]
    }

    /// # Shapes
    /// - images `[batch, in_channels, 299, 299]` (at least 75×75)
    /// - returns logits `[batch, num_classes]`, and in training the auxiliary logits
    ///   `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> InceptionOutput {
        let training = self.training.is_enabled() && images.device().is_autodiff();
        let (_, grid17) = self.trunk(images);
        let aux_logits = match (&self.AuxLogits, training) {
            (Some(aux), true) => Some(trace::scope("AuxLogits", || aux.forward(grid17.clone()))),
            _ => None,
        };
        let logits = self.classify(self.top(grid17));
        InceptionOutput { logits, aux_logits }
    }
}

impl ImageClassifier for InceptionV3 {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images).logits
    }

    fn forward_with_aux(&self, images: Tensor<4>) -> (Tensor<2>, Vec<(f32, Tensor<2>)>) {
        let out = self.forward(images);
        // torchvision's reference recipe weighs the auxiliary loss by 0.4.
        (out.logits, out.aux_logits.map(|a| (0.4, a)).into_iter().collect())
    }

    fn num_classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }
}

impl Backbone for InceptionV3 {
    fn feature_info(&self) -> Vec<FeatureInfo> {
        vec![
            FeatureInfo::new("Conv2d_2b_3x3", 64, 2),
            FeatureInfo::new("Conv2d_4a_3x3", 192, 4),
            FeatureInfo::new("Mixed_5d", 288, 8),
            FeatureInfo::new("Mixed_6e", 768, 16),
            FeatureInfo::new("Mixed_7c", 2048, 32),
        ]
    }

    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let (mut stages, grid17) = self.trunk(images);
        stages.push(grid17.clone());
        stages.push(self.top(grid17));
        stages
    }

    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        self.fc = LinearConfig::new(2048, num_classes).init(device);
        if self.AuxLogits.is_some() {
            self.AuxLogits = Some(InceptionAux::new(768, num_classes, device));
        }
        self
    }
}
