//! Published pretrained weights: the table that describes them (file, hash, transform, classes,
//! accuracy) and the cache they are downloaded into.

pub mod fetch;
mod table;

pub use table::{EvalTransform, WeightsEntry, find_weights, imagenet_classes, weights_for, weights_table};
