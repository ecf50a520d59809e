//! Kiln's own kernels for ops where Burn's generic path is slow, registered through Burn 0.22's
//! backend-extension mechanism ([`KilnBackend`]) with Burn's path as the fallback.
//!
//! On the `flex` CPU backend: the **2-D convolution**'s forward pass ([`flex_conv_forward`]),
//! weight gradient ([`flex_weight_grad`]) and, for 3×3 stride-1 layers and widening stride-1
//! layers, input gradient ([`flex_winograd`], [`flex_input_grad`]), training-mode **batch norm**
//! ([`flex_batch_norm`]) and **max pooling** ([`flex_max_pool`]). Burn computes the weight gradient as a convolution whose kernel is the
//! whole output-gradient map (for a 3×3 layer a gemm with N = 9 and a huge K, which gemm runs far
//! below its peak), and the forward per image over NHWC im2col tiles; Kiln computes both as large
//! gemms over every image at once, over L2-sized tiles of the patch matrix, gathered from a
//! phase-split copy of the input (large maps) or from the input itself (small maps)
//! (`ops/tiles.rs`). 3×3 stride-1 layers with at least 16 channels (most of ResNet's and VGG's
//! work) take Winograd's F(2×2, 3×3) instead, in all three passes: 16 multiplications per 2×2
//! outputs instead of 36. Widening stride-1 layers (LeNet-5's) take a column-form input
//! gradient with vectorised adds; other layers' input gradient stays Burn's transposed
//! convolution (two direct Kiln kernels for it were no faster: see git history and
//! docs/performance.md).
//! Every other backend, and every case the kernels do not cover (grouped convolutions, dilated or
//! ceil-mode pooling, non-f32 dtypes), takes Burn's path; `KILN_CONV_KERNELS=burn` forces it
//! everywhere, `KILN_WINOGRAD=off` turns Winograd off. `crates/kiln/tests/kiln/kernels.rs` checks
//! that all agree.

#[allow(deprecated)] // the extension is implemented for `ndarray`, which Burn deprecates
mod extension;
#[cfg(feature = "flex")]
pub mod flex_batch_norm;
#[cfg(feature = "flex")]
pub mod flex_conv_direct;
#[cfg(feature = "flex")]
pub mod flex_conv_forward;
#[cfg(feature = "flex")]
pub mod flex_depthwise;
#[cfg(feature = "flex")]
pub mod flex_input_grad;
#[cfg(feature = "flex")]
pub mod flex_max_pool;
#[cfg(feature = "flex")]
pub mod flex_silu;
#[cfg(feature = "flex")]
pub mod flex_weight_grad;
#[cfg(feature = "flex")]
pub mod flex_weight_grad_direct;
#[cfg(feature = "flex")]
pub mod flex_winograd;
#[cfg(feature = "flex")]
mod max_pool_2x2;
#[cfg(feature = "flex")]
mod tiles;
#[cfg(feature = "flex")]
mod winograd_transforms;

pub use extension::KilnBackend;

use burn::tensor::Tensor;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;

/// Whether [`conv2d`] routes through Kiln's kernels (on) or always through Burn's (off, for
/// comparing the two). Default on; `KILN_CONV_KERNELS=burn` in the environment turns it off.
pub fn kiln_kernels_enabled() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = std::env::var("KILN_CONV_KERNELS").map_or(true, |v| v != "burn");
            STATE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

/// A 2-D convolution, as [`burn::tensor::module::conv2d`], computed on `flex` by Kiln's forward
/// kernel and, on a `flex` autodiff device, differentiated with Kiln's weight-gradient kernel.
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in / groups, kh, kw]`, `bias`: `[c_out]` →
/// `[n, c_out, h', w']`
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    if !uses_kiln_kernel(&x.device()) {
        return burn_conv2d(x, weight, bias, options);
    }
    let y = conv2d_kiln(x, weight, options);
    match bias {
        Some(b) => {
            let c_out = b.dims()[0];
            y + b.reshape([1, c_out, 1, 1])
        }
        None => y,
    }
}

/// Kiln's conv (no bias) through the extension, whatever the device: the reference tests call it
/// directly to compare against Burn's.
pub fn conv2d_kiln(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as KilnBackend>::kiln_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ))
}

/// The weight gradient of `conv2d(x, weight)` given the output gradient, by Kiln's kernel where it
/// applies and Burn's otherwise (no autodiff involved).
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in / groups, kh, kw]`, `output_grad`:
/// `[n, c_out, h', w']` → `[c_out, c_in / groups, kh, kw]`
pub fn conv2d_weight_grad(
    x: Tensor<4>,
    weight: Tensor<4>,
    output_grad: Tensor<4>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as KilnBackend>::kiln_conv2d_weight_grad(
        x.into_dispatch(),
        weight.into_dispatch(),
        output_grad.into_dispatch(),
        options,
    ))
}

