//! The course's lessons, checked numerically.

use burn::tensor::{Tensor, TensorData, module::max_pool2d, ops::MaxPoolOptions};

fn pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

/// "Maximum is not a differentiable function, so there is no gradient with respect to
/// non-maximum neurons": the backward pass of max pooling sends each output's gradient to the
/// input that was the maximum of its window and nothing to the others. Checked against central
/// finite differences of the pooled sum, input by input.
#[test]
fn max_pool_gradient_goes_only_to_the_maximum() {
    let device = super::common::device().autodiff();
    #[rustfmt::skip]
    let values: Vec<f32> = vec![
        1.0, 5.0,   2.0, 0.5,
        3.0, 4.0,   7.0, 6.0,

        -1.0, -2.0, 9.0, 8.0,
        -3.0, -0.5, 1.0, 2.0,
    ];
    let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [1, 1, 4, 4]), &device).require_grad();
    // Weight each window's output differently so that a gradient sent to the wrong place shows.
    let w = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &device);
    let loss = (pool(x.clone()) * w.clone()).sum();
    let grads = loss.backward();
    let analytic: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();

    // The gradient is the window's weight at the argmax, zero elsewhere.
    #[rustfmt::skip]
    let expected = vec![
        0.0, 1.0,   0.0, 0.0,
        0.0, 0.0,   2.0, 0.0,

        0.0, 0.0,   4.0, 0.0,
        0.0, 3.0,   0.0, 0.0,
    ];
    assert_eq!(analytic, expected);

    // Central differences on the plain (non-autodiff) device.
    let plain = super::common::device();
    let f = |v: &[f32]| -> f32 {
        let t = Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, 4, 4]), &plain);
        let w = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &plain);
        (pool(t) * w).sum().into_scalar::<f32>()
    };
    let h = 1e-2;
    for i in 0..values.len() {
        let (mut up, mut down) = (values.clone(), values.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (f(&up) - f(&down)) / (2.0 * h);
        assert!(
            (numeric - analytic[i]).abs() < 1e-3,
            "input {i}: finite difference {numeric}, autodiff {}",
            analytic[i]
        );
    }
}

/// Sobel x on a vertical edge (dark left half, bright right half): a strong response along the
/// edge columns only; the blur keeps a flat region flat; the identity kernel is the identity.
#[test]
fn classic_filters_respond_where_they_should() {
    use kiln::lessons::filters::{apply, classic_kernels};
    let device = super::common::device();
    let (h, w) = (16, 16);
    let image: Vec<f32> = (0..h * w).map(|i| if i % w >= w / 2 { 1.0 } else { 0.0 }).collect();
    let kernels = classic_kernels();
    let out = apply(&image, h, w, &kernels, &device);
    let sobel_x = &out[kernels.iter().position(|k| k.name == "sobel x").unwrap()];
    let sobel_y = &out[kernels.iter().position(|k| k.name == "sobel y").unwrap()];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let v = sobel_x[y * w + x];
            if x == w / 2 - 1 || x == w / 2 {
                assert!((v - 4.0).abs() < 1e-5, "edge response at ({x},{y}) = {v}");
            } else {
                assert!(v.abs() < 1e-5, "response away from the edge at ({x},{y}) = {v}");
            }
            assert!(
                sobel_y[y * w + x].abs() < 1e-5,
                "a vertical edge has no horizontal gradient"
            );
        }
    }
    let identity = &out[0];
    assert_eq!(identity, &image);
    let blur = &out[kernels.iter().position(|k| k.name == "box blur").unwrap()];
    assert!((blur[5 * w + 2] - 0.0).abs() < 1e-6 && (blur[5 * w + 12] - 1.0).abs() < 1e-6);
    // On a real photo the grid has one tile per kernel.
    let photo = image::open(super::common::root().join("datasets/samples/chelsea.png"))
        .unwrap()
        .to_luma8();
    let photo = image::imageops::resize(&photo, 64, 48, image::imageops::FilterType::Triangle);
    let (grid, names) = kiln::lessons::filters::filter_grid(&photo, &device);
    assert_eq!(names.len(), 7);
    assert_eq!((grid.width(), grid.height()), (4 * 64 + 3 * 4, 2 * 48 + 4));
}

