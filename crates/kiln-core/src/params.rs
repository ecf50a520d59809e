//! Parameter counting as PyTorch counts it.

use burn::{
    module::{Module, ModuleVisitor, Param},
    tensor::Tensor,
};

/// Buffers that Burn stores as float tensors but PyTorch does not count as parameters.
const BUFFERS: [&str; 2] = ["running_mean", "running_var"];

/// The path of the module being visited, as burn-store names parameters: enum variants (the
/// registry's `Model::LeNet5`) are not part of it.
#[derive(Default)]
struct ParamPath(Vec<String>);

impl ParamPath {
    fn enter(&mut self, name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.0.push(name.to_string());
        }
    }

    fn exit(&mut self, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.0.pop();
        }
    }

    fn last(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    fn dotted(&self) -> String {
        self.0.join(".")
    }
}

#[derive(Default)]
struct Counter {
    path: ParamPath,
    count: usize,
}

impl ModuleVisitor for Counter {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.path.exit(container_type);
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let is_buffer = self.path.last().is_some_and(|n| BUFFERS.contains(&n));
        if !is_buffer {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

/// Trainable parameters, as `sum(p.numel() for p in model.parameters())` counts them in PyTorch:
/// BatchNorm's running mean and variance (which Burn's `num_params` includes) are left out.
pub fn count_params<M: Module>(module: &M) -> usize {
    let mut counter = Counter::default();
    module.visit(&mut counter);
    counter.count
}

/// Every float parameter of `module` (BatchNorm's running statistics included) as burn-store
/// names it, with its shape, sorted by path; enum variants (the registry's `Model::Vgg`) are not
/// part of the path. For tests that check key rules and Keras layouts against a real model.
pub fn param_shapes<M: Module>(module: &M) -> Vec<(String, Vec<usize>)> {
    #[derive(Default)]
    struct Shapes {
        path: ParamPath,
        out: Vec<(String, Vec<usize>)>,
    }
    impl ModuleVisitor for Shapes {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.path.enter(name, container_type);
        }
        fn exit_module(&mut self, _name: &str, container_type: &str) {
            self.path.exit(container_type);
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out.push((self.path.dotted(), param.lazy_shape().to_vec()));
        }
    }
    let mut shapes = Shapes::default();
    module.visit(&mut shapes);
    shapes.out.sort();
    shapes.out
}

/// The paths of [`param_shapes`], sorted.
pub fn param_paths<M: Module>(module: &M) -> Vec<String> {
    param_shapes(module).into_iter().map(|(p, _)| p).collect()
}

/// The first parameter of `module` that is not finite (NaN, ±inf), or a BatchNorm running
/// variance below 0: `(path, why)`. Weights like that give NaN outputs for every input.
pub fn first_bad_param<M: Module>(module: &M) -> Option<(String, String)> {
    #[derive(Default)]
    struct Check {
        path: ParamPath,
        bad: Option<(String, String)>,
    }
    impl ModuleVisitor for Check {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.path.enter(name, container_type);
        }
        fn exit_module(&mut self, _name: &str, container_type: &str) {
            self.path.exit(container_type);
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.bad.is_some() {
                return;
            }
            let t = param.val();
            let path = self.path.dotted();
            // On the device: no copy of the weights unless one is bad.
            let non_finite =
                t.clone().is_nan().any().into_scalar::<bool>() || t.clone().is_inf().any().into_scalar::<bool>();
            let negative_variance =
                path.ends_with("running_var") && t.clone().lower_elem(0.0).any().into_scalar::<bool>();
            if non_finite || negative_variance {
                let values: Vec<f32> = crate::floats(t);
                let v = values
                    .iter()
                    .find(|v| !v.is_finite() || **v < 0.0)
                    .copied()
                    .unwrap_or(f32::NAN);
                let why = if non_finite {
                    format!("holds {v}")
                } else {
                    format!("is a variance but holds {v}")
                };
                self.bad = Some((path, why));
            }
        }
    }
    let mut check = Check::default();
    module.visit(&mut check);
    check.bad
}
