//! What a trained network looks at: its first-layer filters and a stage's feature maps, as
//! image grids.

use super::{tile, to_grey};
use burn::{
    module::{Module, ModuleVisitor, Param},
    tensor::Tensor,
};
use image::{GrayImage, RgbImage};
use kiln_core::Backbone;

/// The first rank-4 parameter of a model: its first convolution's weight `[out, in, kh, kw]`.
pub fn first_conv_weight<M: Module>(model: &M) -> Option<Tensor<4>> {
    struct V(Option<Tensor<4>>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if self.0.is_none() && D == 4 {
                let dims = p.val().dims();
                self.0 = Some(p.val().reshape([dims[0], dims[1], dims[2], dims[3]]));
            }
        }
    }
    let mut v = V(None);
    model.visit(&mut v);
    v.0
}

/// The filters of a `[out, in, kh, kw]` weight as a grid, each filter scaled on its own so that
/// its most negative weight is black and its most positive white (symmetric around grey 0),
/// upscaled `scale` times. Three-channel filters are shown in colour.
pub fn filter_grid(weight: Tensor<4>, scale: u32) -> RgbImage {
    let [out, cin, kh, kw] = weight.dims();
    let w = kiln_core::floats(weight);
    let (cols, gap) = ((out as f64).sqrt().ceil() as usize, 1u32);
    let cell = |i: u32| i * (kw as u32 * scale + gap);
    let rows = out.div_ceil(cols);
    let mut img = RgbImage::from_pixel(
        cell(cols as u32) - gap,
        rows as u32 * (kh as u32 * scale + gap) - gap,
        image::Rgb([255, 255, 255]),
    );
    for o in 0..out {
        let f = &w[o * cin * kh * kw..(o + 1) * cin * kh * kw];
        let m = f.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
        let (c, r) = ((o % cols) as u32, (o / cols) as u32);
        for y in 0..kh {
            for x in 0..kw {
                let ch = |k: usize| {
                    let v = f[(k.min(cin - 1)) * kh * kw + y * kw + x];
                    ((v / m * 0.5 + 0.5) * 255.0).round().clamp(0.0, 255.0) as u8
                };
                let px = if cin == 3 { [ch(0), ch(1), ch(2)] } else { [ch(0); 3] };
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.put_pixel(
                            cell(c) + x as u32 * scale + dx,
                            r * (kh as u32 * scale + gap) + y as u32 * scale + dy,
                            image::Rgb(px),
                        );
                    }
                }
            }
        }
    }
    img
}

/// The feature maps of `stage` for one image, each channel on its own grey scale (min black,
/// max white), at most `max_channels`, upscaled `scale` times.
///
/// # Shapes
/// - image `[1, channels, h, w]` (normalised as the model expects)
pub fn feature_map_grid<M: Backbone>(
    model: &M,
    image: Tensor<4>,
    stage: usize,
    max_channels: usize,
    scale: u32,
) -> Option<GrayImage> {
    let features = model.forward_features(image);
    let f = features.get(stage)?.clone();
    let [_, c, h, w] = f.dims();
    let v = kiln_core::floats(f);
    let tiles: Vec<GrayImage> = (0..c.min(max_channels))
        .map(|k| {
            let plane = &v[k * h * w..(k + 1) * h * w];
            let lo = plane.iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = plane.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let g = to_grey(plane, w, h, lo, hi.max(lo + 1e-6));
            image::imageops::resize(
                &g,
                w as u32 * scale,
                h as u32 * scale,
                image::imageops::FilterType::Nearest,
            )
        })
        .collect();
    Some(tile(&tiles, (tiles.len() as f64).sqrt().ceil() as usize, 2))
}
