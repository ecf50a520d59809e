//! How a checkpoint's keys map onto a Kiln model: plain data that each architecture crate
//! declares beside its model, and that `kiln_train::import` applies with burn-store.

/// Key-mapping rules for importing a checkpoint (torchvision's `state_dict` names) into a model.
///
/// Applied by the importer in this order:
/// 1. a user prefix is stripped (`module.` from DataParallel, `model.` from Lightning, ...);
/// 2. `remap` (regex → replacement), each rule on the output of the previous;
/// 3. burn-store's contiguous index mapping: `features.{0,3,6}` → `features.{0,1,2}`, which is
///    how torchvision's `Sequential` gaps (ReLU, pooling) disappear;
/// 4. Linear weights are transposed and norm `weight`/`bias` become `gamma`/`beta`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRules {
    /// `(regex, replacement)` pairs.
    pub remap: Vec<(String, String)>,
    /// Path prefixes (after remapping) of the classifier: left freshly initialised when the
    /// checkpoint has another number of classes.
    pub head: Vec<String>,
}

impl KeyRules {
    /// Rules with only a classifier head and no renaming.
    pub fn head(head: &[&str]) -> Self {
        Self {
            remap: Vec::new(),
            head: head.iter().map(|h| h.to_string()).collect(),
        }
    }

    /// Adds the rules of one torchvision `Conv2dNormActivation` (`{from}.0` the convolution,
    /// `{from}.1` the BatchNorm; `from` a regex, anchored at the key's start) onto Kiln's
    /// [`crate::ConvBnAct`] at `to` (`{to}.conv`, `{to}.bn`).
    pub fn conv_norm(&mut self, from: &str, to: &str) {
        self.remap.push((format!(r"^{from}\.0\."), format!("{to}.conv.")));
        self.remap.push((format!(r"^{from}\.1\."), format!("{to}.bn.")));
    }

    /// The key after the `remap` rules, each applied to the previous one's output (as the
    /// importer applies them). A rule that is not a valid regex leaves the key unchanged.
    pub fn apply(&self, key: &str) -> String {
        self.remap
            .iter()
            .fold(key.to_string(), |k, (from, to)| match regex::Regex::new(from) {
                Ok(re) => re.replace_all(&k, to.as_str()).to_string(),
                Err(_) => k,
            })
    }

    /// Whether a model path (possibly with an enum-variant segment in front) is in the head.
    pub fn is_head(&self, path: &str) -> bool {
        self.head
            .iter()
            .any(|h| path.starts_with(h.as_str()) || path.contains(&format!(".{h}")))
    }
}
