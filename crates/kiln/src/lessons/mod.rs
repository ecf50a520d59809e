//! The course's lessons as runnable tools (`cargo xtask lesson ...`), each writing a PNG or a
//! table:
//!
//! - [`filters`]: classic image filters (blur, sharpen, Sobel, Laplacian edges) as convolutions
//!   on a real photo;
//! - [`grids`]: a trained model's first-layer filters and a stage's feature maps as image grids;
//! - [`activations`]: sigmoid/tanh/ReLU/leaky ReLU gradients per layer of a deep plain network at
//!   initialisation, and Xavier vs He activation variance across depth;
//! - [`receptive`]: the receptive field of each layer of a model drawn on an input image.

pub mod activations;
pub mod filters;
pub mod grids;
pub mod receptive;

use image::GrayImage;

/// A grey image from values, mapped linearly so that `lo` is black and `hi` white (clamped).
pub fn to_grey(values: &[f32], width: usize, height: usize, lo: f32, hi: f32) -> GrayImage {
    let span = (hi - lo).max(f32::EPSILON);
    GrayImage::from_fn(width as u32, height as u32, |x, y| {
        let v = (values[y as usize * width + x as usize] - lo) / span;
        image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8])
    })
}

/// Tiles equally sized grey images into a grid of `columns`, separated by `gap` white pixels.
pub fn tile(images: &[GrayImage], columns: usize, gap: u32) -> GrayImage {
    let (w, h) = images.first().map(|i| (i.width(), i.height())).unwrap_or((1, 1));
    let columns = columns.max(1).min(images.len().max(1));
    let rows = images.len().div_ceil(columns).max(1);
    let mut out = GrayImage::from_pixel(
        columns as u32 * (w + gap) - gap,
        rows as u32 * (h + gap) - gap,
        image::Luma([255]),
    );
    for (i, img) in images.iter().enumerate() {
        let (c, r) = ((i % columns) as u32, (i / columns) as u32);
        image::imageops::replace(&mut out, img, (c * (w + gap)) as i64, (r * (h + gap)) as i64);
    }
    out
}
