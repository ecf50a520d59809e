use crate::ImageSet;
use kiln_core::Preprocessing;

/// One labelled image, pixels stored planar (`[channels, height, width]`) as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageItem {
    /// `channels * height * width` bytes, channel-major.
    pub pixels: Vec<u8>,
    /// Channels (1 grey, 3 RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// The class index.
    pub label: usize,
}

impl ImageItem {
    /// The item resized to `height × width` (bilinear, each channel plane separately); the item
    /// itself when it already has that size.
    pub fn resized(&self, height: usize, width: usize) -> ImageItem {
        if (self.height, self.width) == (height, width) {
            return self.clone();
        }
        let plane = self.height * self.width;
        let mut pixels = Vec::with_capacity(self.channels * height * width);
        for c in 0..self.channels {
            let src = image::GrayImage::from_raw(
                self.width as u32,
                self.height as u32,
                self.pixels[c * plane..(c + 1) * plane].to_vec(),
            )
            .expect("plane size matches the item's dimensions");
            let dst = image::imageops::resize(&src, width as u32, height as u32, image::imageops::FilterType::Triangle);
            pixels.extend_from_slice(dst.as_raw());
        }
        ImageItem {
            pixels,
            height,
            width,
            ..*self
        }
    }

    /// The item with `channels` channels: a grey item is replicated into each, an RGB item
    /// converted to grey (ITU-R 601 luma) for one channel; otherwise unchanged.
    pub fn with_channels(self, channels: usize) -> ImageItem {
        let plane = self.height * self.width;
        match (self.channels, channels) {
            (a, b) if a == b => self,
            (1, n) => ImageItem {
                pixels: self.pixels.repeat(n),
                channels: n,
                ..self
            },
            (3, 1) => ImageItem {
                pixels: (0..plane)
                    .map(|i| {
                        let (r, g, b) = (
                            self.pixels[i] as f32,
                            self.pixels[plane + i] as f32,
                            self.pixels[2 * plane + i] as f32,
                        );
                        (0.299 * r + 0.587 * g + 0.114 * b).round() as u8
                    })
                    .collect(),
                channels: 1,
                ..self
            },
            _ => self,
        }
    }
}

/// A classification data set: train (and validation) and test images, class names and the
/// normalisation that goes with it.
#[derive(Clone, Debug)]
pub struct ClassificationData {
    /// Short name (`mnist`, `fashion-mnist`, `folder:PATH`).
    pub name: String,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// Training images.
    pub train: ImageSet,
    /// Validation images, when the data set has its own (an image folder's `val/`, or its
    /// stratified split); otherwise training holds out the last training images.
    pub valid: Option<ImageSet>,
    /// Test images (never used for training or model selection; for an image folder without a
    /// separate test split, its validation images).
    pub test: ImageSet,
    /// How images of this data set are normalised.
    pub preprocessing: Preprocessing,
}

impl ClassificationData {
    /// (train, validation): the data set's own validation images, or else the last `valid`
    /// training images held out (MNIST's 55,000 / 5,000).
    pub fn split_validation(&self, valid: usize) -> (ImageSet, ImageSet) {
        if let Some(v) = &self.valid {
            return (self.train.clone(), v.clone());
        }
        let n = self.train.len();
        let cut = n.saturating_sub(valid);
        let train: Vec<usize> = (0..cut).collect();
        let held: Vec<usize> = (cut..n).collect();
        (self.train.subset(&train), self.train.subset(&held))
    }

    /// Whether the images are photos decoded from files at their own sizes (image folders):
    /// training takes a random resized crop, evaluation resizes the shorter side and takes the
    /// centre crop, as torchvision's reference recipes do.
    pub fn photos(&self) -> bool {
        self.train.is_files()
    }
}
