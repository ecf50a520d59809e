//! Property tests of every transform: shapes, seed determinism, and that masks and boxes stay
//! aligned with the pixels they label.

use super::*;
use crate::ImageItem;

const SPECS: [&str; 8] = [
    "flip:1",
    "crop:28,pad=4",
    "rrc:24,scale=0.3-1",
    "resize:36,crop=30",
    "multiscale:34-48,crop=30",
    "affine:deg=25,translate=0.1,scale=0.8-1.2,shear=10",
    "jitter:b=0.4,c=0.4,s=0.4,h=0.1",
    "erase:1",
];

/// A 32×32 RGB image: black, with a bright object in [10, 24) × [8, 20) labelled 1 in the mask
/// and boxed.
fn object() -> Sample {
    let (h, w) = (32, 32);
    let mut pixels = vec![0u8; 3 * h * w];
    let mut mask = vec![0u8; h * w];
    for y in 8..20 {
        for x in 10..24 {
            for c in 0..3 {
                pixels[c * h * w + y * w + x] = 200 + 20 * c as u8;
            }
            mask[y * w + x] = 1;
        }
    }
    Sample {
        image: ImageItem {
            pixels,
            channels: 3,
            height: h,
            width: w,
            label: 3,
        },
        mask: Some(Mask {
            data: mask,
            height: h,
            width: w,
        }),
        boxes: vec![BBox {
            x0: 10.0,
            y0: 8.0,
            x1: 24.0,
            y1: 20.0,
            label: 1,
        }],
    }
}

fn run(spec: &str, seed: u64) -> Sample {
    let aug = parse(spec).unwrap();
    aug.pipeline.apply(object(), &mut Rng::new(seed))
}

#[test]
fn shapes_and_label_survive_every_transform() {
    for spec in SPECS {
        let out = run(spec, 1);
        let expected = match spec.split([':', ',']).nth(1).unwrap() {
            s if spec.starts_with("crop") || spec.starts_with("rrc") => s.parse().unwrap(),
            _ if spec.contains("crop=30") => 30,
            _ => 32,
        };
        let img = &out.image;
        assert_eq!(
            (img.height, img.width, img.channels, img.label),
            (expected, expected, 3, 3),
            "{spec}"
        );
        assert_eq!(img.pixels.len(), 3 * expected * expected, "{spec}");
        let mask = out.mask.as_ref().unwrap();
        assert_eq!((mask.height, mask.width), (expected, expected), "{spec}");
    }
}

#[test]
fn same_seed_same_result_other_seed_other_result() {
    for spec in SPECS {
        assert_eq!(run(spec, 7), run(spec, 7), "{spec} is deterministic");
        if spec != "flip:1" && !spec.starts_with("resize") {
            let differs = (0..5).any(|s| run(spec, s) != run(spec, 100 + s));
            assert!(differs, "{spec} varies with the seed");
        }
    }
}

/// After any geometric transform the labelled pixels are the object's pixels, and the box still
/// surrounds them (a box drawn around the object stays around it).
#[test]
fn masks_and_boxes_stay_aligned() {
    for spec in SPECS
        .iter()
        .filter(|s| !s.starts_with("jitter") && !s.starts_with("erase"))
    {
        for seed in 0..20 {
            let out = run(spec, seed);
            let img = &out.image;
            let (h, w) = (img.height, img.width);
            let mask = out.mask.as_ref().unwrap();
            let labelled: Vec<(usize, usize)> = (0..h * w)
                .filter(|&i| mask.data[i] == 1)
                .map(|i| (i % w, i / w))
                .collect();
            if labelled.is_empty() {
                assert!(
                    out.boxes.is_empty() || out.boxes[0].area() < 4.0,
                    "{spec} seed {seed}: a box without its object"
                );
                continue;
            }
            // The labelled pixels are bright (interpolation may soften the one-pixel rim).
            let bright = labelled.iter().filter(|&&(x, y)| img.pixels[y * w + x] > 100).count();
            assert!(
                bright as f32 >= 0.8 * labelled.len() as f32,
                "{spec} seed {seed}: mask off the object"
            );
            // Object pixels far from the mask's edge are labelled.
            let dark_inside = labelled.iter().filter(|&&(x, y)| img.pixels[y * w + x] < 20).count();
            assert_eq!(dark_inside, 0, "{spec} seed {seed}");
            // The box surrounds the labelled pixels (1 px of slack for rounding).
            let Some(b) = out.boxes.first() else {
                assert!(
                    labelled.len() < 20,
                    "{spec} seed {seed}: object visible but box dropped"
                );
                continue;
            };
            for &(x, y) in &labelled {
                let (x, y) = (x as f32 + 0.5, y as f32 + 0.5);
                assert!(
                    x >= b.x0 - 1.0 && x <= b.x1 + 1.0 && y >= b.y0 - 1.0 && y <= b.y1 + 1.0,
                    "{spec} seed {seed}: pixel ({x}, {y}) outside box {b:?}"
                );
            }
            // ... and is not much larger than the object (affine boxes bound rotated corners).
            let (mx0, mx1) = labelled.iter().fold((f32::MAX, 0f32), |(a, b), p| {
                (a.min(p.0 as f32), b.max(p.0 as f32 + 1.0))
            });
            let slack = if spec.starts_with("affine") { 0.6 } else { 0.25 };
            assert!(
                (b.x1 - b.x0) <= (mx1 - mx0) * (1.0 + slack) + 2.0,
                "{spec} seed {seed}: box {b:?} too wide"
            );
        }
    }
}

