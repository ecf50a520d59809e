//! Your own photos: image folders of any size, decoded as Pillow decodes them, trained and
//! evaluated as torchvision's recipes do, predicted in batches.

use kiln_data::{ImageItem, ImageSet, image::decode_item};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

fn sample(name: &str) -> PathBuf {
    super::common::root().join("datasets/samples").join(name)
}

fn interleaved(item: &ImageItem) -> Vec<u8> {
    let plane = item.height * item.width;
    (0..plane)
        .flat_map(|i| (0..item.channels).map(move |c| item.pixels[c * plane + i]))
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
struct Mode {
    mode: String,
    rgb: String,
    l: String,
}

/// Every format of torchvision's `IMG_EXTENSIONS` decodes, and grey, grey + alpha, RGBA,
/// palette and CMYK images become what Pillow's `convert('RGB')` and `convert('L')` make of them
/// (fixtures by `scripts/parity/make_mode_fixtures.py`). 16-bit images are scaled, where Pillow
/// clips (documented).
#[test]
fn image_modes_convert_as_pillow_converts_them() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/modes");
    let modes: HashMap<String, Mode> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("modes.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    for (file, mode) in &modes {
        for (channels, expected) in [(3, &mode.rgb), (1, &mode.l)] {
            let item = decode_item(&dir.join(file), channels).unwrap_or_else(|e| panic!("{file}: {e}"));
            let got = sha(&interleaved(&item));
            if mode.mode == "I;16" {
                // Pillow clips 16-bit values to 255; Kiln scales them (v / 257): the file holds
                // grey.png × 257, so Kiln gets grey.png back.
                assert_ne!(&got, expected, "{file}: Pillow's clipping is not copied");
                if channels == 1 {
                    assert_eq!(got, modes["grey.png"].l, "{file}: scaled back to 8 bits");
                }
                continue;
            }
            if file.ends_with(".jpg") {
                continue; // Another JPEG decoder: compared with a tolerance below.
            }
            if &got != expected {
                failures.push(format!("{file} ({}) as {channels} channel(s)", mode.mode));
            }
        }
    }
    assert!(failures.is_empty(), "differ from Pillow: {failures:?}");

    // A CMYK JPEG (Adobe, inverted, as Pillow writes it): Pillow's CMYK → RGB conversion on
    // another JPEG decoder's planes.
    let kiln = interleaved(&decode_item(&dir.join("cmyk.jpg"), 3).unwrap());
    let pillow = image::open(dir.join("cmyk.jpg.rgb.png")).unwrap().to_rgb8().into_raw();
    let max = kiln.iter().zip(&pillow).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    let mean = kiln
        .iter()
        .zip(&pillow)
        .map(|(a, b)| a.abs_diff(*b) as f64)
        .sum::<f64>()
        / kiln.len() as f64;
    println!("cmyk.jpg vs Pillow: max |Δ| {max}, mean {mean:.3}");
    assert!(max <= 4 && mean < 0.5, "max {max}, mean {mean}");
}

/// A folder of `per_class` photos in each of three classes, made from the sample photos:
/// windows of random size and place, some flipped, saved as JPEG or PNG.
pub(crate) fn photo_folder(per_class: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = kiln_data::augment::Rng::new(5);
    for (class, photo) in [
        ("cat", "chelsea.png"),
        ("coffee", "coffee.png"),
        ("rocket", "rocket.jpg"),
    ] {
        let image = image::open(sample(photo)).unwrap().to_rgb8();
        std::fs::create_dir_all(dir.path().join(class)).unwrap();
        for i in 0..per_class {
            let (w, h) = (image.width(), image.height());
            let cw = (w as f32 * rng.range(0.5, 0.9)) as u32;
            let ch = (h as f32 * rng.range(0.5, 0.9)) as u32;
            let x = rng.below((w - cw) as usize) as u32;
            let y = rng.below((h - ch) as usize) as u32;
            let mut crop = image::imageops::crop_imm(&image, x, y, cw, ch).to_image();
            if rng.chance(0.5) {
                crop = image::imageops::flip_horizontal(&crop);
            }
            let ext = if i % 2 == 0 { "jpg" } else { "png" };
            crop.save(dir.path().join(class).join(format!("{i:02}.{ext}"))).unwrap();
        }
    }
    dir
}

