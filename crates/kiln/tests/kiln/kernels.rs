//! Kiln's kernels (`kiln::core::ops`) agree with Burn's generic path, which stays the fallback:
//! batch normalisation in training mode (output, gradients, running statistics), and for the
//! convolution the forward and weight gradient over many geometries, in each of the
//! kernels' layouts, and the whole autodiff backward (input, weight and bias gradients) of the
//! convolution every Kiln model uses.

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use kiln::core::ops;

/// Deterministic values in [-1, 1) (a small LCG), so every run compares the same numbers.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn tensor(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values(shape.iter().product(), seed), shape), device)
}

fn vec(t: Tensor<4>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// Max |a - b| relative to max |b|.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// One convolution to check: input `[n, c, h, w]`, `c_out`, kernel, stride, padding
/// `[(top, bottom), (left, right)]`, dilation, groups.
struct Case {
    input: [usize; 4],
    c_out: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
    groups: usize,
}

const fn case(input: [usize; 4], c_out: usize, k: usize, s: usize, p: usize) -> Case {
    Case {
        input,
        c_out,
        kernel: [k, k],
        stride: [s, s],
        padding: [(p, p), (p, p)],
        dilation: [1, 1],
        groups: 1,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case([2, 3, 9, 9], 4, 3, 1, 1),    // 3×3 "same"
        case([2, 3, 9, 9], 4, 3, 1, 0),    // valid
        case([2, 5, 10, 11], 6, 3, 2, 1),  // stride 2, odd/even sizes
        case([1, 3, 23, 23], 8, 7, 2, 3),  // ResNet's stem
        case([3, 8, 7, 7], 16, 1, 1, 0),   // 1×1
        case([3, 8, 8, 8], 16, 1, 2, 0),   // 1×1 stride 2 (downsample)
        case([2, 4, 12, 12], 4, 5, 3, 2),  // stride 3
        case([2, 4, 12, 12], 4, 11, 4, 2), // AlexNet's first layer shape
        case([1, 1, 28, 28], 6, 5, 1, 0),  // LeNet-5
        case([2, 6, 14, 14], 16, 5, 1, 0), // LeNet-5's second layer
        Case {
            padding: [(1, 3), (0, 2)],
            ..case([2, 5, 9, 10], 7, 5, 1, 0)
        }, // 5×5, asymmetric padding
        Case {
            dilation: [2, 3],
            ..case([2, 3, 15, 16], 5, 3, 1, 2)
        },
        Case {
            dilation: [2, 2],
            ..case([2, 3, 15, 16], 5, 3, 2, 1)
        },
        Case {
            padding: [(0, 2), (1, 0)],
            ..case([2, 3, 8, 9], 4, 3, 1, 0)
        }, // asymmetric
        Case {
            kernel: [1, 7],
            padding: [(0, 0), (3, 3)],
            ..case([2, 4, 9, 9], 6, 1, 1, 0)
        }, // Inception's 1×7
        Case {
            kernel: [3, 1],
            stride: [2, 1],
            ..case([2, 4, 9, 8], 6, 1, 1, 0)
        },
        // 3×3 stride 1 with enough channels for Winograd F(2×2, 3×3) (the first by default, all
        // with `KILN_WINOGRAD=on`): odd and even sizes (partial tiles), valid, padding 2,
        // asymmetric padding.
        case([2, 16, 24, 23], 24, 3, 1, 1),
        case([2, 16, 9, 10], 24, 3, 1, 1),
        case([3, 16, 7, 7], 16, 3, 1, 0),
        case([1, 20, 6, 5], 16, 3, 1, 2),
        Case {
            padding: [(2, 0), (0, 1)],
            ..case([2, 16, 8, 11], 17, 3, 1, 0)
        },
        Case {
            groups: 2,
            ..case([2, 4, 8, 8], 6, 3, 1, 1)
        }, // grouped: Burn's path
        // Depthwise (groups = channels): Kiln's depthwise weight gradient.
        Case {
            groups: 8,
            ..case([2, 8, 9, 9], 8, 3, 1, 1)
        }, // MobileNet's 3×3
        Case {
            groups: 6,
            ..case([2, 6, 10, 11], 6, 3, 2, 1)
        }, // stride 2, odd/even sizes
        Case {
            groups: 4,
            ..case([1, 4, 12, 13], 4, 5, 2, 2)
        }, // EfficientNet's 5×5 stride 2
        Case {
            groups: 4,
            dilation: [2, 2],
            ..case([2, 4, 15, 16], 4, 3, 1, 2)
        }, // dilated (MobileNet V3's segmentation tail)
        Case {
            groups: 3,
            padding: [(0, 2), (1, 0)],
            ..case([2, 3, 8, 9], 3, 3, 1, 0)
        }, // asymmetric
        Case {
            groups: 4,
            ..case([2, 4, 8, 8], 8, 3, 1, 1)
        }, // channel multiplier 2: not canonical depthwise, Burn's path
    ]
}

fn options(c: &Case) -> ConvOptions<2> {
    ConvOptions::new_with_padding(c.stride, c.padding, c.dilation, c.groups)
}

/// Burn's weight gradient, through autodiff of Burn's own convolution: `d/dW Σ (conv(x, W) · dy)`.
fn burn_weight_grad(x: Tensor<4>, w: Tensor<4>, dy: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    let ad = x.device().autodiff();
    let w = Tensor::<4>::from_data(w.to_data(), &ad).require_grad();
    let y = burn_conv2d(Tensor::from_data(x.to_data(), &ad), w.clone(), None, options);
    let loss = (y * Tensor::from_data(dy.to_data(), &ad)).sum();
    let grads = loss.backward();
    Tensor::from_data(w.grad(&grads).unwrap().to_data(), &x.device())
}

/// `kiln::core::ops::conv2d_weight_grad` (Kiln's kernel on flex) equals Burn's on every case,
/// including non-contiguous inputs.
#[test]
fn weight_gradient_matches_burn() {
    check_weight_gradients();
}

/// [`weight_gradient_matches_burn`] in a child process with one layout forced.
#[test]
#[ignore = "run by both_weight_gradient_layouts_match_burn"]
fn weight_gradient_layout_child() {
    check_weight_gradients();
}

fn check_weight_gradients() {
    let device = super::common::device();
    for (i, c) in cases().iter().enumerate() {
        let [n, c_in, h, w] = c.input;
        let opts = options(c);
        let weight = tensor(
            [c.c_out, c_in / c.groups, c.kernel[0], c.kernel[1]],
            3 * i as u64,
            &device,
        );
        let x = tensor(c.input, 3 * i as u64 + 1, &device);
        let ho = (h + c.padding[0].0 + c.padding[0].1 - c.dilation[0] * (c.kernel[0] - 1) - 1) / c.stride[0] + 1;
        let wo = (w + c.padding[1].0 + c.padding[1].1 - c.dilation[1] * (c.kernel[1] - 1) - 1) / c.stride[1] + 1;
        let dy = tensor([n, c.c_out, ho, wo], 3 * i as u64 + 2, &device);

        let expected = vec(burn_weight_grad(x.clone(), weight.clone(), dy.clone(), opts.clone()));
        let got = vec(ops::conv2d_weight_grad(
            x.clone(),
            weight.clone(),
            dy.clone(),
            opts.clone(),
        ));
        let err = rel_err(&got, &expected);
        assert!(
            err < 1e-5,
            "case {i} ({:?} k{:?} s{:?} p{:?} d{:?}): relative error {err}",
            c.input,
            c.kernel,
            c.stride,
            c.padding,
            c.dilation
        );

        // The same input, laid out transposed in memory.
        let xt = tensor([n, c_in, w, h], 3 * i as u64 + 1, &device).swap_dims(2, 3);
        let dyt = tensor([n, c.c_out, wo, ho], 3 * i as u64 + 2, &device).swap_dims(2, 3);
        let expected = vec(burn_weight_grad(xt.clone(), weight.clone(), dyt.clone(), opts.clone()));
        let got = vec(ops::conv2d_weight_grad(xt, weight, dyt, opts));
        let err = rel_err(&got, &expected);
        assert!(err < 1e-5, "case {i}, non-contiguous: relative error {err}");
    }
}

/// `ops::conv2d_input_grad` (on flex Kiln's kernels for the depthwise, 3×3 stride-1 and widening
/// stride-1 cases, Burn's for the rest) equals Burn's autodiff input gradient on every case,
/// contiguous output gradient or not.
#[test]
fn input_gradient_matches_burn() {
    check_input_gradients();
}

/// [`input_gradient_matches_burn`] in a child process (`KILN_WINOGRAD` forced).
#[test]
#[ignore = "run by winograd_on_and_off_match_burn"]
fn input_gradient_child() {
    check_input_gradients();
}

/// With Winograd forced on for every 3×3 stride-1 case (however few channels) and with it off,
/// the forward, the input gradient and the weight gradient still match Burn on every case.
#[test]
fn winograd_on_and_off_match_burn() {
    for mode in ["on", "off"] {
        for test in [
            "kernels::forward_layout_child",
            "kernels::input_gradient_child",
            "kernels::weight_gradient_layout_child",
        ] {
            super::common::run_child_test(test, &[("KILN_WINOGRAD", std::ffi::OsStr::new(mode))]);
        }
    }
}

fn check_input_gradients() {
    let device = super::common::device();
    for (i, c) in cases().iter().enumerate() {
        let [n, c_in, h, w] = c.input;
        let opts = options(c);
        let weight = tensor(
            [c.c_out, c_in / c.groups, c.kernel[0], c.kernel[1]],
            5 * i as u64,
            &device,
        );
        let ho = (h + c.padding[0].0 + c.padding[0].1 - c.dilation[0] * (c.kernel[0] - 1) - 1) / c.stride[0] + 1;
        let wo = (w + c.padding[1].0 + c.padding[1].1 - c.dilation[1] * (c.kernel[1] - 1) - 1) / c.stride[1] + 1;
        let x = tensor(c.input, 5 * i as u64 + 1, &device);
        for dy in [
            tensor([n, c.c_out, ho, wo], 5 * i as u64 + 2, &device),
            tensor([n, c.c_out, wo, ho], 5 * i as u64 + 2, &device).swap_dims(2, 3),
        ] {
            let ad = device.clone().autodiff();
            let xa = Tensor::<4>::from_data(x.to_data(), &ad).require_grad();
            let y = burn_conv2d(xa.clone(), Tensor::from_data(weight.to_data(), &ad), None, opts.clone());
            let grads = (y * Tensor::from_data(dy.to_data(), &ad)).sum().backward();
            let expected = vec(Tensor::from_data(xa.grad(&grads).unwrap().to_data(), &device));
            let got = vec(ops::conv2d_input_grad(x.clone(), weight.clone(), dy, opts.clone()));
            let err = rel_err(&got, &expected);
            assert!(
                err < 1e-5,
                "case {i} ({:?} groups {}): relative error {err}",
                c.input,
                c.groups
            );
        }
    }
}

/// Kiln's forward (`ops::conv2d` on a plain flex device) equals Burn's on every case, with bias.
#[test]
fn forward_matches_burn() {
    check_forward();
}

/// [`forward_matches_burn`] in a child process with one layout forced.
#[test]
#[ignore = "run by both_forward_layouts_match_burn"]
fn forward_layout_child() {
    check_forward();
}

/// Both layouts of Kiln's forward kernel match Burn on every case.
#[test]
fn both_forward_layouts_match_burn() {
    for layout in ["phases", "patches"] {
        super::common::run_child_test(
            "kernels::forward_layout_child",
            &[("KILN_CONV_LAYOUT", std::ffi::OsStr::new(layout))],
        );
    }
}

fn check_forward() {
    let device = super::common::device();
    for (i, c) in cases().iter().enumerate() {
        let opts = options(c);
        let [_, c_in, _, _] = c.input;
        let weight = tensor(
            [c.c_out, c_in / c.groups, c.kernel[0], c.kernel[1]],
            50 + i as u64,
            &device,
        );
        let bias = Tensor::<1>::from_data(TensorData::new(values(c.c_out, 60 + i as u64), [c.c_out]), &device);
        for x in [
            tensor(c.input, 70 + i as u64, &device),
            tensor([c.input[0], c_in, c.input[3], c.input[2]], 70 + i as u64, &device).swap_dims(2, 3),
        ] {
            let expected = vec(burn_conv2d(x.clone(), weight.clone(), Some(bias.clone()), opts.clone()));
            let got = vec(ops::conv2d(x, weight.clone(), Some(bias.clone()), opts.clone()));
            let err = rel_err(&got, &expected);
            assert!(err < 1e-5, "case {i}: forward relative error {err}");
        }
    }
}

/// Both layouts of Kiln's weight-gradient kernel (phases for large maps, patches for small ones)
/// match Burn on every case, each forced in a child process.
#[test]
fn both_weight_gradient_layouts_match_burn() {
    for layout in ["phases", "patches"] {
        super::common::run_child_test(
            "kernels::weight_gradient_layout_child",
            &[("KILN_CONV_LAYOUT", std::ffi::OsStr::new(layout))],
        );
    }
}

/// On an autodiff flex device, `ops::conv2d` (the convolution all of Kiln's models call) gives
/// Burn's output and Burn's input, weight and bias gradients.
#[test]
fn autodiff_convolution_matches_burn() {
    let device = super::common::device();
    let ad = device.clone().autodiff();
    for (i, c) in cases().iter().enumerate() {
        let opts = options(c);
        let [_, c_in, _, _] = c.input;
        let wshape = [c.c_out, c_in / c.groups, c.kernel[0], c.kernel[1]];
        let run = |kiln_path: bool| {
            let x = tensor(c.input, 10 + i as u64, &ad).require_grad();
            let w = tensor(wshape, 20 + i as u64, &ad).require_grad();
            let b =
                Tensor::<1>::from_data(TensorData::new(values(c.c_out, 30 + i as u64), [c.c_out]), &ad).require_grad();
            let y = if kiln_path {
                ops::conv2d(x.clone(), w.clone(), Some(b.clone()), opts.clone())
            } else {
                burn_conv2d(x.clone(), w.clone(), Some(b.clone()), opts.clone())
            };
            let [n, o, ho, wo] = y.dims();
            let weights = tensor([n, o, ho, wo], 40 + i as u64, &ad);
            let out = vec(y.clone());
            let grads = (y * weights).sum().backward();
            let db = b.grad(&grads).unwrap().to_data().try_into_vec::<f32>().unwrap();
            (out, vec(x.grad(&grads).unwrap()), vec(w.grad(&grads).unwrap()), db)
        };
        let (y_k, dx_k, dw_k, db_k) = run(true);
        let (y_b, dx_b, dw_b, db_b) = run(false);
        for (what, got, expected) in [
            ("output", y_k, y_b),
            ("input gradient", dx_k, dx_b),
            ("weight gradient", dw_k, dw_b),
            ("bias gradient", db_k, db_b),
        ] {
            let err = rel_err(&got, &expected);
            assert!(err < 1e-5, "case {i}: {what} relative error {err}");
        }
    }
}

/// Kiln's fused training-mode batch normalisation (`ops::batch_norm`) gives Burn's `BatchNorm`
/// output, input / gamma / beta gradients and running statistics, contiguous input or not.
#[test]
fn batch_norm_matches_burn() {
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    let ad = super::common::device().autodiff();
    for (i, shape) in [[4, 3, 5, 6], [2, 8, 7, 7], [16, 64, 2, 2], [3, 5, 1, 1]]
        .into_iter()
        .enumerate()
    {
        let c = shape[1];
        let seed = 100 + 10 * i as u64;
        let make = || {
            let mut bn = BatchNormConfig::new(c).init(&ad);
            bn.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(values(c, seed), [c]), &ad));
            bn.beta = Param::from_tensor(Tensor::from_data(TensorData::new(values(c, seed + 1), [c]), &ad));
            bn
        };
        for transposed in [false, true] {
            let run = |kiln_path: bool| {
                let bn = make();
                let x = if transposed {
                    tensor([shape[0], c, shape[3], shape[2]], seed + 2, &ad).swap_dims(2, 3)
                } else {
                    tensor(shape, seed + 2, &ad)
                };
                let x = (x * 3.0 + 0.5).detach().require_grad();
                let y = if kiln_path {
                    ops::batch_norm(&bn, x.clone())
                } else {
                    bn.forward(x.clone())
                };
                let weights = tensor(y.dims(), seed + 3, &ad);
                let out = vec(y.clone());
                let grads = (y * weights).sum().backward();
                let one = |t: Tensor<1>| t.to_data().convert::<f32>().try_into_vec::<f32>().unwrap();
                (
                    out,
                    vec(x.grad(&grads).unwrap()),
                    one(bn.gamma.grad(&grads).unwrap()),
                    one(bn.beta.grad(&grads).unwrap()),
                    one(bn.running_mean.value()),
                    one(bn.running_var.value()),
                )
            };
            let kiln = run(true);
            let burn = run(false);
            for (what, got, expected) in [
                ("output", &kiln.0, &burn.0),
                ("input gradient", &kiln.1, &burn.1),
                ("gamma gradient", &kiln.2, &burn.2),
                ("beta gradient", &kiln.3, &burn.3),
                ("running mean", &kiln.4, &burn.4),
                ("running variance", &kiln.5, &burn.5),
            ] {
                let err = rel_err(got, expected);
                assert!(
                    err < 1e-4,
                    "{shape:?} (transposed: {transposed}): {what} relative error {err}"
                );
            }
        }
    }
}

