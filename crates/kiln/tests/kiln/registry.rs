//! The registry builds every model by name.

use burn::{module::Module, tensor::Tensor};
use kiln::{ImageClassifier, build, list_models};

#[test]
fn every_registered_model_builds_and_runs() {
    let device = super::common::device();
    for info in list_models() {
        // At the design input, at most 224 px (EfficientNet-B7's 600 px would only add time).
        let [c, h, w] = info.input.map(|d| d.min(224));
        let model = build(info.name, 10, c, &device).unwrap();
        assert_eq!(model.num_classes(), 10, "{}", info.name);
        let logits = model.forward_logits(Tensor::zeros([2, c, h, w], &device));
        assert_eq!(logits.dims(), [2, 10], "{}", info.name);
        for alias in info.aliases {
            assert_eq!(build(alias, 10, c, &device).unwrap().num_params(), model.num_params());
        }
    }
}

#[test]
fn lenet5_has_the_classic_parameter_count() {
    let model = build("lenet5", 10, 1, &super::common::device()).unwrap();
    assert_eq!(model.num_params(), 61_706);
}

#[test]
fn unknown_model_lists_the_known_ones() {
    let msg = build("lenet7", 10, 1, &super::common::device())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("unknown model `lenet7`") && msg.contains("lenet5"),
        "{msg}"
    );
}
