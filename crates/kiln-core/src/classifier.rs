//! What the trainer, evaluator and predictor need from an image classifier.

use burn::{
    module::{Module, ModuleDisplay},
    tensor::Tensor,
};
use serde::{Deserialize, Serialize};

/// A model that maps a batch of images to class logits.
pub trait ImageClassifier: Module + ModuleDisplay + core::fmt::Display + 'static {
    /// # Shapes
    /// - images `[batch, channels, height, width]`, normalised as [`Preprocessing`] says
    /// - returns logits `[batch, num_classes]`
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2>;

    /// The logits and, in training, auxiliary logits with the weight of their loss (Inception
    /// v3's auxiliary classifier, weight 0.4). Most models have none.
    ///
    /// # Shapes
    /// as [`ImageClassifier::forward_logits`]; each auxiliary output `[batch, num_classes]`
    fn forward_with_aux(&self, images: Tensor<4>) -> (Tensor<2>, Vec<(f32, Tensor<2>)>) {
        (self.forward_logits(images), Vec::new())
    }

    /// The number of classes the head predicts.
    fn num_classes(&self) -> usize;
}

/// How raw images become the tensor a model was trained on. Saved beside every model so that
/// `predict` and `eval` preprocess exactly as training did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Input channels: 1 (grey) or 3 (RGB). Images are converted to this.
    pub channels: usize,
    /// Height the image is resized to (after `resize`, the centre crop height).
    pub height: usize,
    /// Width, likewise.
    pub width: usize,
    /// Shorter side resized to this before a centre crop, when set (torchvision's `Resize(256)`).
    #[serde(default)]
    pub resize: Option<usize>,
    /// Per-channel mean subtracted after scaling pixels to [0, 1].
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by.
    pub std: Vec<f32>,
    /// Invert grey levels (white digit on black as MNIST) when the image's border is light;
    /// used for digit photos and scans that are dark ink on white paper.
    #[serde(default)]
    pub invert_light_background: bool,
    /// The resampling filter of the resize (Pillow's, as torchvision's `Resize` on PIL images).
    #[serde(default)]
    pub interpolation: Interpolation,
    /// The order of the colour channels the model takes: RGB, or BGR (Keras's `caffe`
    /// preprocessing of VGG and ResNet, inherited from Caffe's OpenCV images). `mean` and `std`
    /// are in this order.
    #[serde(default)]
    pub channel_order: ChannelOrder,
    /// Bytes are divided by this before the mean is subtracted: 255 scales them to [0, 1]
    /// (torchvision, Keras's `torch` mode), 127.5 to [0, 2] (Keras's `tf` mode, with mean 1:
    /// [-1, 1]), 1 keeps 0–255 (Keras's `caffe` mode).
    #[serde(default = "default_pixel_divisor")]
    pub pixel_divisor: f32,
}

fn default_pixel_divisor() -> f32 {
    255.0
}

/// The order of the colour channels of a model's input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// Red, green, blue (torchvision, Keras's `tf` and `torch` modes).
    #[default]
    Rgb,
    /// Blue, green, red (Keras's `caffe` mode).
    Bgr,
}

/// A resampling filter, as Pillow and torchvision's `InterpolationMode` name them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Triangle filter (torchvision's default).
    #[default]
    Bilinear,
    /// Keys' cubic convolution, a = -0.5 (used by several torchvision weights).
    Bicubic,
    /// The nearest pixel, as Pillow's `NEAREST` (Keras's `load_img` default): output pixel `x`
    /// takes input pixel `floor((x + 0.5) · in / out)`.
    Nearest,
}

impl core::str::FromStr for Interpolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "bilinear" => Ok(Self::Bilinear),
            "bicubic" => Ok(Self::Bicubic),
            "nearest" => Ok(Self::Nearest),
            other => Err(format!(
                "unknown interpolation `{other}` (expected bilinear or bicubic)"
            )),
        }
    }
}

impl core::fmt::Display for Interpolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Bilinear => "bilinear",
            Self::Bicubic => "bicubic",
            Self::Nearest => "nearest",
        })
    }
}

