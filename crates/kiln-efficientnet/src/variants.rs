//! torchvision's EfficientNet variants as data.

use serde::{Deserialize, Serialize};

/// The block type of a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageKind {
    /// 1×1 expansion, depthwise k×k, squeeze-and-excitation, 1×1 projection.
    MbConv,
    /// k×k convolution in place of expansion + depthwise (V2's early stages), no SE.
    Fused,
}

/// One row of torchvision's `inverted_residual_setting`, before width and depth scaling.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRow {
    /// Block type.
    pub kind: StageKind,
    /// Expansion ratio.
    pub expand_ratio: f64,
    /// Kernel size.
    pub kernel: usize,
    /// Stride of the first block.
    pub stride: usize,
    /// Input channels.
    pub input: usize,
    /// Output channels.
    pub out: usize,
    /// Blocks.
    pub layers: usize,
}

const fn mb(expand_ratio: f64, kernel: usize, stride: usize, input: usize, out: usize, layers: usize) -> StageRow {
    StageRow {
        kind: StageKind::MbConv,
        expand_ratio,
        kernel,
        stride,
        input,
        out,
        layers,
    }
}

const fn fused(expand_ratio: f64, kernel: usize, stride: usize, input: usize, out: usize, layers: usize) -> StageRow {
    StageRow {
        kind: StageKind::Fused,
        ..mb(expand_ratio, kernel, stride, input, out, layers)
    }
}

/// B0's stages, scaled by width and depth for B1–B7.
const V1: &[StageRow] = &[
    mb(1.0, 3, 1, 32, 16, 1),
    mb(6.0, 3, 2, 16, 24, 2),
    mb(6.0, 5, 2, 24, 40, 2),
    mb(6.0, 3, 2, 40, 80, 3),
    mb(6.0, 5, 1, 80, 112, 3),
    mb(6.0, 5, 2, 112, 192, 4),
    mb(6.0, 3, 1, 192, 320, 1),
];

const V2_S: &[StageRow] = &[
    fused(1.0, 3, 1, 24, 24, 2),
    fused(4.0, 3, 2, 24, 48, 4),
    fused(4.0, 3, 2, 48, 64, 4),
    mb(4.0, 3, 2, 64, 128, 6),
    mb(6.0, 3, 1, 128, 160, 9),
    mb(6.0, 3, 2, 160, 256, 15),
];

const V2_M: &[StageRow] = &[
    fused(1.0, 3, 1, 24, 24, 3),
    fused(4.0, 3, 2, 24, 48, 5),
    fused(4.0, 3, 2, 48, 80, 5),
    mb(4.0, 3, 2, 80, 160, 7),
    mb(6.0, 3, 1, 160, 176, 14),
    mb(6.0, 3, 2, 176, 304, 18),
    mb(6.0, 3, 1, 304, 512, 5),
];

const V2_L: &[StageRow] = &[
    fused(1.0, 3, 1, 32, 32, 4),
    fused(4.0, 3, 2, 32, 64, 7),
    fused(4.0, 3, 2, 64, 96, 7),
    mb(4.0, 3, 2, 96, 192, 10),
    mb(6.0, 3, 1, 192, 224, 19),
    mb(6.0, 3, 2, 224, 384, 25),
    mb(6.0, 3, 1, 384, 640, 7),
];

/// A row of the variant table.
#[derive(Clone, Copy, Debug)]
pub struct EfficientNetVariant {
    /// Registry name.
    pub name: &'static str,
    /// Stages before scaling.
    pub stages: &'static [StageRow],
    /// Channel multiplier (V1 compound scaling).
    pub width_mult: f64,
    /// Depth multiplier (V1 compound scaling; blocks rounded up).
    pub depth_mult: f64,
    /// Dropout before the classifier.
    pub dropout: f64,
    /// Channels of the last 1×1 convolution; `None` for four times the last stage's.
    pub last_channel: Option<usize>,
    /// BatchNorm epsilon and momentum.
    pub norm: (f64, f64),
    /// The input size torchvision's weights were evaluated at (its transform's crop).
    pub crop: usize,
    /// The resize before the crop.
    pub resize: usize,
}

const BN: (f64, f64) = (1e-5, 0.1);
const BN_B5: (f64, f64) = (1e-3, 0.01);
const BN_V2: (f64, f64) = (1e-3, 0.1);

const fn v1(
    name: &'static str,
    width_mult: f64,
    depth_mult: f64,
    dropout: f64,
    norm: (f64, f64),
    resize: usize,
    crop: usize,
) -> EfficientNetVariant {
    EfficientNetVariant {
        name,
        stages: V1,
        width_mult,
        depth_mult,
        dropout,
        last_channel: None,
        norm,
        crop,
        resize,
    }
}

const fn v2(
    name: &'static str,
    stages: &'static [StageRow],
    dropout: f64,
    resize: usize,
    crop: usize,
) -> EfficientNetVariant {
    EfficientNetVariant {
        name,
        stages,
        width_mult: 1.0,
        depth_mult: 1.0,
        dropout,
        last_channel: Some(1280),
        norm: BN_V2,
        crop,
        resize,
    }
}

/// Every EfficientNet of torchvision (`efficientnet.py`: builders and their weights' transforms).
pub const EFFICIENTNET_VARIANTS: [EfficientNetVariant; 11] = [
    v1("efficientnet_b0", 1.0, 1.0, 0.2, BN, 256, 224),
    v1("efficientnet_b1", 1.0, 1.1, 0.2, BN, 256, 240),
    v1("efficientnet_b2", 1.1, 1.2, 0.3, BN, 288, 288),
    v1("efficientnet_b3", 1.2, 1.4, 0.3, BN, 320, 300),
    v1("efficientnet_b4", 1.4, 1.8, 0.4, BN, 384, 380),
    v1("efficientnet_b5", 1.6, 2.2, 0.4, BN_B5, 456, 456),
    v1("efficientnet_b6", 1.8, 2.6, 0.5, BN_B5, 528, 528),
    v1("efficientnet_b7", 2.0, 3.1, 0.5, BN_B5, 600, 600),
    v2("efficientnet_v2_s", V2_S, 0.2, 384, 384),
    v2("efficientnet_v2_m", V2_M, 0.3, 480, 480),
    v2("efficientnet_v2_l", V2_L, 0.4, 480, 480),
];
