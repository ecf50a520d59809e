//! Keras weight files: the legacy HDF5 format of Keras 2 and of the published
//! `keras.applications` weights (`layer_names` / `weight_names` attributes, at the top level of a
//! weights-only file or under `model_weights/` of a full-model `.h5`), Keras 3's `.weights.h5`
//! (`layers/<class>_<k>/vars/<i>`), and `.keras` archives (a zip holding `config.json` and
//! `model.weights.h5`).
//!
//! ```text
//! file ──sniff──▶ HDF5 signature, or a zip holding model.weights.h5 (a PyTorch zip holds data.pkl)
//!      ──read──▶ KerasFile: the layers with weights, in the file's order, each weight as f32
//!      ──apply──▶ k-th Conv2D → k-th Conv slot of the model's KerasLayout (likewise BatchNorm,
//!                 Dense); HWIO kernels → OIHW, gamma/beta/moving stats → Burn's names,
//!                 NHWC-flatten rows → NCHW, every shape checked
//! ```
//!
//! HDF5 is read by the pure-Rust `hdf5-reader` crate (read-only, bounds-checked, no C library);
//! every dataset read is bounded, so a corrupt extent is an error, not an allocation.

mod apply;
mod hdf5;

pub use apply::{KerasImportOptions, apply_layers, import_keras};

use super::ImportError;
use std::path::{Path, PathBuf};

/// Which Keras file layout a file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KerasFormat {
    /// Keras 2's HDF5 weights (`save_weights("x.h5")`, the published application files):
    /// `layer_names` at the top level.
    LegacyWeights,
    /// A legacy full-model HDF5 (`model.save("x.h5")`, Keras 2 and 3): the same under
    /// `model_weights/`, beside `model_config`.
    LegacyModel,
    /// Keras 3's `.weights.h5`: `layers/<class>_<k>/vars/<i>`.
    Weights3,
    /// A `.keras` archive: a zip holding `config.json` and `model.weights.h5` (Keras 3's layout).
    Archive,
}

impl KerasFormat {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::LegacyWeights => "Keras HDF5 weights (legacy .h5)",
            Self::LegacyModel => "Keras HDF5 model (legacy .h5)",
            Self::Weights3 => "Keras 3 .weights.h5",
            Self::Archive => "Keras .keras archive",
        }
    }
}

/// One weight of a layer, as f32.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasWeight {
    /// Its short name (`kernel`, `bias`, `gamma`, `moving_mean`, ...; Keras 3's `.weights.h5`
    /// keeps only the index: `0`, `1`, ...).
    pub name: String,
    /// Keras's shape (HWIO for convolution kernels, `[in, out]` for Dense).
    pub shape: Vec<usize>,
    /// The values, row-major over `shape`.
    pub values: Vec<f32>,
}

/// A layer with weights.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasLayer {
    /// The layer's name (`block1_conv1`, `conv2d_17`).
    pub name: String,
    /// Whether `name` is the layer's own name: always in legacy files; in a `.weights.h5` only
    /// when its `vars` group records it (recent Keras 3), else `name` is the group's name, which
    /// numbers the layers in `model.layers` order rather than in creation order.
    pub named: bool,
    /// Keras's class in snake case when the file says it (`conv2d`, `batch_normalization`,
    /// `dense`: the group names of a `.weights.h5`), else `None`.
    pub class: Option<String>,
    /// The weights, in Keras's order (`kernel, bias`; `gamma, beta, moving_mean, moving_variance`).
    pub weights: Vec<KerasWeight>,
}

/// A Keras weight file as read: its layers with weights, in the file's order.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasFile {
    /// The file.
    pub path: PathBuf,
    /// Its layout.
    pub format: KerasFormat,
    /// The `keras_version` attribute, when present.
    pub keras_version: Option<String>,
    /// The `backend` attribute, when present.
    pub backend: Option<String>,
    /// The layers with weights. Legacy files: in `layer_names` order (Keras's `model.layers`).
    /// `.weights.h5`: by class, then by the `_k` index Keras numbered them with in
    /// `model.layers` order.
    pub layers: Vec<KerasLayer>,
}

