//! The feature contract every backbone of the zoo offers (timm's `feature_info` /
//! `forward_features` / `reset_classifier`). Segmentation and localization heads consume only
//! this, so any backbone fits them.

use crate::{Encoded, ImageClassifier};
use burn::tensor::{Device, Tensor};
use serde::Serialize;

/// One stage of a backbone's feature pyramid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeatureInfo {
    /// The module that produces it (`layer3`, `Mixed_6e`).
    pub module: String,
    /// Channels of the stage output.
    pub channels: usize,
    /// Nominal downsampling from the input (product of the strides before it).
    pub reduction: usize,
}

impl FeatureInfo {
    /// A stage description.
    pub fn new(module: impl Into<String>, channels: usize, reduction: usize) -> Self {
        Self {
            module: module.into(),
            channels,
            reduction,
        }
    }
}

/// A classifier whose convolutional trunk can be used on its own.
pub trait Backbone: ImageClassifier + Sized {
    /// The stages [`Backbone::forward_features`] returns, in order.
    fn feature_info(&self) -> Vec<FeatureInfo>;

    /// The output of every stage listed by [`Backbone::feature_info`].
    ///
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`
    /// - returns, per stage `i`, `[batch, feature_info()[i].channels, ≈h/reduction, ≈w/reduction]`
    fn forward_features(&self, images: Tensor<4>) -> Vec<Tensor<4>>;

    /// The same backbone with a freshly initialised classifier for `num_classes` classes (the
    /// transfer-learning head swap).
    fn reset_classifier(self, num_classes: usize, device: &Device) -> Self;

    /// SegNet's view of the backbone, where the architecture downsamples only by 2×2 max pools
    /// between its stages (VGG): the stages of [`Backbone::feature_info`] and, last, the map after
    /// the final pool. `None` (the default) where it does not (ResNet and AlexNet downsample by
    /// strided convolutions or overlapping 3×3 pools).
    fn pooled_feature_info(&self) -> Option<Vec<FeatureInfo>> {
        None
    }

    /// The stages of [`Backbone::pooled_feature_info`] with the argmax indices of every pool
    /// (see [`Encoded`]), for max unpooling; `None` where the architecture does not pool so.
    ///
    /// # Shapes
    /// - images `[batch, in_channels, h, w]`, `h` and `w` multiples of `2^pools`
    /// - returns one feature map per pooled stage, and `pool_indices[i]` of the shape of
    ///   `features[i + 1]` for every pool
    fn forward_features_pooled(&self, images: Tensor<4>) -> Option<Encoded> {
        let _ = images;
        None
    }
}