impl Preprocessing {
    /// Checks every field against its range ([`crate::limits`]): channels 1 or 3, sides
    /// between 1 and 8,192 pixels, one finite mean and one positive, finite standard deviation
    /// per channel. Names the field in the error.
    pub fn validate(&self) -> Result<(), String> {
        use crate::limits::{CHANNELS, IMAGE_SIDE, MEAN, STD};
        CHANNELS.check_as("channels", self.channels)?;
        if self.channels == 2 {
            return Err("channels must be 1 (grey) or 3 (RGB), got 2".into());
        }
        IMAGE_SIDE.check_as("height", self.height)?;
        IMAGE_SIDE.check_as("width", self.width)?;
        if let Some(r) = self.resize {
            IMAGE_SIDE.check_as("resize", r)?;
        }
        if !(self.pixel_divisor.is_finite() && self.pixel_divisor > 0.0) {
            return Err(format!(
                "pixel_divisor must be a positive number (255: [0, 1]; 1: 0–255), got {}",
                self.pixel_divisor
            ));
        }
        if self.channel_order == ChannelOrder::Bgr && self.channels != 3 {
            return Err(format!("channel_order bgr needs 3 channels, got {}", self.channels));
        }
        for (name, values, range) in [("mean", &self.mean, MEAN), ("std", &self.std, STD)] {
            if values.len() != self.channels {
                return Err(format!(
                    "{name} needs {} value(s), one per channel, got {}",
                    self.channels,
                    values.len()
                ));
            }
            for v in values {
                range.check_as(name, *v as f64)?;
            }
        }
        Ok(())
    }

    /// MNIST's normalisation (mean 0.1307, std 0.3081 of the training pixels) at 28×28.
    pub fn mnist() -> Self {
        Self {
            channels: 1,
            height: 28,
            width: 28,
            resize: None,
            mean: vec![0.1307],
            std: vec![0.3081],
            invert_light_background: true,
            interpolation: Interpolation::Bilinear,
            channel_order: ChannelOrder::Rgb,
            pixel_divisor: 255.0,
        }
    }

    /// torchvision's ImageNet evaluation transform: shorter side resized to `resize`, centre
    /// crop `crop`×`crop`, ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
    pub fn imagenet(resize: usize, crop: usize) -> Self {
        Self {
            channels: 3,
            height: crop,
            width: crop,
            resize: Some(resize),
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
            invert_light_background: false,
            interpolation: Interpolation::Bilinear,
            channel_order: ChannelOrder::Rgb,
            pixel_divisor: 255.0,
        }
    }

    /// Takes the normalisation of `weights` (what pretrained weights expect: mean, std, channel
    /// order, pixel scale), keeping this data set's sizes and resizing.
    pub fn normalise_as(&mut self, weights: &Preprocessing) {
        self.mean = weights.mean.clone();
        self.std = weights.std.clone();
        self.channel_order = weights.channel_order;
        self.pixel_divisor = weights.pixel_divisor;
    }

    /// Keras's preprocessing of its applications' weights at `size`×`size`: `keras.utils.load_img`'s
    /// plain resize (no crop) with Pillow's nearest filter, then `preprocess_input`'s `mode`:
    /// `caffe` (VGG, ResNet: RGB → BGR, ImageNet's means subtracted on the 0–255 scale, no
    /// scaling), `tf` (Inception, Xception, MobileNet: to [-1, 1]) or `torch` (DenseNet:
    /// torchvision's). `None` for another mode.
    pub fn keras(mode: &str, size: usize) -> Option<Self> {
        let base = Self {
            channels: 3,
            height: size,
            width: size,
            resize: None,
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
            invert_light_background: false,
            interpolation: Interpolation::Nearest,
            channel_order: ChannelOrder::Rgb,
            pixel_divisor: 255.0,
        };
        Some(match mode {
            "caffe" => Self {
                mean: vec![103.939, 116.779, 123.68],
                channel_order: ChannelOrder::Bgr,
                pixel_divisor: 1.0,
                ..base
            },
            "tf" => Self {
                mean: vec![1.0; 3],
                pixel_divisor: 127.5,
                ..base
            },
            "torch" => Self {
                mean: vec![0.485, 0.456, 0.406],
                std: vec![0.229, 0.224, 0.225],
                ..base
            },
            _ => return None,
        })
    }

    /// Fashion-MNIST's normalisation (mean 0.2860, std 0.3530) at 28×28.
    pub fn fashion_mnist() -> Self {
        Self {
            mean: vec![0.2860],
            std: vec![0.3530],
            invert_light_background: false,
            ..Self::mnist()
        }
    }
}
