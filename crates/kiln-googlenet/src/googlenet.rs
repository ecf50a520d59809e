//! The GoogLeNet model: its Inception table, configuration, forward pass and feature contract.

use crate::blocks::{Inception, InceptionAux, InceptionSpec, basic_conv, linear, run};
use burn::{
    config::Config,
    module::{Flag, Module, Param},
    nn::{
        Dropout, DropoutConfig, Linear,
        pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig},
    },
    tensor::{Device, Tensor},
};
use kiln_core::{Backbone, ConvBnAct, FeatureInfo, ImageClassifier, trace};

/// The nine Inception blocks, torchvision's arguments in order.
pub const INCEPTIONS: [InceptionSpec; 9] = [
    spec("inception3a", 192, [64, 96, 128, 16, 32, 32]),
    spec("inception3b", 256, [128, 128, 192, 32, 96, 64]),
    spec("inception4a", 480, [192, 96, 208, 16, 48, 64]),
    spec("inception4b", 512, [160, 112, 224, 24, 64, 64]),
    spec("inception4c", 512, [128, 128, 256, 24, 64, 64]),
    spec("inception4d", 512, [112, 144, 288, 32, 64, 64]),
    spec("inception4e", 528, [256, 160, 320, 32, 128, 128]),
    spec("inception5a", 832, [256, 160, 320, 32, 128, 128]),
    spec("inception5b", 832, [384, 192, 384, 48, 128, 128]),
];

const fn spec(name: &'static str, in_channels: usize, c: [usize; 6]) -> InceptionSpec {
    InceptionSpec {
        name,
        in_channels,
        ch1x1: c[0],
        ch3x3red: c[1],
        ch3x3: c[2],
        ch5x5red: c[3],
        ch5x5: c[4],
        pool_proj: c[5],
    }
}

/// Channels of the last Inception block, the classifier's input.
pub const LAST_CHANNELS: usize = 1024;

/// The weight of each auxiliary head's loss in training: the paper's 0.3 ("the losses of the
/// auxiliary classifiers were weighted by 0.3"), for each of the two heads (Inception v3 uses 0.4
/// for its one). torchvision has no GoogLeNet training recipe to take a weight from: its
/// reference page says the weights were ported from the original paper, not trained, and its
/// published aux heads are untrained.
pub const AUX_LOSS_WEIGHT: f32 = 0.3;

/// torchvision's parameter counts with 1000 classes: with the auxiliary heads (the builder's
/// default without weights), and without (its published weights' `num_params`).
pub const NUM_PARAMS: [usize; 2] = [13_004_888, 6_624_904];

