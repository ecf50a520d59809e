//! Dense tasks with real pixels, generated from a classification set (MNIST, Fashion-MNIST) as
//! the literature does ("cluttered/translated MNIST", M2NIST): objects pasted on a larger black
//! canvas with clutter (small fragments of other objects), labelled with
//!
//! - the class of every stroke pixel (segmentation; 0 is background, class `k` is label `k - 1`),
//! - the box of the single object (localization).
//!
//! Every canvas is a pure function of (seed, index) and the source images, so a data set is
//! reproduced exactly from its seed.

use super::ImageItem;
use crate::augment::{BBox, Mask, Rng, Sample};

/// How canvases are drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct CanvasConfig {
    /// Canvas side in pixels.
    pub size: usize,
    /// Objects per canvas, inclusive range (localization uses exactly one).
    pub objects: (usize, usize),
    /// Each object is rescaled to a random side in this range (pixels) before it is pasted.
    pub object_size: (usize, usize),
    /// Clutter fragments per canvas.
    pub clutter: usize,
    /// Side of a clutter fragment.
    pub clutter_size: usize,
    /// A source pixel at or above this value is a stroke (labelled with its object's class).
    pub stroke_threshold: u8,
}

impl CanvasConfig {
    /// Segmentation: 64×64, one to three objects of 20–32 px, 4 fragments of 8 px.
    pub fn segmentation() -> Self {
        Self {
            size: 64,
            objects: (1, 3),
            object_size: (20, 32),
            clutter: 4,
            clutter_size: 8,
            stroke_threshold: 128,
        }
    }

    /// Localization: 64×64, one object of 18–40 px, 6 fragments of 8 px.
    pub fn localization() -> Self {
        Self {
            size: 64,
            objects: (1, 1),
            object_size: (18, 40),
            clutter: 6,
            clutter_size: 8,
            stroke_threshold: 128,
        }
    }
}

