//! The layers with weights of a Keras HDF5 file, in each of its layouts.

use super::{KerasFile, KerasFormat, KerasLayer, KerasWeight, MAX_WEIGHT_BYTES};
use hdf5_reader::{Datatype, Hdf5File, OpenOptions, group::Group};
use std::path::Path;

type Result<T> = std::result::Result<T, String>;

/// Reads `bytes` (an HDF5 file; `in_archive`: the `model.weights.h5` of a `.keras` zip).
pub(super) fn read_h5(path: &Path, bytes: Vec<u8>, in_archive: bool) -> Result<KerasFile> {
    let len = bytes.len() as u64;
    let options = OpenOptions::default().with_max_read_bytes(MAX_WEIGHT_BYTES);
    let file = Hdf5File::from_vec_with_options(bytes, options).map_err(|e| format!("damaged HDF5 file: {e}"))?;
    // The superblock records where the file ends (as libhdf5 checks): a shorter file was cut
    // off, even when what is missing is metadata no weight needs.
    let sb = file.superblock();
    let end = sb.base_address.saturating_add(sb.eof_address);
    if end > len {
        return Err(format!(
            "truncated HDF5 file: {len} bytes, its superblock says {end} (an interrupted download or copy?)"
        ));
    }
    let root = file.root_group().map_err(|e| format!("damaged HDF5 file: {e}"))?;
    let (groups, _) = root.member_names().map_err(|e| format!("damaged HDF5 file: {e}"))?;
    let keras_version = string_attr(&root, "keras_version");
    let backend = string_attr(&root, "backend");
    if has_attr(&root, "layer_names")? {
        let layers = legacy_layers(&root)?;
        return Ok(KerasFile {
            path: path.to_path_buf(),
            format: KerasFormat::LegacyWeights,
            keras_version,
            backend,
            layers,
        });
    }
    if groups.iter().any(|g| g == "model_weights") {
        let weights = root.group("model_weights").map_err(|e| format!("model_weights: {e}"))?;
        if has_attr(&weights, "layer_names")? {
            let layers = legacy_layers(&weights)?;
            return Ok(KerasFile {
                path: path.to_path_buf(),
                format: KerasFormat::LegacyModel,
                keras_version: keras_version.or_else(|| string_attr(&weights, "keras_version")),
                backend: backend.or_else(|| string_attr(&weights, "backend")),
                layers,
            });
        }
    }
    if groups.iter().any(|g| g == "layers") {
        let mut layers = Vec::new();
        let top = root.group("layers").map_err(|e| format!("layers: {e}"))?;
        weights3_layers(&top, "layers", 0, &mut layers)?;
        return Ok(KerasFile {
            path: path.to_path_buf(),
            format: if in_archive {
                KerasFormat::Archive
            } else {
                KerasFormat::Weights3
            },
            keras_version,
            backend,
            layers,
        });
    }
    Err(format!(
        "not a Keras weight file: an HDF5 file without a `layer_names` attribute (legacy .h5), a \
         `model_weights` group (legacy full model) or a `layers` group (Keras 3); its top-level groups: [{}]",
        groups.join(", ")
    ))
}

fn has_attr(group: &Group, name: &str) -> Result<bool> {
    let attrs = group
        .attributes()
        .map_err(|e| format!("{}: damaged attributes: {e}", group.name()))?;
    Ok(attrs
        .iter()
        .any(|a| a.name.as_str() == name || chunk_index(a.name.as_str(), name).is_some()))
}

/// `Some(k)` for `{name}{k}`: Keras splits an attribute over 64 KiB into `layer_names0`,
/// `layer_names1`, ... (`save_attributes_to_hdf5_group`).
fn chunk_index(attr: &str, name: &str) -> Option<usize> {
    attr.strip_prefix(name).and_then(|k| k.parse().ok())
}

