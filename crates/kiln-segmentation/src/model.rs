//! The encoder-decoder: an [`Encoder`] (any backbone, or the small one), then one decoder stage
//! per encoder stage, deep to shallow, each upsampling to the resolution of the stage below it,
//! then a 1×1 classifier at the input resolution.

use crate::max_unpool2d;
use burn::{
    module::Module,
    nn::{
        PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig},
    },
    tensor::{
        Device, Int, Tensor,
        module::interpolate,
        ops::{InterpolateMode, InterpolateOptions},
    },
};
use kiln_core::{ConvBnAct, ConvBnActConfig, Encoder, Init};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// How a decoder stage doubles (or more) its resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Upsample {
    /// Nearest-neighbour interpolation (no parameters).
    Nearest,
    /// Max unpooling with the encoder's pooling indices (SegNet; no parameters). Needs an
    /// encoder that returns them ([`kiln_core::SmallEncoder`]).
    Unpool,
    /// Learnable: a transposed convolution with kernel = stride = the scale factor.
    Transposed,
}

impl Upsample {
    /// Every mode.
    pub const ALL: [Upsample; 3] = [Self::Nearest, Self::Unpool, Self::Transposed];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nearest => "nearest",
            Self::Unpool => "unpool",
            Self::Transposed => "transposed",
        }
    }
}

impl fmt::Display for Upsample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Upsample {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|u| u.name() == s)
            .ok_or_else(|| format!("unknown upsampling `{s}`; expected nearest, unpool or transposed"))
    }
}

/// How a decoder stage uses the encoder feature of its resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    /// No skip connection (SegNet).
    None,
    /// Concatenate, then convolve (U-Net).
    Concat,
    /// Add (FCN).
    Add,
}

/// The three named architectures, which differ in their default upsampling and skips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegArch {
    /// SegNet (Badrinarayanan et al. 2017): max unpooling, no skips.
    SegNet,
    /// U-Net (Ronneberger et al. 2015): transposed convolutions, concatenated skips.
    UNet,
    /// FCN (Long et al. 2015), decoder variant: a backbone, additive skips, nearest upsampling.
    Fcn,
}

impl SegArch {
    /// Every architecture.
    pub const ALL: [SegArch; 3] = [Self::SegNet, Self::UNet, Self::Fcn];

    /// Registry name.
    pub fn name(self) -> &'static str {
        match self {
            Self::SegNet => "segnet",
            Self::UNet => "unet",
            Self::Fcn => "fcn",
        }
    }

    /// Upsampling used unless another is asked for.
    pub fn default_upsample(self) -> Upsample {
        match self {
            Self::SegNet => Upsample::Unpool,
            Self::UNet => Upsample::Transposed,
            Self::Fcn => Upsample::Nearest,
        }
    }

    /// Skip connections of the architecture.
    pub fn skip(self) -> Skip {
        match self {
            Self::SegNet => Skip::None,
            Self::UNet => Skip::Concat,
            Self::Fcn => Skip::Add,
        }
    }

    /// Looks an architecture up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Decoder settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmenterConfig {
    /// Classes predicted per pixel (background included).
    pub num_classes: usize,
    /// Upsampling of every decoder stage.
    pub upsample: Upsample,
    /// Skip connections.
    pub skip: Skip,
}

impl SegmenterConfig {
    /// The configuration of a named architecture.
    pub fn new(arch: SegArch, num_classes: usize) -> Self {
        Self {
            num_classes,
            upsample: arch.default_upsample(),
            skip: arch.skip(),
        }
    }

    /// Another upsampling.
    pub fn with_upsample(mut self, upsample: Upsample) -> Self {
        self.upsample = upsample;
        self
    }

