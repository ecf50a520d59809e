//! The model registry: every architecture by name, as data.

use crate::Model;
use burn::tensor::Device;
use kiln_alexnet::AlexNetConfig;
use kiln_core::Activation;
use kiln_inception::InceptionV3Config;
use kiln_lenet::LeNet5Config;
use kiln_resnet::{RESNET_VARIANTS, ResNetConfig, Stem};
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
    /// ResNet (depth from the name).
    ResNet,
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
}

const LENET: &str = "LeCun et al. 1998, Gradient-based learning applied to document recognition";
const ALEXNET: &str = "Krizhevsky et al. 2012, ImageNet classification with deep CNNs";
const VGG: &str = "Simonyan & Zisserman 2014, Very deep convolutional networks";
const INCEPTION: &str = "Szegedy et al. 2015, Rethinking the Inception architecture";
const RESNET: &str = "He et al. 2015, Deep residual learning for image recognition";

macro_rules! entry {
    ($name:literal, $aliases:expr, $family:ident, $paper:ident, $size:literal, $min:literal) => {
        ModelInfo {
            name: $name,
            aliases: $aliases,
            family: Family::$family,
            paper: $paper,
            input: [if $size == 28 { 1 } else { 3 }, $size, $size],
            min_size: $min,
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
    /// Inception v3: torchvision's `transform_input` (inputs normalised with ImageNet's
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
    let v = RESNET_VARIANTS
        .iter()
        .find(|v| v.name == name)
        .expect("registry and table agree");
    ResNetConfig::from_variant(v)
}

fn vgg_config(name: &str) -> VggConfig {
    let v = VGG_VARIANTS
        .iter()
        .find(|v| v.name == name)
        .expect("registry and table agree");
    VggConfig::from_variant(v)
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
