//! What augmentation transforms: an image with, optionally, a per-pixel mask and boxes that must
//! move with it.

use crate::ImageItem;

/// A bounding box in pixel coordinates of its image: `[x0, y0)`–`[x1, y1)`, x to the right,
/// y down.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge (exclusive).
    pub x1: f32,
    /// Bottom edge (exclusive).
    pub y1: f32,
    /// Class of the object.
    pub label: usize,
}

impl BBox {
    /// Width × height (0 for an empty box).
    pub fn area(&self) -> f32 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }
}

/// A per-pixel class map of the same height and width as its image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    /// `height * width` class indices, row-major.
    pub data: Vec<u8>,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
}

/// An image and the targets that move with its pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The image (planar bytes).
    pub image: ImageItem,
    /// A segmentation mask, if any.
    pub mask: Option<Mask>,
    /// Object boxes, if any.
    pub boxes: Vec<BBox>,
}

impl Sample {
    /// A sample with an image only.
    pub fn image(image: ImageItem) -> Self {
        Self {
            image,
            mask: None,
            boxes: Vec::new(),
        }
    }
}

/// Applies a pixel mapping to every channel plane of an image and to the mask: `source(x, y)`
/// gives, for each output pixel, the input position it samples (`None`: outside → `fill`).
/// Images are sampled bilinearly, masks by nearest neighbour.
pub(crate) fn remap(
    sample: Sample,
    out_h: usize,
    out_w: usize,
    fill: u8,
    source: impl Fn(f32, f32) -> (f32, f32),
    boxes: impl Fn(&BBox) -> Option<BBox>,
) -> Sample {
    let img = &sample.image;
    let (h, w) = (img.height, img.width);
    let plane = h * w;
    let mut pixels = vec![fill; img.channels * out_h * out_w];
    let mut mask = sample.mask.as_ref().map(|_| vec![0u8; out_h * out_w]);
    for oy in 0..out_h {
        for ox in 0..out_w {
            // Pixel centres.
            let (sx, sy) = source(ox as f32 + 0.5, oy as f32 + 0.5);
            let (fx, fy) = (sx - 0.5, sy - 0.5);
            if fx < -0.5 || fy < -0.5 || fx > w as f32 - 0.5 || fy > h as f32 - 0.5 {
                continue;
            }
            let x0 = fx.floor().clamp(0.0, (w - 1) as f32) as usize;
            let y0 = fy.floor().clamp(0.0, (h - 1) as f32) as usize;
            let x1 = (x0 + 1).min(w - 1);
            let y1 = (y0 + 1).min(h - 1);
            let ax = (fx - x0 as f32).clamp(0.0, 1.0);
            let ay = (fy - y0 as f32).clamp(0.0, 1.0);
            for c in 0..img.channels {
                let p = &img.pixels[c * plane..(c + 1) * plane];
                let v = (1.0 - ay) * ((1.0 - ax) * p[y0 * w + x0] as f32 + ax * p[y0 * w + x1] as f32)
                    + ay * ((1.0 - ax) * p[y1 * w + x0] as f32 + ax * p[y1 * w + x1] as f32);
                pixels[c * out_h * out_w + oy * out_w + ox] = v.round().clamp(0.0, 255.0) as u8;
            }
            if let (Some(out), Some(m)) = (mask.as_mut(), sample.mask.as_ref()) {
                let nx = (sx.floor() as isize).clamp(0, w as isize - 1) as usize;
                let ny = (sy.floor() as isize).clamp(0, h as isize - 1) as usize;
                out[oy * out_w + ox] = m.data[ny * m.width + nx];
            }
        }
    }
    Sample {
        image: ImageItem {
            pixels,
            height: out_h,
            width: out_w,
            ..sample.image
        },
        mask: mask.map(|data| Mask {
            data,
            height: out_h,
            width: out_w,
        }),
        boxes: sample.boxes.iter().filter_map(boxes).collect(),
    }
}

/// Clips a box to `[0, w) × [0, h)`; `None` when less than a quarter of it remains.
pub(crate) fn clip(b: BBox, w: f32, h: f32) -> Option<BBox> {
    let c = BBox {
        x0: b.x0.clamp(0.0, w),
        y0: b.y0.clamp(0.0, h),
        x1: b.x1.clamp(0.0, w),
        y1: b.y1.clamp(0.0, h),
        label: b.label,
    };
    (c.area() > 0.25 * b.area() && c.area() > 0.0).then_some(c)
}