    /// Builds the decoder around `encoder`. Errors when max unpooling is asked of an encoder
    /// that does not pool with indices between its stages, or whose stages do not halve the
    /// resolution.
    pub fn init<E: Encoder>(&self, encoder: E, device: &Device) -> Result<Segmenter<E>, String> {
        let stages = encoder.stages();
        if stages.is_empty() {
            return Err("the encoder has no stages".into());
        }
        if self.upsample == Upsample::Unpool {
            let pooled = stages.windows(2).all(|w| w[1].reduction == 2 * w[0].reduction) && stages[0].reduction == 1;
            if !pooled || !encoder.pools_with_indices() {
                return Err(format!(
                    "max unpooling needs an encoder that records the indices of its max pools between stages \
                     (the small encoder, `--backbone small`); this encoder's stages {:?} do not",
                    stages.iter().map(|s| &s.module).collect::<Vec<_>>()
                ));
            }
        }
        let up = |c: usize, factor: usize| {
            (self.upsample == Upsample::Transposed && factor > 1).then(|| {
                ConvTranspose2dConfig::new([c, c], [factor, factor])
                    .with_stride([factor, factor])
                    .init(device)
            })
        };
        let conv = |c_in: usize, c_out: usize| {
            ConvBnActConfig::new([c_in, c_out], [3, 3])
                .with_padding([1, 1])
                .with_init(Init::He)
                .init(device)
        };
        let mut decoder = Vec::new();
        let mut c_in = stages.last().unwrap().channels;
        for k in (0..stages.len() - 1).rev() {
            let c = stages[k].channels;
            let factor = (stages[k + 1].reduction / stages[k].reduction.max(1)).max(1);
            let merged = if self.skip == Skip::Concat { 2 * c } else { c };
            decoder.push(DecoderStage {
                reduce: conv(c_in, c),
                up: up(c, factor),
                refine: conv(merged, c),
            });
            c_in = c;
        }
        let r0 = stages[0].reduction;
        let final_stage = (r0 > 1).then(|| {
            let c = c_in.min(64);
            DecoderStage {
                reduce: conv(c_in, c),
                up: up(c, r0),
                refine: conv(c, c),
            }
        });
        let c_head = final_stage
            .as_ref()
            .map(|s| s.refine.conv.weight.dims()[0])
            .unwrap_or(c_in);
        let head = Conv2dConfig::new([c_head, self.num_classes], [1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .init(device);
        Ok(Segmenter {
            encoder,
            decoder,
            final_stage,
            head,
            num_classes: self.num_classes,
            upsample: self.upsample,
            skip: self.skip,
        })
    }
}

/// One decoder stage: reduce the channels to those of the target stage, upsample to its
/// resolution, merge the skip, refine.
#[derive(Module, Debug)]
pub struct DecoderStage {
    /// 3×3 conv-BN-ReLU to the target stage's channels.
    pub reduce: ConvBnAct,
    /// The transposed convolution, in learnable mode.
    pub up: Option<ConvTranspose2d>,
    /// 3×3 conv-BN-ReLU after the skip merge.
    pub refine: ConvBnAct,
}

/// A segmentation network: encoder, decoder, 1×1 classifier.
#[derive(Module, Debug)]
pub struct Segmenter<E> {
    /// The encoder.
    pub encoder: E,
    /// Decoder stages, deep to shallow.
    pub decoder: Vec<DecoderStage>,
    /// Upsampling from the shallowest encoder stage to the input resolution, when that stage
    /// is already downsampled (backbones).
    pub final_stage: Option<DecoderStage>,
    /// Per-pixel classifier.
    pub head: Conv2d,
    /// Classes per pixel.
    pub num_classes: usize,
    /// Upsampling mode.
    #[module(skip)]
    pub upsample: Upsample,
    /// Skip connections.
    #[module(skip)]
    pub skip: Skip,
}

fn resize_nearest(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if [h, w] == size {
        return x;
    }
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size(size),
    )
}

impl DecoderStage {
    /// # Shapes
    /// - x `[batch, c_in, h, w]`; skip `[batch, c, H, W]` (or none); indices `[batch, c, h, w]`
    /// - returns `[batch, c, H, W]`
    fn forward(
        &self,
        x: Tensor<4>,
        size: [usize; 2],
        skip_feature: Option<Tensor<4>>,
        indices: Option<Tensor<4, Int>>,
        upsample: Upsample,
        skip: Skip,
    ) -> Tensor<4> {
        let x = self.reduce.forward(x);
        let x = match (upsample, indices, &self.up) {
            (Upsample::Unpool, Some(idx), _) if idx.dims() == x.dims() => max_unpool2d(x, idx, size),
            (Upsample::Transposed, _, Some(up)) => resize_nearest(up.forward(x), size),
            _ => resize_nearest(x, size),
        };
        let x = match (skip, skip_feature) {
            (Skip::Concat, Some(f)) => Tensor::cat(vec![x, f], 1),
            (Skip::Add, Some(f)) => x + f,
            _ => x,
        };
        self.refine.forward(x)
    }
}

impl<E: Encoder> Segmenter<E> {
    /// Per-pixel class logits at the input resolution.
    ///
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns `[batch, num_classes, h, w]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = images.dims();
        let encoded = self.encoder.encode(images);
        let mut features = encoded.features;
        let mut indices = encoded.pool_indices;
        let mut x = features.pop().expect("an encoder returns at least one stage");
        indices.pop();
        for stage in &self.decoder {
            let target = features.pop().expect("one decoder stage per encoder stage");
            let idx = indices.pop().flatten();
            let [_, _, th, tw] = target.dims();
            x = stage.forward(x, [th, tw], Some(target), idx, self.upsample, self.skip);
        }
        if let Some(stage) = &self.final_stage {
            x = stage.forward(x, [h, w], None, None, self.upsample, Skip::None);
        }
        let x = resize_nearest(x, [h, w]);
        self.head.forward(x)
    }

    /// The most likely class of every pixel.
    ///
    /// # Shapes
    /// - images `[batch, in_channels, h, w]` → `[batch, h, w]`
    pub fn predict(&self, images: Tensor<4>) -> Tensor<3, Int> {
        let logits = self.forward(images);
        let [b, _, h, w] = logits.dims();
        logits.argmax(1).reshape([b, h, w])
    }
}
