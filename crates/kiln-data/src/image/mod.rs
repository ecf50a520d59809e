//! Real image files turned into model input, preprocessed as the model was trained and as
//! torchvision does it: colour conversion as Pillow's `convert`, resize as Pillow's
//! `Image.resize` ([`resample`], bit-exact), centre crop as torchvision's `CenterCrop`.
//!
//! Formats: those of torchvision's `IMG_EXTENSIONS` (JPEG, PNG, BMP, TIFF, WebP, PPM/PGM).
//! Grey, grey + alpha, RGBA and palette images become RGB or grey as Pillow's
//! `convert('RGB')` / `convert('L')` make them (alpha dropped, not composited). 16-bit images
//! are scaled to 8 bits (`v / 257`, rounded); Pillow instead clips them (`convert('L')` of an
//! `I;16` PNG keeps `min(v, 255)`), which turns most 16-bit photos white: Kiln does not copy
//! that.

pub mod resample;

use crate::{DataError, ImageItem};
use image::DynamicImage;
use kiln_core::Preprocessing;
use std::path::Path;

/// Decodes an image file and prepares it as `preprocessing` says: colour conversion to the
/// model's channels, resize (shorter side to `resize` then centre crop, or straight to the input
/// size), and inversion of light-background grey images for models trained on light-on-dark
/// digits. The label is set to 0.
///
/// A missing, unreadable or corrupt file is a [`DataError`] naming the file.
pub fn load_image(path: &Path, preprocessing: &Preprocessing) -> Result<ImageItem, DataError> {
    load_image_with(path, preprocessing, DecodeOptions::default())
}

/// [`load_image`] with decoding options.
pub fn load_image_with(
    path: &Path,
    preprocessing: &Preprocessing,
    options: DecodeOptions,
) -> Result<ImageItem, DataError> {
    Ok(prepare(
        decode_item_with(path, preprocessing.channels, options)?,
        preprocessing,
    ))
}

/// How image files are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecodeOptions {
    /// Accept a truncated file (the missing part filled as the decoder does), with a warning;
    /// by default it is an error naming the file, as in Pillow.
    #[serde(default)]
    pub allow_truncated: bool,
}

/// The largest image file read (a bound, so that `/dev/zero` or a runaway file cannot exhaust
/// memory): 1 GiB.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Decodes an image file at its own size into planar bytes with `channels` channels (1 or 3),
/// label 0.
pub fn decode_item(path: &Path, channels: usize) -> Result<ImageItem, DataError> {
    decode_item_with(path, channels, DecodeOptions::default())
}

/// [`decode_item`] with decoding options.
pub fn decode_item_with(path: &Path, channels: usize, options: DecodeOptions) -> Result<ImageItem, DataError> {
    let image = decode_with(path, options)?;
    Ok(ImageItem {
        pixels: to_planar(&image, channels),
        channels,
        height: image.height() as usize,
        width: image.width() as usize,
        label: 0,
    })
}

/// Reads and decodes an image file; a missing or corrupt file is a [`DataError`] naming it.
pub(crate) fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    decode_with(path, DecodeOptions::default())
}