/// The tight box of a source image's stroke pixels (`>= threshold`) in its own coordinates, or
/// the whole image when it has none.
fn tight_box(item: &ImageItem, threshold: u8) -> (usize, usize, usize, usize) {
    let (mut x0, mut y0, mut x1, mut y1) = (item.width, item.height, 0, 0);
    for y in 0..item.height {
        for x in 0..item.width {
            if item.pixels[y * item.width + x] >= threshold {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    if x1 <= x0 || y1 <= y0 {
        (0, 0, item.width, item.height)
    } else {
        (x0, y0, x1, y1)
    }
}

fn overlap(a: &BBox, b: &BBox) -> f32 {
    let w = (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0);
    let h = (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0);
    w * h / a.area().min(b.area()).max(1.0)
}

/// Draws canvas `index` of a set seeded with `seed` from the grey `source` images.
///
/// The sample's image is `size × size` grey; its mask (when `with_mask`) holds 0 for background
/// and `label + 1` for the stroke pixels of each object; its boxes are the tight boxes of each
/// object's strokes, in canvas pixels, labelled with the object's class.
///
/// # Panics
/// When `source` is empty or holds non-grey items (a programming error).
pub fn draw_canvas(source: &[ImageItem], config: &CanvasConfig, seed: u64, index: u64, with_mask: bool) -> Sample {
    assert!(
        !source.is_empty() && source[0].channels == 1,
        "canvases are drawn from grey images"
    );
    let mut rng = Rng::for_sample(seed, index, 0);
    let n = config.size;
    let mut pixels = vec![0u8; n * n];
    let mut mask = vec![0u8; n * n];
    let mut boxes: Vec<BBox> = Vec::new();
    // Clutter first, so that objects are drawn over it; clutter is background in the mask.
    for _ in 0..config.clutter {
        let item = &source[rng.below(source.len())];
        let s = config.clutter_size.min(item.width).min(item.height);
        let (sx, sy) = (rng.below(item.width - s + 1), rng.below(item.height - s + 1));
        let (dx, dy) = (rng.below(n - s + 1), rng.below(n - s + 1));
        for y in 0..s {
            for x in 0..s {
                let v = item.pixels[(sy + y) * item.width + sx + x];
                let p = &mut pixels[(dy + y) * n + dx + x];
                *p = (*p).max(v);
            }
        }
    }
    let count = config.objects.0 + rng.below(config.objects.1 - config.objects.0 + 1);
    for _ in 0..count {
        let item = &source[rng.below(source.len())];
        let side = config.object_size.0 + rng.below(config.object_size.1 - config.object_size.0 + 1);
        let side = side.min(n);
        let scaled = item.resized(side, side);
        let (bx0, by0, bx1, by1) = tight_box(&scaled, config.stroke_threshold);
        // Up to 20 tries for a place that overlaps earlier objects by at most 15 %.
        let mut placed = None;
        for _ in 0..20 {
            let (dx, dy) = (rng.below(n - side + 1), rng.below(n - side + 1));
            let b = BBox {
                x0: (dx + bx0) as f32,
                y0: (dy + by0) as f32,
                x1: (dx + bx1) as f32,
                y1: (dy + by1) as f32,
                label: item.label,
            };
            if boxes.iter().all(|o| overlap(o, &b) <= 0.15) {
                placed = Some((dx, dy, b));
                break;
            }
        }
        let Some((dx, dy, b)) = placed else { continue };
        for y in 0..side {
            for x in 0..side {
                let v = scaled.pixels[y * side + x];
                let at = (dy + y) * n + dx + x;
                if v >= config.stroke_threshold {
                    mask[at] = item.label as u8 + 1;
                }
                pixels[at] = pixels[at].max(v);
            }
        }
        boxes.push(b);
    }
    let label = boxes.first().map(|b| b.label).unwrap_or(0);
    Sample {
        image: ImageItem {
            pixels,
            channels: 1,
            height: n,
            width: n,
            label,
        },
        mask: with_mask.then_some(Mask {
            data: mask,
            height: n,
            width: n,
        }),
        boxes,
    }
}

/// `count` canvases, indices `0..count`.
pub fn draw_canvases(
    source: &[ImageItem],
    config: &CanvasConfig,
    seed: u64,
    count: usize,
    with_mask: bool,
) -> Vec<Sample> {
    (0..count as u64)
        .map(|i| draw_canvas(source, config, seed, i, with_mask))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit(label: usize) -> ImageItem {
        // A filled 10×10 square in a 28×28 image.
        let mut pixels = vec![0u8; 28 * 28];
        for y in 9..19 {
            for x in 9..19 {
                pixels[y * 28 + x] = 255;
            }
        }
        ImageItem {
            pixels,
            channels: 1,
            height: 28,
            width: 28,
            label,
        }
    }

    #[test]
    fn deterministic_and_consistent() {
        let source: Vec<ImageItem> = (0..10).map(digit).collect();
        let config = CanvasConfig {
            clutter: 0,
            ..CanvasConfig::segmentation()
        };
        let a = draw_canvas(&source, &config, 7, 3, true);
        assert_eq!(a, draw_canvas(&source, &config, 7, 3, true));
        assert_ne!(a, draw_canvas(&source, &config, 7, 4, true));
        let mask = a.mask.as_ref().unwrap();
        assert!(!a.boxes.is_empty());
        // Every stroke pixel is labelled, inside the box of an object of that class; nothing
        // else is.
        for y in 0..64 {
            for x in 0..64 {
                let m = mask.data[y * 64 + x];
                let v = a.image.pixels[y * 64 + x];
                assert_eq!(m != 0, v >= 128, "({x},{y})");
                if m != 0 {
                    let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
                    assert!(a.boxes.iter().any(|b| b.label + 1 == m as usize
                        && (b.x0..b.x1).contains(&xf)
                        && (b.y0..b.y1).contains(&yf)));
                }
            }
        }
    }

    #[test]
    fn clutter_is_background() {
        let source: Vec<ImageItem> = (0..10).map(digit).collect();
        let config = CanvasConfig {
            objects: (1, 1),
            clutter: 30,
            ..CanvasConfig::localization()
        };
        let s = draw_canvas(&source, &config, 1, 0, true);
        let mask = s.mask.unwrap();
        let b = s.boxes[0];
        for y in 0..64 {
            for x in 0..64 {
                let inside = (b.x0 as usize..b.x1 as usize).contains(&x) && (b.y0 as usize..b.y1 as usize).contains(&y);
                if !inside {
                    assert_eq!(mask.data[y * 64 + x], 0);
                }
            }
        }
        assert!(s.image.pixels.iter().filter(|&&v| v > 0).count() > (b.area() as usize));
    }
}
