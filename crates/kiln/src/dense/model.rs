//! Dense models by name: the encoder choice, the segmenter and the localizer, and the spec that
//! rebuilds them.

use crate::{BuildOptions, Model, ModelSpec, RegistryError, build_spec};
use burn::{module::Module, tensor::Device};
use kiln_core::{BackboneEncoder, Encoded, Encoder, FeatureInfo, SmallEncoder, SmallEncoderConfig};
use kiln_localization::{Localizer, LocalizerConfig};
use kiln_segmentation::{SegArch, Segmenter, SegmenterConfig, Upsample};
use serde::{Deserialize, Serialize};

/// The encoder of a dense model: the small from-scratch one, or any registered classifier.
#[derive(Module, Debug)]
pub enum DenseEncoder {
    /// [`SmallEncoder`] (keeps its max-pool indices: SegNet's unpooling works).
    Small(SmallEncoder),
    /// A registered model's [`kiln_core::Backbone`] stages.
    Backbone(BackboneEncoder<Model>),
}

impl Encoder for DenseEncoder {
    fn stages(&self) -> Vec<FeatureInfo> {
        match self {
            Self::Small(e) => e.stages(),
            Self::Backbone(e) => e.stages(),
        }
    }

    fn encode(&self, images: burn::tensor::Tensor<4>) -> Encoded {
        match self {
            Self::Small(e) => e.encode(images),
            Self::Backbone(e) => e.encode(images),
        }
    }

    fn pools_with_indices(&self) -> bool {
        match self {
            Self::Small(e) => e.pools_with_indices(),
            Self::Backbone(e) => e.pools_with_indices(),
        }
    }
}

/// The dense tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenseTask {
    /// Semantic segmentation with a named architecture.
    Segment(SegArch),
    /// Classification + localization of one object.
    Localize,
}

impl DenseTask {
    /// The command-line names: `segnet`, `unet`, `fcn`, `localizer`.
    pub const NAMES: [&str; 4] = ["segnet", "unet", "fcn", "localizer"];

    /// Looks a task up by its command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "localizer" => Some(Self::Localize),
            other => SegArch::from_name(other).map(Self::Segment),
        }
    }

    /// Its command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Segment(a) => a.name(),
            Self::Localize => "localizer",
        }
    }
}

/// Everything that rebuilds a dense model (saved in its `model.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseSpec {
    /// Task and architecture.
    pub task: DenseTask,
    /// `small` or a registry name (`resnet18`, `vgg11_bn`, ...).
    pub backbone: String,
    /// Upsampling (segmentation only).
    pub upsample: Option<Upsample>,
    /// Classes: per pixel (background included) or per object.
    pub num_classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input `[height, width]`.
    pub image_size: [usize; 2],
    /// Widths of the small encoder.
    #[serde(default = "default_widths")]
    pub widths: Vec<usize>,
    /// The backbone's exact registry spec, when it came from pretrained weights (its stem and
    /// channels are then those of the weights).
    #[serde(default)]
    pub backbone_spec: Option<ModelSpec>,
}

fn default_widths() -> Vec<usize> {
    vec![16, 32, 64, 128]
}

impl DenseSpec {
    /// A spec with the task's default upsampling and the small encoder's default widths.
    pub fn new(
        task: DenseTask,
        backbone: &str,
        num_classes: usize,
        in_channels: usize,
        image_size: [usize; 2],
    ) -> Self {
        Self {
            task,
            backbone: backbone.to_string(),
            upsample: match task {
                DenseTask::Segment(a) => Some(a.default_upsample()),
                DenseTask::Localize => None,
            },
            num_classes,
            in_channels,
            image_size,
            widths: default_widths(),
            backbone_spec: None,
        }
    }
}

/// A built dense model.
#[derive(Module, Debug)]
pub enum DenseModel {
    /// A segmentation network.
    Segmenter(Segmenter<DenseEncoder>),
    /// A localizer.
    Localizer(Localizer<DenseEncoder>),
}

/// Builds the encoder a spec names.
pub fn build_encoder(spec: &DenseSpec, device: &Device) -> Result<DenseEncoder, RegistryError> {
    if spec.backbone == "small" {
        return Ok(DenseEncoder::Small(
            SmallEncoderConfig::new(spec.in_channels)
                .with_widths(spec.widths.clone())
                .init(device),
        ));
    }
    let options = BuildOptions {
        image_size: Some(spec.image_size),
        ..BuildOptions::new(1000, spec.in_channels)
    };
    let backbone_spec = match &spec.backbone_spec {
        Some(s) => s.clone(),
        None => ModelSpec::new(&spec.backbone, &options)?,
    };
    let backbone = build_spec(&backbone_spec, device)?;
    Ok(DenseEncoder::Backbone(backbone_encoder(spec, backbone)))
}

/// A registered model as the encoder of `spec`: SegNet's pooled view (VGG's five pools with their
/// indices) when the decoder unpools, its plain stages otherwise.
pub fn backbone_encoder(spec: &DenseSpec, backbone: Model) -> BackboneEncoder<Model> {
    if spec.upsample == Some(Upsample::Unpool) {
        BackboneEncoder::pooled(backbone)
    } else {
        BackboneEncoder::new(backbone)
    }
}

/// Builds the model a spec describes.
pub fn build_dense(spec: &DenseSpec, device: &Device) -> Result<DenseModel, RegistryError> {
    let encoder = build_encoder(spec, device)?;
    let config_error = |reason: String| RegistryError::Config {
        arch: spec.task.name().into(),
        reason,
    };
    Ok(match spec.task {
        DenseTask::Segment(arch) => {
            let mut config = SegmenterConfig::new(arch, spec.num_classes);
            if let Some(up) = spec.upsample {
                config = config.with_upsample(up);
            }
            DenseModel::Segmenter(config.init(encoder, device).map_err(config_error)?)
        }
        DenseTask::Localize => DenseModel::Localizer(LocalizerConfig::new(spec.num_classes).init(encoder, device)),
    })
}