/// Kiln's max pooling (`ops::max_pool2d`) gives Burn's `MaxPool2d` output and input gradient,
/// ties included (values rounded to quarters, so windows share maxima), contiguous or not.
#[test]
fn max_pool_matches_burn() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::pool::MaxPool2dConfig;
    let ad = super::common::device().autodiff();
    let configs = [
        ([2, 2], [2, 2], 0),
        ([3, 3], [2, 2], 1),
        ([3, 3], [1, 1], 1),
        ([2, 3], [1, 2], 0),
        ([5, 5], [3, 3], 2),
    ];
    for (i, (kernel, stride, pad)) in configs.into_iter().enumerate() {
        let pool = MaxPool2dConfig::new(kernel)
            .with_strides(stride)
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .init();
        for (transposed, nan) in [(false, false), (true, false), (false, true)] {
            // The 2×2 window also on rows wide enough for the vector path (35 outputs: two
            // blocks of 16 and a tail), odd sizes leaving a last row and column unpooled.
            let shape = if i == 0 { [2, 3, 9, 71] } else { [3, 4, 11, 9] };
            let seed = 200 + 10 * i as u64;
            let run = |kiln_path: bool| {
                let raw = if transposed {
                    tensor([shape[0], shape[1], shape[3], shape[2]], seed, &ad).swap_dims(2, 3)
                } else {
                    tensor(shape, seed, &ad)
                };
                // Quarters: many ties. With `nan`, about one value in twenty is NaN.
                let x = (raw.clone() * 4.0).round().div_scalar(4.0);
                let x = if nan {
                    x.mask_fill(raw.greater_elem(0.9), f32::NAN)
                } else {
                    x
                };
                let x = x.detach().require_grad();
                let y = if kiln_path {
                    ops::max_pool2d(&pool, x.clone())
                } else {
                    pool.forward(x.clone())
                };
                let weights = tensor(y.dims(), seed + 1, &ad);
                let out = vec(y.clone());
                let grads = (y * weights).sum().backward();
                (out, vec(x.grad(&grads).unwrap()))
            };
            let (y_k, dx_k) = run(true);
            let (y_b, dx_b) = run(false);
            let same = |a: &f32, b: &f32| a == b || (a.is_nan() && b.is_nan());
            assert!(
                y_k.len() == y_b.len() && y_k.iter().zip(&y_b).all(|(a, b)| same(a, b)),
                "config {i} (transposed: {transposed}, NaN: {nan}): outputs differ"
            );
            assert!(
                !nan || y_b.iter().any(|v| v.is_nan()),
                "config {i}: no NaN reached the output"
            );
            // Overlapping windows add into one input in either order: equal up to rounding.
            let err = rel_err(&dx_k, &dx_b);
            assert!(
                err < 1e-6,
                "config {i} (transposed: {transposed}, NaN: {nan}): input gradient relative error {err}"
            );
        }
    }
}

