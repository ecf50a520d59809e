//! Activation functions as a value, so a model's `Config` can choose one.

use burn::tensor::{Tensor, activation};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The negative slope of [`Activation::LeakyRelu`], PyTorch's and Burn's default.
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

/// A point-wise non-linearity.
///
/// | name | formula | the course's remark |
/// |---|---|---|
/// | `sigmoid` | 1 / (1 + e^-x) | saturates, not zero-centred, gradients vanish |
/// | `tanh` | 2 / (1 + e^-2x) - 1 | zero-centred, still saturates |
/// | `relu` | max(0, x) | fast, no vanishing gradient for x > 0, can die |
/// | `leaky-relu` | max(a x, x), a = 0.01 | does not die |
///
/// and those of the mobile families (MobileNet, EfficientNet), not in the course's comparison:
///
/// | name | formula |
/// |---|---|
/// | `relu6` | min(max(0, x), 6) |
/// | `hard-sigmoid` | min(max(0, x/6 + 1/2), 1) (PyTorch's slope 1/6, not Burn's default 0.2) |
/// | `hard-swish` | x · hard-sigmoid(x) |
/// | `silu` | x · sigmoid(x) (swish) |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// max(0, x)
    #[default]
    Relu,
    /// max(0.01 x, x)
    LeakyRelu,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// tanh(x)
    Tanh,
    /// min(max(0, x), 6): MobileNet V2.
    Relu6,
    /// min(max(0, x/6 + 1/2), 1): the gate of MobileNet V3's squeeze-and-excitation.
    HardSigmoid,
    /// x · hard-sigmoid(x): MobileNet V3.
    HardSwish,
    /// x · sigmoid(x): EfficientNet.
    Silu,
}

impl Activation {
    /// Every activation, in the order the course presents them.
    pub const ALL: [Activation; 4] = [Self::Sigmoid, Self::Tanh, Self::Relu, Self::LeakyRelu];

    /// The activations of the mobile families.
    pub const MOBILE: [Activation; 4] = [Self::Relu6, Self::HardSigmoid, Self::HardSwish, Self::Silu];

    /// Applies the activation element-wise; any shape.
    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu => activation::relu(x),
            Self::LeakyRelu => activation::leaky_relu(x, LEAKY_RELU_SLOPE),
            Self::Sigmoid => activation::sigmoid(x),
            Self::Tanh => activation::tanh(x),
            Self::Relu6 => relu6(x),
            Self::HardSigmoid => hard_sigmoid(x),
            Self::HardSwish => x.clone() * hard_sigmoid(x),
            Self::Silu => crate::ops::silu(x),
        }
    }

    /// The command-line name (`relu`, `leaky-relu`, `sigmoid`, `tanh`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::LeakyRelu => "leaky-relu",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::Relu6 => "relu6",
            Self::HardSigmoid => "hard-sigmoid",
            Self::HardSwish => "hard-swish",
            Self::Silu => "silu",
        }
    }

    /// The gain recommended for initialising the layer feeding this activation
    /// (`torch.nn.init.calculate_gain`): 1 for sigmoid, 5/3 for tanh, sqrt(2) for ReLU,
    /// sqrt(2 / (1 + a^2)) for leaky ReLU.
    pub fn gain(self) -> f64 {
        match self {
            Self::Sigmoid => 1.0,
            Self::Tanh => 5.0 / 3.0,
            Self::Relu => 2f64.sqrt(),
            Self::LeakyRelu => (2.0 / (1.0 + LEAKY_RELU_SLOPE * LEAKY_RELU_SLOPE)).sqrt(),
            // PyTorch has no gain for these; like ReLU they pass about half of a centred input.
            Self::Relu6 | Self::HardSwish | Self::Silu => 2f64.sqrt(),
            Self::HardSigmoid => 1.0,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .chain(Self::MOBILE)
            .find(|a| a.name() == s || a.name().replace('-', "_") == s || (s == "swish" && *a == Self::Silu))
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().chain(&Self::MOBILE).map(|a| a.name()).collect();
                format!("unknown activation `{s}`; expected one of: {}", names.join(", "))
            })
    }
}

/// PyTorch's `Hardsigmoid`: `relu6(x + 3) / 6`, i.e. slope 1/6 and offset 1/2 (Burn's
/// `HardSigmoidConfig` defaults to slope 0.2, which is not the function MobileNet V3 was trained
/// with). Differentiable as [`relu6`] is.
pub fn hard_sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.device().is_autodiff() {
        // min(max(0, y), 1) = 1 - relu(1 - relu(y)), y = x/6 + 1/2.
        let y = activation::relu(x.mul_scalar(1.0 / 6.0).add_scalar(0.5));
        activation::relu(y.neg().add_scalar(1.0)).neg().add_scalar(1.0)
    } else {
        activation::hard_sigmoid(x, 1.0 / 6.0, 0.5)
    }
}

