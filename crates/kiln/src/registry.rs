//! The model registry: every architecture by name, as data.

use crate::Model;
use burn::tensor::Device;
use kiln_alexnet::AlexNetConfig;
use kiln_convnext::{CONVNEXT_VARIANTS, ConvNextConfig};
use kiln_core::Activation;
use kiln_densenet::{DENSENET_VARIANTS, DenseNetConfig};
use kiln_efficientnet::{EFFICIENTNET_VARIANTS, EfficientNetConfig};
use kiln_googlenet::GoogLeNetConfig;
use kiln_inception::InceptionV3Config;
use kiln_lenet::LeNet5Config;
use kiln_mnasnet::{MNASNET_VARIANTS, MnasNetConfig};
use kiln_mobilenet::{MOBILENET_V3_VARIANTS, MobileNetV2Config, MobileNetV3Config};
use kiln_regnet::{REGNET_VARIANTS, RegNetConfig};
use kiln_resnet::{RESNET_VARIANTS, ResNetConfig, Stem};
use kiln_shufflenet::{SHUFFLENET_VARIANTS, ShuffleNetV2Config};
use kiln_squeezenet::{SQUEEZENET_VARIANTS, SqueezeNetConfig};
use kiln_vgg::{VGG_VARIANTS, VggConfig};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The architecture family of a registry entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// LeNet-5.
    LeNet,
    /// AlexNet.
    AlexNet,
    /// VGG (depth and BatchNorm from the name).
    Vgg,
    /// Inception v3.
    Inception,
    /// ResNet, ResNeXt and Wide ResNet (depth and width from the name).
    ResNet,
    /// MobileNet V2.
    MobileNetV2,
    /// MobileNet V3 (small or large from the name).
    MobileNetV3,
    /// EfficientNet (B0–B7, V2 S/M/L from the name).
    EfficientNet,
    /// MNASNet (width from the name).
    MnasNet,
    /// ShuffleNet V2 (width from the name).
    ShuffleNetV2,
    /// SqueezeNet (1.0 or 1.1 from the name).
    SqueezeNet,
    /// DenseNet (depth from the name).
    DenseNet,
    /// GoogLeNet (Inception v1).
    GoogLeNet,
    /// ConvNeXt (size from the name).
    ConvNext,
    /// RegNet X and Y (size from the name).
    RegNet,
}

/// A registered architecture.
#[derive(Clone, Copy, Debug)]
pub struct ModelInfo {
    /// The registry name (`resnet50`), torchvision's.
    pub name: &'static str,
    /// Other names accepted on the command line.
    pub aliases: &'static [&'static str],
    /// The family.
    pub family: Family,
    /// The paper.
    pub paper: &'static str,
    /// The input the architecture is designed for, `[channels, height, width]`.
    pub input: [usize; 3],
    /// The smallest square input the architecture accepts.
    pub min_size: usize,
    /// The architecture as Keras's `keras.applications` defines it (its weight files import by
    /// layer order; its preprocessing is Keras's), rather than torchvision's.
    pub keras: bool,
}

const LENET: &str = "LeCun et al. 1998, Gradient-based learning applied to document recognition";
const ALEXNET: &str = "Krizhevsky et al. 2012, ImageNet classification with deep CNNs";
const VGG: &str = "Simonyan & Zisserman 2014, Very deep convolutional networks";
const INCEPTION: &str = "Szegedy et al. 2015, Rethinking the Inception architecture";
const RESNET: &str = "He et al. 2015, Deep residual learning for image recognition";
const RESNEXT: &str = "Xie et al. 2017, Aggregated residual transformations for deep neural networks";
const WIDE_RESNET: &str = "Zagoruyko & Komodakis 2016, Wide residual networks";
const MOBILENET_V2: &str = "Sandler et al. 2018, MobileNetV2: Inverted residuals and linear bottlenecks";
const MOBILENET_V3: &str = "Howard et al. 2019, Searching for MobileNetV3";
const EFFICIENTNET: &str = "Tan & Le 2019, EfficientNet: Rethinking model scaling for CNNs";
const MNASNET: &str = "Tan et al. 2018, MnasNet: Platform-aware neural architecture search for mobile";
const SHUFFLENET_V2: &str = "Ma et al. 2018, ShuffleNet V2: Practical guidelines for efficient CNN architecture design";
const SQUEEZENET: &str = "Iandola et al. 2016, SqueezeNet: AlexNet-level accuracy with 50x fewer parameters";
const GOOGLENET: &str = "Szegedy et al. 2015, Going deeper with convolutions";
const REGNET: &str = "Radosavovic et al. 2020, Designing network design spaces";
const CONVNEXT: &str = "Liu et al. 2022, A ConvNet for the 2020s";
const DENSENET: &str = "Huang et al. 2017, Densely connected convolutional networks";
const EFFICIENTNET_V2: &str = "Tan & Le 2021, EfficientNetV2: Smaller models and faster training";

