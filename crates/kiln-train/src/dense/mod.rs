//! Dense tasks (segmentation, localization): batches of images with masks and boxes, the
//! metrics, and a plain training loop (augmentation of image, mask and boxes together is
//! [`kiln_data::augment::AugmentedDataset`]'s).

mod metrics;
mod train_loop;

pub use metrics::{BoxMetrics, SegMetrics};
pub use train_loop::{DenseFitConfig, DenseOutcome, EpochReport, fit_dense};

use burn::{
    data::dataloader::batcher::Batcher,
    tensor::{Device, Int, Tensor, TensorData},
};
use kiln_core::Preprocessing;
use kiln_data::{ClassificationBatcher, augment::Sample};

/// A batch of a dense task.
#[derive(Clone, Debug)]
pub struct DenseBatch {
    /// `[batch, channels, h, w]`, normalised.
    pub images: Tensor<4>,
    /// `[batch, h, w]` class indices, when the samples have masks.
    pub masks: Option<Tensor<3, Int>>,
    /// `[batch]`: the class of each sample's first box (its image label when it has none).
    pub labels: Tensor<1, Int>,
    /// `[batch, 4]`: each sample's first box as `[cx, cy, w, h]` divided by the image size
    /// (zeros when it has none).
    pub boxes: Tensor<2>,
}

/// Turns [`Sample`]s of one size into a [`DenseBatch`], normalising as the model's
/// preprocessing says.
#[derive(Clone, Debug)]
pub struct DenseBatcher {
    inner: ClassificationBatcher,
}

impl DenseBatcher {
    /// A batcher normalising as `preprocessing` says.
    pub fn new(preprocessing: &Preprocessing) -> Self {
        Self {
            inner: ClassificationBatcher::new(preprocessing),
        }
    }
}

/// A sample resized to `height × width`: the image bilinearly, the mask by nearest neighbour,
/// the boxes scaled.
pub fn resize_sample(sample: Sample, height: usize, width: usize) -> Sample {
    let (h0, w0) = (sample.image.height, sample.image.width);
    if (h0, w0) == (height, width) {
        return sample;
    }
    let (sy, sx) = (height as f32 / h0 as f32, width as f32 / w0 as f32);
    let mask = sample.mask.map(|m| {
        let mut data = vec![0u8; height * width];
        for y in 0..height {
            let yy = (((y as f32 + 0.5) / sy) as usize).min(m.height - 1);
            for x in 0..width {
                let xx = (((x as f32 + 0.5) / sx) as usize).min(m.width - 1);
                data[y * width + x] = m.data[yy * m.width + xx];
            }
        }
        kiln_data::augment::Mask { data, height, width }
    });
    Sample {
        image: sample.image.resized(height, width),
        mask,
        boxes: sample
            .boxes
            .iter()
            .map(|b| kiln_data::augment::BBox {
                x0: b.x0 * sx,
                y0: b.y0 * sy,
                x1: b.x1 * sx,
                y1: b.y1 * sy,
                label: b.label,
            })
            .collect(),
    }
}

/// A box as normalised `[cx, cy, w, h]`.
pub fn normalised_cxcywh(b: &kiln_data::augment::BBox, width: usize, height: usize) -> [f32; 4] {
    let (w, h) = (width as f32, height as f32);
    [
        (b.x0 + b.x1) / 2.0 / w,
        (b.y0 + b.y1) / 2.0 / h,
        (b.x1 - b.x0) / w,
        (b.y1 - b.y0) / h,
    ]
}

impl Batcher<Sample, DenseBatch> for DenseBatcher {
    /// # Shapes
    /// every sample `[c, h, w]` (the same for all) → images `[n, c, h, w]`, masks `[n, h, w]`,
    /// labels `[n]`, boxes `[n, 4]`
    fn batch(&self, items: Vec<Sample>, device: &Device) -> DenseBatch {
        let n = items.len();
        let first = &items[0].image;
        let (c, h, w) = (first.channels, first.height, first.width);
        let mut values = Vec::with_capacity(n * c * h * w);
        let mut masks = Vec::with_capacity(n * h * w);
        let mut labels = Vec::with_capacity(n);
        let mut boxes = Vec::with_capacity(n * 4);
        let has_masks = items.iter().all(|s| s.mask.is_some());
        for s in &items {
            assert_eq!(
                (s.image.channels, s.image.height, s.image.width),
                (c, h, w),
                "dense batches need samples of one size (resize or crop them in the pipeline)"
            );
            self.inner.normalise_into(&s.image, &mut values);
            if let Some(m) = s.mask.as_ref().filter(|_| has_masks) {
                masks.extend(m.data.iter().map(|&v| v as i64));
            }
            match s.boxes.first() {
                Some(b) => {
                    labels.push(b.label as i64);
                    boxes.extend(normalised_cxcywh(b, w, h));
                }
                None => {
                    labels.push(s.image.label as i64);
                    boxes.extend([0.0; 4]);
                }
            }
        }
        DenseBatch {
            images: Tensor::from_data(TensorData::new(values, [n, c, h, w]), device),
            masks: has_masks.then(|| Tensor::from_data(TensorData::new(masks, [n, h, w]), device)),
            labels: Tensor::from_data(TensorData::new(labels, [n]), device),
            boxes: Tensor::from_data(TensorData::new(boxes, [n, 4]), device),
        }
    }
}
