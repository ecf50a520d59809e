//! Per-sample transforms. Geometric ones move the mask and the boxes with the pixels.

use super::{
    Rng,
    sample::{BBox, Sample, clip, remap},
};
use crate::ImageItem;
use kiln_core::{Interpolation, Preprocessing};

/// A random (or fixed) transformation of one sample.
pub trait Transform: Send + Sync + std::fmt::Debug {
    /// Applies the transform, drawing its randomness from `rng`.
    fn apply(&self, sample: Sample, rng: &mut Rng) -> Sample;

    /// Whether the output has a size of the transform's own choosing (crops and resizes), so
    /// that a pipeline starting with it needs no resize to the model's input before.
    fn sets_size(&self) -> bool {
        false
    }

    /// Checks the transform's numbers against their ranges ([`kiln_core::limits`]).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn range_of(name: &str, (lo, hi): (f32, f32), range: kiln_core::limits::Real) -> Result<(), String> {
    range.check_as(name, lo as f64)?;
    range.check_as(name, hi as f64)?;
    Ok(())
}

fn shift_scale(b: &BBox, dx: f32, dy: f32, sx: f32, sy: f32) -> BBox {
    BBox {
        x0: (b.x0 + dx) * sx,
        y0: (b.y0 + dy) * sy,
        x1: (b.x1 + dx) * sx,
        y1: (b.y1 + dy) * sy,
        label: b.label,
    }
}

/// Horizontal flip with probability `p` (torchvision's `RandomHorizontalFlip`).
#[derive(Clone, Debug)]
pub struct HorizontalFlip {
    /// Probability of flipping.
    pub p: f32,
}

impl Transform for HorizontalFlip {
    fn apply(&self, s: Sample, rng: &mut Rng) -> Sample {
        if !rng.chance(self.p) {
            return s;
        }
        let (h, w) = (s.image.height, s.image.width);
        let wf = w as f32;
        remap(
            s,
            h,
            w,
            0,
            |x, y| (wf - x, y),
            |b| {
                Some(BBox {
                    x0: wf - b.x1,
                    x1: wf - b.x0,
                    ..*b
                })
            },
        )
    }

    fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::*;
        PROBABILITY.check_as("probability", self.p as f64)?;
        Ok(())
    }
}

/// Zero-pad by `pad` on every side, then crop `size`×`size` at a random place (the CIFAR/MNIST
/// "random crop with padding", torchvision's `RandomCrop(size, padding)`).
#[derive(Clone, Debug)]
pub struct RandomCrop {
    /// Output side.
    pub size: usize,
    /// Zero padding on each side.
    pub pad: usize,
}

impl Transform for RandomCrop {
    fn apply(&self, s: Sample, rng: &mut Rng) -> Sample {
        let (h, w) = (s.image.height, s.image.width);
        let ox = rng.below((w + 2 * self.pad).saturating_sub(self.size) + 1) as f32 - self.pad as f32;
        let oy = rng.below((h + 2 * self.pad).saturating_sub(self.size) + 1) as f32 - self.pad as f32;
        let size = self.size as f32;
        remap(
            s,
            self.size,
            self.size,
            0,
            |x, y| (x + ox, y + oy),
            |b| clip(shift_scale(b, -ox, -oy, 1.0, 1.0), size, size),
        )
    }

    fn sets_size(&self) -> bool {
        true
    }

    fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::*;
        IMAGE_SIDE.check_as("size", self.size)?;
        PADDING.check_as("pad", self.pad)?;
        Ok(())
    }
}

/// Crop a window `(x0, y0, cw, ch)` of the input and resize it to `out_w × out_h`.
fn crop_resize(s: Sample, x0: f32, y0: f32, cw: f32, ch: f32, out_h: usize, out_w: usize) -> Sample {
    let (sx, sy) = (cw / out_w as f32, ch / out_h as f32);
    let (ow, oh) = (out_w as f32, out_h as f32);
    remap(
        s,
        out_h,
        out_w,
        0,
        |x, y| (x0 + x * sx, y0 + y * sy),
        |b| clip(shift_scale(b, -x0, -y0, 1.0 / sx, 1.0 / sy), ow, oh),
    )
}

/// Draws a box of random area (`scale` of `h × w`) and log-uniform aspect ratio (`ratio`,
/// width / height) that `fits(width, height)`, trying 10 times as torchvision does.
fn random_box(
    rng: &mut Rng,
    h: f32,
    w: f32,
    scale: (f32, f32),
    ratio: (f32, f32),
    fits: impl Fn(f32, f32) -> bool,
) -> Option<(f32, f32)> {
    (0..10).find_map(|_| {
        let area = h * w * rng.range(scale.0, scale.1);
        let aspect = rng.range(ratio.0.ln(), ratio.1.ln()).exp();
        let (bw, bh) = ((area * aspect).sqrt(), (area / aspect).sqrt());
        fits(bw, bh).then_some((bw, bh))
    })
}

