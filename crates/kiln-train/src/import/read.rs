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
            check_safetensors(path).map_err(unreadable)?;
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

/// Checks a safetensors header before anything reads the data: its length, that it is a JSON
/// object, and for every tensor a known dtype, a shape whose size does not overflow, and data
/// offsets inside the file that hold exactly that many bytes. Names the tensor that is wrong.
fn check_safetensors(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let file_len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|e| format!("reading the header length: {e}"))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > (100 << 20) || 8 + header_len > file_len {
        return Err(format!(
            "the header claims {header_len} bytes, but the file has {file_len} (truncated or not a safetensors file)"
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| format!("reading the header: {e}"))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("the header is not a JSON object: {e}"))?;
    let data_len = file_len - 8 - header_len;
    for (name, entry) in &header {
        if name == "__metadata__" {
            continue;
        }
        let bad = |why: String| format!("tensor `{name}`: {why}");
        let dtype = entry
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or_else(|| bad("no dtype".into()))?;
        let size: u64 = match dtype {
            "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
            "U16" | "I16" | "F16" | "BF16" => 2,
            "U32" | "I32" | "F32" => 4,
            "U64" | "I64" | "F64" => 8,
            other => return Err(bad(format!("unknown dtype {other}"))),
        };
        let shape: Vec<u64> = entry
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|s| s.iter().map(|d| d.as_u64()).collect())
            .ok_or_else(|| bad("the shape is not a list of sizes".into()))?;
        let bytes = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
        let offsets: Vec<u64> = entry
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|s| s.iter().map(|d| d.as_u64()).collect())
            .filter(|o: &Vec<u64>| o.len() == 2)
            .ok_or_else(|| bad("data_offsets is not [start, end]".into()))?;
        let (start, end) = (offsets[0], offsets[1]);
        if start > end || end > data_len {
            return Err(bad(format!(
                "data_offsets [{start}, {end}] reach outside the {data_len} bytes of data (truncated file?)"
            )));
        }
        if end - start != bytes {
            return Err(bad(format!(
                "{} bytes between its offsets, but {dtype} {shape:?} needs {bytes}",
                end - start
            )));
        }
    }
    Ok(())
}
