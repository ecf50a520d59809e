//! Model summary: per layer the output shape, parameters, multiply-accumulates and receptive
//! field, from one traced forward pass of the real module (see [`crate::trace`]).

use crate::{
    ImageClassifier,
    trace::{self, LayerRecord},
};
use burn::tensor::{Device, Tensor};
use serde::Serialize;
use std::fmt;

/// The summary of a model at one input size.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Input `[channels, height, width]`.
    pub input: [usize; 3],
    /// The traced layers, in execution order.
    pub layers: Vec<LayerRecord>,
    /// All parameters of the module (the layers' sum, plus any not traced at this input, such
    /// as Inception's auxiliary head outside training).
    pub total_params: usize,
    /// Multiply-accumulates per image, summed over the traced layers.
    pub total_macs: u64,
    /// Output shape without the batch dimension.
    pub output: Vec<usize>,
    /// The receptive field of the deepest spatial features (the largest any layer reached).
    pub receptive_field: [usize; 2],
}

/// Runs `model` on one zero image of shape `input` with tracing on.
pub fn summarize<M: ImageClassifier>(model: &M, input: [usize; 3], device: &Device) -> Summary {
    let [c, h, w] = input;
    let x = Tensor::<4>::zeros([1, c, h, w], device);
    let (logits, layers) = trace::collect(|| model.forward_logits(x));
    Summary {
        input,
        total_macs: layers.iter().map(|l| l.macs).sum(),
        total_params: crate::count_params(model),
        output: logits.dims()[1..].to_vec(),
        receptive_field: layers
            .iter()
            .filter_map(|l| l.receptive_field)
            .fold([1, 1], |a, r| [a[0].max(r[0]), a[1].max(r[1])]),
        layers,
    }
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, h, w] = self.input;
        writeln!(f, "input {c}x{h}x{w}")?;
        writeln!(
            f,
            "{:<34} {:<22} {:<16} {:>12} {:>16} {:>9}",
            "layer", "type", "output", "params", "mult-adds", "recept."
        )?;
        for l in &self.layers {
            let shape = l.output.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
            let rf = match l.receptive_field {
                Some([a, b]) if a == b => a.to_string(),
                Some([a, b]) => format!("{a}x{b}"),
                None => "all".into(),
            };
            writeln!(
                f,
                "{:<34} {:<22} {:<16} {:>12} {:>16} {:>9}",
                l.path,
                l.kind,
                shape,
                group(l.params as u64),
                group(l.macs),
                rf
            )?;
        }
        writeln!(f, "total parameters: {}", group(self.total_params as u64))?;
        let [rh, rw] = self.receptive_field;
        writeln!(f, "receptive field of the deepest features: {rh}x{rw}")?;
        writeln!(
            f,
            "total multiply-accumulates: {} ({:.3} G)",
            group(self.total_macs),
            self.total_macs as f64 / 1e9
        )
    }
}