/// torchvision's `RandomResizedCrop`: a window of random area (`scale` of the image) and aspect
/// ratio (log-uniform in `ratio`), resized to `size`×`size`. An image alone is cropped to the
/// integer window and resized as Pillow does (`interpolation`, antialiased, as torchvision's
/// `resized_crop` on a PIL image); with a mask or boxes, all move together through one bilinear
/// remap.
#[derive(Clone, Debug)]
pub struct RandomResizedCrop {
    /// Output side.
    pub size: usize,
    /// Area range, as fractions of the image.
    pub scale: (f32, f32),
    /// Aspect-ratio range (width / height).
    pub ratio: (f32, f32),
    /// Resampling filter of the resize.
    pub interpolation: Interpolation,
}

impl RandomResizedCrop {
    /// torchvision's defaults: scale 0.08–1, ratio 3/4–4/3, bilinear.
    pub fn new(size: usize) -> Self {
        Self {
            size,
            scale: (0.08, 1.0),
            ratio: (0.75, 4.0 / 3.0),
            interpolation: Interpolation::Bilinear,
        }
    }

    fn crop(&self, s: Sample, x0: usize, y0: usize, cw: usize, ch: usize) -> Sample {
        if s.mask.is_some() || !s.boxes.is_empty() {
            return crop_resize(s, x0 as f32, y0 as f32, cw as f32, ch as f32, self.size, self.size);
        }
        let img = &s.image;
        let c = img.channels;
        let plane = img.height * img.width;
        let mut window = Vec::with_capacity(c * cw * ch);
        for k in 0..c {
            for y in y0..y0 + ch {
                let row = k * plane + y * img.width;
                window.extend_from_slice(&img.pixels[row + x0..row + x0 + cw]);
            }
        }
        let pixels =
            crate::image::resample::resize_planar(&window, c, cw, ch, self.size, self.size, self.interpolation);
        Sample::image(ImageItem {
            pixels,
            height: self.size,
            width: self.size,
            ..s.image
        })
    }
}

impl Transform for RandomResizedCrop {
    fn apply(&self, s: Sample, rng: &mut Rng) -> Sample {
        let (h, w) = (s.image.height as f32, s.image.width as f32);
        let fits = |bw: f32, bh: f32| (1.0..=w).contains(&bw.round()) && (1.0..=h).contains(&bh.round());
        if let Some((bw, bh)) = random_box(rng, h, w, self.scale, self.ratio, fits) {
            let (cw, ch) = (bw.round() as usize, bh.round() as usize);
            let x0 = rng.below(s.image.width - cw + 1);
            let y0 = rng.below(s.image.height - ch + 1);
            return self.crop(s, x0, y0, cw, ch);
        }
        // Fallback (as torchvision): the central crop of the whole image.
        let side = s.image.height.min(s.image.width);
        let (x0, y0) = ((s.image.width - side) / 2, (s.image.height - side) / 2);
        self.crop(s, x0, y0, side, side)
    }

    fn sets_size(&self) -> bool {
        true
    }

    fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::*;
        IMAGE_SIDE.check_as("size", self.size)?;
        range_of("scale", self.scale, FRACTION)?;
        range_of("ratio", self.ratio, FACTOR)?;
        Ok(())
    }
}

/// The evaluation transform of a model's preprocessing (torchvision's `Resize` + `CenterCrop`,
/// Pillow's resampling), for photos at their own sizes: exactly what `predict` does to a file.
#[derive(Clone, Debug)]
pub struct Prepare(pub Preprocessing);

impl Transform for Prepare {
    fn apply(&self, s: Sample, _rng: &mut Rng) -> Sample {
        Sample::image(crate::image::prepare(s.image, &self.0))
    }

    fn sets_size(&self) -> bool {
        true
    }
}

/// Shorter side resized to `resize`, then the central `crop`×`crop` (evaluation transform).
#[derive(Clone, Debug)]
pub struct ResizeCenterCrop {
    /// Shorter side after resizing.
    pub resize: usize,
    /// Output side.
    pub crop: usize,
}

impl Transform for ResizeCenterCrop {
    fn apply(&self, s: Sample, _rng: &mut Rng) -> Sample {
        let (h, w) = (s.image.height as f32, s.image.width as f32);
        let scale = self.resize as f32 / h.min(w);
        let (cw, ch) = (self.crop as f32 / scale, self.crop as f32 / scale);
        crop_resize(s, (w - cw) / 2.0, (h - ch) / 2.0, cw, ch, self.crop, self.crop)
    }

    fn sets_size(&self) -> bool {
        true
    }

    fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::*;
        IMAGE_SIDE.check_as("size", self.resize)?;
        IMAGE_SIDE.check_as("crop", self.crop)?;
        Ok(())
    }
}

