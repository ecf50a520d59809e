//! Pictures a person looks at: the predicted mask overlaid in colour beside the true one, and
//! the predicted (green) and true (red) boxes drawn on the image.

use super::{DenseModel, load_dense};
use burn::{data::dataloader::batcher::Batcher, tensor::Device};
use image::{Rgb, RgbImage, imageops};
use kiln_core::{Preprocessing, floats, ints};
use kiln_data::augment::{BBox, Mask, Sample};
use kiln_localization::cxcywh_to_xyxy;
use kiln_train::{
    TrainError,
    dense::{DenseBatcher, resize_sample},
};
use std::path::{Path, PathBuf};

/// Colour of class `c` (0, background, is never drawn): a fixed, well-separated palette.
fn colour(c: usize) -> Rgb<u8> {
    const PALETTE: [[u8; 3]; 12] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
        [0, 128, 128],
        [170, 110, 40],
    ];
    Rgb(PALETTE[(c + PALETTE.len() - 1) % PALETTE.len()])
}

fn to_rgb(sample: &Sample) -> RgbImage {
    let img = &sample.image;
    let plane = img.height * img.width;
    RgbImage::from_fn(img.width as u32, img.height as u32, |x, y| {
        let i = y as usize * img.width + x as usize;
        let ch = |c: usize| img.pixels[(c % img.channels) * plane + i];
        Rgb([ch(0), ch(1), ch(2)])
    })
}

fn overlay(base: &RgbImage, mask: &Mask) -> RgbImage {
    let mut out = base.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let c = mask.data[y as usize * mask.width + x as usize] as usize;
        if c > 0 {
            let k = colour(c);
            for i in 0..3 {
                p.0[i] = ((p.0[i] as u16 + 2 * k.0[i] as u16) / 3) as u8;
            }
        }
    }
    out
}

fn draw_box(img: &mut RgbImage, b: &BBox, colour: Rgb<u8>, thickness: u32) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (x0, y0) = (b.x0.round() as i64, b.y0.round() as i64);
    let (x1, y1) = ((b.x1.round() as i64 - 1).max(x0), (b.y1.round() as i64 - 1).max(y0));
    let mut put = |x: i64, y: i64| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            img.put_pixel(x as u32, y as u32, colour);
        }
    };
    for t in 0..thickness as i64 {
        for x in x0..=x1 {
            put(x, y0 + t);
            put(x, y1 - t);
        }
        for y in y0..=y1 {
            put(x0 + t, y);
            put(x1 - t, y);
        }
    }
}

/// A written picture.
#[derive(Clone, Debug)]
pub struct DensePicture {
    /// The PNG.
    pub path: PathBuf,
    /// What was predicted, in words.
    pub summary: String,
}

