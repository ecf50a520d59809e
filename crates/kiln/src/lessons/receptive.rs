//! The receptive field of each layer, drawn on an input image: the square of input pixels that
//! can influence one output unit at the centre of that layer's map.

use burn::tensor::Device;
use image::{Rgb, RgbImage};
use kiln_core::{ImageClassifier, summary::summarize};

/// `(layer path, receptive field)` of each convolution and pooling layer, in forward order.
pub fn receptive_fields<M: ImageClassifier>(
    model: &M,
    input: [usize; 3],
    device: &Device,
) -> Vec<(String, [usize; 2])> {
    summarize(model, input, device)
        .layers
        .into_iter()
        .filter_map(|l| l.receptive_field.map(|rf| (l.path, rf)))
        .collect()
}

/// Draws each receptive field as a square outline centred on `image` (one colour per layer,
/// shallow to deep), clipped to the image.
pub fn draw(image: &RgbImage, fields: &[(String, [usize; 2])]) -> RgbImage {
    let mut img = image.clone();
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (cx, cy) = (w / 2, h / 2);
    let n = fields.len().max(1);
    for (i, (_, [rh, rw])) in fields.iter().enumerate() {
        // From blue (shallow) to red (deep).
        let t = i as f32 / (n - 1).max(1) as f32;
        let colour = Rgb([(255.0 * t) as u8, 64, (255.0 * (1.0 - t)) as u8]);
        let (x0, x1) = (cx - *rw as i64 / 2, cx - *rw as i64 / 2 + *rw as i64 - 1);
        let (y0, y1) = (cy - *rh as i64 / 2, cy - *rh as i64 / 2 + *rh as i64 - 1);
        let mut put = |x: i64, y: i64| {
            if (0..w).contains(&x) && (0..h).contains(&y) {
                img.put_pixel(x as u32, y as u32, colour);
            }
        };
        for x in x0..=x1 {
            put(x, y0);
            put(x, y1);
        }
        for y in y0..=y1 {
            put(x0, y);
            put(x1, y);
        }
    }
    img
}

/// The receptive fields as a Markdown table.
pub fn table(fields: &[(String, [usize; 2])]) -> String {
    let mut s = String::from("| layer | receptive field |\n|---|---|\n");
    for (path, [h, w]) in fields {
        s.push_str(&format!("| {path} | {h}×{w} |\n"));
    }
    s
}
