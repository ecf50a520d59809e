//! Data augmentation: per-sample transforms (deterministic for a seed, applied jointly to an
//! image, its mask and its boxes), pipelines parsed from a short text spec, a dataset wrapper that
//! applies them on the loader's worker threads, and batch-level MixUp / CutMix.
//!
//! # The spec
//! Transforms separated by `;`, each `name[:positional][,key=value...]`, ranges as `lo-hi`:
//!
//! | spec | transform |
//! |---|---|
//! | `flip` / `flip:0.5` | horizontal flip with probability p (0.5) |
//! | `crop:28,pad=2` | zero-pad then random 28×28 crop |
//! | `rrc:224` / `rrc:224,scale=0.08-1,ratio=0.75-1.333,interp=bicubic` | random resized crop |
//! | `resize:256,crop=224` | resize shorter side then centre crop |
//! | `multiscale:256-512,crop=224` | VGG's multi-scale random crop |
//! | `affine:deg=10,translate=0.1,scale=0.9-1.1,shear=5` / `rotate:15` | random affine distortion |
//! | `jitter:0.4` / `jitter:b=0.4,c=0.4,s=0.4,h=0.1` | colour jitter |
//! | `erase:0.25` | random erasing with probability p |
//! | `mixup:0.2` / `cutmix:1.0` | batch-level MixUp / CutMix with Beta(α, α) |
//!
//! Normalisation is not a pipeline step: the batcher always normalises with the model's
//! preprocessing statistics, after augmentation.

mod mix;
mod rng;
mod sample;
mod transforms;

pub use mix::{BatchMix, Mix};
pub use rng::Rng;
pub use sample::{BBox, Mask, Sample};
pub use transforms::{
    ColorJitter, HorizontalFlip, MultiScaleCrop, Prepare, RandomAffine, RandomCrop, RandomErasing, RandomResizedCrop,
    ResizeCenterCrop, Transform,
};

use crate::ImageItem;
use burn::data::dataset::{Dataset, DatasetError};
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

/// A sequence of per-sample transforms.
#[derive(Debug, Default, Clone)]
pub struct Pipeline {
    steps: Vec<Arc<dyn Transform>>,
}

impl Pipeline {
    /// A pipeline of the given transforms.
    pub fn new(steps: Vec<Arc<dyn Transform>>) -> Self {
        Self { steps }
    }

    /// Whether the pipeline does nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether the first step chooses the output size (a crop or a resize).
    pub fn starts_with_size(&self) -> bool {
        self.steps.first().is_some_and(|t| t.sets_size())
    }

    /// The pipeline with `step` first.
    pub fn after(mut self, step: Arc<dyn Transform>) -> Self {
        self.steps.insert(0, step);
        self
    }

    /// Applies every step in order.
    pub fn apply(&self, sample: Sample, rng: &mut Rng) -> Sample {
        self.steps.iter().fold(sample, |s, t| t.apply(s, rng))
    }
}

/// A parsed `--augment` spec: the per-sample pipeline and the batch-level mixing, if any.
#[derive(Debug, Default, Clone)]
pub struct Augmentation {
    /// Per-sample transforms.
    pub pipeline: Pipeline,
    /// MixUp or CutMix.
    pub batch: Option<BatchMix>,
}

fn num(s: &str, what: &str) -> Result<f32, String> {
    s.trim()
        .parse::<f32>()
        .map_err(|_| format!("{what}: `{s}` is not a number"))
}

fn range(s: &str, what: &str) -> Result<(f32, f32), String> {
    match s.split_once('-') {
        Some((a, b)) if !a.is_empty() => {
            let (lo, hi) = (num(a, what)?, num(b, what)?);
            if lo > hi {
                return Err(format!("{what}: range `{s}` has its bounds reversed"));
            }
            Ok((lo, hi))
        }
        _ => {
            let v = num(s, what)?;
            Ok((v, v))
        }
    }
}

