//! Pretrained weights: each architecture's key rules, and import into any registered model.

use crate::{Family, Model, ModelSpec, RegistryError, build_spec, lookup};
use burn::tensor::Device;
use kiln_core::{KeyRules, Preprocessing};
use kiln_train::import::{ImportError, ImportOptions, ImportReport, import_weights};
use std::path::Path;

/// The key rules of an architecture, from its crate.
pub fn key_rules(arch: &str) -> Result<KeyRules, RegistryError> {
    let info = lookup(arch)?;
    Ok(match info.family {
        Family::LeNet => kiln_lenet::key_rules(),
        Family::AlexNet => kiln_alexnet::key_rules(),
        Family::Vgg => {
            let v = kiln_vgg::VGG_VARIANTS
                .iter()
                .find(|v| v.name == info.name)
                .expect("table and registry agree");
            kiln_vgg::key_rules(v.depth, v.batch_norm)
        }
        Family::Inception => kiln_inception::key_rules(),
        Family::ResNet => kiln_resnet::key_rules(),
    })
}

/// torchvision's evaluation preprocessing for an architecture: resize the shorter side to 256
/// and centre-crop 224 (342 and 299 for Inception v3), ImageNet mean and standard deviation.
pub fn imagenet_preprocessing(arch: &str) -> Result<Preprocessing, RegistryError> {
    let info = lookup(arch)?;
    let [channels, crop, _] = info.input;
    Ok(match info.family {
        Family::LeNet => Preprocessing::mnist(),
        Family::Inception => Preprocessing::imagenet(342, crop),
        _ => Preprocessing {
            channels,
            ..Preprocessing::imagenet(256, crop)
        },
    })
}

/// Why an import through the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The architecture is unknown or its configuration invalid.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The weights could not be imported.
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// Builds the model of `spec` on `device` and loads the checkpoint at `path` into it (PyTorch
/// `.pth` or `.safetensors`, torchvision's key names). With `options.new_head`, a classifier whose
/// class count differs from the checkpoint's stays freshly initialised.
pub fn import(
    spec: &ModelSpec,
    path: &Path,
    options: &ImportOptions,
    device: &Device,
) -> Result<(Model, ImportReport), WeightsError> {
    let rules = key_rules(&spec.arch)?;
    let model = build_spec(spec, device)?;
    Ok(import_weights(model, path, &rules, options)?)
}

/// Imports a checkpoint for `arch` with `in_channels` inputs, for `num_classes` classes, or, when
/// `None`, for the checkpoint's own class count (read from its classifier's shape).
pub fn import_arch(
    arch: &str,
    in_channels: usize,
    num_classes: Option<usize>,
    path: &Path,
    options: &ImportOptions,
    device: &Device,
) -> Result<(Model, ModelSpec, ImportReport), WeightsError> {
    let info = lookup(arch)?;
    let [_, h, w] = info.input;
    let spec_for = |classes: usize| {
        let options = crate::BuildOptions {
            image_size: Some([h, w]),
            ..crate::BuildOptions::new(classes, in_channels)
        };
        ModelSpec::new(info.name, &options)
    };
    let guess = num_classes.unwrap_or(1000);
    let spec = spec_for(guess)?;
    match import(&spec, path, options, device) {
        Ok((model, report)) => Ok((model, spec, report)),
        Err(WeightsError::Import(ImportError::ShapeMismatch { mismatches, .. }))
            if num_classes.is_none() && head_only(&key_rules(arch)?, &mismatches) =>
        {
            // Burn stores a linear weight as [in, out]: the checkpoint's class count is the
            // last dimension of the head's weight.
            let classes = mismatches
                .iter()
                .find(|(_, _, found)| found.len() == 2)
                .map(|(_, _, found)| found[1])
                .unwrap_or(guess);
            let spec = spec_for(classes)?;
            let (model, report) = import(&spec, path, options, device)?;
            Ok((model, spec, report))
        }
        Err(e) => Err(e),
    }
}

fn head_only(rules: &KeyRules, mismatches: &[(String, Vec<usize>, Vec<usize>)]) -> bool {
    !mismatches.is_empty() && mismatches.iter().all(|(k, _, _)| rules.is_head(k))
}