impl KerasFile {
    /// `format (Keras 2.2.4, tensorflow)` for messages and reports.
    pub fn describe(&self) -> String {
        let mut tags = Vec::new();
        if let Some(v) = &self.keras_version {
            tags.push(format!("Keras {v}"));
        }
        if let Some(b) = &self.backend {
            tags.push(b.clone());
        }
        if tags.is_empty() {
            self.format.name().to_string()
        } else {
            format!("{} ({})", self.format.name(), tags.join(", "))
        }
    }
}

/// The HDF5 signature; HDF5 also looks for it at 512, 1024, 2048, ... (after a user block).
const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Whether the file at `path` is a Keras weight file, recognised by content: the HDF5 signature
/// (at offset 0 or after a user block of 512 · 2ⁿ bytes), or a zip archive that holds
/// `model.weights.h5` (a PyTorch zip holds `data.pkl` instead).
pub fn is_keras_file(path: &Path) -> bool {
    sniff(path).ok().flatten().is_some()
}

enum Container {
    Hdf5,
    Zip,
}

fn sniff(path: &Path) -> Result<Option<Container>, ImportError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
    let len = file.metadata().map_err(|e| ImportError::io(path, e))?.len();
    let mut head = [0u8; 8];
    let mut offset = 0u64;
    loop {
        if offset + 8 > len {
            break;
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| ImportError::io(path, e))?;
        file.read_exact(&mut head).map_err(|e| ImportError::io(path, e))?;
        if &head == HDF5_SIGNATURE {
            return Ok(Some(Container::Hdf5));
        }
        if offset == 0 && head.starts_with(b"PK\x03\x04") {
            return Ok(zip_holds_keras(path).then_some(Container::Zip));
        }
        offset = if offset == 0 { 512 } else { offset * 2 };
        if offset > (1 << 20) {
            break;
        }
    }
    Ok(None)
}

fn zip_holds_keras(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(archive) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return false;
    };
    archive.file_names().any(|n| n.is_ok_and(|n| n == "model.weights.h5"))
}

/// Largest weight (one dataset) a Keras file may hold: 1 GiB of values (VGG's `fc1`, the largest
/// published one, is 411 MB). A larger extent in a file is corruption, refused before allocating.
pub const MAX_WEIGHT_BYTES: usize = 1 << 30;

/// Reads the layers with weights of a Keras file.
pub fn read(path: &Path) -> Result<KerasFile, ImportError> {
    if !path.is_file() {
        return Err(ImportError::Io {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    let unreadable = |format: &str, reason: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        format: format.into(),
        reason,
    };
    match sniff(path)? {
        Some(Container::Hdf5) => {
            let bytes = std::fs::read(path).map_err(|e| ImportError::io(path, e))?;
            hdf5::read_h5(path, bytes, false).map_err(|reason| unreadable("Keras HDF5", reason))
        }
        Some(Container::Zip) => {
            let bytes = archive_weights(path).map_err(|reason| unreadable("Keras .keras", reason))?;
            hdf5::read_h5(path, bytes, true).map_err(|reason| unreadable("Keras .keras", reason))
        }
        None => Err(unreadable(
            "Keras",
            "neither an HDF5 file (no HDF5 signature) nor a .keras archive (a zip holding model.weights.h5)".into(),
        )),
    }
}

/// The bytes of `model.weights.h5` in a `.keras` archive.
fn archive_weights(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| format!("damaged zip archive: {e}"))?;
    let names: Vec<String> = archive.file_names().filter_map(|n| n.ok()).map(String::from).collect();
    let mut entry = archive.by_name("model.weights.h5").map_err(|e| {
        format!(
            "no model.weights.h5 in the archive ({e}); it holds {}",
            names.join(", ")
        )
    })?;
    let size = entry.size();
    let on_disk = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // Keras stores the weights uncompressed; a deflated entry is allowed up to 64× the archive.
    if size > on_disk.saturating_mul(64).max(1 << 20) {
        return Err(format!(
            "model.weights.h5 claims {size} bytes in an archive of {on_disk}: damaged archive"
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("model.weights.h5: {e} (truncated or damaged archive)"))?;
    Ok(bytes)
}