/// Parses an augmentation spec (see the module docs). Unknown names, bad numbers and
/// out-of-range values are errors that say which step is wrong.
pub fn parse(spec: &str) -> Result<Augmentation, String> {
    let mut aug = Augmentation::default();
    for step in spec.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, args) = step.split_once(':').unwrap_or((step, ""));
        let mut positional = None;
        let mut kv: HashMap<&str, &str> = HashMap::new();
        for a in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match a.split_once('=') {
                Some((k, v)) => {
                    kv.insert(k.trim(), v.trim());
                }
                None if positional.is_none() => positional = Some(a),
                None => return Err(format!("`{step}`: more than one positional value")),
            }
        }
        let get = |k: &str| kv.get(k).copied();
        let size = |what: &str| -> Result<usize, String> {
            let v = positional.ok_or(format!("`{step}`: needs a size, e.g. `{name}:224`"))?;
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("`{step}`: {what} `{v}` is not a positive integer"))
        };
        let prob = |default: f32| -> Result<f32, String> {
            let p = positional.map(|v| num(v, step)).transpose()?.unwrap_or(default);
            if (0.0..=1.0).contains(&p) {
                Ok(p)
            } else {
                Err(format!("`{step}`: probability {p} is outside [0, 1]"))
            }
        };
        let t: Arc<dyn Transform> = match name {
            "flip" | "hflip" => Arc::new(HorizontalFlip { p: prob(0.5)? }),
            "crop" => Arc::new(RandomCrop {
                size: size("size")?,
                pad: get("pad")
                    .map(|v| v.parse().map_err(|_| format!("`{step}`: pad `{v}`")))
                    .transpose()?
                    .unwrap_or(0),
            }),
            "rrc" | "random-resized-crop" => Arc::new(RandomResizedCrop {
                size: size("size")?,
                scale: get("scale").map(|v| range(v, step)).transpose()?.unwrap_or((0.08, 1.0)),
                ratio: get("ratio")
                    .map(|v| range(v, step))
                    .transpose()?
                    .unwrap_or((0.75, 4.0 / 3.0)),
                interpolation: get("interp")
                    .map(|v| v.parse().map_err(|e| format!("`{step}`: {e}")))
                    .transpose()?
                    .unwrap_or_default(),
            }),
            "resize" => Arc::new(ResizeCenterCrop {
                resize: size("size")?,
                crop: get("crop")
                    .ok_or(format!("`{step}`: needs crop=N"))?
                    .parse()
                    .map_err(|_| format!("`{step}`: crop"))?,
            }),
            "multiscale" => {
                let (lo, hi) = range(
                    positional.ok_or(format!("`{step}`: needs a range, e.g. 256-512"))?,
                    step,
                )?;
                Arc::new(MultiScaleCrop {
                    min: lo as usize,
                    max: hi as usize,
                    crop: get("crop")
                        .ok_or(format!("`{step}`: needs crop=N"))?
                        .parse()
                        .map_err(|_| format!("`{step}`: crop"))?,
                })
            }
            "rotate" => Arc::new(RandomAffine {
                degrees: num(positional.unwrap_or("10"), step)?,
                translate: 0.0,
                scale: (1.0, 1.0),
                shear: 0.0,
            }),
            "affine" => Arc::new(RandomAffine {
                degrees: get("deg").map(|v| num(v, step)).transpose()?.unwrap_or(0.0),
                translate: get("translate").map(|v| num(v, step)).transpose()?.unwrap_or(0.0),
                scale: get("scale").map(|v| range(v, step)).transpose()?.unwrap_or((1.0, 1.0)),
                shear: get("shear").map(|v| num(v, step)).transpose()?.unwrap_or(0.0),
            }),
            "jitter" => {
                let all = positional.map(|v| num(v, step)).transpose()?;
                let f = |k: &str, d: f32| get(k).map(|v| num(v, step)).transpose().map(|o| o.or(all).unwrap_or(d));
                let hue = get("h").map(|v| num(v, step)).transpose()?.unwrap_or(0.0);
                if !(0.0..=0.5).contains(&hue) {
                    return Err(format!("`{step}`: hue {hue} is outside [0, 0.5]"));
                }
                Arc::new(ColorJitter {
                    brightness: f("b", 0.0)?,
                    contrast: f("c", 0.0)?,
                    saturation: f("s", 0.0)?,
                    hue,
                })
            }
            "erase" => Arc::new(RandomErasing {
                p: prob(0.5)?,
                scale: (0.02, 0.33),
                ratio: (0.3, 3.3),
            }),
            "mixup" | "cutmix" => {
                let alpha = positional.map(|v| num(v, step)).transpose()?.unwrap_or(1.0);
                kiln_core::limits::ALPHA
                    .check_as("alpha", alpha as f64)
                    .map_err(|e| format!("`{step}`: {e}"))?;
                // Both given: one of the two per batch, as timm does.
                aug.batch = Some(match (aug.batch, name) {
                    (Some(BatchMix::MixUp { alpha: m }), "cutmix") => BatchMix::Both {
                        mixup: m,
                        cutmix: alpha,
                    },
                    (Some(BatchMix::CutMix { alpha: c }), "mixup") => BatchMix::Both {
                        mixup: alpha,
                        cutmix: c,
                    },
                    (Some(_), _) => return Err(format!("`{step}`: {name} is given twice")),
                    (None, "mixup") => BatchMix::MixUp { alpha },
                    (None, _) => BatchMix::CutMix { alpha },
                });
                continue;
            }
            other => {
                return Err(format!(
                    "unknown augmentation `{other}`; known: flip, crop, rrc, resize, multiscale, rotate, affine, jitter, erase, mixup, cutmix"
                ));
            }
        };
        t.validate().map_err(|e| format!("`{step}`: {e}"))?;
        aug.pipeline.steps.push(t);
    }
    Ok(aug)
}

