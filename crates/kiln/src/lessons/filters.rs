//! Classic filters are convolutions: the same `conv2d` a CNN learns, with hand-set kernels.

use super::{tile, to_grey};
use burn::tensor::{Device, Tensor, TensorData, module::conv2d, ops::ConvOptions};
use image::GrayImage;

/// A named 2-D kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Name.
    pub name: &'static str,
    /// Side (odd).
    pub size: usize,
    /// Row-major weights.
    pub weights: Vec<f32>,
}

impl Kernel {
    fn new(name: &'static str, size: usize, weights: Vec<f32>) -> Self {
        Self { name, size, weights }
    }
}

/// The course's kernels: identity, 3×3 box blur, 5×5 Gaussian blur, sharpen, Sobel x and y
/// (vertical and horizontal edges), Laplacian (all edges).
pub fn classic_kernels() -> Vec<Kernel> {
    let g = [1.0f32, 4.0, 6.0, 4.0, 1.0];
    let gauss: Vec<f32> = (0..25).map(|i| g[i / 5] * g[i % 5] / 256.0).collect();
    vec![
        Kernel::new("identity", 3, vec![0., 0., 0., 0., 1., 0., 0., 0., 0.]),
        Kernel::new("box blur", 3, vec![1.0 / 9.0; 9]),
        Kernel::new("gaussian blur", 5, gauss),
        Kernel::new("sharpen", 3, vec![0., -1., 0., -1., 5., -1., 0., -1., 0.]),
        Kernel::new("sobel x", 3, vec![-1., 0., 1., -2., 0., 2., -1., 0., 1.]),
        Kernel::new("sobel y", 3, vec![-1., -2., -1., 0., 0., 0., 1., 2., 1.]),
        Kernel::new("laplacian", 3, vec![0., 1., 0., 1., -4., 1., 0., 1., 0.]),
    ]
}

/// Convolves a grey image (`height × width` values) with each kernel in one `conv2d` call
/// (one output channel per kernel, zero padding keeps the size).
///
/// # Shapes
/// - image `[height * width]`
/// - returns one `[height * width]` response per kernel
pub fn apply(image: &[f32], height: usize, width: usize, kernels: &[Kernel], device: &Device) -> Vec<Vec<f32>> {
    let k = kernels.iter().map(|k| k.size).max().unwrap_or(1);
    // Centre every kernel in a k×k frame so that one convolution applies them all.
    let mut w = vec![0f32; kernels.len() * k * k];
    for (o, kernel) in kernels.iter().enumerate() {
        let off = (k - kernel.size) / 2;
        for y in 0..kernel.size {
            for x in 0..kernel.size {
                w[o * k * k + (y + off) * k + x + off] = kernel.weights[y * kernel.size + x];
            }
        }
    }
    let x = Tensor::<4>::from_data(TensorData::new(image.to_vec(), [1, 1, height, width]), device);
    let weight = Tensor::<4>::from_data(TensorData::new(w, [kernels.len(), 1, k, k]), device);
    let p = k / 2;
    let y = conv2d(x, weight, None, ConvOptions::new([1, 1], [p, p], [1, 1], 1));
    let v = kiln_core::floats(y);
    v.chunks(height * width).map(<[f32]>::to_vec).collect()
}

/// A grid of a photo filtered by every classic kernel. Responses are shown as grey levels:
/// blurs and sharpening on the image's own 0–1 range, edge filters as magnitudes.
pub fn filter_grid(photo: &GrayImage, device: &Device) -> (GrayImage, Vec<&'static str>) {
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let values: Vec<f32> = photo.as_raw().iter().map(|&p| p as f32 / 255.0).collect();
    let kernels = classic_kernels();
    let responses = apply(&values, h, w, &kernels, device);
    let tiles: Vec<GrayImage> = kernels
        .iter()
        .zip(&responses)
        .map(|(k, r)| {
            if k.weights.iter().sum::<f32>().abs() < 1e-6 {
                let mag: Vec<f32> = r.iter().map(|v| v.abs()).collect();
                let hi = mag.iter().cloned().fold(1e-6, f32::max);
                to_grey(&mag, w, h, 0.0, hi)
            } else {
                to_grey(r, w, h, 0.0, 1.0)
            }
        })
        .collect();
    (tile(&tiles, 4, 4), kernels.iter().map(|k| k.name).collect())
}