/// `min(max(0, x), 6)`. Burn's `relu6` is a clamp, which flex fuses into one pass, but on an
/// autodiff device a clamp becomes two comparisons and two single-threaded masked fills forward
/// and two more backward: a third of MobileNet V2's training step on the development machine.
/// There it is computed as `6 - relu(6 - relu(x))` (ReLU forward and backward are single fused
/// passes; the result is exact, `+∞` gives 6 and NaN stays NaN).
pub fn relu6<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.device().is_autodiff() {
        activation::relu(activation::relu(x).neg().add_scalar(6.0))
            .neg()
            .add_scalar(6.0)
    } else {
        activation::relu6(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Activation::ALL.into_iter().chain(Activation::MOBILE) {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        assert_eq!("swish".parse::<Activation>().unwrap(), Activation::Silu);
        let err = "gelu".parse::<Activation>().unwrap_err();
        assert!(err.contains("relu") && err.contains("tanh"), "{err}");
    }
}

#[cfg(test)]
mod mobile_tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn values(a: Activation, xs: &[f32]) -> Vec<f32> {
        let x = Tensor::<1>::from_data(TensorData::new(xs.to_vec(), [xs.len()]), &Device::flex());
        a.forward(x).into_data().try_to_vec::<f32>().unwrap()
    }

    const XS: [f32; 9] = [-7.0, -3.0, -1.5, -0.5, 0.0, 0.5, 2.0, 3.0, 8.0];

    fn close(a: &[f32], b: &[f32]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    /// PyTorch's definitions: Hardsigmoid = relu6(x + 3) / 6, Hardswish = x · that, SiLU = x ·
    /// sigmoid(x), ReLU6 = min(max(x, 0), 6).
    #[test]
    fn mobile_activations_are_pytorchs() {
        let relu6 = |x: f32| x.clamp(0.0, 6.0);
        let hsig: Vec<f32> = XS.iter().map(|&x| relu6(x + 3.0) / 6.0).collect();
        close(&values(Activation::HardSigmoid, &XS), &hsig);
        let hswish: Vec<f32> = XS.iter().zip(&hsig).map(|(x, h)| x * h).collect();
        close(&values(Activation::HardSwish, &XS), &hswish);
        let silu: Vec<f32> = XS.iter().map(|&x| x / (1.0 + (-x).exp())).collect();
        close(&values(Activation::Silu, &XS), &silu);
        close(&values(Activation::Relu6, &XS), &XS.map(relu6));
        // Burn's default slope (0.2) would give 0.9 at x = 2; PyTorch's gives 5/6.
        assert!((values(Activation::HardSigmoid, &[2.0])[0] - 5.0 / 6.0).abs() < 1e-6);
    }

    /// On an autodiff device (the relu composition): the same values, infinities included, and
    /// PyTorch's gradients (ReLU6: 1 on (0, 6); hard-sigmoid: 1/6 on (-3, 3); hard-swish:
    /// x/3 + 1/2 on (-3, 3), 0 below, 1 above; zero elsewhere).
    #[test]
    fn mobile_activations_differentiate_as_pytorchs() {
        let device = Device::flex().autodiff();
        let xs = [-7.0f32, -2.0, -0.5, 0.5, 2.0, 4.0, 8.0];
        let relu6 = |x: f32| x.clamp(0.0, 6.0);
        for (a, f, df) in [
            (
                Activation::Relu6,
                &(|x: f32| x.clamp(0.0, 6.0)) as &dyn Fn(f32) -> f32,
                &(|x: f32| if x > 0.0 && x < 6.0 { 1.0f32 } else { 0.0 }) as &dyn Fn(f32) -> f32,
            ),
            (Activation::HardSigmoid, &|x: f32| relu6(x + 3.0) / 6.0, &|x: f32| {
                if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 }
            }),
            (Activation::HardSwish, &|x: f32| x * relu6(x + 3.0) / 6.0, &|x: f32| {
                if x < -3.0 {
                    0.0
                } else if x > 3.0 {
                    1.0
                } else {
                    x / 3.0 + 0.5
                }
            }),
        ] {
            let x = Tensor::<1>::from_data(TensorData::new(xs.to_vec(), [xs.len()]), &device).require_grad();
            let y = a.forward(x.clone());
            let got: Vec<f32> = y.clone().into_data().try_to_vec::<f32>().unwrap();
            close(&got, &xs.map(f));
            let grads = y.sum().backward();
            let dx: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
            close(&dx, &xs.map(df));
        }
        // SiLU through Kiln's kernel: x·s and s·(1 + x(1 - s)).
        let x = Tensor::<1>::from_data(TensorData::new(xs.to_vec(), [xs.len()]), &device).require_grad();
        let y = Activation::Silu.forward(x.clone());
        let sig = |x: f32| 1.0 / (1.0 + (-x).exp());
        close(
            &y.clone().into_data().try_to_vec::<f32>().unwrap(),
            &xs.map(|x| x * sig(x)),
        );
        let grads = y.sum().backward();
        let dx: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        close(&dx, &xs.map(|x| sig(x) * (1.0 + x * (1.0 - sig(x)))));
        let inf = Tensor::<1>::from_data(TensorData::new(vec![f32::INFINITY, f32::NEG_INFINITY], [2]), &device);
        let v: Vec<f32> = Activation::Relu6.forward(inf).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(v, [6.0, 0.0]);
    }
}