/// Configuration of [`GoogLeNet`] (torchvision's `GoogLeNet(...)` arguments).
#[derive(Config, Debug)]
pub struct GoogLeNetConfig {
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Build the two auxiliary classifiers (`aux1` after `inception4a`, `aux2` after
    /// `inception4d`); their logits are returned in training only. On by default, as torchvision's
    /// builder without weights. torchvision's published weights load with it off: torchvision
    /// builds with the heads, loads, then deletes them (they are not trained), so build with
    /// `aux_logits: false` for those weights; a file without `aux1.`/`aux2.` keys loads only
    /// into such a model.
    #[config(default = true)]
    pub aux_logits: bool,
    /// Re-normalise inputs given with ImageNet's mean/std to the (x - 0.5) / 0.5 the original
    /// weights expect (torchvision's `transform_input`, which its builder turns on with the
    /// published weights).
    #[config(default = false)]
    pub transform_input: bool,
    /// Dropout before `fc`.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Dropout in the auxiliary heads, after `fc1`.
    #[config(default = 0.7)]
    pub dropout_aux: f64,
}

/// The typed output of [`GoogLeNet::forward`], torchvision's `GoogLeNetOutputs` (which orders
/// them `logits, aux_logits2, aux_logits1`).
#[derive(Debug, Clone)]
pub struct GoogLeNetOutput {
    /// `[batch, num_classes]`.
    pub logits: Tensor<2>,
    /// `[batch, num_classes]` from `aux1` (after `inception4a`): `Some` only in training
    /// (autodiff device, module not switched to `valid()`) when the head exists.
    pub aux_logits1: Option<Tensor<2>>,
    /// `[batch, num_classes]` from `aux2` (after `inception4d`), likewise.
    pub aux_logits2: Option<Tensor<2>>,
}

/// GoogLeNet, Inception v1 (Szegedy et al., "Going Deeper with Convolutions", 2014) as
/// torchvision builds it: 13,004,888 parameters with the auxiliary heads and 1000 classes,
/// 6,624,904 without; 1,498,376,192 multiply-accumulates at 224×224 (torchvision: 1.498 GFLOPS).
///
/// | torchvision module | layers | output at 224×224 |
/// |---|---|---|
/// | `conv1` | conv 7×7/2 pad 3, BN, ReLU | 64×112×112 |
/// | `maxpool1` | max 3×3/2, ceil mode | 64×56×56 |
/// | `conv2`, `conv3` | conv 1×1; conv 3×3 pad 1 | 192×56×56 |
/// | `maxpool2` | max 3×3/2, ceil mode | 192×28×28 |
/// | `inception3a`, `3b` | Inception | 480×28×28 |
/// | `maxpool3` | max 3×3/2, ceil mode | 480×14×14 |
/// | `inception4a`–`4e` | Inception (`aux1` reads 4a, `aux2` reads 4d) | 832×14×14 |
/// | `maxpool4` | max 2×2/2, ceil mode | 832×7×7 |
/// | `inception5a`, `5b` | Inception | 1024×7×7 |
/// | `avgpool`, `dropout`, `fc` | global average, dropout 0.2, linear | num_classes |
///
/// Every convolution is torchvision's `BasicConv2d` (no bias, BatchNorm eps 0.001, ReLU); the
/// Inception blocks' "5×5" branch is a 3×3 convolution as in torchvision ([`Inception`]). Field
/// names are torchvision's, and layers are traced under its module paths.
///
/// Initialisation as torchvision's: weights of convolutions and linear layers normal with
/// standard deviation 0.01 (torchvision's `trunc_normal_` truncates at ±2, i.e. ±200 standard
/// deviations, which never acts), linear biases PyTorch's default, BatchNorm 1 and 0.
///
/// # Shapes
/// - images `[batch, in_channels, h, w]`, h and w at least 15 (torchvision's `min_size`; at 14
///   the third max pooling gets a 1×1 grid and has no window)
/// - stages `[batch, 64 | 192 | 480 | 832 | 1024, ≈h/r, ≈w/r]` for r = 2, 4, 8, 16, 32 (ceil-mode
///   pooling rounds up: 64×64 gives 32, 16, 8, 4, 2; 33×33 gives 17, 8, 4, 2, 1)
/// - logits `[batch, num_classes]`
#[derive(Module, Debug)]
pub struct GoogLeNet {
    /// 7×7/2 → 64.
    pub conv1: ConvBnAct,
    /// 3×3/2 max pooling, ceil mode.
    pub maxpool1: MaxPool2d,
    /// 1×1 → 64.
    pub conv2: ConvBnAct,
    /// 3×3 → 192.
    pub conv3: ConvBnAct,
    /// 3×3/2 max pooling, ceil mode.
    pub maxpool2: MaxPool2d,
    /// → 256.
    pub inception3a: Inception,
    /// → 480.
    pub inception3b: Inception,
    /// 3×3/2 max pooling, ceil mode.
    pub maxpool3: MaxPool2d,
    /// → 512.
    pub inception4a: Inception,
    /// → 512.
    pub inception4b: Inception,
    /// → 512.
    pub inception4c: Inception,
    /// → 528.
    pub inception4d: Inception,
    /// → 832.
    pub inception4e: Inception,
    /// 2×2/2 max pooling, ceil mode.
    pub maxpool4: MaxPool2d,
    /// → 832.
    pub inception5a: Inception,
    /// → 1024.
    pub inception5b: Inception,
    /// Auxiliary classifier on `inception4a`'s output (512 channels).
    pub aux1: Option<InceptionAux>,
    /// Auxiliary classifier on `inception4d`'s output (528 channels).
    pub aux2: Option<InceptionAux>,
    /// Global average pooling.
    pub avgpool: AdaptiveAvgPool2d,
    /// Dropout before `fc`.
    pub dropout: Dropout,
    /// 1024 → classes.
    pub fc: Linear,
    /// `transform_input`.
    pub transform_input: bool,
    /// Cleared by `valid()`: the auxiliary logits are computed only while set.
    pub training: Param<Flag>,
}

/// A `k×k` stride-2 max pooling in ceil mode (a last, partial window is kept).
fn ceil_pool(k: usize) -> MaxPool2d {
    MaxPool2dConfig::new([k, k])
        .with_strides([2, 2])
        .with_ceil_mode(true)
        .init()
}

impl GoogLeNetConfig {
    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> GoogLeNet {
        let d = device;
        let [i3a, i3b, i4a, i4b, i4c, i4d, i4e, i5a, i5b] = INCEPTIONS.map(|s| s.init(d));
        let aux = |in_c: usize| {
            self.aux_logits
                .then(|| InceptionAux::new(in_c, self.num_classes, self.dropout_aux, d))
        };
        GoogLeNet {
            conv1: basic_conv(self.in_channels, 64, 7, 2, 3, d),
            maxpool1: ceil_pool(3),
            conv2: basic_conv(64, 64, 1, 1, 0, d),
            conv3: basic_conv(64, 192, 3, 1, 1, d),
            maxpool2: ceil_pool(3),
            inception3a: i3a,
            inception3b: i3b,
            maxpool3: ceil_pool(3),
            inception4a: i4a,
            inception4b: i4b,
            inception4c: i4c,
            inception4d: i4d,
            inception4e: i4e,
            maxpool4: ceil_pool(2),
            inception5a: i5a,
            inception5b: i5b,
            aux1: aux(INCEPTIONS[2].out_channels()),
            aux2: aux(INCEPTIONS[5].out_channels()),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc: linear(LAST_CHANNELS, self.num_classes, d),
            transform_input: self.transform_input,
            training: Param::from_bool(true),
        }
    }
}

/// An Inception block traced under `name`.
fn block(name: &str, inception: &Inception, x: Tensor<4>) -> Tensor<4> {
    trace::scope(name, || inception.forward(x))
}

/// Runs an auxiliary head as a side branch of the trace: its layers get their own receptive
/// fields, and the trunk's layers after it continue from the trunk's field (a head ending in a
/// linear layer would otherwise make them global).
fn side_branch<R>(f: impl FnOnce() -> R) -> R {
    let mut side = trace::branches();
    let out = side.run(f);
    // An empty branch puts the field back where the trunk left it; the branches are not joined.
    side.run(|| ());
    out
}

/// What the trunk computed: the five stages (or only the last), and the auxiliary logits asked for.
struct Trunk {
    stages: Vec<Tensor<4>>,
    aux1: Option<Tensor<2>>,
    aux2: Option<Tensor<2>>,
}

impl GoogLeNet {
    /// torchvision's `_transform_input`: from ImageNet normalisation to (x - 0.5) / 0.5, on
    /// 3-channel inputs when `transform_input` is set.
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

