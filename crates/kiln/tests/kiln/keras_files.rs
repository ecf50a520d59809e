//! Keras weight files read as Keras wrote them: tiny files of every format, written by Keras
//! (`scripts/keras/make_fixtures.py`), their layer order, format detection, and damaged files.

use kiln_train::import::keras::{self, KerasFormat};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct TinyFixture {
    /// `[name, class, [[weight name, shape, values], ...]]` in `model.layers` order.
    layers: Vec<(String, String, Vec<(String, Vec<usize>, Vec<f32>)>)>,
}

/// The tiny Keras-written files.
pub(crate) fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras/tiny")
}

/// Files written by Keras in each format read as Keras wrote them: every layer with weights,
/// every weight's shape and values; legacy files in `layer_names` order with their weight
/// names, `.weights.h5` and `.keras` by their recorded layer names.
#[test]
fn tiny_keras_files_of_every_format_read_exactly() {
    let f: TinyFixture = serde_json::from_str(&std::fs::read_to_string(tiny().join("tiny.json")).unwrap()).unwrap();
    for (file, format) in [
        ("tiny.h5", KerasFormat::LegacyModel),
        ("tiny_weights.h5", KerasFormat::LegacyWeights),
        ("tiny_keras2.h5", KerasFormat::LegacyWeights),
        ("tiny.weights.h5", KerasFormat::Weights3),
        ("tiny.keras", KerasFormat::Archive),
    ] {
        let path = tiny().join(file);
        assert!(keras::is_keras_file(&path), "{file}");
        let read = keras::read(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(read.format, format, "{file}");
        assert_eq!(read.layers.len(), f.layers.len(), "{file}: layers with weights");
        let legacy = matches!(format, KerasFormat::LegacyModel | KerasFormat::LegacyWeights);
        for (i, (name, _, weights)) in f.layers.iter().enumerate() {
            let layer = if legacy {
                &read.layers[i]
            } else {
                read.layers
                    .iter()
                    .find(|l| &l.name == name)
                    .unwrap_or_else(|| panic!("{file}: {name}"))
            };
            assert_eq!(&layer.name, name, "{file}: layer {i}");
            assert!(layer.named, "{file}: {name}");
            assert_eq!(layer.weights.len(), weights.len(), "{file}: {name}");
            for (w, (wname, shape, values)) in layer.weights.iter().zip(weights) {
                if legacy {
                    assert_eq!(&w.name, wname, "{file}: {name}");
                }
                assert_eq!(&w.shape, shape, "{file}: {name}/{wname}");
                assert_eq!(&w.values, values, "{file}: {name}/{wname}");
            }
        }
        if file == "tiny_keras2.h5" {
            assert_eq!(read.keras_version.as_deref(), Some("2.2.4"));
            assert_eq!(read.backend.as_deref(), Some("tensorflow"));
        }
    }
}

/// Keras 3's `.weights.h5` numbers its groups per class in `model.layers` order
/// (`layers/conv2d_10` comes before `layers/conv2d_2` by name): the reader orders them by that
/// number, so that the k-th convolution is Keras's k-th.
#[test]
fn weights_h5_layers_come_in_keras_order() {
    let f: TinyFixture = serde_json::from_str(&std::fs::read_to_string(tiny().join("tiny.json")).unwrap()).unwrap();
    let convs: Vec<&str> = f
        .layers
        .iter()
        .filter(|l| l.1 == "Conv2D")
        .map(|l| l.0.as_str())
        .collect();
    assert!(convs.len() >= 11, "the tiny model has conv2d_10");
    for file in ["tiny.weights.h5", "tiny.keras"] {
        let read = keras::read(&tiny().join(file)).unwrap();
        let got: Vec<&str> = read
            .layers
            .iter()
            .filter(|l| l.class.as_deref() == Some("conv2d"))
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(got, convs, "{file}");
    }
}

/// Format detection is by content: a PyTorch zip, a safetensors file and a text file are not
/// Keras files; a zip without `model.weights.h5` neither.
#[test]
fn keras_files_are_told_apart_by_content() {
    let parity = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    for other in ["lenet5.pth", "lenet5.safetensors"] {
        assert!(!keras::is_keras_file(&parity.join(other)), "{other}");
    }
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.h5");
    std::fs::write(&text, "not hdf5 at all").unwrap();
    assert!(!keras::is_keras_file(&text));
    let msg = keras::read(&text).unwrap_err().to_string();
    assert!(msg.contains("notes.h5") && msg.contains("HDF5 signature"), "{msg}");
}

/// Truncated and corrupted files are errors naming the file, never a panic or a runaway
/// allocation; values a flip makes non-finite are refused at import.
#[test]
fn truncated_and_corrupt_keras_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["tiny.h5", "tiny.weights.h5", "tiny.keras", "tiny_keras2.h5"] {
        let bytes = std::fs::read(tiny().join(file)).unwrap();
        for cut in [16, 100, 512, 2048, bytes.len() / 3, bytes.len() / 2, bytes.len() - 100] {
            let path = dir.path().join(format!("cut-{cut}-{file}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            match keras::read(&path) {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("cut-{cut}-{file}")), "{msg}");
                }
                Ok(read) => panic!("{file} cut at {cut} read {} layers", read.layers.len()),
            }
        }
        // Flipped bytes across the file: an error or (when only values changed) a file, never
        // a panic.
        let mut state = 0x2545F4914F6CDD1Du64;
        for i in 0..200 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bad = bytes.clone();
            let at = (state as usize) % bad.len();
            bad[at] ^= 0xff;
            let path = dir.path().join(format!("flip-{i}-{file}"));
            std::fs::write(&path, &bad).unwrap();
            let _ = std::panic::catch_unwind(|| keras::read(&path))
                .unwrap_or_else(|_| panic!("{file}: panic at byte {at}"));
        }
    }
}