macro_rules! entry {
    ($name:literal, $aliases:expr, $family:ident, $paper:ident, $size:literal, $min:literal) => {
        ModelInfo {
            name: $name,
            aliases: $aliases,
            family: Family::$family,
            paper: $paper,
            input: [if $size == 28 { 1 } else { 3 }, $size, $size],
            min_size: $min,
            keras: false,
        }
    };
}

/// A Keras application (`keras.applications`), as [`entry!`] otherwise.
macro_rules! keras {
    ($name:literal, $family:ident, $paper:ident, $size:literal, $min:literal) => {
        ModelInfo {
            name: $name,
            aliases: &[],
            family: Family::$family,
            paper: $paper,
            input: [3, $size, $size],
            min_size: $min,
            keras: true,
        }
    };
}

const MODELS: &[ModelInfo] = &[
    entry!("lenet5", &["lenet", "lenet-5"], LeNet, LENET, 28, 28),
    entry!("alexnet", &[], AlexNet, ALEXNET, 224, 63),
    entry!("vgg11", &[], Vgg, VGG, 224, 32),
    entry!("vgg13", &[], Vgg, VGG, 224, 32),
    entry!("vgg16", &["vgg"], Vgg, VGG, 224, 32),
    entry!("vgg19", &[], Vgg, VGG, 224, 32),
    entry!("vgg11_bn", &[], Vgg, VGG, 224, 32),
    entry!("vgg13_bn", &[], Vgg, VGG, 224, 32),
    entry!("vgg16_bn", &[], Vgg, VGG, 224, 32),
    entry!("vgg19_bn", &[], Vgg, VGG, 224, 32),
    entry!(
        "inception_v3",
        &["inception", "inceptionv3", "inception-v3"],
        Inception,
        INCEPTION,
        299,
        75
    ),
    entry!("resnet18", &["resnet"], ResNet, RESNET, 224, 8),
    entry!("resnet34", &[], ResNet, RESNET, 224, 8),
    entry!("resnet50", &[], ResNet, RESNET, 224, 8),
    entry!("resnet101", &[], ResNet, RESNET, 224, 8),
    entry!("resnet152", &[], ResNet, RESNET, 224, 8),
    entry!("resnext50_32x4d", &["resnext50", "resnext"], ResNet, RESNEXT, 224, 8),
    entry!("resnext101_32x8d", &[], ResNet, RESNEXT, 224, 8),
    entry!("resnext101_64x4d", &[], ResNet, RESNEXT, 224, 8),
    entry!(
        "wide_resnet50_2",
        &["wide_resnet", "wide_resnet50"],
        ResNet,
        WIDE_RESNET,
        224,
        8
    ),
    entry!("wide_resnet101_2", &[], ResNet, WIDE_RESNET, 224, 8),
    entry!("mobilenet_v2", &["mobilenetv2"], MobileNetV2, MOBILENET_V2, 224, 32),
    entry!(
        "mobilenet_v3_large",
        &["mobilenet_v3"],
        MobileNetV3,
        MOBILENET_V3,
        224,
        32
    ),
    entry!("mobilenet_v3_small", &[], MobileNetV3, MOBILENET_V3, 224, 32),
    entry!(
        "efficientnet_b0",
        &["efficientnet"],
        EfficientNet,
        EFFICIENTNET,
        224,
        32
    ),
    entry!("efficientnet_b1", &[], EfficientNet, EFFICIENTNET, 240, 32),
    entry!("efficientnet_b2", &[], EfficientNet, EFFICIENTNET, 288, 32),
    entry!("efficientnet_b3", &[], EfficientNet, EFFICIENTNET, 300, 32),
    entry!("efficientnet_b4", &[], EfficientNet, EFFICIENTNET, 380, 32),
    entry!("efficientnet_b5", &[], EfficientNet, EFFICIENTNET, 456, 32),
    entry!("efficientnet_b6", &[], EfficientNet, EFFICIENTNET, 528, 32),
    entry!("efficientnet_b7", &[], EfficientNet, EFFICIENTNET, 600, 32),
    entry!("efficientnet_v2_s", &[], EfficientNet, EFFICIENTNET_V2, 384, 33),
    entry!("efficientnet_v2_m", &[], EfficientNet, EFFICIENTNET_V2, 480, 33),
    entry!("efficientnet_v2_l", &[], EfficientNet, EFFICIENTNET_V2, 480, 33),
    entry!("mnasnet0_5", &[], MnasNet, MNASNET, 224, 32),
    entry!("mnasnet0_75", &[], MnasNet, MNASNET, 224, 32),
    entry!("mnasnet1_0", &["mnasnet"], MnasNet, MNASNET, 224, 32),
    entry!("mnasnet1_3", &[], MnasNet, MNASNET, 224, 32),
    entry!("shufflenet_v2_x0_5", &[], ShuffleNetV2, SHUFFLENET_V2, 224, 32),
    entry!(
        "shufflenet_v2_x1_0",
        &["shufflenet", "shufflenet_v2"],
        ShuffleNetV2,
        SHUFFLENET_V2,
        224,
        32
    ),
    entry!("shufflenet_v2_x1_5", &[], ShuffleNetV2, SHUFFLENET_V2, 224, 32),
    entry!("shufflenet_v2_x2_0", &[], ShuffleNetV2, SHUFFLENET_V2, 224, 32),
    entry!("squeezenet1_0", &["squeezenet"], SqueezeNet, SQUEEZENET, 224, 32),
    entry!("squeezenet1_1", &[], SqueezeNet, SQUEEZENET, 224, 32),
    entry!("densenet121", &["densenet"], DenseNet, DENSENET, 224, 32),
    entry!("densenet161", &[], DenseNet, DENSENET, 224, 32),
    entry!("densenet169", &[], DenseNet, DENSENET, 224, 32),
    entry!("densenet201", &[], DenseNet, DENSENET, 224, 32),
    entry!(
        "googlenet",
        &["inception_v1", "inceptionv1"],
        GoogLeNet,
        GOOGLENET,
        224,
        32
    ),
    entry!("convnext_tiny", &["convnext"], ConvNext, CONVNEXT, 224, 32),
    entry!("convnext_small", &[], ConvNext, CONVNEXT, 224, 32),
    entry!("convnext_base", &[], ConvNext, CONVNEXT, 224, 32),
    entry!("convnext_large", &[], ConvNext, CONVNEXT, 224, 32),
    entry!("regnet_x_400mf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_x_800mf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_x_1_6gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_x_3_2gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_x_8gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_x_16gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_x_32gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_y_400mf", &["regnet"], RegNet, REGNET, 224, 32),
    entry!("regnet_y_800mf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_y_1_6gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_y_3_2gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_y_8gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_y_16gf", &[], RegNet, REGNET, 224, 32),
    entry!("regnet_y_32gf", &[], RegNet, REGNET, 224, 32),
    // Keras's applications (issue 18): the same families as Keras defines them.
    keras!("keras_vgg16", Vgg, VGG, 224, 32),
    keras!("keras_vgg19", Vgg, VGG, 224, 32),
    keras!("keras_resnet50", ResNet, RESNET, 224, 32),
    keras!("keras_resnet101", ResNet, RESNET, 224, 32),
    keras!("keras_resnet152", ResNet, RESNET, 224, 32),
    keras!("keras_inception_v3", Inception, INCEPTION, 299, 75),
];