/// Sigmoid gradients vanish toward the input of a deep plain network; ReLU with He keeps them
/// within an order of magnitude. ReLU's activation variance halves per layer with Xavier and
/// stays put with He.
#[test]
fn vanishing_gradients_and_initialisation_variance() {
    use kiln::lessons::activations::{activation_variances, gradient_norms};
    use kiln::{Activation, Init};
    let device = super::common::device();
    let ad = device.clone().autodiff();
    device.seed(1);
    let sigmoid = gradient_norms(10, 128, Activation::Sigmoid, Init::Xavier, &ad);
    let relu = gradient_norms(10, 128, Activation::Relu, Init::He, &ad);
    assert!(
        sigmoid[0] < 1e-3 * sigmoid[9],
        "sigmoid: first {} last {}",
        sigmoid[0],
        sigmoid[9]
    );
    assert!(relu[0] > 0.1 * relu[9] && relu[0] < 10.0 * relu[9], "relu: {relu:?}");
    let xavier = activation_variances(20, 256, Activation::Relu, Init::Xavier, &device);
    let he = activation_variances(20, 256, Activation::Relu, Init::He, &device);
    eprintln!("relu + xavier: {xavier:?}\nrelu + he: {he:?}");
    assert!(xavier[19] < 1e-3 * xavier[0], "relu + xavier: {xavier:?}");
    assert!(he[19] > 0.2 * he[0] && he[19] < 5.0 * he[0], "relu + he: {he:?}");
}

/// LeNet-5's receptive fields follow the course's arithmetic (5, 6, 14, 16), and the drawing
/// puts each square at the image centre with that side.
#[test]
fn receptive_fields_are_drawn_to_size() {
    use kiln::lessons::receptive::{draw, receptive_fields};
    let device = super::common::device();
    let model = kiln::build("lenet5", 10, 1, &device).unwrap();
    let fields = receptive_fields(&model, [1, 28, 28], &device);
    let sides: Vec<usize> = fields.iter().map(|(_, [h, _])| *h).collect();
    assert_eq!(sides, [5, 6, 14, 16]);
    let canvas = image::RgbImage::from_pixel(28, 28, image::Rgb([0, 0, 0]));
    let img = draw(&canvas, &fields);
    // The 14×14 square (third) spans x = 14 - 7 .. 14 + 6 on row 14 - 7.
    assert_ne!(img.get_pixel(7, 7).0, [0, 0, 0]);
    assert_ne!(img.get_pixel(20, 7).0, [0, 0, 0]);
    assert_eq!(
        img.get_pixel(14, 14).0,
        [0, 0, 0],
        "inside the smallest square nothing is drawn"
    );
}

/// First-layer filters as a grid: one cell per filter, each scaled to its own range.
#[test]
fn filter_and_feature_map_grids() {
    use kiln::lessons::grids::{feature_map_grid, filter_grid, first_conv_weight};
    let device = super::common::device();
    let model = kiln::build("lenet5", 10, 1, &device).unwrap();
    let w = first_conv_weight(&model).unwrap();
    assert_eq!(w.dims(), [6, 1, 5, 5]);
    let grid = filter_grid(w, 4);
    // 6 filters → 3 columns × 2 rows of 20-px cells with 1-px gaps.
    assert_eq!((grid.width(), grid.height()), (3 * 20 + 2, 2 * 20 + 1));
    // Each filter's largest-magnitude weight reaches black or white.
    let px: Vec<u8> = grid.pixels().map(|p| p.0[0]).collect();
    assert!(px.iter().any(|&v| v == 0 || v == 255));
    let x = Tensor::<4>::random([1, 1, 28, 28], burn::tensor::Distribution::Default, &device);
    let [_, c, h, w] = kiln::Backbone::forward_features(&model, x.clone())[0].dims();
    assert_eq!(c, 6);
    let maps = feature_map_grid(&model, x, 0, 6, 2).unwrap();
    assert_eq!(
        (maps.width() as usize, maps.height() as usize),
        (3 * 2 * w + 4, 2 * 2 * h + 2)
    );
}
