//! Real image files (PNG, JPEG) turned into model input, preprocessed as the model was trained.

use crate::data::{DataError, ImageItem};
use image::{DynamicImage, GenericImageView, imageops::FilterType};
use kiln_core::Preprocessing;
use std::path::Path;

/// Decodes an image file and prepares it as `preprocessing` says: colour conversion to the
/// model's channels, resize (shorter side to `resize` then centre crop, or straight to the input
/// size), and inversion of light-background grey images for models trained on light-on-dark
/// digits. The label is set to 0.
///
/// A missing, unreadable or corrupt file is a [`DataError`] naming the file.
pub fn load_image(path: &Path, preprocessing: &Preprocessing) -> Result<ImageItem, DataError> {
    Ok(prepare(decode(path)?, preprocessing))
}

/// Reads and decodes an image file; a missing or corrupt file is a [`DataError`] naming it.
pub(crate) fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    image::load_from_memory(&bytes).map_err(|e| DataError::Image {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn prepare(image: DynamicImage, p: &Preprocessing) -> ImageItem {
    let (h, w) = (p.height as u32, p.width as u32);
    let image = match p.resize {
        Some(short) => {
            // torchvision's Resize(short): the shorter side becomes `short`, the longer one
            // `int(short * long / shorter)`; then CenterCrop with offsets round((size - crop) / 2).
            let (iw, ih) = image.dimensions();
            let short = short as u32;
            let (nw, nh) = if iw <= ih {
                (short, (short as u64 * ih as u64 / iw as u64) as u32)
            } else {
                ((short as u64 * iw as u64 / ih as u64) as u32, short)
            };
            let (nw, nh) = (nw.max(w), nh.max(h));
            let resized = image.resize_exact(nw, nh, FilterType::Triangle);
            let left = ((nw - w) as f64 / 2.0).round() as u32;
            let top = ((nh - h) as f64 / 2.0).round() as u32;
            resized.crop_imm(left, top, w, h)
        }
        None if image.dimensions() != (w, h) => image.resize_exact(w, h, FilterType::Triangle),
        None => image,
    };
    let pixels = if p.channels == 1 {
        let mut grey = image.to_luma8().into_raw();
        if p.invert_light_background && border_mean(&grey, w as usize, h as usize) > 127.0 {
            grey.iter_mut().for_each(|v| *v = 255 - *v);
        }
        grey
    } else {
        let rgb = image.to_rgb8().into_raw();
        let plane = (w * h) as usize;
        let mut planar = vec![0u8; plane * 3];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                planar[c * plane + i] = px[c];
            }
        }
        planar
    };
    ImageItem {
        pixels,
        channels: p.channels,
        height: h as usize,
        width: w as usize,
        label: 0,
    }
}

fn border_mean(grey: &[u8], w: usize, h: usize) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in 0..h {
        for x in 0..w {
            if y == 0 || x == 0 || y == h - 1 || x == w - 1 {
                sum += grey[y * w + x] as f64;
                n += 1.0;
            }
        }
    }
    sum / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let p = Preprocessing::mnist();
        let msg = load_image(&bad, &p).unwrap_err().to_string();
        assert!(msg.contains("cannot decode image") && msg.contains("bad.png"), "{msg}");
        let msg = load_image(&dir.path().join("absent.png"), &p).unwrap_err().to_string();
        assert!(msg.contains("cannot read") && msg.contains("absent.png"), "{msg}");
    }

    #[test]
    fn dark_on_light_is_inverted_and_resized() {
        let mut img = image::GrayImage::from_pixel(56, 56, image::Luma([255]));
        for y in 10..46 {
            img.put_pixel(28, y, image::Luma([0]));
        }
        let item = prepare(DynamicImage::ImageLuma8(img), &Preprocessing::mnist());
        assert_eq!((item.channels, item.height, item.width), (1, 28, 28));
        assert_eq!(item.pixels[0], 0, "background becomes black");
        assert!(item.pixels[14 * 28 + 14] > 50, "the stroke becomes light");
    }

    #[test]
    fn rgb_resize_and_centre_crop() {
        let img = image::RgbImage::from_fn(40, 20, |x, _| image::Rgb([x as u8, 7, 9]));
        let p = Preprocessing {
            channels: 3,
            height: 8,
            width: 8,
            resize: Some(10),
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
            invert_light_background: false,
        };
        let item = prepare(DynamicImage::ImageRgb8(img), &p);
        assert_eq!(item.pixels.len(), 3 * 64);
        assert!(item.pixels[64..128].iter().all(|&g| g == 7), "green plane");
    }
}