    /// The convolutional trunk up to `inception5b`: every stage when `all_stages` (else only the
    /// last, so that earlier maps can be freed), and the auxiliary logits when `aux` and the
    /// heads exist.
    fn trunk(&self, images: Tensor<4>, aux: bool, all_stages: bool) -> Trunk {
        let mut stages = Vec::with_capacity(5);
        let mut keep = |x: &Tensor<4>| {
            if all_stages {
                stages.push(x.clone());
            }
        };
        let head = |name: &str, module: &Option<InceptionAux>, x: &Tensor<4>| match module {
            Some(h) if aux => Some(side_branch(|| trace::scope(name, || h.forward(x.clone())))),
            _ => None,
        };
        let x = self.transform(images);
        let x = run("conv1", &self.conv1, x); // [b, 64, h/2, w/2]
        keep(&x);
        let x = trace::max_pool2d("maxpool1", &self.maxpool1, x); // [b, 64, h/4, w/4]
        let x = run("conv2", &self.conv2, x); // [b, 64, h/4, w/4]
        let x = run("conv3", &self.conv3, x); // [b, 192, h/4, w/4]
        keep(&x);
        let x = trace::max_pool2d("maxpool2", &self.maxpool2, x); // [b, 192, h/8, w/8]
        let x = block("inception3a", &self.inception3a, x); // [b, 256, h/8, w/8]
        let x = block("inception3b", &self.inception3b, x); // [b, 480, h/8, w/8]
        keep(&x);
        let x = trace::max_pool2d("maxpool3", &self.maxpool3, x); // [b, 480, h/16, w/16]
        let x = block("inception4a", &self.inception4a, x); // [b, 512, h/16, w/16]
        let aux1 = head("aux1", &self.aux1, &x); // [b, num_classes]
        let x = block("inception4b", &self.inception4b, x); // [b, 512, h/16, w/16]
        let x = block("inception4c", &self.inception4c, x); // [b, 512, h/16, w/16]
        let x = block("inception4d", &self.inception4d, x); // [b, 528, h/16, w/16]
        let aux2 = head("aux2", &self.aux2, &x); // [b, num_classes]
        let x = block("inception4e", &self.inception4e, x); // [b, 832, h/16, w/16]
        keep(&x);
        let x = trace::max_pool2d("maxpool4", &self.maxpool4, x); // [b, 832, h/32, w/32]
        let x = block("inception5a", &self.inception5a, x); // [b, 832, h/32, w/32]
        let x = block("inception5b", &self.inception5b, x); // [b, 1024, h/32, w/32]
        stages.push(x);
        Trunk { stages, aux1, aux2 }
    }