/// The picture for one sample, upscaled `scale` times (nearest neighbour): for a segmenter the
/// image, the predicted overlay and (when the sample has one) the true overlay side by side; for
/// a localizer the image with the predicted box in green and the true box in red. Also returns
/// a one-line summary.
pub fn draw_prediction(
    model: &DenseModel,
    sample: &Sample,
    classes: &[String],
    preprocessing: &Preprocessing,
    device: &Device,
    scale: u32,
) -> (RgbImage, String) {
    let batch = DenseBatcher::new(preprocessing).batch(vec![sample.clone()], device);
    let base = to_rgb(sample);
    let up = |img: &RgbImage| {
        imageops::resize(
            img,
            img.width() * scale,
            img.height() * scale,
            imageops::FilterType::Nearest,
        )
    };
    match model {
        DenseModel::Segmenter(m) => {
            let predicted = m.predict(batch.images);
            let data: Vec<u8> = ints(predicted).into_iter().map(|v| v as u8).collect();
            let mask = Mask {
                data,
                height: sample.image.height,
                width: sample.image.width,
            };
            let mut found: Vec<usize> = mask.data.iter().map(|&v| v as usize).filter(|&v| v > 0).collect();
            found.sort_unstable();
            found.dedup();
            let mut panels = vec![up(&base), up(&overlay(&base, &mask))];
            if let Some(truth) = &sample.mask {
                panels.push(up(&overlay(&base, truth)));
            }
            let (pw, ph) = (panels[0].width(), panels[0].height());
            let mut out = RgbImage::from_pixel(
                pw * panels.len() as u32 + 4 * (panels.len() as u32 - 1),
                ph,
                Rgb([255, 255, 255]),
            );
            for (i, p) in panels.iter().enumerate() {
                imageops::replace(&mut out, p, (i as u32 * (pw + 4)) as i64, 0);
            }
            let names: Vec<&str> = found
                .iter()
                .filter_map(|&c| classes.get(c).map(String::as_str))
                .collect();
            (
                out,
                format!(
                    "classes present: {}",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
            )
        }
        DenseModel::Localizer(m) => {
            let out = m.forward(batch.images);
            let b = floats(cxcywh_to_xyxy(out.boxes));
            let class = ints(out.class_logits.argmax(1))[0] as usize;
            let (w, h) = (sample.image.width as f32, sample.image.height as f32);
            let predicted = BBox {
                x0: b[0] * w,
                y0: b[1] * h,
                x1: b[2] * w,
                y1: b[3] * h,
                label: class,
            };
            let s = scale as f32;
            let scaled = |b: &BBox| BBox {
                x0: b.x0 * s,
                y0: b.y0 * s,
                x1: b.x1 * s,
                y1: b.y1 * s,
                label: b.label,
            };
            let mut img = up(&base);
            if let Some(truth) = sample.boxes.first() {
                draw_box(&mut img, &scaled(truth), Rgb([230, 25, 75]), 2);
            }
            draw_box(&mut img, &scaled(&predicted), Rgb([60, 220, 75]), 2);
            let name = classes.get(class).cloned().unwrap_or_else(|| class.to_string());
            let summary = format!(
                "{name} at [{:.0}, {:.0}, {:.0}, {:.0}] px",
                predicted.x0, predicted.y0, predicted.x1, predicted.y1
            );
            (img, summary)
        }
    }
}

/// Loads the dense model in `model_dir` and writes one picture per input into `out_dir`:
/// `images` are files (resized to the model's input), or, when none are given, the first
/// `generated` samples of the model's test canvases (with their true masks and boxes).
pub fn predict_dense(
    model_dir: &Path,
    images: &[PathBuf],
    generated: usize,
    out_dir: &Path,
    backend: &str,
    data_roots: &[PathBuf],
) -> Result<Vec<DensePicture>, TrainError> {
    let device = kiln_core::backend::checked_device(backend).map_err(|e| TrainError::Config(e.to_string()))?;
    let (model, card) = load_dense(model_dir, &device)?;
    let [h, w] = card.dense.image_size;
    let mut samples: Vec<(String, Sample)> = Vec::new();
    for path in images {
        let item = kiln_data::formats::read_rgb(path)?.with_channels(card.preprocessing.channels);
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into());
        samples.push((name, resize_sample(Sample::image(item), h, w)));
    }
    if images.is_empty() {
        let source = super::DenseSource::Generated {
            source: card.dataset.split("-canvas").next().unwrap_or("mnist").to_string(),
            train: 0,
            valid: 0,
            test: generated,
        };
        let data = super::load_dense_data(card.dense.task, &source, h, 42, data_roots)?;
        samples.extend(
            data.test
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("test-{i:03}"), s)),
        );
    }
    std::fs::create_dir_all(out_dir).map_err(|e| TrainError::Io {
        path: out_dir.into(),
        source: e,
    })?;
    let mut pictures = Vec::new();
    for (name, sample) in &samples {
        let (img, summary) = draw_prediction(&model, sample, &card.classes, &card.preprocessing, &device, 4);
        let path = out_dir.join(format!("{name}.png"));
        img.save(&path).map_err(|e| TrainError::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        pictures.push(DensePicture { path, summary });
    }
    Ok(pictures)
}