/// SiLU, `x · sigmoid(x)`: Kiln's one-pass kernel (and its one-pass backward on an autodiff
/// device) on `flex`, Burn's `activation::silu` elsewhere.
///
/// # Shapes
/// any → the same
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !uses_kiln_kernel(&x.device()) {
        return burn::tensor::activation::silu(x);
    }
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as KilnBackend>::kiln_silu(x.into_dispatch()))
}

/// Kiln's kernels run on `flex` (training and inference, unless `KILN_CONV_KERNELS=burn`); other
/// backends call Burn directly.
fn uses_kiln_kernel(device: &burn::tensor::Device) -> bool {
    #[cfg(feature = "flex")]
    {
        *device == burn::tensor::Device::flex() && kiln_kernels_enabled()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// `conv.forward(x)` through [`conv2d`]: the same options Burn's module computes (a `Same`
/// padding, which Kiln's models never use, goes to Burn's module as is).
///
/// # Shapes
/// `[n, c_in, h, w]` → `[n, c_out, h', w']`
pub fn conv2d_module(conv: &burn::nn::conv::Conv2d, x: Tensor<4>) -> Tensor<4> {
    use burn::nn::PaddingConfig2d;
    let padding = match &conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(*top, *bottom), (*left, *right)],
        _ => return conv.forward(x),
    };
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    conv2d(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), options)
}

/// The input gradient of `conv2d(x, weight)` given the output gradient, as Kiln's models
/// compute it: Kiln's kernels for depthwise, 3×3 stride-1 and widening stride-1 layers on
/// `flex`, Burn's (a transposed convolution) otherwise.
///
/// # Shapes
/// `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in / groups, kh, kw]`, `output_grad`:
/// `[n, c_out, h', w']` → `[n, c_in, h, w]`
pub fn conv2d_input_grad(
    x: Tensor<4>,
    weight: Tensor<4>,
    output_grad: Tensor<4>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as KilnBackend>::kiln_conv2d_input_grad(
        x.into_dispatch(),
        weight.into_dispatch(),
        output_grad.into_dispatch(),
        options,
    ))
}

/// The weight gradient by Burn's own path, whatever [`kiln_kernels_enabled`] says; for
/// benchmarks and tests.
///
/// # Shapes
/// as [`conv2d_weight_grad`]
pub fn conv2d_weight_grad_burn(
    x: Tensor<4>,
    weight: Tensor<4>,
    output_grad: Tensor<4>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    use burn::backend::Dispatch;
    use burn::backend::ops::ModuleOps;
    Tensor::from_dispatch(<Dispatch as ModuleOps<Dispatch>>::conv2d_weight_backward(
        x.into_dispatch(),
        weight.into_dispatch(),
        output_grad.into_dispatch(),
        options,
    ))
}

/// `bn.forward(x)`, with training-mode batch normalisation (an autodiff `flex` device, the layer
/// not frozen) fused by Kiln ([`flex_batch_norm`]), running statistics updated as Burn's
/// `BatchNorm` updates them (momentum, biased variance). Otherwise Burn's module.
///
/// # Shapes
/// `[n, c, h, w]` → `[n, c, h, w]`
pub fn batch_norm(bn: &burn::nn::BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    if !(device.is_autodiff() && bn.training.is_enabled() && uses_kiln_kernel(&device)) {
        return bn.forward(x);
    }
    use burn::backend::Dispatch;
    let (y, mean, variance) = <Dispatch as KilnBackend>::kiln_batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    let (mean, variance): (Tensor<1>, Tensor<1>) = (Tensor::from_dispatch(mean), Tensor::from_dispatch(variance));
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean.update(
        running_mean
            .mul_scalar(1.0 - m)
            .add(mean.detach().mul_scalar(m))
            .detach(),
    );
    bn.running_var.update(
        running_var
            .mul_scalar(1.0 - m)
            .add(variance.detach().mul_scalar(m))
            .detach(),
    );
    Tensor::from_dispatch(y)
}

/// `pool.forward(x)`, on `flex` by Kiln's kernel ([`flex_max_pool`]) where it applies (no
/// dilation, floor mode, symmetric explicit padding); otherwise Burn's module.
///
/// # Shapes
/// `[n, c, h, w]` → `[n, c, h', w']`
pub fn max_pool2d(pool: &burn::nn::pool::MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    use burn::nn::PaddingConfig2d;
    let padding = match &pool.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => [*top, *left],
        _ => return pool.forward(x),
    };
    if pool.dilation != [1, 1] || pool.ceil_mode || !uses_kiln_kernel(&x.device()) {
        return pool.forward(x);
    }
    use burn::backend::Dispatch;
    Tensor::from_dispatch(<Dispatch as KilnBackend>::kiln_max_pool2d(
        x.into_dispatch(),
        pool.kernel_size,
        pool.stride,
        padding,
    ))
}