    fn classify(&self, x: Tensor<4>) -> Tensor<2> {
        let x = trace::adaptive_avg_pool2d("avgpool", &self.avgpool, x).flatten::<2>(1, 3); // [b, 1024]
        trace::linear("fc", &self.fc, self.dropout.forward(x)) // [b, num_classes]
    }

    /// # Shapes
    /// - images `[batch, in_channels, h, w]` (224×224 for the published weights; at least 15×15)
    /// - returns logits `[batch, num_classes]`, and in training the two auxiliary logits
    ///   `[batch, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> GoogLeNetOutput {
        let training = self.training.is_enabled() && images.device().is_autodiff();
        let mut trunk = self.trunk(images, training, false);
        let last = trunk.stages.pop().expect("the last stage");
        GoogLeNetOutput {
            logits: self.classify(last),
            aux_logits1: trunk.aux1,
            aux_logits2: trunk.aux2,
        }
    }
}

impl ImageClassifier for GoogLeNet {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images).logits
    }

    /// The logits and, in training, `aux1`'s then `aux2`'s logits, each with loss weight
    /// [`AUX_LOSS_WEIGHT`] (0.3, the paper's).
    fn forward_with_aux(&self, images: Tensor<4>) -> (Tensor<2>, Vec<(f32, Tensor<2>)>) {
        let out = self.forward(images);
        let aux = [out.aux_logits1, out.aux_logits2]
            .into_iter()
            .flatten()
            .map(|a| (AUX_LOSS_WEIGHT, a))
            .collect();
        (out.logits, aux)
    }

    fn num_classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }
}

impl Backbone for GoogLeNet {
    /// One stage per resolution, each the last module at it: `conv1` (reduction 2), `conv3`
    /// (4), `inception3b` (8), `inception4e` (16), `inception5b` (32).
    fn feature_info(&self) -> Vec<FeatureInfo> {
        vec![
            FeatureInfo::new("conv1", 64, 2),
            FeatureInfo::new("conv3", 192, 4),
            FeatureInfo::new("inception3b", INCEPTIONS[1].out_channels(), 8),
            FeatureInfo::new("inception4e", INCEPTIONS[6].out_channels(), 16),
            FeatureInfo::new("inception5b", INCEPTIONS[8].out_channels(), 32),
        ]
    }

