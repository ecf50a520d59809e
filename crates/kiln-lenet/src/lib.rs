//! LeNet-5 (LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
//! recognition", 1998), the course's first CNN: k5, pool 2, k5, pool 2, fc 120, fc 84, fc 10.

mod lenet;

pub use lenet::{LeNet5, LeNet5Config, Pooling};

/// Key rules for checkpoints of the reference PyTorch LeNet-5 (`conv1`, `conv2`, `fc1`..`fc3`,
/// as in `scripts/parity/make_fixtures.py`): names already match; `fc3` is the head.
pub fn key_rules() -> kiln_core::KeyRules {
    kiln_core::KeyRules::head(&["fc3."])
}
