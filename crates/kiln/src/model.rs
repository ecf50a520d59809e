//! [`Model`]: any registered architecture, as one Burn module.

use burn::{module::Module, tensor::Tensor};
use kiln_core::ImageClassifier;
use kiln_lenet::LeNet5;

/// Any model of the registry. Built by [`crate::build`]; trains, evaluates and predicts through
/// [`ImageClassifier`].
#[derive(Module, Debug)]
pub enum Model {
    /// LeNet-5.
    LeNet5(LeNet5),
}

impl ImageClassifier for Model {
    fn forward_logits(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Self::LeNet5(m) => m.forward_logits(images),
        }
    }

    fn num_classes(&self) -> usize {
        match self {
            Self::LeNet5(m) => m.num_classes(),
        }
    }
}