    /// The stages of [`Backbone::feature_info`] (after `transform_input`); the auxiliary heads
    /// are not run.
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        self.trunk(images, false, true).stages
    }

    /// A fresh `fc`, and a fresh `fc2` in each auxiliary head that exists (their convolution and
    /// `fc1` are kept).
    fn reset_classifier(mut self, num_classes: usize, device: &Device) -> Self {
        self.fc = linear(LAST_CHANNELS, num_classes, device);
        for aux in [&mut self.aux1, &mut self.aux2].into_iter().flatten() {
            aux.fc2 = linear(1024, num_classes, device);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::count_params;

    fn dims(stages: &[Tensor<4>]) -> Vec<[usize; 4]> {
        stages.iter().map(|s| s.dims()).collect()
    }

    #[test]
    fn defaults_as_torchvision() {
        let c = GoogLeNetConfig::new();
        assert_eq!((c.num_classes, c.in_channels), (1000, 3));
        assert!(c.aux_logits && !c.transform_input);
        assert_eq!((c.dropout, c.dropout_aux), (0.2, 0.7));
    }

    /// `sum(p.numel() for p in model.parameters())` of torchvision's `GoogLeNet(...)`.
    #[test]
    fn parameters_equal_torchvision() {
        let device = Device::flex();
        let with_aux = GoogLeNetConfig::new().init(&device);
        assert_eq!(count_params(&with_aux), NUM_PARAMS[0]);
        let without = GoogLeNetConfig::new().with_aux_logits(false).init(&device);
        assert_eq!(count_params(&without), NUM_PARAMS[1]);
        assert!(without.aux1.is_none() && without.aux2.is_none());
        let ten = GoogLeNetConfig::new().with_num_classes(10);
        assert_eq!(count_params(&ten.init(&device)), 9_960_638);
        assert_eq!(count_params(&ten.with_aux_logits(false).init(&device)), 5_610_154);
    }

    /// The stage shapes torchvision's modules output (forward hooks on `conv1`, `conv3`,
    /// `inception3b`, `inception4e`, `inception5b`).
    #[test]
    fn shapes_and_stages_on_64px() {
        let device = Device::flex();
        let model = GoogLeNetConfig::new().with_num_classes(10).init(&device);
        let x = Tensor::<4>::ones([1, 3, 64, 64], &device);
        assert_eq!(
            dims(&model.forward_features(x.clone())),
            [
                [1, 64, 32, 32],
                [1, 192, 16, 16],
                [1, 480, 8, 8],
                [1, 832, 4, 4],
                [1, 1024, 2, 2]
            ]
        );
        let info = model.feature_info();
        let names: Vec<&str> = info.iter().map(|f| f.module.as_str()).collect();
        assert_eq!(names, ["conv1", "conv3", "inception3b", "inception4e", "inception5b"]);
        let channels: Vec<usize> = info.iter().map(|f| f.channels).collect();
        assert_eq!(channels, [64, 192, 480, 832, 1024]);
        let reductions: Vec<usize> = info.iter().map(|f| f.reduction).collect();
        assert_eq!(reductions, [2, 4, 8, 16, 32]);

        // Not an autodiff device: no auxiliary logits although the heads exist.
        let out = model.forward(x.clone());
        assert_eq!(out.logits.dims(), [1, 10]);
        assert!(out.aux_logits1.is_none() && out.aux_logits2.is_none());
        assert!(model.forward_with_aux(x.clone()).1.is_empty());
        assert_eq!(model.num_classes(), 10);

        let model = model.reset_classifier(7, &device);
        assert_eq!(model.forward_logits(x).dims(), [1, 7]);
        assert_eq!(model.num_classes(), 7);
        for aux in [&model.aux1, &model.aux2] {
            assert_eq!(aux.as_ref().map(|a| a.fc2.weight.dims()), Some([1024, 7]));
        }
    }

    /// Ceil-mode pooling as torchvision: 33×33 gives 17, 8, 4, 2, 1 (floor mode would give 8, 3,
    /// 1 and then fail); 15×15 is the smallest input (torchvision's `min_size`).
    #[test]
    fn ceil_mode_sizes_and_smallest_input() {
        let device = Device::flex();
        let model = GoogLeNetConfig::new()
            .with_num_classes(10)
            .with_aux_logits(false)
            .init(&device);
        let x = Tensor::<4>::ones([1, 3, 33, 33], &device);
        assert_eq!(
            dims(&model.forward_features(x)),
            [
                [1, 64, 17, 17],
                [1, 192, 8, 8],
                [1, 480, 4, 4],
                [1, 832, 2, 2],
                [1, 1024, 1, 1]
            ]
        );
        let x = Tensor::<4>::ones([1, 3, 15, 15], &device);
        assert_eq!(
            dims(&model.forward_features(x.clone())),
            [
                [1, 64, 8, 8],
                [1, 192, 4, 4],
                [1, 480, 2, 2],
                [1, 832, 1, 1],
                [1, 1024, 1, 1]
            ]
        );
        assert_eq!(model.forward_logits(x).dims(), [1, 10]);
    }

    /// torchvision returns the auxiliary logits only in training; here: on an autodiff device
    /// and before `valid()`. Each weighs 0.3 in the loss. They also run on the 1×1 grid of the
    /// smallest input (adaptive pooling repeats the cell).
    #[test]
    fn aux_logits_only_in_training() {
        let ad = Device::flex().autodiff();
        let model = GoogLeNetConfig::new().with_num_classes(5).init(&ad);
        let out = model.forward(Tensor::<4>::ones([2, 3, 64, 64], &ad));
        assert_eq!(out.logits.dims(), [2, 5]);
        assert_eq!(out.aux_logits1.map(|a| a.dims()), Some([2, 5]));
        assert_eq!(out.aux_logits2.map(|a| a.dims()), Some([2, 5]));
        let (logits, aux) = model.forward_with_aux(Tensor::<4>::ones([1, 3, 15, 15], &ad));
        assert_eq!(logits.dims(), [1, 5]);
        let weights: Vec<f32> = aux.iter().map(|(w, _)| *w).collect();
        assert_eq!(weights, [AUX_LOSS_WEIGHT, AUX_LOSS_WEIGHT]);
        assert!(aux.iter().all(|(_, a)| a.dims() == [1, 5]));

        let eval = model
            .valid()
            .forward(Tensor::<4>::ones([1, 3, 64, 64], &Device::flex()));
        assert!(
            eval.aux_logits1.is_none() && eval.aux_logits2.is_none(),
            "inference: none"
        );
    }

    /// `transform_input` maps an ImageNet-normalised 0.5 grey to (0.5 - 0.5) / 0.5 = 0.
    #[test]
    fn transform_input_renormalises() {
        let device = Device::flex();
        let model = GoogLeNetConfig::new()
            .with_aux_logits(false)
            .with_transform_input(true)
            .init(&device);
        let grey = [(0.5 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225f32];
        let x = Tensor::<1>::from_floats(grey, &device).reshape([1, 3, 1, 1]);
        let y: Vec<f32> = model.transform(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        assert!(y.iter().all(|v| v.abs() < 1e-5), "{y:?}");
        let off = GoogLeNetConfig::new().with_aux_logits(false).init(&device);
        assert_eq!(off.transform(x.clone()).into_data(), x.into_data());
    }

    /// The summary sees every parameter, names layers by torchvision's paths and counts
    /// torchvision's multiply-accumulates at 224×224: 1,498,376,192 by forward hooks on its
    /// Conv2d and Linear modules (published: 1.498 GFLOPS).
    #[test]
    fn trace_covers_every_layer() {
        let device = Device::flex();
        let model = GoogLeNetConfig::new().with_aux_logits(false).init(&device);
        let x = Tensor::<4>::zeros([1, 3, 224, 224], &device);
        let (y, records) = trace::collect(|| model.forward_logits(x));
        assert_eq!(y.dims(), [1, 1000]);
        let params: usize = records.iter().map(|r| r.params).sum();
        assert_eq!(params, count_params(&model));
        let macs: u64 = records.iter().map(|r| r.macs).sum();
        assert_eq!(macs, 1_498_376_192);
        assert!((macs as f64 / 1.498e9 - 1.0).abs() < 0.02);
        let paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
        for p in [
            "conv1.conv",
            "conv1.bn",
            "maxpool1",
            "conv3.conv",
            "maxpool2",
            "inception3a.branch1.conv",
            "inception3a.branch2.0.conv",
            "inception3a.branch2.1.bn",
            "inception3a.branch3.1.conv",
            "inception3a.branch4.0",
            "inception3a.branch4.1.conv",
            "maxpool4",
            "inception5b.branch4.1.bn",
            "avgpool",
            "fc",
        ] {
            assert!(paths.contains(&p), "{p} not traced: {paths:?}");
        }
        let convs = records.iter().filter(|r| r.kind.starts_with("Conv2d")).count();
        assert_eq!(convs, 3 + 9 * 6);
        let fc = records.last().expect("records");
        assert_eq!((fc.path.as_str(), fc.receptive_field), ("fc", None));
    }

    /// In training the auxiliary heads are traced under `aux1`/`aux2` as side branches: the trunk
    /// after them keeps a finite receptive field.
    #[test]
    fn aux_heads_traced_as_side_branches() {
        let ad = Device::flex().autodiff();
        let model = GoogLeNetConfig::new().with_num_classes(10).init(&ad);
        let x = Tensor::<4>::zeros([1, 3, 64, 64], &ad);
        let (_, records) = trace::collect(|| model.forward(x));
        let params: usize = records.iter().map(|r| r.params).sum();
        assert_eq!(params, count_params(&model));
        let find = |p: &str| {
            records
                .iter()
                .find(|r| r.path == p)
                .unwrap_or_else(|| panic!("{p} not traced"))
        };
        for p in ["aux1.conv.conv", "aux1.fc1", "aux1.fc2", "aux2.conv.conv", "aux2.fc2"] {
            find(p);
        }
        assert_eq!(find("aux1.fc2").receptive_field, None);
        assert!(find("inception4b.branch1.conv").receptive_field.is_some());
        assert!(find("inception4e.branch1.conv").receptive_field.is_some());
    }
}
