//! The model registry: every architecture by name, as data.

use crate::Model;
use burn::tensor::Device;
use kiln_core::Activation;
use kiln_lenet::LeNet5Config;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A registered architecture.
#[derive(Clone, Copy, Debug)]
pub struct ModelInfo {
    /// The registry name (`lenet5`).
    pub name: &'static str,
    /// Other names accepted on the command line (`lenet`).
    pub aliases: &'static [&'static str],
    /// The paper.
    pub paper: &'static str,
    /// The input size the architecture is designed for, `[channels, height, width]`.
    pub input: [usize; 3],
}

const MODELS: &[ModelInfo] = &[ModelInfo {
    name: "lenet5",
    aliases: &["lenet", "lenet-5"],
    paper: "LeCun et al. 1998, Gradient-based learning applied to document recognition",
    input: [1, 28, 28],
}];

/// Every registered model, in registry order.
pub fn list_models() -> &'static [ModelInfo] {
    MODELS
}

/// Why a model could not be built.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// No model has this name.
    #[error("unknown model `{name}`; known models: {}", list_models().iter().map(|m| m.name).collect::<Vec<_>>().join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The stored configuration does not fit the architecture.
    #[error("invalid configuration for `{arch}`: {reason}")]
    Config {
        /// The architecture.
        arch: String,
        /// What is wrong.
        reason: String,
    },
}

/// Resolves a name or alias to its registry entry.
pub fn lookup(name: &str) -> Result<&'static ModelInfo, RegistryError> {
    let lower = name.to_lowercase();
    MODELS
        .iter()
        .find(|m| m.name == lower || m.aliases.contains(&lower.as_str()))
        .ok_or(RegistryError::Unknown {
            name: name.to_string(),
        })
}

/// What is needed to rebuild a model: its architecture and its configuration (the
/// architecture's `Config` as JSON). Saved in every model directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The registry name.
    pub arch: String,
    /// The architecture's configuration.
    pub config: serde_json::Value,
}

impl ModelSpec {
    /// The spec of `name` with `num_classes` outputs and `in_channels` inputs, other settings at
    /// their defaults; `activation` overrides the hidden activation where the architecture has
    /// that choice.
    pub fn new(
        name: &str,
        num_classes: usize,
        in_channels: usize,
        activation: Option<Activation>,
    ) -> Result<Self, RegistryError> {
        let info = lookup(name)?;
        let config = match info.name {
            "lenet5" => {
                let mut c = LeNet5Config::new()
                    .with_num_classes(num_classes)
                    .with_in_channels(in_channels);
                if let Some(a) = activation {
                    c = c.with_activation(a);
                }
                to_json(&c)
            }
            _ => unreachable!("every registry entry has a spec"),
        };
        Ok(Self {
            arch: info.name.to_string(),
            config,
        })
    }
}

fn to_json<C: Serialize>(config: &C) -> serde_json::Value {
    serde_json::to_value(config).expect("a Config serialises to JSON")
}

fn from_json<C: serde::de::DeserializeOwned>(arch: &str, value: &serde_json::Value) -> Result<C, RegistryError> {
    serde_json::from_value(value.clone()).map_err(|e| RegistryError::Config {
        arch: arch.to_string(),
        reason: e.to_string(),
    })
}

/// Builds the model a [`ModelSpec`] describes, with freshly initialised weights.
pub fn build_spec(spec: &ModelSpec, device: &Device) -> Result<Model, RegistryError> {
    let info = lookup(&spec.arch)?;
    Ok(match info.name {
        "lenet5" => Model::LeNet5(from_json::<LeNet5Config>(info.name, &spec.config)?.init(device)),
        _ => unreachable!("every registry entry can be built"),
    })
}

/// Builds the model called `name` (or an alias) with `num_classes` outputs for `in_channels`
/// input channels, freshly initialised on `device`.
pub fn build(
    name: &str,
    num_classes: usize,
    in_channels: usize,
    device: &Device,
) -> Result<Model, RegistryError> {
    build_spec(&ModelSpec::new(name, num_classes, in_channels, None)?, device)
}
