use super::ImageItem;
use burn::{
    data::dataloader::batcher::Batcher,
    tensor::{Device, Int, Tensor, TensorData},
};
use kiln_core::Preprocessing;

/// A batch of normalised images and their labels.
#[derive(Clone, Debug)]
pub struct ClassificationBatch {
    /// `[batch, channels, height, width]`, normalised.
    pub images: Tensor<4>,
    /// `[batch]` class indices.
    pub targets: Tensor<1, Int>,
    /// MixUp/CutMix: the second labels and the weight of `targets`.
    pub mix: Option<crate::augment::Mix>,
}

/// A [`ClassificationBatcher`] followed by batch-level MixUp or CutMix, drawn from the seed and
/// the batch's number ([`crate::loader::IndexedBatcher`]).
#[derive(Debug)]
pub struct MixingBatcher {
    inner: ClassificationBatcher,
    mix: crate::augment::BatchMix,
    seed: u64,
}

impl MixingBatcher {
    pub fn new(inner: ClassificationBatcher, mix: crate::augment::BatchMix, seed: u64) -> Self {
        Self { inner, mix, seed }
    }

    /// Batch number `index` (counted from the first epoch): its mixing is drawn from
    /// (seed, index), so it does not depend on which thread made it.
    pub fn batch_numbered(&self, items: Vec<ImageItem>, index: u64, device: &Device) -> ClassificationBatch {
        let batch = self.inner.batch(items, device);
        let mut rng = crate::augment::Rng::for_sample(self.seed, u64::MAX, index);
        let (images, mix) = self.mix.apply(batch.images, batch.targets.clone(), &mut rng);
        ClassificationBatch {
            images,
            targets: batch.targets,
            mix: Some(mix),
        }
    }
}

/// Turns [`ImageItem`]s into a [`ClassificationBatch`]: resized to the model's input size and
/// grey replicated to RGB (torchvision's `Grayscale(num_output_channels=3)`) when they differ from
/// it, bytes scaled to [0, 1], then `(x - mean[c]) / std[c]`.
#[derive(Clone, Debug)]
pub struct ClassificationBatcher {
    mean: Vec<f32>,
    std: Vec<f32>,
    size: [usize; 2],
    channels: usize,
    bgr: bool,
    divisor: f32,
}

impl ClassificationBatcher {
    /// A batcher normalising as `preprocessing` says.
    pub fn new(preprocessing: &Preprocessing) -> Self {
        Self {
            mean: preprocessing.mean.clone(),
            std: preprocessing.std.clone(),
            size: [preprocessing.height, preprocessing.width],
            channels: preprocessing.channels,
            bgr: preprocessing.channel_order == kiln_core::ChannelOrder::Bgr,
            divisor: preprocessing.pixel_divisor,
        }
    }

    /// Normalises one item's bytes into `out`: channels reversed for a BGR model, each byte
    /// `(p / pixel_divisor - mean[c]) / std[c]`.
    pub fn normalise_into(&self, item: &ImageItem, out: &mut Vec<f32>) {
        let plane = item.height * item.width;
        let n = item.pixels.len() / plane.max(1);
        for c in 0..n {
            let source = if self.bgr && n == 3 { 2 - c } else { c };
            let channel = &item.pixels[source * plane..][..plane];
            let (mean, std) = (self.mean[c % self.mean.len()], self.std[c % self.std.len()]);
            out.extend(channel.iter().map(|&p| (p as f32 / self.divisor - mean) / std));
        }
    }
}

impl Batcher<ImageItem, ClassificationBatch> for ClassificationBatcher {
    /// # Shapes
    /// - items: each `[c', h', w']` bytes, `c'` 1 or the model's channels
    /// - returns images `[n, c, h, w]`, targets `[n]`
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ClassificationBatch {
        let n = items.len();
        let [h, w] = self.size;
        let c = self.channels;
        let mut values = Vec::with_capacity(n * c * h * w);
        let mut labels = Vec::with_capacity(n);
        for item in &items {
            let fits = (item.height, item.width, item.channels) == (h, w, c);
            if fits {
                self.normalise_into(item, &mut values);
            } else {
                self.normalise_into(&item.resized(h, w).with_channels(c), &mut values);
            }
            labels.push(item.label as i64);
        }
        ClassificationBatch {
            images: Tensor::from_data(TensorData::new(values, [n, c, h, w]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
            mix: None,
        }
    }
}