/// Every registered model, in registry order.
pub fn list_models() -> &'static [ModelInfo] {
    MODELS
}

/// Why a model could not be built.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// No model has this name.
    #[error("unknown model `{name}`; known models: {}", list_models().iter().map(|m| m.name).collect::<Vec<_>>().join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The stored configuration does not fit the architecture.
    #[error("invalid configuration for `{arch}`: {reason}")]
    Config {
        /// The architecture.
        arch: String,
        /// What is wrong.
        reason: String,
    },
    /// The input is smaller than the architecture accepts.
    #[error("{arch} needs inputs of at least {min}x{min} pixels; got {h}x{w}")]
    InputTooSmall {
        /// The architecture.
        arch: String,
        /// Its minimum.
        min: usize,
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
    },
}

/// Resolves a name or alias to its registry entry.
pub fn lookup(name: &str) -> Result<&'static ModelInfo, RegistryError> {
    let lower = name.to_lowercase();
    MODELS
        .iter()
        .find(|m| m.name == lower || m.aliases.contains(&lower.as_str()))
        .ok_or(RegistryError::Unknown { name: name.to_string() })
}

/// What is needed to rebuild a model: its architecture and its configuration (the
/// architecture's `Config` as JSON). Saved in every model directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The registry name.
    pub arch: String,
    /// The architecture's configuration.
    pub config: serde_json::Value,
}

