//! Transfer learning: which parameters form the head and each backbone stage, freezing (with
//! BatchNorm kept in inference mode: the known trap), and per-group learning rates.
//!
//! Nothing here needs a per-model table: a stage's parameters are those that receive a gradient
//! from that stage's output ([`Backbone::forward_features`]) and not from the one before it, and
//! the head is every trainable parameter no stage uses (the classifier after the features).

use burn::{
    module::{Module, ModuleVisitor, Param, ParamGroup, ParamId},
    tensor::{Device, Distribution, Tensor},
};
use kiln_core::Backbone;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, fmt, str::FromStr};

/// What stays fixed while training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Freeze {
    /// Everything trains.
    #[default]
    None,
    /// Only the head trains (feature extraction); the backbone's BatchNorm layers use and keep
    /// their running statistics.
    Backbone,
    /// The head and the last N backbone stages train; the stages before them are frozen.
    Stages(usize),
}

impl fmt::Display for Freeze {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Backbone => f.write_str("backbone"),
            Self::Stages(n) => write!(f, "stages:{n}"),
        }
    }
}

impl FromStr for Freeze {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "backbone" => Ok(Self::Backbone),
            other => other
                .strip_prefix("stages:")
                .and_then(|n| n.parse().ok())
                .map(Self::Stages)
                .ok_or_else(|| {
                    format!("unknown freeze `{s}`; expected none, backbone or stages:N (N trainable last stages)")
                }),
        }
    }
}

/// Every float parameter's id and path (`ResNetBasic.layer1.0.bn1.gamma`).
pub fn param_paths<M: Module>(model: &M) -> Vec<(ParamId, String)> {
    struct V {
        path: Vec<String>,
        out: Vec<(ParamId, String)>,
    }
    impl ModuleVisitor for V {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out.push((param.id, self.path.join(".")));
        }
    }
    let mut v = V {
        path: Vec::new(),
        out: Vec::new(),
    };
    model.visit(&mut v);
    v.out
}

/// A model's parameters split into backbone stages and head, probed once.
#[derive(Clone, Debug)]
pub struct Split {
    /// Per stage, the ids of the parameters that first act in it (see [`stage_ids`]).
    pub stages: Vec<BTreeSet<ParamId>>,
    /// The trainable parameters no stage uses (see [`head_ids`]).
    pub head: BTreeSet<ParamId>,
    /// Every float parameter's id and path.
    pub params: Vec<(ParamId, String)>,
}

impl Split {
    /// Probes `model` (on an autodiff device) with one input of shape `[channels, h, w]`.
    pub fn of<M: Backbone + Clone>(model: &M, input: [usize; 3], device: &Device) -> Self {
        struct T(BTreeSet<ParamId>);
        impl ModuleVisitor for T {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if param.val().is_require_grad() {
                    self.0.insert(param.id);
                }
            }
        }
        let mut trainable = T(BTreeSet::new());
        model.visit(&mut trainable);
        let stages = stage_ids(model, input, device);
        let reached: BTreeSet<ParamId> = stages.iter().flatten().copied().collect();
        Self {
            head: trainable.0.difference(&reached).copied().collect(),
            stages,
            params: param_paths(model),
        }
    }

    /// What `freeze` leaves trainable, as a group (`None`: everything).
    pub fn trainable(&self, freeze: Freeze) -> Option<ParamGroup> {
        let mut ids = self.head.clone();
        match freeze {
            Freeze::None => return None,
            Freeze::Backbone => {}
            Freeze::Stages(n) => self
                .stages
                .iter()
                .rev()
                .take(n)
                .for_each(|s| ids.extend(s.iter().copied())),
        }
        Some(modules_group(&self.params, &ids))
    }

    /// The group of the backbone (everything but the head), for a smaller learning rate.
    pub fn backbone_group(&self) -> ParamGroup {
        ParamGroup::all().exclude(ParamGroup::from_ids(self.head.iter().copied().collect()))
    }
}

