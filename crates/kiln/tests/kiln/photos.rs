//! torchvision's preprocessing, exactly, on real photos; published weights configured from the
//! weights table. Fixtures made by Pillow and torchvision
//! (`scripts/parity/make_photo_fixtures.py`).

use super::parity::{formula, load_fixture, write_safetensors};
use kiln::{
    core::Interpolation,
    weights::{PretrainedOptions, load_pretrained, resolve_weights},
};
use kiln_data::image::{resample::resize_planar, to_planar};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photos")
}

fn sample(name: &str) -> PathBuf {
    super::common::root().join("datasets/samples").join(name)
}

#[derive(Deserialize)]
struct ResizeCase {
    photo: String,
    mode: String,
    size: [usize; 2],
    filter: Interpolation,
    sha256: String,
    row_sums: Vec<i64>,
}

#[derive(Deserialize)]
struct ResizeFixtures {
    cases: Vec<ResizeCase>,
}

/// Planar `[c, h, w]` as Pillow's interleaved `[h, w, c]` bytes.
fn interleaved(planar: &[u8], channels: usize) -> Vec<u8> {
    let plane = planar.len() / channels;
    (0..plane)
        .flat_map(|i| (0..channels).map(move |c| planar[c * plane + i]))
        .collect()
}

/// Kiln's resampler gives Pillow's bytes, bit for bit, for RGB and grey (Pillow's
/// `convert('L')`) photos, bilinear and bicubic, shrinking, enlarging, odd sizes and one
/// dimension unchanged.
#[test]
fn resize_is_bit_exact_with_pillow() {
    let f: ResizeFixtures =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("resize.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    for case in &f.cases {
        let image = image::open(sample(&case.photo)).unwrap();
        let channels = if case.mode == "L" { 1 } else { 3 };
        let (w, h) = (image.width() as usize, image.height() as usize);
        let [nw, nh] = case.size;
        let out = interleaved(
            &resize_planar(&to_planar(&image, channels), channels, w, h, nw, nh, case.filter),
            channels,
        );
        let hash: String = Sha256::digest(&out).iter().map(|b| format!("{b:02x}")).collect();
        if hash != case.sha256 {
            let rows: Vec<i64> = out
                .chunks(nw * channels)
                .map(|r| r.iter().map(|&v| v as i64).sum())
                .collect();
            let first = rows.iter().zip(&case.row_sums).position(|(a, b)| a != b);
            failures.push(format!(
                "{} {} {:?} {}: first differing row {first:?}",
                case.photo, case.mode, case.size, case.filter
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        f.cases.len(),
        failures.join("\n")
    );
    println!("{} resize cases bit-exact with Pillow", f.cases.len());
}

/// JPEG: the `image` crate's decoder is not libjpeg-turbo. The 224 crop of the same JPEG
/// through Kiln and through Pillow + torchvision differs by a few grey levels at most.
#[test]
fn jpeg_decoding_is_close_to_pillow() {
    let p = kiln::weights::imagenet_preprocessing("resnet50").unwrap();
    for photo in ["rocket.jpg", "chelsea-q90.jpg"] {
        let kiln = kiln_data::load_image(&sample(photo), &p).unwrap();
        let torchvision = image::open(fixtures().join(format!("{photo}.crop.png")))
            .unwrap()
            .to_rgb8();
        let kiln = interleaved(&kiln.pixels, 3);
        let diffs: Vec<i32> = kiln
            .iter()
            .zip(torchvision.as_raw())
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .collect();
        let max = diffs.iter().max().copied().unwrap_or(0);
        let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
        let differ = diffs.iter().filter(|&&d| d > 0).count() as f64 / diffs.len() as f64;
        println!(
            "{photo}: 224 crop vs Pillow: max |Δ| {max}, mean |Δ| {mean:.3}, {:.1}% of values differ",
            100.0 * differ
        );
        assert!(max <= 8 && mean < 0.5, "{photo}: max {max}, mean {mean}");
    }
}

#[derive(Deserialize)]
struct LogitsRow {
    arch: String,
    weights: String,
    file: String,
    gain: f64,
    photo: String,
    input_shape: [usize; 4],
    input_sum: f64,
    input_sq_sum: f64,
    logits: Vec<f32>,
}

#[derive(Deserialize)]
struct LogitsFixtures {
    rows: Vec<LogitsRow>,
}

/// The formula weights of the parity fixtures, for 1,000 classes, written as the published file
/// name so that the weights table configures everything.
fn published_file(dir: &Path, arch: &str, gain: f64, file: &str) -> PathBuf {
    let f = load_fixture(arch);
    let tensors: Vec<_> = f
        .keys
        .iter()
        .map(|(k, s)| {
            let mut shape = s.clone();
            if k.starts_with("fc.") || k.starts_with("AuxLogits.fc.") {
                shape[0] = 1000;
            }
            let data = formula(k, &shape, gain);
            (k.clone(), shape, data)
        })
        .collect();
    let path = dir.join(file);
    write_safetensors(&path, &tensors);
    path
}

fn top5(logits: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order.truncate(5);
    order
}

/// `predict --weights resnet50-0676ba61.pth photo` with no preprocessing flags: the file name
/// selects the weights entry, whose transform (resize 256 or 232, bilinear, crop 224; Inception:
/// 342 / 299 and transform_input) and class names are used. The input tensor and the logits
/// equal torchvision's `model(weights.transforms()(Image.open(photo)))`: within 1e-5 on PNG
/// photos, 2e-3 with the same top-5 on JPEG photos (another JPEG decoder).
#[test]
fn published_weights_on_real_photos_match_torchvision() {
    let f: LogitsFixtures =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("logits.json")).unwrap()).unwrap();
    let device = super::common::device();
    let dir = tempfile::tempdir().unwrap();
    let mut loaded: Option<(String, kiln::weights::Pretrained)> = None;
    for row in &f.rows {
        if loaded.as_ref().is_none_or(|(w, _)| *w != row.weights) {
            let path = published_file(dir.path(), &row.arch, row.gain, &row.file);
            let file = resolve_weights(&path).unwrap();
            assert_eq!(file.entry.map(|e| e.name.as_str()), Some(row.weights.as_str()));
            assert!(file.warning().unwrap().contains("not the published file"));
            let p = load_pretrained(&file, &PretrainedOptions::default(), &device).unwrap();
            assert_eq!(p.classes[285], "Egyptian cat");
            if row.arch == "inception_v3" {
                assert_eq!(p.spec.config["transform_input"], true, "from the table");
            }
            loaded = Some((row.weights.clone(), p));
        }
        let p = &loaded.as_ref().unwrap().1;
        let photo = sample(&row.photo);
        let item = kiln_data::load_image(&photo, &p.preprocessing).unwrap();
        assert_eq!(
            [1, item.channels, item.height, item.width],
            row.input_shape,
            "{}",
            row.weights
        );
        let mut input = Vec::new();
        kiln_data::ClassificationBatcher::new(&p.preprocessing).normalise_into(&item, &mut input);
        let sum: f64 = input.iter().map(|&v| v as f64).sum();
        let sq: f64 = input.iter().map(|&v| (v as f64).powi(2)).sum();
        let predictions =
            kiln::tasks::predict_with(&p.model, &p.classes, &p.preprocessing, &[photo], 5, &device).unwrap();
        let logits = &predictions[0].logits;
        let max_ref = row.logits.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = logits
            .iter()
            .zip(&row.logits)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
            / max_ref;
        let jpeg = row.photo.ends_with(".jpg");
        println!(
            "{} on {}: input sum {sum:.3} vs {:.3}, sum of squares {sq:.3} vs {:.3}; relative logit error {err:.2e}",
            row.weights, row.photo, row.input_sum, row.input_sq_sum
        );
        if jpeg {
            assert!(err < 2e-3, "{} {}: {err}", row.weights, row.photo);
            assert_eq!(top5(logits), top5(&row.logits), "{} {}", row.weights, row.photo);
        } else {
            assert!(
                (sum - row.input_sum).abs() < 1e-6 * row.input_sq_sum,
                "{} {}",
                row.weights,
                row.photo
            );
            assert!(
                (sq - row.input_sq_sum).abs() < 1e-6 * row.input_sq_sum,
                "{} {}",
                row.weights,
                row.photo
            );
            assert!(err < 1e-5, "{} {}: {err}", row.weights, row.photo);
        }
        assert_eq!(
            predictions[0].top[0].name,
            kiln::weights::imagenet_classes()[predictions[0].top[0].index]
        );
    }
}

/// Inception v3 from a file the table does not know: transform_input on (torchvision's
/// pretrained default), unless told otherwise; either way the model card's spec records it.
#[test]
fn inception_transform_input_defaults_to_torchvisions_pretrained_setting() {
    let device = super::common::device();
    let dir = tempfile::tempdir().unwrap();
    let path = published_file(dir.path(), "inception_v3", 1.6, "my-inception.safetensors");
    let file = resolve_weights(&path).unwrap();
    assert!(file.entry.is_none());
    let p = load_pretrained(
        &file,
        &PretrainedOptions {
            arch: Some("inception_v3".into()),
            ..Default::default()
        },
        &device,
    )
    .unwrap();
    assert_eq!(p.spec.config["transform_input"], true);
    let p = load_pretrained(
        &file,
        &PretrainedOptions {
            arch: Some("inception_v3".into()),
            transform_input: Some(false),
            ..Default::default()
        },
        &device,
    )
    .unwrap();
    assert_eq!(p.spec.config["transform_input"], false);
}
