//! LeNet-5 (LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
//! recognition", 1998), the course's first CNN: k5, pool 2, k5, pool 2, fc 120, fc 84, fc 10.

mod lenet;

pub use lenet::{LeNet5, LeNet5Config, Pooling};