#[test]
fn flip_moves_box_and_pixels_together() {
    let out = run("flip:1", 0);
    assert_eq!(
        out.boxes[0],
        BBox {
            x0: 8.0,
            y0: 8.0,
            x1: 22.0,
            y1: 20.0,
            label: 1
        }
    );
    let w = 32;
    assert!(out.image.pixels[10 * w + 8] > 150 && out.image.pixels[10 * w + 22] == 0);
}

#[test]
fn jitter_and_erase_keep_geometry() {
    for spec in ["jitter:0.5", "erase:1"] {
        let out = run(spec, 3);
        assert_eq!(out.mask, object().mask, "{spec} leaves the mask");
        assert_eq!(out.boxes, object().boxes, "{spec} leaves the boxes");
        assert_ne!(out.image, object().image, "{spec} changes pixels");
    }
    // Grey images: brightness and contrast only.
    let grey = Sample::image(ImageItem {
        pixels: vec![100; 64],
        channels: 1,
        height: 8,
        width: 8,
        label: 0,
    });
    let out = parse("jitter:0.5").unwrap().pipeline.apply(grey, &mut Rng::new(1));
    assert_eq!(out.image.pixels.len(), 64);
}

#[test]
fn spec_errors_name_the_step() {
    for (spec, expected) in [
        ("twirl", "unknown augmentation `twirl`"),
        ("crop", "needs a size"),
        ("crop:abc", "not a positive integer"),
        ("flip:1.5", "outside [0, 1]"),
        ("rrc:24,scale=1-0.5", "reversed"),
        ("jitter:h=0.9", "hue"),
        ("mixup:0", "alpha must be positive"),
    ] {
        let err = parse(spec).unwrap_err();
        assert!(err.contains(expected), "{spec}: {err}");
    }
    let aug = parse("crop:28,pad=2; flip ;mixup:0.2").unwrap();
    assert_eq!(aug.pipeline.steps.len(), 2);
    assert_eq!(aug.batch, Some(BatchMix::MixUp { alpha: 0.2 }));
}

#[test]
fn augmented_dataset_is_deterministic_per_index_and_draw() {
    use burn::data::dataset::{Dataset, InMemDataset};
    let items: Vec<ImageItem> = (0..4)
        .map(|_| object().image.clone())
        .map(|mut it| {
            it.label = 0;
            it
        })
        .collect();
    let make = || {
        AugmentedDataset::new(
            InMemDataset::new(items.clone()),
            parse("crop:32,pad=4").unwrap().pipeline,
            9,
        )
    };
    let (a, b) = (make(), make());
    let first: Vec<_> = (0..4).map(|i| a.get(i).unwrap()).collect();
    assert_eq!(first, (0..4).map(|i| b.get(i).unwrap()).collect::<Vec<_>>());
    // A second pass (the next epoch) draws new crops.
    let second: Vec<_> = (0..4).map(|i| a.get(i).unwrap()).collect();
    assert_ne!(first, second);
}

#[test]
fn beta_draws_and_cutmix_weights() {
    let mut rng = Rng::new(5);
    let draws: Vec<f32> = (0..2000).map(|_| mix::beta(&mut rng, 0.4)).collect();
    assert!(draws.iter().all(|v| (0.0..=1.0).contains(v)));
    let mean = draws.iter().sum::<f32>() / draws.len() as f32;
    assert!((mean - 0.5).abs() < 0.03, "Beta(α, α) has mean 1/2, got {mean}");

    let device = burn::tensor::Device::flex();
    let images = burn::tensor::Tensor::<4>::ones([4, 1, 8, 8], &device);
    let second = burn::tensor::Tensor::<4>::zeros([4, 1, 8, 8], &device);
    let images = burn::tensor::Tensor::cat(
        vec![
            images.slice([0..2, 0..1, 0..8, 0..8]),
            second.slice([0..2, 0..1, 0..8, 0..8]),
        ],
        0,
    );
    let targets = burn::tensor::Tensor::<1, burn::tensor::Int>::from_ints([0, 1, 2, 3], &device);
    let (mixed, mix) = BatchMix::CutMix { alpha: 1.0 }.apply(images, targets, &mut Rng::new(2));
    // Image 0 (ones) received a patch of image 3 (zeros): its mean is the weight of its label.
    let mean0 = mixed.slice([0..1, 0..1, 0..8, 0..8]).mean().into_scalar::<f32>();
    assert!((mean0 - mix.lambda).abs() < 1e-6, "{mean0} vs λ {}", mix.lambda);
    let tb: Vec<i64> = mix.targets_b.into_data().convert::<i64>().try_into_vec().unwrap();
    assert_eq!(tb, [3, 2, 1, 0]);
}