fn string_attr(group: &Group, name: &str) -> Option<String> {
    let attrs = group.attributes().ok()?;
    let a = attrs.iter().find(|a| a.name.as_str() == name)?;
    a.read_string()
        .ok()
        .or_else(|| a.read_strings().ok().and_then(|v| v.into_iter().next()))
}

/// A string-list attribute (fixed-length or variable-length strings, possibly split into numbered
/// chunks); an empty array (Keras writes `weight_names` of a layer without weights as an empty
/// float array) is an empty list.
fn strings_attr(group: &Group, name: &str) -> Result<Vec<String>> {
    let attrs = group
        .attributes()
        .map_err(|e| format!("{}: damaged attributes: {e}", group.name()))?;
    let read = |a: &hdf5_reader::Attribute| -> Result<Vec<String>> {
        if a.num_elements().map_err(|e| e.to_string())? == 0 {
            return Ok(Vec::new());
        }
        a.read_strings()
            .or_else(|_| {
                let data = group.file_data()?;
                a.read_vlen_strings(data.as_ref(), group.offset_size())
            })
            .map_err(|e| {
                format!(
                    "attribute `{}` of `{}` is not a list of strings: {e}",
                    a.name.as_str(),
                    group.name()
                )
            })
    };
    if let Some(a) = attrs.iter().find(|a| a.name.as_str() == name) {
        return read(a);
    }
    let mut chunks: Vec<(usize, &hdf5_reader::Attribute)> = attrs
        .iter()
        .filter_map(|a| chunk_index(a.name.as_str(), name).map(|k| (k, a)))
        .collect();
    if chunks.is_empty() {
        return Err(format!("`{}` has no `{name}` attribute", group.name()));
    }
    chunks.sort_by_key(|(k, _)| *k);
    let mut out = Vec::new();
    for (_, a) in chunks {
        out.extend(read(a)?);
    }
    Ok(out)
}

/// Legacy layout: `layer_names` lists the layers in `model.layers` order; each layer's group
/// lists its weights in `weight_names`, paths relative to the layer's group
/// (`conv1/kernel:0`).
fn legacy_layers(root: &Group) -> Result<Vec<KerasLayer>> {
    let names = strings_attr(root, "layer_names")?;
    let mut layers = Vec::new();
    for name in names {
        let group = root
            .group(&name)
            .map_err(|e| format!("layer `{name}` is listed in layer_names but has no group: {e}"))?;
        let weight_names = strings_attr(&group, "weight_names").map_err(|e| format!("layer `{name}`: {e}"))?;
        if weight_names.is_empty() {
            continue;
        }
        let mut weights = Vec::new();
        for w in &weight_names {
            let (parent, leaf) = walk(&group, w).map_err(|e| format!("layer `{name}`, weight `{w}`: {e}"))?;
            let dataset = parent
                .dataset(leaf)
                .map_err(|e| format!("layer `{name}`: weight `{w}` is listed but missing: {e}"))?;
            let short = leaf.trim_end_matches(":0").to_string();
            weights.push(read_weight(&dataset, short).map_err(|e| format!("layer `{name}`, weight `{w}`: {e}"))?);
        }
        layers.push(KerasLayer {
            name,
            named: true,
            class: None,
            weights,
        });
    }
    Ok(layers)
}

/// The group holding `path`'s last segment, and that segment.
fn walk<'a>(group: &Group, path: &'a str) -> Result<(Group, &'a str)> {
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let leaf = segments.pop().ok_or_else(|| "empty weight name".to_string())?;
    let mut g = group.clone();
    for s in segments {
        g = g.group(s).map_err(|e| format!("no group `{s}`: {e}"))?;
    }
    Ok((g, leaf))
}

/// `conv2d_17` → (`conv2d`, 17); `conv2d` → (`conv2d`, 0).
pub(super) fn split_index(name: &str) -> (&str, usize) {
    if let Some((base, k)) = name.rsplit_once('_')
        && !k.is_empty()
        && k.bytes().all(|b| b.is_ascii_digit())
        && let Ok(k) = k.parse::<usize>()
    {
        return (base, k);
    }
    (name, 0)
}