/// Reads a file of at most [`MAX_FILE_BYTES`]; anything but a regular file is refused.
fn read_bounded(path: &Path) -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if !meta.is_file() {
        return Err(DataError::format(
            path,
            "not a regular file (an image file is expected)",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(DataError::format(
            path,
            format!(
                "{} bytes: larger than the {} bytes an image file may have",
                meta.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES).read_to_end(&mut bytes))
        .map_err(|e| DataError::io(path, e))?;
    Ok(bytes)
}

/// Whether a JPEG ends before its last scan does: no end-of-image marker (`FF D9`) after the
/// last start-of-scan (`FF DA`). Entropy-coded data cannot hold either (0xFF is stuffed), and an
/// EXIF thumbnail's own markers come before the image's scans.
pub fn jpeg_truncated(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(sos) => !bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => true,
    }
}

fn decode_with(path: &Path, options: DecodeOptions) -> Result<DynamicImage, DataError> {
    let bytes = read_bounded(path)?;
    let bad = |reason: String| DataError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let jpeg = bytes.starts_with(&[0xFF, 0xD8]);
    if jpeg && jpeg_truncated(&bytes) {
        if !options.allow_truncated {
            return Err(bad(
                "the file is truncated (it ends before its image data does; Pillow refuses it too): \
                 --allow-truncated accepts it, the missing part filled grey"
                    .into(),
            ));
        }
        eprintln!(
            "warning: {} is truncated; decoding what is there (--allow-truncated)",
            path.display()
        );
    }
    if jpeg {
        if let Some(rgb) = cmyk_jpeg(&bytes).map_err(bad)? {
            return Ok(DynamicImage::ImageRgb8(rgb));
        }
    }
    kiln_core::fsutil::guard("decoding", || image::load_from_memory(&bytes))
        .map_err(&bad)?
        .map_err(|e| bad(e.to_string()))
}

/// A CMYK (or YCCK) JPEG as Pillow reads it: the raw CMYK planes, inverted when an Adobe
/// APP14 marker says they were stored inverted (Pillow's `CMYK;I`), then Pillow's `cmyk2rgb`
/// (`R = (255 - K) - C (255 - K) / 255` in its fixed point). `None` for other JPEGs.
fn cmyk_jpeg(bytes: &[u8]) -> Result<Option<image::RgbImage>, String> {
    use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let mut probe = zune_jpeg::JpegDecoder::new(ZCursor::new(bytes));
    probe.decode_headers().map_err(|e| e.to_string())?;
    if !matches!(probe.input_colorspace(), Some(ColorSpace::CMYK | ColorSpace::YCCK)) {
        return Ok(None);
    }
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::CMYK);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let cmyk = decoder.decode().map_err(|e| e.to_string())?;
    let (w, h) = decoder.dimensions().ok_or("no dimensions")?;
    let adobe = bytes.windows(7).any(|m| m[..2] == [0xFF, 0xEE] && &m[4..] == b"Ado");
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    let rgb = cmyk
        .chunks_exact(4)
        .flat_map(|p| {
            let v = |i: usize| if adobe { 255 - p[i] as u32 } else { p[i] as u32 };
            let nk = 255 - v(3);
            [0, 1, 2].map(|c| nk.saturating_sub(muldiv255(v(c), nk)) as u8)
        })
        .collect();
    Ok(image::RgbImage::from_raw(w as u32, h as u32, rgb))
}

/// The image as planar bytes (`[channels, height, width]`) with 1 or 3 channels, converted as
/// Pillow's `convert('L')` (ITU-R 601-2 luma, `(299 R + 587 G + 114 B) / 1000` in Pillow's
/// fixed point) or `convert('RGB')` (alpha dropped, grey replicated).
pub fn to_planar(image: &DynamicImage, channels: usize) -> Vec<u8> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let plane = w * h;
    if channels == 1 {
        if let DynamicImage::ImageLuma8(grey) = image {
            return grey.as_raw().clone();
        }
        if let DynamicImage::ImageLumaA8(grey) = image {
            return grey.as_raw().chunks_exact(2).map(|p| p[0]).collect();
        }
        let rgb = image.to_rgb8();
        return rgb
            .as_raw()
            .chunks_exact(3)
            .map(|p| ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16) as u8)
            .collect();
    }
    let rgb = image.to_rgb8();
    let mut planar = vec![0u8; plane * 3];
    for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            planar[c * plane + i] = px[c];
        }
    }
    planar
}