/// A folder of 30 photos in 3 classes trains LeNet-5 (grey, 28 px, its own input size: this
/// panicked before) with `--val-split 0.2`; `eval` on the folder scores all 30 with top-1 and
/// top-5; `predict` on the directory gives 30 results, in batches.
#[test]
fn a_folder_of_thirty_photos_trains_evaluates_and_predicts() {
    let photos = photo_folder(10);
    let run = tempfile::tempdir().unwrap();
    let config = kiln::tasks::TrainConfig {
        model: "lenet5".into(),
        dataset: format!("folder:{}", photos.path().display()),
        val_split: Some(0.2),
        fit: kiln_train::FitConfig {
            epochs: 2,
            batch_size: 8,
            num_workers: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let report = kiln::tasks::train(&config, &[], run.path(), false).unwrap();
    assert_eq!(report.test.total, 6, "2 of 10 per class held out");
    let card = kiln::model_dir::load_card(run.path()).unwrap();
    assert_eq!(card.classes, ["cat", "coffee", "rocket"], "the class-to-index map");
    assert_eq!(
        (
            card.preprocessing.channels,
            card.preprocessing.height,
            card.preprocessing.resize
        ),
        (1, 28, Some(32))
    );

    let options = kiln_train::EvalOptions {
        batch_size: 8,
        workers: 2,
        ..Default::default()
    };
    let mut calls = 0;
    let out = kiln::tasks::eval(
        &kiln::tasks::ModelSource::Dir(run.path().to_path_buf()),
        Some(&format!("folder:{}", photos.path().display())),
        "flex",
        &[],
        &options,
        |_, total| {
            calls += 1;
            assert_eq!(total, 30);
        },
    )
    .unwrap();
    assert_eq!(
        (out.report.total, calls),
        (30, 4),
        "every image of a flat folder, in 4 batches"
    );
    assert_eq!(
        out.report.top5_correct,
        Some(30),
        "top-5 of 3 classes holds every label"
    );
    assert!(out.report.data_images_per_second > 0.0 && out.report.model_images_per_second > 0.0);

    let images = kiln_data::files::expand_image_args(&[photos.path().to_path_buf()]).unwrap();
    assert_eq!(images.len(), 30);
    let device = super::common::device();
    let (model, card) = kiln::model_dir::load(run.path(), &device).unwrap();
    let options = kiln::tasks::PredictOptions {
        top_k: 2,
        batch_size: 7,
        workers: 3,
        ..Default::default()
    };
    let mut batches = Vec::new();
    kiln::tasks::predict_batches(
        &model,
        &card.classes,
        &card.preprocessing,
        &images,
        &options,
        &device,
        |b| {
            batches.push(b);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 7, 7, 2]);
    let order: Vec<PathBuf> = batches.iter().flatten().map(|p| p.image.clone()).collect();
    assert_eq!(order, images, "results in the order of the images");
}

/// One training run on a photo folder into `$KILN_TEST_RUN_DIR` with `$KILN_TEST_WORKERS`
/// decoding threads, in a process of its own (run by
/// [`same_metrics_with_one_and_three_workers`]).
#[test]
#[ignore = "run in a child process by same_metrics_with_one_and_three_workers"]
fn folder_child_run() {
    let (Some(out), Some(workers), Some(photos)) = (
        std::env::var_os("KILN_TEST_RUN_DIR"),
        std::env::var("KILN_TEST_WORKERS").ok(),
        std::env::var("KILN_TEST_PHOTOS").ok(),
    ) else {
        return;
    };
    let config = kiln::tasks::TrainConfig {
        model: "resnet18".into(),
        dataset: format!("folder:{photos},size=32"),
        val_split: Some(0.2),
        fit: kiln_train::FitConfig {
            epochs: 2,
            batch_size: 4,
            num_workers: workers.parse().unwrap(),
            augment: Some("flip;jitter:0.2;mixup:0.4".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    kiln::tasks::train(&config, &[], Path::new(&out), false).unwrap();
}

/// The ordered loader: the same metrics with 1 and 3 decoding threads (random resized crops,
/// flips, colour jitter and MixUp included).
#[test]
fn same_metrics_with_one_and_three_workers() {
    let photos = photo_folder(6);
    let run = |workers: &str| {
        let out = tempfile::tempdir().unwrap();
        super::common::run_child_test(
            "folders::folder_child_run",
            &[
                ("KILN_TEST_RUN_DIR", out.path().as_os_str()),
                ("KILN_TEST_WORKERS", workers.as_ref()),
                ("KILN_TEST_PHOTOS", photos.path().as_os_str()),
            ],
        );
        let csv = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let skip = header.iter().position(|h| *h == "train_images_per_second").unwrap();
        csv.lines()
            .map(|l| {
                l.split(',')
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
    };
    let one = run("1");
    assert_eq!(one.len(), 3, "{one:?}");
    assert_eq!(one, run("3"));
}

/// The evaluation transform of a folder is `predict`'s (`load_image`), which equals
/// torchvision's `Resize` + `CenterCrop` (bit-exact on PNG photos: `photos::*`).
#[test]
fn folder_evaluation_preprocessing_is_predicts() {
    let p = kiln::weights::imagenet_preprocessing("resnet50").unwrap();
    let names = ["chelsea.png", "coffee.png", "rocket.jpg", "chelsea-q90.jpg"];
    let set = ImageSet::files(names.iter().map(|n| (sample(n), 0)).collect(), 3);
    let pipeline = kiln_train::eval_pipeline(&set, &p);
    for (i, name) in names.iter().enumerate() {
        let mut rng = kiln_data::augment::Rng::new(0);
        let via_folder = pipeline
            .apply(kiln_data::augment::Sample::image(set.get(i).unwrap()), &mut rng)
            .image;
        assert_eq!(via_folder, kiln_data::load_image(&sample(name), &p).unwrap(), "{name}");
    }
}

/// A file that cannot be decoded is an error naming it, or with `skip_bad` is skipped and
/// counted.
#[test]
fn undecodable_files_are_named_or_skipped() {
    let photos = photo_folder(3);
    let bad = photos.path().join("cat/broken.jpg");
    std::fs::write(&bad, b"not a jpeg").unwrap();
    let device = super::common::device();
    let model = kiln::build("lenet5", 3, 1, &device).unwrap();
    let (_, set) = kiln_data::folder::eval_set(photos.path(), 1).unwrap();
    let p = kiln_data::folder::photo_preprocessing(1, 28, Default::default());
    let mut options = kiln_train::EvalOptions {
        batch_size: 4,
        workers: 2,
        ..Default::default()
    };
    let err = kiln_train::evaluate(&model, &set, &p, &device, &options, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.jpg"), "{err}");
    options.skip_bad = true;
    let report = kiln_train::evaluate(&model, &set, &p, &device, &options, |_, _| {}).unwrap();
    assert_eq!((report.total, report.skipped), (9, 1));
}
