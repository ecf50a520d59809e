//! Matching a Keras file's layers to a model's [`KerasLayout`] and loading them.

use super::{KerasFile, KerasLayer, KerasWeight, hdf5::split_index, read};
use crate::import::{ImportError, ImportReport};
use burn::{
    module::Module,
    store::{FloatCastAdapter, ModuleAdapter, ModuleSnapshot, burn_pack::Tensor as PackTensor},
    tensor::{Bytes, DType},
};
use kiln_core::{KerasKind, KerasLayout, KerasOrder, KerasSlot};
use std::path::Path;

/// What to do with a Keras file's classifier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KerasImportOptions {
    /// Leave the classifier freshly initialised when its shape differs (another class count) or
    /// when the file has none (Keras's `_notop` files).
    pub new_head: bool,
}

/// Reads the Keras file at `path` and loads it into `model` as `layout` says.
pub fn import_keras<M: ModuleSnapshot + Module>(
    model: M,
    path: &Path,
    layout: &KerasLayout,
    options: &KerasImportOptions,
) -> Result<(M, ImportReport), ImportError> {
    let file =
        kiln_core::fsutil::guard("reading the Keras file", || read(path)).map_err(|reason| ImportError::Apply {
            path: path.to_path_buf(),
            reason,
        })??;
    apply_layers(model, &file, layout, options)
}

/// The kind of a file's layer: from its class when the file records it (`.weights.h5`), else
/// from its weights' names and ranks (legacy files).
fn kind_of(layer: &KerasLayer) -> Option<KerasKind> {
    if let Some(class) = &layer.class {
        return match class.as_str() {
            "conv2d" => Some(KerasKind::Conv { bias: false }),
            "batch_normalization" => Some(KerasKind::BatchNorm {
                scale: true,
                center: true,
            }),
            "dense" => Some(KerasKind::Dense { from_hwc: None }),
            _ => None,
        };
    }
    let names: Vec<&str> = layer.weights.iter().map(|w| w.name.as_str()).collect();
    let kernel_rank = layer.weights.iter().find(|w| w.name == "kernel").map(|w| w.shape.len());
    let bn = ["gamma", "beta", "moving_mean", "moving_variance"];
    match kernel_rank {
        Some(4) if names.iter().all(|n| matches!(*n, "kernel" | "bias")) => Some(KerasKind::Conv { bias: false }),
        Some(2) if names.iter().all(|n| matches!(*n, "kernel" | "bias")) => Some(KerasKind::Dense { from_hwc: None }),
        None if names.contains(&"moving_mean") && names.iter().all(|n| bn.contains(n)) => Some(KerasKind::BatchNorm {
            scale: true,
            center: true,
        }),
        _ => None,
    }
}

fn same_kind(a: KerasKind, b: KerasKind) -> bool {
    core::mem::discriminant(&a) == core::mem::discriminant(&b)
}

/// `a, b, c, …, z` (the first three and the last of a long list).
fn names_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    if all.len() <= 5 {
        return all.join(", ");
    }
    format!("{}, …, {}", all[..3].join(", "), all[all.len() - 1])
}

/// One tensor to load: model path, Burn-layout shape, values, and which layers it came from.
struct Prepared {
    path: String,
    shape: Vec<usize>,
    values: Vec<f32>,
    file_layer: String,
    keras_name: String,
}