/// torchvision's `Resize(size)` with one number: the shorter side becomes `short`, the longer
/// one `int(short * long / shorter)`. Returns `(width, height)`.
pub fn resized_size(width: usize, height: usize, short: usize) -> (usize, usize) {
    let long_of = |long: usize, shorter: usize| ((short as f64 * long as f64 / shorter as f64) as usize).max(1);
    if width <= height {
        (short, long_of(height, width))
    } else {
        (long_of(width, height), short)
    }
}

/// torchvision's `CenterCrop((height, width))` of planar pixels: zero padding when the image is
/// smaller (left/top get the smaller half), then the window at
/// `round((size - crop) / 2)` with Python's round-half-to-even.
pub fn center_crop(
    pixels: &[u8],
    channels: usize,
    width: usize,
    height: usize,
    crop_width: usize,
    crop_height: usize,
) -> Vec<u8> {
    let pad = |size: usize, crop: usize| if crop > size { (crop - size) / 2 } else { 0 };
    let (pad_left, pad_top) = (pad(width, crop_width), pad(height, crop_height));
    let (padded_w, padded_h) = (width.max(crop_width), height.max(crop_height));
    let offset = |size: usize, crop: usize| ((size - crop) as f64 / 2.0).round_ties_even() as usize;
    let (left, top) = (offset(padded_w, crop_width), offset(padded_h, crop_height));
    let plane = width * height;
    let mut out = vec![0u8; channels * crop_width * crop_height];
    for c in 0..channels {
        for y in 0..crop_height {
            // Position in the padded image, then in the original.
            let Some(sy) = (y + top).checked_sub(pad_top).filter(|&v| v < height) else {
                continue;
            };
            for x in 0..crop_width {
                if let Some(sx) = (x + left).checked_sub(pad_left).filter(|&v| v < width) {
                    out[c * crop_width * crop_height + y * crop_width + x] = pixels[c * plane + sy * width + sx];
                }
            }
        }
    }
    out
}

/// Prepares a decoded item (of `p.channels` channels) as `p` says: shorter side resized to
/// `p.resize` then the centre crop (torchvision's `Resize` + `CenterCrop`), or resized straight
/// to the input size, with `p`'s resampling filter; then the inversion of light-background grey
/// images when `p` asks for it. The label is kept.
pub fn prepare(item: ImageItem, p: &Preprocessing) -> ImageItem {
    let (h, w) = (p.height, p.width);
    let (iw, ih, c) = (item.width, item.height, item.channels);
    let resize = |pixels: &[u8], nw: usize, nh: usize| {
        if (nw, nh) == (iw, ih) {
            pixels.to_vec()
        } else {
            resample::resize_planar(pixels, c, iw, ih, nw, nh, p.interpolation)
        }
    };
    let mut pixels = match p.resize {
        Some(short) => {
            let (nw, nh) = resized_size(iw, ih, short);
            center_crop(&resize(&item.pixels, nw, nh), c, nw, nh, w, h)
        }
        None if (iw, ih) == (w, h) => item.pixels,
        None => resize(&item.pixels, w, h),
    };
    if c == 1 && p.invert_light_background && border_mean(&pixels, w, h) > 127.0 {
        pixels.iter_mut().for_each(|v| *v = 255 - *v);
    }
    ImageItem {
        pixels,
        channels: c,
        height: h,
        width: w,
        label: item.label,
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

    fn item_of(image: &DynamicImage, channels: usize) -> ImageItem {
        ImageItem {
            pixels: to_planar(image, channels),
            channels,
            height: image.height() as usize,
            width: image.width() as usize,
            label: 0,
        }
    }

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
        let item = prepare(item_of(&DynamicImage::ImageLuma8(img), 1), &Preprocessing::mnist());
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
            interpolation: Default::default(),
            channel_order: Default::default(),
            pixel_divisor: 255.0,
        };
        let item = prepare(item_of(&DynamicImage::ImageRgb8(img), 3), &p);
        assert_eq!(item.pixels.len(), 3 * 64);
        assert!(item.pixels[64..128].iter().all(|&g| g == 7), "green plane");
    }
}