/// Choices made when building a model from the registry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuildOptions {
    /// Output classes.
    pub num_classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// The input `[height, width]` the model will see, when known: checked against the
    /// architecture's minimum, and ResNet takes its small-image stem below 64 pixels.
    pub image_size: Option<[usize; 2]>,
    /// The hidden activation, where the architecture offers the choice (LeNet-5).
    pub activation: Option<Activation>,
    /// ResNet: force the small-image stem (3×3, no max pool) on or off; by default it is used
    /// below 64 pixels.
    pub small_stem: Option<bool>,
    /// Inception v3 and GoogLeNet: torchvision's `transform_input` (inputs normalised with ImageNet's
    /// statistics re-normalised to (x - 0.5) / 0.5, as its pretrained weights expect);
    /// default off, as torchvision's builder without weights.
    pub transform_input: Option<bool>,
}

impl BuildOptions {
    /// `num_classes` outputs for `in_channels` inputs, everything else at its default.
    pub fn new(num_classes: usize, in_channels: usize) -> Self {
        Self {
            num_classes,
            in_channels,
            image_size: None,
            activation: None,
            small_stem: None,
            transform_input: None,
        }
    }
}

/// The row called `name` of a variant table (the registry and the tables agree: every entry's
/// row exists, checked by the tests that build every model).
fn row<'a, V>(table: &'a [V], name: &str, name_of: impl Fn(&V) -> &str) -> &'a V {
    table
        .iter()
        .find(|v| name_of(v) == name)
        .expect("registry and table agree")
}

fn to_json<C: Serialize>(config: &C) -> serde_json::Value {
    serde_json::to_value(config).expect("a Config serialises to JSON")
}

fn from_json<C: serde::de::DeserializeOwned>(arch: &str, value: &serde_json::Value) -> Result<C, RegistryError> {
    serde_json::from_value(value.clone()).map_err(|e| RegistryError::Config {
        arch: arch.to_string(),
        reason: e.to_string(),
    })
}

fn resnet_config(name: &str) -> ResNetConfig {
    ResNetConfig::from_variant(row(&RESNET_VARIANTS, name, |v| v.name))
}

/// The configuration of a MobileNet V3 table row.
pub(crate) fn mobilenet_v3_config(name: &str) -> MobileNetV3Config {
    MobileNetV3Config::from_variant(row(&MOBILENET_V3_VARIANTS, name, |v| v.name))
}

/// The configuration of an EfficientNet table row.
pub(crate) fn efficientnet_config(name: &str) -> EfficientNetConfig {
    EfficientNetConfig::from_variant(row(&EFFICIENTNET_VARIANTS, name, |v| v.name))
}

fn mnasnet_config(name: &str) -> MnasNetConfig {
    MnasNetConfig::from_variant(row(&MNASNET_VARIANTS, name, |v| v.name))
}

fn shufflenet_config(name: &str) -> ShuffleNetV2Config {
    ShuffleNetV2Config::from_variant(row(&SHUFFLENET_VARIANTS, name, |v| v.name))
}

/// The configuration of a SqueezeNet table row.
pub(crate) fn squeezenet_config(name: &str) -> SqueezeNetConfig {
    SqueezeNetConfig::from_variant(row(&SQUEEZENET_VARIANTS, name, |v| v.name))
}

/// The configuration of a DenseNet table row.
pub(crate) fn densenet_config(name: &str) -> DenseNetConfig {
    DenseNetConfig::from_variant(row(&DENSENET_VARIANTS, name, |v| v.name))
}

/// The configuration of a RegNet table row.
pub(crate) fn regnet_config(name: &str) -> RegNetConfig {
    RegNetConfig::from_variant(row(&REGNET_VARIANTS, name, |v| v.name))
}

pub(crate) fn convnext_config(name: &str) -> ConvNextConfig {
    ConvNextConfig::from_variant(row(&CONVNEXT_VARIANTS, name, |v| v.name))
}

fn vgg_config(name: &str) -> VggConfig {
    VggConfig::from_variant(row(&VGG_VARIANTS, name, |v| v.name))
}

/// The number at the end of a registry name (`keras_resnet152` → 152).
fn depth_of(name: &str) -> usize {
    let digits: String = name.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .expect("a depth ends the name")
}

