//! Key rules for torchvision's VGG checkpoints, generated from the configuration table.

use crate::cfg;
use kiln_core::KeyRules;

/// torchvision numbers `features` by position in its `Sequential`: each convolution is followed
/// by a ReLU (and, for `_bn`, first a BatchNorm), each "M" is a max pooling. Plain VGG needs no
/// renaming (burn-store's contiguous index mapping removes the gaps). With BatchNorm, the
/// convolution at position `t` becomes `features.k` and its BatchNorm at `t + 1` becomes `bn.k`;
/// rules go through a `__` namespace so that no rule renames another's output.
pub fn key_rules(depth: usize, batch_norm: bool) -> KeyRules {
    let mut rules = KeyRules::head(&["classifier.2."]);
    let Some(table) = cfg(depth) else {
        return rules;
    };
    if !batch_norm {
        return rules;
    }
    let (mut position, mut k) = (0usize, 0usize);
    for &v in table {
        if v == 0 {
            position += 1;
            continue;
        }
        rules
            .remap
            .push((format!(r"^features\.{position}\."), format!("__conv.{k}.")));
        rules
            .remap
            .push((format!(r"^features\.{}\.", position + 1), format!("__bn.{k}.")));
        position += 3;
        k += 1;
    }
    rules.remap.push((r"^__conv\.".into(), "features.".into()));
    rules.remap.push((r"^__bn\.".into(), "bn.".into()));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(rules: &KeyRules, key: &str) -> String {
        rules.apply(key)
    }

    #[test]
    fn vgg11_bn_positions() {
        // torchvision vgg11_bn: 0 conv, 1 bn, 2 relu, 3 pool, 4 conv, 5 bn, 6 relu, 7 pool, 8 conv,
        // 11 conv, 14 pool, 15 conv, 18 conv, 21 pool, 22 conv, 25 conv (the eighth), 26 its bn.
        let r = key_rules(11, true);
        assert_eq!(apply(&r, "features.0.weight"), "features.0.weight");
        assert_eq!(apply(&r, "features.1.running_mean"), "bn.0.running_mean");
        assert_eq!(apply(&r, "features.4.bias"), "features.1.bias");
        assert_eq!(apply(&r, "features.5.weight"), "bn.1.weight");
        assert_eq!(apply(&r, "features.8.weight"), "features.2.weight");
        assert_eq!(apply(&r, "features.25.weight"), "features.7.weight");
        assert_eq!(apply(&r, "features.26.running_var"), "bn.7.running_var");
        assert_eq!(apply(&r, "classifier.6.weight"), "classifier.6.weight");
        assert!(key_rules(16, false).remap.is_empty());
    }
}