/// Loads the layers of `file` into `model`: the k-th layer of each kind in the file (in
/// `layout.order`) into the k-th slot of that kind, converted to Burn's layouts; every shape
/// checked against the model's.
pub fn apply_layers<M: ModuleSnapshot + Module>(
    mut model: M,
    file: &KerasFile,
    layout: &KerasLayout,
    options: &KerasImportOptions,
) -> Result<(M, ImportReport), ImportError> {
    let path = &file.path;
    let mismatch = |reason: String| ImportError::KerasMismatch {
        path: path.clone(),
        reason,
    };
    // The file's layers by kind, in the layout's order.
    let mut unknown = Vec::new();
    let mut by_kind: [Vec<&KerasLayer>; 3] = Default::default();
    let kinds = [
        KerasKind::Conv { bias: false },
        KerasKind::BatchNorm {
            scale: true,
            center: true,
        },
        KerasKind::Dense { from_hwc: None },
    ];
    for layer in &file.layers {
        match kind_of(layer).and_then(|k| kinds.iter().position(|&c| same_kind(c, k))) {
            Some(i) => by_kind[i].push(layer),
            None => unknown.push(layer),
        }
    }
    if !unknown.is_empty() {
        return Err(mismatch(format!(
            "the file has layers of kinds this model does not have: {} (weights {}); the model's Keras layers are {}",
            names_of(unknown.iter().map(|l| l.name.as_str())),
            unknown[0]
                .weights
                .iter()
                .map(|w| format!("{} {:?}", w.name, w.shape))
                .collect::<Vec<_>>()
                .join(", "),
            names_of(layout.slots.iter().map(|s| s.keras_name.as_str()))
        )));
    }
    let mut notes = Vec::new();
    for (layers, kind) in by_kind.iter_mut().zip(kinds) {
        match layout.order {
            KerasOrder::Creation => creation_order(layers, kind, &mut notes).map_err(mismatch)?,
            KerasOrder::File => by_name(layers, layout, kind, &mut notes),
        }
    }

    let (expected, target) = model_shapes(&model);
    let mut prepared: Vec<Prepared> = Vec::new();
    let mut fresh = Vec::new();
    for (layers, kind) in by_kind.iter().zip(kinds) {
        let slots: Vec<&KerasSlot> = layout.slots_like(kind).collect();
        if layers.is_empty() && !slots.is_empty() && matches!(kind, KerasKind::Dense { .. }) {
            // A `_notop` file: the backbone only.
            if !options.new_head {
                return Err(mismatch(format!(
                    "the file has no Dense layers (a `_notop` file: the convolutional base only), so it has no \
                     classifier for {}; load it with a new classifier (`train --init-from`, or a class count)",
                    names_of(slots.iter().map(|s| s.keras_name.as_str()))
                )));
            }
            notes.push(format!(
                "no classifier in the file (a `_notop` file): {} start fresh",
                names_of(slots.iter().map(|s| s.path.as_str()))
            ));
            fresh.extend(slots.iter().map(|s| s.path.clone()));
            continue;
        }
        if layers.len() != slots.len() {
            return Err(mismatch(format!(
                "the file has {} {} layers ({}), the model {} ({}): a file of another architecture",
                layers.len(),
                kind.name(),
                names_of(layers.iter().map(|l| l.name.as_str())),
                slots.len(),
                names_of(slots.iter().map(|s| s.keras_name.as_str()))
            )));
        }
        for (layer, slot) in layers.iter().zip(slots) {
            convert(layer, slot, &mut prepared).map_err(|e| {
                mismatch(format!(
                    "layer `{}` of the file (matched by order to the model's `{}`, Keras name `{}`): {e}",
                    layer.name, slot.path, slot.keras_name
                ))
            })?;
        }
    }
    if layout
        .slots
        .iter()
        .any(|s| matches!(s.kind, KerasKind::BatchNorm { scale: false, .. }))
    {
        notes.push("BatchNormalization without scale (Keras's scale=False): gamma set to 1".into());
    }

    // Shapes against the model's.
    let mut head_reinitialised = Vec::new();
    let mut head_mismatches = Vec::new();
    let mut other_mismatches = Vec::new();
    prepared.retain(|t| {
        let Some(want) = expected
            .iter()
            .find(|(p, _)| p == &t.path || p.ends_with(&format!(".{}", t.path)))
        else {
            other_mismatches.push(format!(
                "{} (from `{}`): the model has no such parameter",
                t.path, t.file_layer
            ));
            return false;
        };
        if want.1 == t.shape {
            return true;
        }
        if layout.is_head(&t.path) {
            if options.new_head {
                head_reinitialised.push(t.path.clone());
            } else {
                head_mismatches.push((t.path.clone(), want.1.clone(), t.shape.clone()));
            }
        } else {
            other_mismatches.push(format!(
                "{} (file layer `{}`, Keras name `{}`): model expects {:?}, file has {:?}",
                t.path, t.file_layer, t.keras_name, want.1, t.shape
            ));
        }
        false
    });
    if !other_mismatches.is_empty() {
        return Err(mismatch(format!(
            "shapes differ (a file of another architecture or size):\n  {}",
            other_mismatches.join("\n  ")
        )));
    }
    if !head_mismatches.is_empty() {
        return Err(ImportError::ShapeMismatch {
            path: path.clone(),
            mismatches: head_mismatches,
        });
    }

    let tensors: Vec<PackTensor> = prepared
        .into_iter()
        .map(|t| PackTensor::new(t.path, DType::F32, t.shape, None, Bytes::from_elems(t.values)))
        .collect();
    let adapter: Box<dyn ModuleAdapter> = Box::new(FloatCastAdapter::to(target));
    let result = kiln_core::fsutil::guard("loading the tensors", || {
        model.apply(tensors, None, Some(adapter), true)
    })
    .map_err(|reason| ImportError::Apply {
        path: path.clone(),
        reason,
    })?;
    if !result.errors.is_empty() {
        return Err(ImportError::Apply {
            path: path.clone(),
            reason: result
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let missing: Vec<String> = result
        .missing
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| {
            !head_reinitialised
                .iter()
                .chain(&fresh)
                .any(|h| p.ends_with(h.as_str()) || p.contains(&format!("{h}.")))
        })
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::Missing {
            path: path.clone(),
            missing,
        });
    }
    if let Some((key, why)) = kiln_core::first_bad_param(&model) {
        return Err(ImportError::BadWeights {
            path: path.clone(),
            key,
            why,
        });
    }
    Ok((
        model,
        ImportReport {
            format: Some(file.describe()),
            applied: result.applied.len(),
            head_reinitialised: head_reinitialised.into_iter().chain(fresh).collect(),
            unused: result.unused.clone(),
            notes,
            ..Default::default()
        },
    ))
}

