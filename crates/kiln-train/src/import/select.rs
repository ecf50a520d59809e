//! Which part of a checkpoint is the model: the sub-module a key prefix names, found among the
//! wrappers training code adds (`module.` from DataParallel, `model.` from Lightning and
//! torchvision's reference scripts, `_orig_mod.` from `torch.compile`, `state_dict.`), as
//! PyTorch users select `checkpoint["model"]` or `model.backbone`.

/// Wrappers training code puts around a state dict's keys, recognised without a flag.
pub const WRAPPERS: [&str; 5] = ["module.", "model.", "_orig_mod.", "state_dict.", "model_state_dict."];

/// The keys that make up the model and the prefix they share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The prefix stripped from the selected keys (`""` for a bare state dict).
    pub prefix: String,
    /// `(checkpoint key, key without the prefix)` of the selected tensors.
    pub selected: Vec<(String, String)>,
    /// Keys outside the prefix (other modules, optimizer state, EMA copies): not loaded.
    pub outside: Vec<String>,
}

/// The wrapper chains keys start with: `""`, and every run of [`WRAPPERS`] at the start of a key
/// (`model.`, `model.module.`, ...).
fn wrapper_chains(keys: &[String]) -> Vec<String> {
    let mut chains = vec![String::new()];
    for key in keys {
        let mut chain = String::new();
        while let Some(w) = WRAPPERS.iter().find(|w| key[chain.len()..].starts_with(**w)) {
            chain.push_str(w);
            if !chains.contains(&chain) {
                chains.push(chain.clone());
            }
        }
    }
    chains
}

/// Selects the model's keys from a checkpoint's `keys`.
///
/// Candidate prefixes are the wrapper chains the keys start with, each followed by `prefix`
/// when one is given (`--key-prefix backbone.` also finds `model.backbone.`). Each candidate is
/// scored by how many of its keys, prefix removed, start with a top-level module of the model
/// (`model_roots`, e.g. `conv1`, `layer1`, `fc`); the best wins, the shortest on a tie. Keys that
/// do not start with the winner are left out and reported, not loaded: they belong to other
/// modules.
///
/// Returns `Err` with the candidates tried when a given `prefix` starts no key.
pub fn select(keys: &[String], prefix: Option<&str>, model_roots: &[String]) -> Result<Selection, String> {
    let candidates: Vec<String> = wrapper_chains(keys)
        .into_iter()
        .map(|chain| format!("{chain}{}", prefix.unwrap_or("")))
        .filter(|c| keys.iter().any(|k| k.starts_with(c.as_str())))
        .collect();
    if candidates.is_empty() {
        return Err(format!(
            "no key starts with `{}` (keys look like {})",
            prefix.unwrap_or(""),
            sample(keys, 4)
        ));
    }
    let score = |candidate: &str| {
        keys.iter()
            .filter_map(|k| k.strip_prefix(candidate))
            .filter(|rest| {
                let root = rest.split('.').next().unwrap_or("");
                model_roots.iter().any(|r| r == root)
            })
            .count()
    };
    let best = candidates
        .iter()
        .map(|c| (score(c), c))
        .max_by_key(|(s, c)| (*s, std::cmp::Reverse(c.len())))
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let (mut selected, mut outside) = (Vec::new(), Vec::new());
    for key in keys {
        match key.strip_prefix(best.as_str()) {
            Some(rest) => selected.push((key.clone(), rest.to_string())),
            None => outside.push(key.clone()),
        }
    }
    Ok(Selection {
        prefix: best,
        selected,
        outside,
    })
}

/// Up to `n` of `items`, comma-separated, with "..." when there are more.
pub fn sample(items: &[String], n: usize) -> String {
    let mut s = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        s.push_str(", ...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ks: &[&str]) -> Vec<String> {
        ks.iter().map(|k| k.to_string()).collect()
    }

    fn roots() -> Vec<String> {
        keys(&["conv1", "bn1", "layer1", "fc"])
    }

    #[test]
    fn bare_state_dict_selects_everything() {
        let k = keys(&["conv1.weight", "bn1.weight", "fc.bias"]);
        let s = select(&k, None, &roots()).unwrap();
        assert_eq!(s.prefix, "");
        assert_eq!(s.selected.len(), 3);
        assert!(s.outside.is_empty());
    }

    #[test]
    fn wrappers_are_peeled_even_nested_and_beside_optimizer_state() {
        let k = keys(&["module.conv1.weight", "module.fc.bias"]);
        assert_eq!(select(&k, None, &roots()).unwrap().prefix, "module.");
        // torchvision's reference scripts: {'model': ..., 'optimizer': ...}, flattened.
        let k = keys(&[
            "model.conv1.weight",
            "model.fc.bias",
            "optimizer.state.0.momentum_buffer",
        ]);
        let s = select(&k, None, &roots()).unwrap();
        assert_eq!(s.prefix, "model.");
        assert_eq!(s.outside, ["optimizer.state.0.momentum_buffer"]);
        let k = keys(&["model.module._orig_mod.conv1.weight", "model.module._orig_mod.fc.bias"]);
        assert_eq!(select(&k, None, &roots()).unwrap().prefix, "model.module._orig_mod.");
        // timm: the plain weights by default; the EMA copy is another module.
        let k = keys(&["state_dict.conv1.weight", "state_dict_ema.conv1.weight"]);
        let s = select(&k, None, &roots()).unwrap();
        assert_eq!(s.prefix, "state_dict.");
        assert_eq!(s.outside, ["state_dict_ema.conv1.weight"]);
    }

    #[test]
    fn a_given_prefix_selects_that_sub_module() {
        // The backbone under `backbone.`, another module's `conv1.weight` beside it.
        let k = keys(&[
            "backbone.conv1.weight",
            "backbone.fc.bias",
            "conv1.weight",
            "head.fc.weight",
        ]);
        let s = select(&k, Some("backbone."), &roots()).unwrap();
        assert_eq!(s.prefix, "backbone.");
        assert_eq!(
            s.selected,
            [
                ("backbone.conv1.weight".to_string(), "conv1.weight".to_string()),
                ("backbone.fc.bias".to_string(), "fc.bias".to_string())
            ]
        );
        assert_eq!(s.outside, ["conv1.weight", "head.fc.weight"]);
        // Found under a wrapper too.
        let k = keys(&["model.backbone.conv1.weight", "model.head.w"]);
        assert_eq!(
            select(&k, Some("backbone."), &roots()).unwrap().prefix,
            "model.backbone."
        );
        // A prefix nothing starts with is an error showing the keys.
        let e = select(&k, Some("encoder."), &roots()).unwrap_err();
        assert!(
            e.contains("encoder.") && e.contains("model.backbone.conv1.weight"),
            "{e}"
        );
    }

    #[test]
    fn a_real_module_named_like_a_wrapper_is_not_stripped() {
        // A model whose own top-level module is called `model`.
        let k = keys(&["model.0.weight", "fc.weight"]);
        let roots = keys(&["model", "fc"]);
        assert_eq!(select(&k, None, &roots).unwrap().prefix, "");
    }
}