/// Keras 3 layout: `layers/<class>_<k>/vars/0, 1, ...`; `vars` carries the layer's real name as
/// its `name` attribute (recent Keras 3); nested models keep their own `layers/` group. Groups are
/// sorted by class, then by `k` (Keras numbers them in `model.layers` order; HDF5 lists them by
/// name, where `conv2d_10` comes before `conv2d_2`).
fn weights3_layers(top: &Group, at: &str, depth: usize, out: &mut Vec<KerasLayer>) -> Result<()> {
    if depth > 16 {
        return Err(format!("{at}: layers nested more than 16 deep"));
    }
    let (mut groups, _) = top.member_names().map_err(|e| format!("{at}: {e}"))?;
    groups.sort_by(|a, b| split_index(a).cmp(&split_index(b)));
    for g in groups {
        let here = format!("{at}/{g}");
        let group = top.group(&g).map_err(|e| format!("{here}: {e}"))?;
        let (children, _) = group.member_names().map_err(|e| format!("{here}: {e}"))?;
        if children.iter().any(|c| c == "vars") {
            let vars = group.group("vars").map_err(|e| format!("{here}/vars: {e}"))?;
            let (_, mut datasets) = vars.member_names().map_err(|e| format!("{here}/vars: {e}"))?;
            if !datasets.is_empty() {
                datasets.sort_by_key(|d| d.parse::<usize>().unwrap_or(usize::MAX));
                let mut weights = Vec::new();
                for d in datasets {
                    let dataset = vars.dataset(&d).map_err(|e| format!("{here}/vars/{d}: {e}"))?;
                    weights.push(read_weight(&dataset, d.clone()).map_err(|e| format!("{here}/vars/{d}: {e}"))?);
                }
                let recorded = string_attr(&vars, "name");
                out.push(KerasLayer {
                    named: recorded.is_some(),
                    name: recorded.unwrap_or_else(|| g.clone()),
                    class: Some(split_index(&g).0.to_string()),
                    weights,
                });
            }
        }
        if children.iter().any(|c| c == "layers") {
            let nested = group.group("layers").map_err(|e| format!("{here}/layers: {e}"))?;
            weights3_layers(&nested, &format!("{here}/layers"), depth + 1, out)?;
        }
    }
    Ok(())
}

/// A float dataset as f32 (float16 and float64 converted).
fn read_weight(dataset: &hdf5_reader::Dataset, name: String) -> Result<KerasWeight> {
    let shape: Vec<usize> = dataset
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} too large")))
        .collect::<Result<_>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n.saturating_mul(4) <= MAX_WEIGHT_BYTES)
        .ok_or_else(|| format!("shape {shape:?} exceeds {} bytes: damaged file", MAX_WEIGHT_BYTES))?;
    let values = match dataset.dtype() {
        Datatype::FloatingPoint { size: 4, .. } => {
            let mut v = vec![0f32; n];
            dataset.read_into(&mut v).map_err(|e| e.to_string())?;
            v
        }
        Datatype::FloatingPoint { size: 8, .. } => {
            let mut v = vec![0f64; n];
            dataset.read_into(&mut v).map_err(|e| e.to_string())?;
            v.into_iter().map(|x| x as f32).collect()
        }
        Datatype::FloatingPoint { size: 2, .. } => {
            let bytes = dataset.read_native_bytes().map_err(|e| e.to_string())?;
            if bytes.len() != 2 * n {
                return Err(format!("{} bytes for {n} float16 values", bytes.len()));
            }
            bytes
                .chunks_exact(2)
                .map(|b| burn::tensor::f16::from_ne_bytes([b[0], b[1]]).to_f32())
                .collect()
        }
        other => return Err(format!("not a float tensor: {other:?}")),
    };
    Ok(KerasWeight { name, shape, values })
}