/// VGG's multi-scale training: shorter side resized to a random `S` in `[min, max]`, then a
/// random `crop`×`crop`.
#[derive(Clone, Debug)]
pub struct MultiScaleCrop {
    /// Smallest training scale.
    pub min: usize,
    /// Largest training scale.
    pub max: usize,
    /// Output side.
    pub crop: usize,
}

impl Transform for MultiScaleCrop {
    fn apply(&self, s: Sample, rng: &mut Rng) -> Sample {
        let (h, w) = (s.image.height as f32, s.image.width as f32);
        let target = (self.min + rng.below(self.max.saturating_sub(self.min) + 1)).max(self.crop) as f32;
        let scale = target / h.min(w);
        let side = self.crop as f32 / scale;
        let x0 = rng.range(0.0, (w - side).max(0.0));
        let y0 = rng.range(0.0, (h - side).max(0.0));
        crop_resize(s, x0, y0, side, side, self.crop, self.crop)
    }

    fn sets_size(&self) -> bool {
        true
    }

    fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::*;
        IMAGE_SIDE.check_as("scale", self.min)?;
        IMAGE_SIDE.check_as("scale", self.max)?;
        IMAGE_SIDE.check_as("crop", self.crop)?;
        Ok(())
    }
}

/// Random affine "distortions" about the centre (LeNet's and Inception's): rotation in
/// `±degrees`, translation up to `translate` of the size, scale in `scale`, shear in `±shear`
/// degrees.
#[derive(Clone, Debug)]
pub struct RandomAffine {
    /// Maximum rotation, degrees.
    pub degrees: f32,
    /// Maximum translation, fraction of width/height.
    pub translate: f32,
    /// Scale range.
    pub scale: (f32, f32),
    /// Maximum horizontal shear, degrees.
    pub shear: f32,
}

impl Transform for RandomAffine {
    fn apply(&self, s: Sample, rng: &mut Rng) -> Sample {
        let (h, w) = (s.image.height, s.image.width);
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let angle = rng.range(-self.degrees, self.degrees).to_radians();
        let shear = rng.range(-self.shear, self.shear).to_radians();
        let tx = rng.range(-self.translate, self.translate) * w as f32;
        let ty = rng.range(-self.translate, self.translate) * h as f32;
        let sc = rng.range(self.scale.0, self.scale.1);
        // Forward matrix M = scale · rotation · shear; p' = c + t + M (p - c).
        let (sin, cos) = angle.sin_cos();
        let k = shear.tan();
        let m = [sc * cos, sc * (cos * k - sin), sc * sin, sc * (sin * k + cos)];
        let det = m[0] * m[3] - m[1] * m[2];
        let inv = [m[3] / det, -m[1] / det, -m[2] / det, m[0] / det];
        let forward = |x: f32, y: f32| {
            let (dx, dy) = (x - cx, y - cy);
            (cx + tx + m[0] * dx + m[1] * dy, cy + ty + m[2] * dx + m[3] * dy)
        };
        let (wf, hf) = (w as f32, h as f32);
        remap(
            s,
            h,
            w,
            0,
            |x, y| {
                let (dx, dy) = (x - cx - tx, y - cy - ty);
                (cx + inv[0] * dx + inv[1] * dy, cy + inv[2] * dx + inv[3] * dy)
            },
            |b| {
                let corners = [
                    forward(b.x0, b.y0),
                    forward(b.x1, b.y0),
                    forward(b.x0, b.y1),
                    forward(b.x1, b.y1),
                ];
                let xs = corners.map(|c| c.0);
                let ys = corners.map(|c| c.1);
                let fold = |v: [f32; 4], f: fn(f32, f32) -> f32, init: f32| v.into_iter().fold(init, f);
                clip(
                    BBox {
                        x0: fold(xs, f32::min, f32::MAX),
                        x1: fold(xs, f32::max, f32::MIN),
                        y0: fold(ys, f32::min, f32::MAX),
                        y1: fold(ys, f32::max, f32::MIN),
                        label: b.label,
                    },
                    wf,
                    hf,
                )
            },
        )
    }

    fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::*;
        DEGREES.check_as("degrees", self.degrees as f64)?;
        FRACTION.check_as("translate", self.translate as f64)?;
        range_of("scale", self.scale, FACTOR)?;
        DEGREES.check_as("shear", self.shear as f64)?;
        Ok(())
    }
}

/// Random brightness, contrast, saturation and hue (torchvision's `ColorJitter`), applied in that
/// order. Saturation and hue act on RGB images only.
#[derive(Clone, Debug)]
pub struct ColorJitter {
    /// Brightness factor drawn from `[1 - b, 1 + b]`.
    pub brightness: f32,
    /// Contrast factor drawn from `[1 - c, 1 + c]`.
    pub contrast: f32,
    /// Saturation factor drawn from `[1 - s, 1 + s]`.
    pub saturation: f32,
    /// Hue shift drawn from `[-h, h]` (fraction of the colour wheel, at most 0.5).
    pub hue: f32,
}