/// The configuration of a Keras application: Keras's VGG (no dropout), ResNet (v1: stride in
/// the first 1×1, conv biases, eps 1.001e-5; always the ImageNet stem) or Inception v3
/// (BatchNorm without scale, pools excluding padding, no auxiliary head).
fn keras_config(info: &ModelInfo, nc: usize, ic: usize) -> serde_json::Value {
    match info.family {
        Family::Vgg => to_json(
            &VggConfig::keras(depth_of(info.name))
                .with_num_classes(nc)
                .with_in_channels(ic),
        ),
        Family::ResNet => to_json(
            &ResNetConfig::keras(depth_of(info.name))
                .expect("Keras publishes ResNet-50, 101 and 152")
                .with_num_classes(nc)
                .with_in_channels(ic),
        ),
        Family::Inception => to_json(&InceptionV3Config::keras().with_num_classes(nc).with_in_channels(ic)),
        other => unreachable!("no Keras variant of {other:?}"),
    }
}

impl ModelSpec {
    /// The spec of `name` (or an alias) with `options` applied, other settings at their
    /// defaults.
    pub fn new(name: &str, options: &BuildOptions) -> Result<Self, RegistryError> {
        let info = lookup(name)?;
        if let Some([h, w]) = options.image_size
            && (h < info.min_size || w < info.min_size)
        {
            return Err(RegistryError::InputTooSmall {
                arch: info.name.into(),
                min: info.min_size,
                h,
                w,
            });
        }
        let (nc, ic) = (options.num_classes, options.in_channels);
        if info.keras {
            return Ok(Self {
                arch: info.name.to_string(),
                config: keras_config(info, nc, ic),
            });
        }
        let config = match info.family {
            Family::LeNet => {
                let mut c = LeNet5Config::new().with_num_classes(nc).with_in_channels(ic);
                if let Some(a) = options.activation {
                    c = c.with_activation(a);
                }
                to_json(&c)
            }
            Family::AlexNet => to_json(&AlexNetConfig::new().with_num_classes(nc).with_in_channels(ic)),
            Family::Vgg => to_json(&vgg_config(info.name).with_num_classes(nc).with_in_channels(ic)),
            Family::Inception => to_json(
                &InceptionV3Config::new()
                    .with_num_classes(nc)
                    .with_in_channels(ic)
                    .with_transform_input(options.transform_input.unwrap_or(false)),
            ),
            Family::ResNet => {
                let small = options
                    .small_stem
                    .unwrap_or_else(|| options.image_size.is_some_and(|[h, w]| h.min(w) < 64));
                let stem = if small { Stem::Small } else { Stem::Imagenet };
                to_json(
                    &resnet_config(info.name)
                        .with_num_classes(nc)
                        .with_in_channels(ic)
                        .with_stem(stem),
                )
            }
            Family::MobileNetV2 => to_json(&MobileNetV2Config::new().with_num_classes(nc).with_in_channels(ic)),
            Family::MobileNetV3 => to_json(&mobilenet_v3_config(info.name).with_num_classes(nc).with_in_channels(ic)),
            Family::EfficientNet => to_json(&efficientnet_config(info.name).with_num_classes(nc).with_in_channels(ic)),
            Family::MnasNet => to_json(&mnasnet_config(info.name).with_num_classes(nc).with_in_channels(ic)),
            Family::ShuffleNetV2 => to_json(&shufflenet_config(info.name).with_num_classes(nc).with_in_channels(ic)),
            Family::SqueezeNet => to_json(&squeezenet_config(info.name).with_num_classes(nc).with_in_channels(ic)),
            Family::DenseNet => to_json(&densenet_config(info.name).with_num_classes(nc).with_in_channels(ic)),
            Family::GoogLeNet => to_json(
                &GoogLeNetConfig::new()
                    .with_num_classes(nc)
                    .with_in_channels(ic)
                    .with_transform_input(options.transform_input.unwrap_or(false)),
            ),
            Family::ConvNext => to_json(&convnext_config(info.name).with_num_classes(nc).with_in_channels(ic)),
            Family::RegNet => to_json(&regnet_config(info.name).with_num_classes(nc).with_in_channels(ic)),
        };
        Ok(Self {
            arch: info.name.to_string(),
            config,
        })
    }
}