/// Kiln's SiLU (`ops::silu`, one pass forward and backward on flex) gives Burn's
/// `activation::silu` output and input gradient, on a contiguous tensor and on a transposed view.
#[test]
fn silu_matches_burn() {
    let device = super::common::device();
    let ad = device.clone().autodiff();
    for transposed in [false, true] {
        let run = |kiln_path: bool| {
            // Values over [-6, 6]; the transposed case reads a strided view.
            let x = tensor([2, 3, 20, 17], 77, &ad).mul_scalar(6.0).detach().require_grad();
            let x_in = if transposed {
                x.clone().swap_dims(2, 3)
            } else {
                x.clone()
            };
            let y = if kiln_path {
                ops::silu(x_in)
            } else {
                burn::tensor::activation::silu(x_in)
            };
            let weights = tensor(y.dims(), 78, &ad);
            let out = vec(y.clone());
            let grads = (y * weights).sum().backward();
            (out, vec(x.grad(&grads).unwrap()))
        };
        let (y_k, dx_k) = run(true);
        let (y_b, dx_b) = run(false);
        assert!(rel_err(&y_k, &y_b) < 1e-6, "output, transposed {transposed}");
        assert!(rel_err(&dx_k, &dx_b) < 1e-6, "gradient, transposed {transposed}");
    }
}