/// Sorts one kind's layers by the index of Keras's automatic names (`conv2d`, `conv2d_1`, ...):
/// the order the application's code created them in. Layers named otherwise keep the file's
/// order (their names are the application's own and do not depend on the session).
fn creation_order(layers: &mut [&KerasLayer], kind: KerasKind, notes: &mut Vec<String>) -> Result<(), String> {
    let base = match kind {
        KerasKind::Conv { .. } => "conv2d",
        KerasKind::BatchNorm { .. } => "batch_normalization",
        KerasKind::Dense { .. } => "dense",
    };
    if layers.is_empty() || !layers.iter().all(|l| split_index(&l.name).0 == base) {
        return Ok(());
    }
    if let Some(l) = layers.iter().find(|l| !l.named) {
        return Err(format!(
            "this .weights.h5 does not record its layers' names (`{}` has no `name` attribute: written by an \
             older Keras 3?), and this architecture's {} layers are matched in the order Keras created them, \
             which only their names tell; save the model again with a recent Keras, or as a legacy .h5",
            l.name,
            kind.name()
        ));
    }
    let before: Vec<String> = layers.iter().map(|l| l.name.clone()).collect();
    layers.sort_by_key(|l| split_index(&l.name).1);
    if layers.iter().map(|l| &l.name).ne(before.iter()) {
        notes.push(format!(
            "{} layers matched in creation order ({} … {})",
            kind.name(),
            layers[0].name,
            layers[layers.len() - 1].name
        ));
    }
    Ok(())
}

/// Puts one kind's layers in the slots' order when every one of them carries a distinct slot's
/// name or alias (the application's own names do not depend on the session): files whose order
/// differs from Keras 3's (Keras 2's ResNet-50 lists each shortcut after the block's last
/// convolution) then match all the same. Otherwise the file's order stands, as Keras's loader.
fn by_name(layers: &mut [&KerasLayer], layout: &KerasLayout, kind: KerasKind, notes: &mut Vec<String>) {
    let slots: Vec<&KerasSlot> = layout.slots_like(kind).collect();
    if layers.is_empty() || layers.len() != slots.len() {
        return;
    }
    let position = |l: &KerasLayer| slots.iter().position(|s| s.is_named(&l.name));
    let mut seen = vec![false; slots.len()];
    for l in layers.iter() {
        match position(l) {
            Some(i) if !seen[i] => seen[i] = true,
            _ => return,
        }
    }
    let before: Vec<String> = layers.iter().map(|l| l.name.clone()).collect();
    layers.sort_by_key(|l| position(l));
    let aliased = layers.iter().zip(&slots).any(|(l, s)| l.name != s.keras_name);
    if aliased || layers.iter().map(|l| &l.name).ne(before.iter()) {
        notes.push(format!(
            "{} layers matched by name ({} … {}{})",
            kind.name(),
            layers[0].name,
            layers[layers.len() - 1].name,
            if aliased { ", an earlier Keras's names" } else { "" }
        ));
    }
}