/// The ids of the head: the trainable parameters that no backbone stage uses (everything after
/// the feature stages: ResNet's `fc`, LeNet's and VGG's classifier MLP, Inception's `fc` and
/// auxiliary head). `model` must be on an autodiff device; `input` is `[channels, h, w]`.
pub fn head_ids<M: Backbone + Clone>(model: &M, input: [usize; 3], device: &Device) -> BTreeSet<ParamId> {
    Split::of(model, input, device).head
}

/// For each backbone stage, the ids of the parameters that first act in it (they receive a
/// gradient from that stage's output but not from the previous stage's). `model` must be on an
/// autodiff device; `input` is `[channels, h, w]` of a valid input size.
pub fn stage_ids<M: Backbone + Clone>(model: &M, input: [usize; 3], device: &Device) -> Vec<BTreeSet<ParamId>> {
    // Probe a copy whose training flags are off: BatchNorm then uses its running statistics
    // instead of updating them (they are shared with `model`), while gradients still flow.
    struct FlagsOff;
    impl burn::module::ModuleMapper for FlagsOff {
        fn map_flag(&mut self, flag: Param<burn::module::Flag>) -> Param<burn::module::Flag> {
            flag.with_value(false)
        }
    }
    let probe = model.clone().map(&mut FlagsOff);
    let model = &probe;
    let x = Tensor::<4>::random(
        [1, input[0], input[1], input[2]],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let n = model.feature_info().len();
    let mut seen: BTreeSet<ParamId> = BTreeSet::new();
    let mut stages = Vec::with_capacity(n);
    for i in 0..n {
        let features = model.forward_features(x.clone());
        let grads = features[i].clone().sum().backward();
        struct G<'a> {
            grads: &'a burn::tensor::Gradients,
            ids: BTreeSet<ParamId>,
        }
        impl ModuleVisitor for G<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if param.val().grad(self.grads).is_some() {
                    self.ids.insert(param.id);
                }
            }
        }
        let mut g = G {
            grads: &grads,
            ids: BTreeSet::new(),
        };
        model.visit(&mut g);
        let new: BTreeSet<ParamId> = g.ids.difference(&seen).copied().collect();
        seen.extend(new.iter().copied());
        stages.push(new);
    }
    stages
}

/// The module paths (a parameter's path without its last segment) of the given ids, as a group
/// matching everything under them, training flags included.
fn modules_group(model_params: &[(ParamId, String)], ids: &BTreeSet<ParamId>) -> ParamGroup {
    let mut prefixes: Vec<String> = model_params
        .iter()
        .filter(|(id, _)| ids.contains(id))
        .map(|(_, p)| p.rsplit_once('.').map(|(m, _)| m.to_string()).unwrap_or_default())
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let patterns: Vec<String> = prefixes
        .iter()
        .map(|p| format!("(^|\\.){}\\.", regex::escape(p)))
        .collect();
    ParamGroup::from_any_regexes(patterns)
        .expect("escaped paths are valid patterns")
        .fuse(&ParamGroup::from_ids(ids.iter().copied().collect()))
}

/// Freezes everything outside `trainable`: no gradients, and BatchNorm (every training flag)
/// in inference mode, so running statistics are used and not updated.
pub fn freeze_outside<M: Module>(model: M, trainable: ParamGroup) -> M {
    model.freeze_group(ParamGroup::all().exclude(trainable))
}

/// The group of the backbone (everything but the head), for a smaller learning rate.
pub fn backbone_group<M: Backbone + Clone>(model: &M, input: [usize; 3], device: &Device) -> ParamGroup {
    Split::of(model, input, device).backbone_group()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_parses() {
        assert_eq!("backbone".parse::<Freeze>().unwrap(), Freeze::Backbone);
        assert_eq!("stages:2".parse::<Freeze>().unwrap(), Freeze::Stages(2));
        assert_eq!(Freeze::Stages(2).to_string(), "stages:2");
        assert!("stages:x".parse::<Freeze>().unwrap_err().contains("stages:N"));
    }
}