fn grey_of(p: &[u8], plane: usize, i: usize) -> f32 {
    0.299 * p[i] as f32 + 0.587 * p[plane + i] as f32 + 0.114 * p[2 * plane + i] as f32
}

impl Transform for ColorJitter {
    fn apply(&self, mut s: Sample, rng: &mut Rng) -> Sample {
        let plane = s.image.height * s.image.width;
        let rgb = s.image.channels == 3;
        let mut px: Vec<f32> = s.image.pixels.iter().map(|&v| v as f32).collect();
        let b = rng.range(1.0 - self.brightness, 1.0 + self.brightness);
        px.iter_mut().for_each(|v| *v = (*v * b).clamp(0.0, 255.0));
        let c = rng.range(1.0 - self.contrast, 1.0 + self.contrast);
        let mean = if rgb {
            (0..plane)
                .map(|i| 0.299 * px[i] + 0.587 * px[plane + i] + 0.114 * px[2 * plane + i])
                .sum::<f32>()
                / plane as f32
        } else {
            px.iter().sum::<f32>() / px.len().max(1) as f32
        };
        px.iter_mut()
            .for_each(|v| *v = ((*v - mean) * c + mean).clamp(0.0, 255.0));
        if rgb {
            let sat = rng.range(1.0 - self.saturation, 1.0 + self.saturation);
            let hue = rng.range(-self.hue, self.hue);
            let bytes: Vec<u8> = px.iter().map(|v| v.round() as u8).collect();
            for i in 0..plane {
                let g = grey_of(&bytes, plane, i);
                for ch in 0..3 {
                    let v = &mut px[ch * plane + i];
                    *v = ((*v - g) * sat + g).clamp(0.0, 255.0);
                }
                if hue != 0.0 {
                    let (h, sv, vv) = rgb_to_hsv(px[i], px[plane + i], px[2 * plane + i]);
                    let (r, g2, b2) = hsv_to_rgb((h + hue).rem_euclid(1.0), sv, vv);
                    px[i] = r;
                    px[plane + i] = g2;
                    px[2 * plane + i] = b2;
                }
            }
        }
        s.image.pixels = px.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect();
        s
    }

    fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::*;
        for (name, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            FRACTION.check_as(name, v as f64)?;
        }
        Real { max: 0.5, ..FRACTION }.check_as("hue", self.hue as f64)?;
        Ok(())
    }
}

fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let h = if d == 0.0 {
        0.0
    } else if max == r {
        ((g - b) / d).rem_euclid(6.0) / 6.0
    } else if max == g {
        ((b - r) / d + 2.0) / 6.0
    } else {
        ((r - g) / d + 4.0) / 6.0
    };
    (h, if max == 0.0 { 0.0 } else { d / max }, max)
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let c = v * s;
    let hp = h * 6.0;
    let x = c * (1.0 - (hp.rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    (r + m, g + m, b + m)
}

/// Random erasing (Zhong et al. 2017): with probability `p`, a rectangle of random area
/// (`scale`) and aspect ratio (`ratio`) is filled with random values. Masks and boxes keep their
/// labels: the object is occluded, not moved.
#[derive(Clone, Debug)]
pub struct RandomErasing {
    /// Probability of erasing.
    pub p: f32,
    /// Area range, as fractions of the image.
    pub scale: (f32, f32),
    /// Aspect-ratio range.
    pub ratio: (f32, f32),
}

impl Transform for RandomErasing {
    fn apply(&self, mut s: Sample, rng: &mut Rng) -> Sample {
        if !rng.chance(self.p) {
            return s;
        }
        let (h, w) = (s.image.height, s.image.width);
        let fits = |bw: f32, bh: f32| (1..w).contains(&(bw as usize)) && (1..h).contains(&(bh as usize));
        let Some((bw, bh)) = random_box(rng, h as f32, w as f32, self.scale, self.ratio, fits) else {
            return s;
        };
        let (eh, ew) = (bh as usize, bw as usize);
        let (y0, x0) = (rng.below(h - eh + 1), rng.below(w - ew + 1));
        let plane = h * w;
        for c in 0..s.image.channels {
            for y in y0..y0 + eh {
                for x in x0..x0 + ew {
                    s.image.pixels[c * plane + y * w + x] = (rng.next_u64() & 0xff) as u8;
                }
            }
        }
        s
    }

    fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::*;
        PROBABILITY.check_as("probability", self.p as f64)?;
        range_of("scale", self.scale, FRACTION)?;
        range_of("ratio", self.ratio, FACTOR)?;
        Ok(())
    }
}