/// The model's float parameters (path and shape), and its float type.
fn model_shapes<M: ModuleSnapshot>(model: &M) -> (Vec<(String, Vec<usize>)>, DType) {
    let floats: Vec<_> = model
        .collect(None, None, true)
        .into_iter()
        .filter(|t| t.dtype.is_float())
        .collect();
    let dtype = floats.first().map_or(DType::F32, |t| t.dtype);
    (floats.into_iter().map(|t| (t.name, t.shape.to_vec())).collect(), dtype)
}

fn expect_count(layer: &KerasLayer, allowed: &[usize], what: &str) -> Result<(), String> {
    if allowed.contains(&layer.weights.len()) {
        return Ok(());
    }
    Err(format!(
        "expected {what}, the file has {} weight(s): {}",
        layer.weights.len(),
        layer
            .weights
            .iter()
            .map(|w| format!("{} {:?}", w.name, w.shape))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Converts one layer's weights for `slot` into Burn's names and layouts.
fn convert(layer: &KerasLayer, slot: &KerasSlot, out: &mut Vec<Prepared>) -> Result<(), String> {
    let mut push = |suffix: &str, shape: Vec<usize>, values: Vec<f32>| {
        out.push(Prepared {
            path: format!("{}.{suffix}", slot.path),
            shape,
            values,
            file_layer: layer.name.clone(),
            keras_name: slot.keras_name.clone(),
        })
    };
    match slot.kind {
        KerasKind::Conv { bias } => {
            expect_count(
                layer,
                &[1 + bias as usize],
                if bias {
                    "a kernel and a bias"
                } else {
                    "a kernel and no bias"
                },
            )?;
            let k = &layer.weights[0];
            let [kh, kw, ci, co] = dims::<4>(k)?;
            let mut w = vec![0f32; k.values.len()];
            for y in 0..kh {
                for x in 0..kw {
                    for i in 0..ci {
                        for o in 0..co {
                            w[((o * ci + i) * kh + y) * kw + x] = k.values[((y * kw + x) * ci + i) * co + o];
                        }
                    }
                }
            }
            push("weight", vec![co, ci, kh, kw], w);
            if bias {
                let b = &layer.weights[1];
                push("bias", b.shape.clone(), b.values.clone());
            }
        }
        KerasKind::Dense { from_hwc } => {
            expect_count(layer, &[2], "a kernel and a bias")?;
            let k = &layer.weights[0];
            let [rows, cols] = dims::<2>(k)?;
            let values = match from_hwc {
                Some([h, w, c]) if h * w * c == rows => {
                    let mut v = vec![0f32; k.values.len()];
                    for ch in 0..c {
                        for y in 0..h {
                            for x in 0..w {
                                let kiln = (ch * h + y) * w + x;
                                let keras = (y * w + x) * c + ch;
                                v[kiln * cols..][..cols].copy_from_slice(&k.values[keras * cols..][..cols]);
                            }
                        }
                    }
                    v
                }
                _ => k.values.clone(),
            };
            push("weight", vec![rows, cols], values);
            let b = &layer.weights[1];
            push("bias", b.shape.clone(), b.values.clone());
        }
        KerasKind::BatchNorm { scale, center } => {
            expect_count(
                layer,
                &[2, 3, 4],
                "gamma, beta, moving_mean and moving_variance (gamma and beta optional)",
            )?;
            let named = |n: &str| layer.weights.iter().find(|w| w.name == n);
            let by_name = named("moving_mean").is_some();
            let (gamma, beta, mean, var): (Option<&KerasWeight>, Option<&KerasWeight>, &KerasWeight, &KerasWeight) =
                if by_name {
                    (
                        named("gamma"),
                        named("beta"),
                        named("moving_mean").ok_or("no moving_mean")?,
                        named("moving_variance").ok_or("no moving_variance")?,
                    )
                } else {
                    // Keras 3's .weights.h5 keeps only positions: gamma (if scale), beta (if
                    // center), moving_mean, moving_variance.
                    let w = &layer.weights;
                    match w.len() {
                        4 => (Some(&w[0]), Some(&w[1]), &w[2], &w[3]),
                        2 => (None, None, &w[0], &w[1]),
                        _ if scale && !center => (Some(&w[0]), None, &w[1], &w[2]),
                        _ => (None, Some(&w[0]), &w[1], &w[2]),
                    }
                };
            let c = mean.values.len();
            for (n, w) in [("moving_variance", Some(var)), ("gamma", gamma), ("beta", beta)] {
                if let Some(w) = w
                    && w.values.len() != c
                {
                    return Err(format!("{n} has {} values, moving_mean {c}", w.values.len()));
                }
            }
            push(
                "gamma",
                vec![c],
                gamma.map_or_else(|| vec![1.0; c], |g| g.values.clone()),
            );
            push("beta", vec![c], beta.map_or_else(|| vec![0.0; c], |b| b.values.clone()));
            push("running_mean", vec![c], mean.values.clone());
            push("running_var", vec![c], var.values.clone());
        }
    }
    Ok(())
}

fn dims<const N: usize>(w: &KerasWeight) -> Result<[usize; N], String> {
    <[usize; N]>::try_from(w.shape.as_slice())
        .map_err(|_| format!("weight `{}` has shape {:?}, expected {N} dimensions", w.name, w.shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, weights: &[(&str, &[usize])]) -> KerasLayer {
        KerasLayer {
            name: name.into(),
            named: true,
            class: None,
            weights: weights
                .iter()
                .map(|(n, s)| KerasWeight {
                    name: n.to_string(),
                    shape: s.to_vec(),
                    values: (0..s.iter().product::<usize>()).map(|v| v as f32).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn kinds_come_from_weight_names_and_ranks() {
        assert!(matches!(
            kind_of(&layer("c", &[("kernel", &[3, 3, 2, 4]), ("bias", &[4])])),
            Some(KerasKind::Conv { .. })
        ));
        assert!(matches!(
            kind_of(&layer("d", &[("kernel", &[8, 2]), ("bias", &[2])])),
            Some(KerasKind::Dense { .. })
        ));
        assert!(matches!(
            kind_of(&layer(
                "b",
                &[("beta", &[4]), ("moving_mean", &[4]), ("moving_variance", &[4])]
            )),
            Some(KerasKind::BatchNorm { .. })
        ));
        assert_eq!(kind_of(&layer("dw", &[("depthwise_kernel", &[3, 3, 4, 1])])), None);
    }

    #[test]
    fn hwio_kernels_become_oihw_and_nhwc_rows_nchw() {
        let mut out = Vec::new();
        // kernel [kh=1, kw=2, in=2, out=3]: value = ((y*kw + x)*in + i)*out + o.
        let conv = layer("c", &[("kernel", &[1, 2, 2, 3])]);
        convert(
            &conv,
            &KerasSlot::new("features.0", KerasKind::Conv { bias: false }, "c"),
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0].shape, [3, 2, 1, 2]);
        // Burn [o][i][y][x] = Keras [y][x][i][o].
        let at = |o: usize, i: usize, x: usize| out[0].values[(o * 2 + i) * 2 + x];
        assert_eq!(at(2, 1, 1), (((1 * 2 + 1) * 3) + 2) as f32);
        assert_eq!(at(0, 1, 0), 3.0);
        // Dense after an NHWC flatten of [h=1, w=2, c=2]: Keras row (x*2 + c) → Kiln row (c*2 + x).
        let dense = layer("d", &[("kernel", &[4, 1]), ("bias", &[1])]);
        let slot = KerasSlot::new(
            "fc",
            KerasKind::Dense {
                from_hwc: Some([1, 2, 2]),
            },
            "fc1",
        );
        convert(&dense, &slot, &mut out).unwrap();
        assert_eq!(out[1].values, [0.0, 2.0, 1.0, 3.0]);
    }

    #[test]
    fn batch_norm_without_scale_gets_unit_gamma_by_name_and_by_position() {
        let slot = KerasSlot::new(
            "bn",
            KerasKind::BatchNorm {
                scale: false,
                center: true,
            },
            "bn",
        );
        for names in [["beta", "moving_mean", "moving_variance"], ["0", "1", "2"]] {
            let l = layer("bn", &[(names[0], &[2]), (names[1], &[2]), (names[2], &[2])]);
            let mut out = Vec::new();
            convert(&l, &slot, &mut out).unwrap();
            let get = |s: &str| out.iter().find(|t| t.path == format!("bn.{s}")).unwrap().values.clone();
            assert_eq!(get("gamma"), [1.0, 1.0]);
            assert_eq!(get("beta"), [0.0, 1.0]);
            assert_eq!(get("running_var"), [0.0, 1.0]);
        }
        let wrong = layer("bn", &[("kernel", &[2, 2])]);
        let msg = convert(&wrong, &slot, &mut Vec::new()).unwrap_err();
        assert!(msg.contains("moving_mean") && msg.contains("kernel [2, 2]"), "{msg}");
    }
}
