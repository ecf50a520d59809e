//! Reading a weight file: its format, its tensors (lazily: bytes are read when applied) and the
//! entries that are not tensors.

use super::ImportError;
use burn::store::{
    ModuleStore, PytorchStore, SafetensorsStore,
    burn_pack::Tensor as PackTensor,
    pytorch_reader::{PickleValue, PytorchReader},
};
use std::path::Path;

/// The container format of a weight file, recognised by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    /// `torch.save` output: a zip archive (PyTorch ≥ 1.6) or a legacy pickle stream.
    Pytorch,
    /// A safetensors file: an 8-byte header length, a JSON header, raw tensor bytes.
    Safetensors,
}

impl WeightFormat {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pytorch => "PyTorch",
            Self::Safetensors => "safetensors",
        }
    }
}

/// A weight file as read: every tensor under the top-level key, by its flattened key
/// (`model.conv1.weight` for `{'model': {'conv1.weight': ...}}`).
pub struct Checkpoint {
    /// The format.
    pub format: WeightFormat,
    /// The tensors, data not yet read.
    pub tensors: Vec<PackTensor>,
    /// Entries that are not tensors and hold none (`args (argparse.Namespace)`, `epoch (int)`):
    /// skipped.
    pub skipped: Vec<String>,
}

/// Recognises a weight file by its first bytes.
pub fn detect_format(path: &Path) -> Result<WeightFormat, ImportError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| ImportError::io(path, e))?;
    let head = &head[..n];
    if n >= 9 && head[8] == b'{' {
        return Ok(WeightFormat::Safetensors);
    }
    // A zip archive (torch.save since 1.6), or a pickle stream (PROTO opcode 0x80 then the
    // protocol version) for the legacy format.
    if head.starts_with(b"PK\x03\x04") || (n >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1])) {
        return Ok(WeightFormat::Pytorch);
    }
    Err(ImportError::Unreadable {
        path: path.to_path_buf(),
        format: "PyTorch or safetensors".into(),
        reason: format!(
            "unknown file signature {:02x?} (expected a zip archive, a pickle stream or a safetensors header)",
            head
        ),
    })
}

/// Reads the tensors of `path` under `top_level_key` (a dictionary key of a PyTorch file; for
/// safetensors, whose keys are flat, the key prefix `top_level_key.`).
pub fn read(path: &Path, top_level_key: Option<&str>) -> Result<Checkpoint, ImportError> {
    if !path.is_file() {
        return Err(ImportError::Io {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    let format = detect_format(path)?;
    let unreadable = |reason: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        format: format.name().into(),
        reason,
    };
    let (tensors, skipped) = match format {
        WeightFormat::Pytorch => {
            let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
            if let Some(k) = top_level_key {
                store = store.with_top_level_key(k);
            }
            let tensors: Vec<PackTensor> = store
                .get_all_tensors()
                .map_err(|e| unreadable(e.to_string()))?
                .values()
                .cloned()
                .collect();
            let tree = PytorchReader::read_pickle_data(path, top_level_key).map_err(|e| unreadable(e.to_string()))?;
            let mut skipped = Vec::new();
            non_tensor_entries(&tree, &mut Vec::new(), &mut skipped);
            (tensors, skipped)
        }
        WeightFormat::Safetensors => {
            let mut store = SafetensorsStore::from_file(path).map_indices_contiguous(false);
            let mut tensors: Vec<PackTensor> = store
                .get_all_tensors()
                .map_err(|e| unreadable(e.to_string()))?
                .values()
                .cloned()
                .collect();
            if let Some(k) = top_level_key {
                let prefix = format!("{k}.");
                tensors.retain(|t| t.name.starts_with(&prefix));
                tensors
                    .iter_mut()
                    .for_each(|t| t.name = t.name[prefix.len()..].to_string());
            }
            (tensors, Vec::new())
        }
    };
    if tensors.is_empty() {
        return Err(ImportError::NoTensors {
            path: path.to_path_buf(),
            top_level_key: top_level_key.map(String::from),
        });
    }
    Ok(Checkpoint {
        format,
        tensors,
        skipped,
    })
}

/// The keys of a weight file (after the top-level key, before any renaming), sorted.
pub fn file_keys(path: &Path, top_level_key: Option<&str>) -> Result<Vec<String>, ImportError> {
    let mut keys: Vec<String> = read(path, top_level_key)?.tensors.into_iter().map(|t| t.name).collect();
    keys.sort();
    Ok(keys)
}

/// Collects the subtrees of a pickle that hold no tensor, each as `path (type)`.
///
/// `_metadata` (the per-module version numbers `state_dict()` attaches) is PyTorch's own
/// bookkeeping of every state dict and is not listed.
fn non_tensor_entries(value: &PickleValue, path: &mut Vec<String>, out: &mut Vec<String>) {
    if path.last().is_some_and(|p| p == "_metadata") {
        return;
    }
    let name = |path: &[String]| {
        if path.is_empty() {
            "<root>".to_string()
        } else {
            path.join(".")
        }
    };
    if !holds_tensor(value) {
        out.push(format!("{} ({})", name(path), type_name(value)));
        return;
    }
    match value {
        PickleValue::Dict(entries) => {
            let mut keys: Vec<&String> = entries.keys().collect();
            keys.sort();
            for k in keys {
                path.push(k.clone());
                non_tensor_entries(&entries[k], path, out);
                path.pop();
            }
        }
        PickleValue::List(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                non_tensor_entries(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn holds_tensor(value: &PickleValue) -> bool {
    match value {
        PickleValue::Unsupported(t) => t == "torch.Tensor",
        PickleValue::Dict(entries) => entries.values().any(holds_tensor),
        PickleValue::List(items) => items.iter().any(holds_tensor),
        _ => false,
    }
}

fn type_name(value: &PickleValue) -> String {
    match value {
        PickleValue::None => "None".into(),
        PickleValue::Bool(_) => "bool".into(),
        PickleValue::Int(_) => "int".into(),
        PickleValue::Float(_) => "float".into(),
        PickleValue::String(_) => "str".into(),
        PickleValue::Bytes(_) => "bytes".into(),
        PickleValue::List(_) => "list".into(),
        PickleValue::Dict(_) => "dict".into(),
        PickleValue::Unsupported(t) => t.clone(),
    }
}
