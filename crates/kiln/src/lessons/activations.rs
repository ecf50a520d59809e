//! Saturation and vanishing gradients made visible: a deep plain network (no BatchNorm, no
//! skips) at initialisation, for each activation and initialisation.

use burn::{
    module::Module,
    nn::{Initializer, Linear, LinearConfig},
    tensor::{Device, Distribution, Tensor},
};
use kiln_core::{Activation, Init};

/// A plain fully connected network of `depth` layers of `width` units.
#[derive(Module, Debug)]
pub struct PlainNet {
    /// The layers.
    pub layers: Vec<Linear>,
    /// Activation between layers.
    #[module(skip)]
    pub activation: Activation,
}

impl PlainNet {
    /// Builds it without biases. `init` as the papers define it: Xavier is Glorot & Bengio's
    /// (variance 2 / (fan_in + fan_out), designed for symmetric saturating units), He is He et
    /// al.'s (variance gain² / fan_in with ReLU's gain √2), Default is Burn's.
    pub fn new(depth: usize, width: usize, activation: Activation, init: Init, device: &Device) -> Self {
        let initializer = match init {
            Init::Xavier => Initializer::XavierNormal { gain: 1.0 },
            Init::He => Initializer::KaimingNormal {
                gain: activation.gain(),
                fan_out_only: false,
            },
            Init::Default | Init::HeFanOut => init.initializer(activation),
        };
        let layers = (0..depth)
            .map(|_| {
                LinearConfig::new(width, width)
                    .with_bias(false)
                    .with_initializer(initializer.clone())
                    .init(device)
            })
            .collect();
        Self { layers, activation }
    }

    /// Every layer's activated output.
    ///
    /// # Shapes
    /// x `[batch, width]` → `depth` tensors `[batch, width]`
    pub fn forward_all(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        let mut out = Vec::with_capacity(self.layers.len());
        let mut x = x;
        for layer in &self.layers {
            x = self.activation.forward(layer.forward(x));
            out.push(x.clone());
        }
        out
    }
}

/// Per layer: the L2 norm of the loss gradient with respect to its weight, at initialisation,
/// for a batch of standard normal inputs and the loss `mean(output²)`. `device` must be an
/// autodiff device.
pub fn gradient_norms(depth: usize, width: usize, activation: Activation, init: Init, device: &Device) -> Vec<f64> {
    let net = PlainNet::new(depth, width, activation, init, device);
    let x = Tensor::<2>::random([64, width], Distribution::Normal(0.0, 1.0), device);
    let out = net.forward_all(x).pop().expect("depth ≥ 1");
    let grads = out.powf_scalar(2.0).mean().backward();
    net.layers
        .iter()
        .map(|l| {
            l.weight
                .val()
                .grad(&grads)
                .map(|g| g.powf_scalar(2.0).sum().sqrt().into_scalar::<f32>() as f64)
                .unwrap_or(0.0)
        })
        .collect()
}

/// Per layer: the variance of all the activations (every unit, every sample) of a batch of
/// standard normal inputs.
pub fn activation_variances(
    depth: usize,
    width: usize,
    activation: Activation,
    init: Init,
    device: &Device,
) -> Vec<f64> {
    let net = PlainNet::new(depth, width, activation, init, device);
    let x = Tensor::<2>::random([256, width], Distribution::Normal(0.0, 1.0), device);
    net.forward_all(x)
        .into_iter()
        .map(|a| a.flatten::<1>(0, 1).var(0).into_scalar::<f32>() as f64)
        .collect()
}

/// A Markdown table: one row per layer, one column per series.
pub fn table(columns: &[(String, Vec<f64>)]) -> String {
    let depth = columns.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let mut s = String::from("| layer |");
    for (name, _) in columns {
        s.push_str(&format!(" {name} |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(columns.len()));
    s.push('\n');
    for i in 0..depth {
        s.push_str(&format!("| {} |", i + 1));
        for (_, v) in columns {
            s.push_str(&format!(" {:.3e} |", v.get(i).copied().unwrap_or(f64::NAN)));
        }
        s.push('\n');
    }
    s
}
