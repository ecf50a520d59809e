//! Encoders for dense tasks (segmentation, localization): any [`Backbone`] of the zoo through
//! [`BackboneEncoder`], or the small from-scratch [`SmallEncoder`], which also keeps the indices
//! of its max pools so that a SegNet decoder can unpool with them.

use crate::{Backbone, ConvBnAct, ConvBnActConfig, FeatureInfo, Init};
use burn::{
    config::Config,
    module::{Module, ModuleDisplay},
    tensor::{Device, Int, Tensor, module::max_pool2d_with_indices, ops::MaxPoolOptions},
};

/// What an encoder returns.
pub struct Encoded {
    /// One feature map per stage, shallow to deep: `[batch, stages()[i].channels, ≈h/r_i, ≈w/r_i]`.
    pub features: Vec<Tensor<4>>,
    /// `pool_indices[i]`: when stage `i + 1` starts with a 2×2 max pool of `features[i]`, that
    /// pool's argmax positions, `[batch, channels_i, h_i / 2, w_i / 2]`, each a flat index into
    /// the `h_i × w_i` plane of `features[i]`. `None` where the encoder did not pool that way.
    pub pool_indices: Vec<Option<Tensor<4, Int>>>,
}

/// A feature extractor for dense heads.
pub trait Encoder: Module + ModuleDisplay + core::fmt::Display + 'static {
    /// The stages [`Encoder::encode`] returns, shallow to deep.
    fn stages(&self) -> Vec<FeatureInfo>;

    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns [`Encoded`], one entry per stage
    fn encode(&self, images: Tensor<4>) -> Encoded;

    /// Whether [`Encoded::pool_indices`] holds the indices of a 2×2 max pool between every two
    /// consecutive stages (what SegNet's unpooling needs).
    fn pools_with_indices(&self) -> bool {
        false
    }
}

/// Any classifier of the zoo used as an encoder: its [`Backbone::forward_features`] stages, or,
/// with `pooled`, SegNet's view ([`Backbone::forward_features_pooled`]: the stages between 2×2 max
/// pools, the map after the last pool, and every pool's indices) where the backbone offers it. Its
/// classifier head is kept (unused) so that its weights load by their torchvision names.
#[derive(Module, Debug)]
pub struct BackboneEncoder<M> {
    /// The backbone.
    pub backbone: M,
    /// Encode with the pools' indices (for max unpooling).
    #[module(skip)]
    pub pooled: bool,
}

impl<M: Backbone> BackboneEncoder<M> {
    /// The backbone's stages as they are (`pooled: false`).
    pub fn new(backbone: M) -> Self {
        Self {
            backbone,
            pooled: false,
        }
    }

    /// SegNet's view of the backbone where it has one.
    pub fn pooled(backbone: M) -> Self {
        Self { backbone, pooled: true }
    }
}

impl<M: Backbone> Encoder for BackboneEncoder<M> {
    fn stages(&self) -> Vec<FeatureInfo> {
        match self.pooled.then(|| self.backbone.pooled_feature_info()).flatten() {
            Some(stages) => stages,
            None => self.backbone.feature_info(),
        }
    }

    fn encode(&self, images: Tensor<4>) -> Encoded {
        if self.pools_with_indices()
            && let Some(encoded) = self.backbone.forward_features_pooled(images.clone())
        {
            return encoded;
        }
        let features = self.backbone.forward_features(images);
        let pool_indices = features.iter().map(|_| None).collect();
        Encoded { features, pool_indices }
    }

    fn pools_with_indices(&self) -> bool {
        self.pooled && self.backbone.pooled_feature_info().is_some()
    }
}

/// Configuration of a [`SmallEncoder`].
#[derive(Config, Debug)]
pub struct SmallEncoderConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Channels of each stage; stage `i` works at 1/2^i of the input resolution.
    #[config(default = "vec![16, 32, 64, 128]")]
    pub widths: Vec<usize>,
    /// 3×3 convolutions per stage.
    #[config(default = 2)]
    pub convs_per_stage: usize,
}

/// A VGG-style encoder (SegNet's, smaller): per stage, 3×3 conv-BN-ReLU blocks; between stages a
/// 2×2 max pool whose indices are returned for unpooling.
#[derive(Module, Debug)]
pub struct SmallEncoder {
    /// `blocks[stage][i]`.
    pub blocks: Vec<Vec<ConvBnAct>>,
}

impl SmallEncoderConfig {
    /// Builds the encoder on `device` (He initialisation, as for every ReLU network).
    pub fn init(&self, device: &Device) -> SmallEncoder {
        let mut c_in = self.in_channels;
        let mut blocks = Vec::with_capacity(self.widths.len());
        for &w in &self.widths {
            let stage: Vec<ConvBnAct> = (0..self.convs_per_stage.max(1))
                .map(|i| {
                    ConvBnActConfig::new([if i == 0 { c_in } else { w }, w], [3, 3])
                        .with_padding([1, 1])
                        .with_init(Init::He)
                        .init(device)
                })
                .collect();
            blocks.push(stage);
            c_in = w;
        }
        SmallEncoder { blocks }
    }
}

impl Encoder for SmallEncoder {
    fn stages(&self) -> Vec<FeatureInfo> {
        self.blocks
            .iter()
            .enumerate()
            .map(|(i, stage)| {
                let channels = stage.last().map(|b| b.conv.weight.dims()[0]).unwrap_or(0);
                FeatureInfo::new(format!("blocks.{i}"), channels, 1 << i)
            })
            .collect()
    }

    fn encode(&self, images: Tensor<4>) -> Encoded {
        let mut features: Vec<Tensor<4>> = Vec::with_capacity(self.blocks.len());
        let mut pool_indices = Vec::with_capacity(self.blocks.len());
        let mut x = images;
        for (i, stage) in self.blocks.iter().enumerate() {
            if i > 0 {
                let (pooled, indices) = max_pool2d_with_indices(x, MaxPoolOptions::new([2, 2]));
                pool_indices.push(Some(indices));
                x = pooled;
            }
            x = crate::trace::scope(&format!("blocks.{i}"), || stage.iter().fold(x, |x, b| b.forward(x)));
            features.push(x.clone());
        }
        pool_indices.push(None);
        Encoded { features, pool_indices }
    }

    fn pools_with_indices(&self) -> bool {
        true
    }
}