/// Builds the model a [`ModelSpec`] describes, with freshly initialised weights (drawn from the
/// device's generator under Kiln's initialisation lock, so that a seeded build running beside it
/// is not disturbed; see [`build_seeded`]).
pub fn build_spec(spec: &ModelSpec, device: &Device) -> Result<Model, RegistryError> {
    let _guard = kiln_core::init_guard();
    let model = build_lazy(spec, device)?;
    kiln_core::materialise(&model);
    Ok(model)
}

/// [`build_spec`] with the device's generator seeded first: the same seed gives the same weights,
/// whatever else the process builds meanwhile.
pub fn build_seeded(spec: &ModelSpec, device: &Device, seed: u64) -> Result<Model, RegistryError> {
    let _guard = kiln_core::seed_for_init(device, seed);
    let model = build_lazy(spec, device)?;
    kiln_core::materialise(&model);
    Ok(model)
}

/// The model of `spec` with its parameters not yet initialised (Burn initialises them on first
/// use): for models whose weights are about to be loaded, and for builds under a lock the caller
/// already holds.
pub(crate) fn build_lazy(spec: &ModelSpec, device: &Device) -> Result<Model, RegistryError> {
    let info = lookup(&spec.arch)?;
    let arch = info.name;
    // The sizes every configuration has, checked before anything is allocated.
    let bad = |reason: String| RegistryError::Config {
        arch: arch.into(),
        reason,
    };
    for (key, range) in [
        ("num_classes", kiln_core::limits::NUM_CLASSES),
        ("in_channels", kiln_core::limits::CHANNELS),
    ] {
        if let Some(v) = spec.config.get(key) {
            let v = v
                .as_u64()
                .ok_or_else(|| bad(format!("{key} must be a whole number, got {v}")))?;
            range.check_as(key, v as usize).map_err(bad)?;
        }
    }
    Ok(match info.family {
        Family::LeNet => Model::LeNet5(from_json::<LeNet5Config>(arch, &spec.config)?.init(device)),
        Family::AlexNet => Model::AlexNet(from_json::<AlexNetConfig>(arch, &spec.config)?.init(device)),
        Family::Vgg => {
            let config = from_json::<VggConfig>(arch, &spec.config)?;
            Model::Vgg(config.init(device).ok_or_else(|| RegistryError::Config {
                arch: arch.into(),
                reason: format!("VGG depth {} is not one of 11, 13, 16, 19", config.depth),
            })?)
        }
        Family::Inception => Model::InceptionV3(from_json::<InceptionV3Config>(arch, &spec.config)?.init(device)),
        Family::ResNet => {
            let config = from_json::<ResNetConfig>(arch, &spec.config)?;
            if config.bottleneck {
                Model::ResNetBottleneck(config.init_bottleneck(device))
            } else {
                Model::ResNetBasic(config.init_basic(device))
            }
        }
        Family::MobileNetV2 => Model::MobileNetV2(from_json::<MobileNetV2Config>(arch, &spec.config)?.init(device)),
        Family::MobileNetV3 => Model::MobileNetV3(from_json::<MobileNetV3Config>(arch, &spec.config)?.init(device)),
        Family::EfficientNet => Model::EfficientNet(from_json::<EfficientNetConfig>(arch, &spec.config)?.init(device)),
        Family::MnasNet => Model::MnasNet(from_json::<MnasNetConfig>(arch, &spec.config)?.init(device)),
        Family::ShuffleNetV2 => Model::ShuffleNetV2(from_json::<ShuffleNetV2Config>(arch, &spec.config)?.init(device)),
        Family::SqueezeNet => Model::SqueezeNet(from_json::<SqueezeNetConfig>(arch, &spec.config)?.init(device)),
        Family::DenseNet => Model::DenseNet(from_json::<DenseNetConfig>(arch, &spec.config)?.init(device)),
        Family::GoogLeNet => Model::GoogLeNet(from_json::<GoogLeNetConfig>(arch, &spec.config)?.init(device)),
        Family::ConvNext => Model::ConvNext(from_json::<ConvNextConfig>(arch, &spec.config)?.init(device)),
        Family::RegNet => Model::RegNet(from_json::<RegNetConfig>(arch, &spec.config)?.init(device)),
    })
}

/// Builds the model called `name` (or an alias) with `num_classes` outputs for `in_channels`
/// input channels, freshly initialised on `device`, as torchvision's `get_model` does.
pub fn build(name: &str, num_classes: usize, in_channels: usize, device: &Device) -> Result<Model, RegistryError> {
    build_spec(
        &ModelSpec::new(name, &BuildOptions::new(num_classes, in_channels))?,
        device,
    )
}