/// What an augmentation pipeline can be applied to: an image alone, or a [`Sample`] with its
/// mask and boxes.
pub trait Augmentable: Sized {
    /// The item as a sample.
    fn into_sample(self) -> Sample;
    /// The item back from its augmented sample.
    fn from_sample(sample: Sample) -> Self;
}

impl Augmentable for ImageItem {
    fn into_sample(self) -> Sample {
        Sample::image(self)
    }
    fn from_sample(sample: Sample) -> Self {
        sample.image
    }
}

impl Augmentable for Sample {
    fn into_sample(self) -> Sample {
        self
    }
    fn from_sample(sample: Sample) -> Self {
        sample
    }
}

/// A dataset whose items (images, or samples with masks and boxes, moved together) go through
/// an augmentation pipeline when fetched, on whichever thread fetches them (the data loader's
/// workers). The randomness of each fetch is a function of (seed, index, how many times that
/// index was fetched before), so results do not depend on thread scheduling.
pub struct AugmentedDataset<D> {
    inner: D,
    pipeline: Pipeline,
    seed: u64,
    draws: Vec<AtomicU32>,
}

impl<D> AugmentedDataset<D> {
    /// Wraps `inner`.
    pub fn new<I>(inner: D, pipeline: Pipeline, seed: u64) -> Self
    where
        D: Dataset<I>,
    {
        let draws = (0..inner.len()).map(|_| AtomicU32::new(0)).collect();
        Self {
            inner,
            pipeline,
            seed,
            draws,
        }
    }
}

impl<D> AugmentedDataset<D> {
    /// Counts every index as fetched `n` times already (a run resumed after `n` epochs draws
    /// what an uninterrupted one would).
    pub fn set_draws(&self, n: u32) {
        self.draws.iter().for_each(|d| d.store(n, Ordering::Relaxed));
    }
}

impl<I: Augmentable, D: Dataset<I>> Dataset<I> for AugmentedDataset<D> {
    fn get(&self, index: usize) -> Result<I, DatasetError> {
        let item = self.inner.get(index)?;
        if self.pipeline.is_empty() {
            return Ok(item);
        }
        let draw = self
            .draws
            .get(index)
            .map(|d| d.fetch_add(1, Ordering::Relaxed))
            .unwrap_or(0);
        let mut rng = Rng::for_sample(self.seed, index as u64, draw as u64);
        Ok(I::from_sample(self.pipeline.apply(item.into_sample(), &mut rng)))
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests;
