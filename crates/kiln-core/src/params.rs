//! Parameter counting as PyTorch counts it.

use burn::{
    module::{Module, ModuleVisitor, Param},
    tensor::Tensor,
};

/// Buffers that Burn stores as float tensors but PyTorch does not count as parameters.
const BUFFERS: [&str; 2] = ["running_mean", "running_var"];

#[derive(Default)]
struct Counter {
    path: Vec<String>,
    count: usize,
}

impl ModuleVisitor for Counter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let is_buffer = self.path.last().is_some_and(|n| BUFFERS.contains(&n.as_str()));
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
