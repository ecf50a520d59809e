//! How a Keras weight file's layers map onto a Kiln model: plain data that an architecture
//! crate declares for its Keras variants (as [`crate::KeyRules`] does for torchvision's
//! names), applied by `kiln_train::import::keras`.
//!
//! Keras names layers unstably (Inception v3's `conv2d_17` depends on what the session built
//! before; published ResNet-50 files exist with `res2a_branch2a` and with
//! `conv2_block1_1_conv` names), so weights are matched by **order**, as Keras's own legacy
//! loader does: the k-th convolution of the file goes to the k-th [`KerasKind::Conv`] slot,
//! the k-th BatchNorm to the k-th [`KerasKind::BatchNorm`] slot, the k-th Dense layer to the
//! k-th [`KerasKind::Dense`] slot, and every shape is checked.

/// What a Keras layer with weights is, and how its weights become Kiln's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KerasKind {
    /// `Conv2D`: `kernel` `[kh, kw, in, out]` (HWIO) → Burn's `weight` `[out, in, kh, kw]`,
    /// then `bias` `[out]` when `bias`.
    Conv {
        /// The layer has a bias (Keras's default; VGG and ResNet keep it, Inception v3 not).
        bias: bool,
    },
    /// `BatchNormalization`: `gamma` (when `scale`), `beta` (when `center`), `moving_mean`,
    /// `moving_variance` → `gamma`, `beta`, `running_mean`, `running_var`. A missing `gamma`
    /// is 1 (Keras's `scale=False`, Inception v3's), a missing `beta` 0.
    BatchNorm {
        /// Keras's `scale`: the layer has a `gamma`.
        scale: bool,
        /// Keras's `center`: the layer has a `beta`.
        center: bool,
    },
    /// `Dense`: `kernel` `[in, out]` (already Burn's layout), `bias` `[out]`.
    Dense {
        /// The layer follows Keras's `Flatten` of an NHWC map `[h, w, c]`: its kernel's rows are
        /// in `(h, w, c)` order and are permuted to the `(c, h, w)` order of Kiln's NCHW
        /// flatten.
        from_hwc: Option<[usize; 3]>,
    },
}

impl KerasKind {
    /// The kind's name in messages (`Conv2D`, `BatchNormalization`, `Dense`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Conv { .. } => "Conv2D",
            Self::BatchNorm { .. } => "BatchNormalization",
            Self::Dense { .. } => "Dense",
        }
    }
}

/// One Keras layer with weights, as Kiln holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KerasSlot {
    /// The Kiln module path (`features.0`, `layer1.0.downsample.conv`): its parameters are
    /// `{path}.weight`/`{path}.bias` (convolution, linear) or `{path}.gamma`, `.beta`,
    /// `.running_mean`, `.running_var` (BatchNorm).
    pub path: String,
    /// The layer's kind.
    pub kind: KerasKind,
    /// The name Keras's own application gives this layer (`block1_conv1`, `conv2_block1_0_conv`,
    /// `conv2d_5`, `predictions`), shown in messages beside the file's name.
    pub keras_name: String,
    /// Other names published files give this layer (Keras 2's ResNet-50: `res2a_branch2a`).
    pub aliases: Vec<String>,
}

impl KerasSlot {
    /// A slot.
    pub fn new(path: impl Into<String>, kind: KerasKind, keras_name: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind,
            keras_name: keras_name.into(),
            aliases: Vec::new(),
        }
    }

    /// The slot, also known by `alias` in some published files.
    pub fn with_alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// Whether `name` is this layer's Keras name or an alias.
    pub fn is_named(&self, name: &str) -> bool {
        self.keras_name == name || self.aliases.iter().any(|a| a == name)
    }
}

/// In which order a file's layers of one kind are matched to the slots of that kind. With
/// [`KerasOrder::File`], a file whose layers of a kind all carry the slots' names (or aliases)
/// is matched by name instead, whatever its order (Keras 2's ResNet-50 lists each block's
/// shortcut after its last convolution, Keras 3's before).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KerasOrder {
    /// The file's own order (`layer_names` of an `.h5`, the `layers/<class>_<k>` index of a
    /// `.weights.h5`): Keras's `model.layers` order, a topological order of the graph. Kiln's
    /// slots list the layers in that order.
    #[default]
    File,
    /// The order the layers were created in, read from Keras's automatic names (`conv2d`,
    /// `conv2d_1`, ... `conv2d_93`: the number counts up as the application's code creates
    /// them): for Inception v3, whose `model.layers` order interleaves branches in a way only
    /// Keras's graph walk reproduces, while its code creates the layers in torchvision's module
    /// order, which Kiln's slots follow.
    Creation,
}

/// The Keras layers of a model, in the order of [`KerasLayout::order`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KerasLayout {
    /// The layers with weights.
    pub slots: Vec<KerasSlot>,
    /// How the file's layers are ordered before matching.
    pub order: KerasOrder,
    /// Path prefixes of the classifier (as [`crate::KeyRules::head`]): left freshly initialised
    /// for another class count, and absent from Keras's `_notop` files.
    pub head: Vec<String>,
}

impl KerasLayout {
    /// The slots of one kind (`Conv`, `BatchNorm` or `Dense`, whatever its options), in order.
    pub fn slots_like(&self, kind: KerasKind) -> impl Iterator<Item = &KerasSlot> {
        self.slots
            .iter()
            .filter(move |s| core::mem::discriminant(&s.kind) == core::mem::discriminant(&kind))
    }

    /// Whether a model path is in the head.
    pub fn is_head(&self, path: &str) -> bool {
        self.head.iter().any(|h| path.starts_with(h.as_str()))
    }

    /// The Kiln parameters the slots fill, sorted: `weight` (+ `bias`) of a convolution or dense
    /// layer, `gamma`, `beta`, `running_mean`, `running_var` of a BatchNorm (Kiln's has a gamma
    /// whatever Keras's `scale`).
    pub fn params(&self) -> Vec<String> {
        let mut out = Vec::new();
        for slot in &self.slots {
            let names: &[&str] = match slot.kind {
                KerasKind::Conv { bias: false } => &["weight"],
                KerasKind::Conv { bias: true } | KerasKind::Dense { .. } => &["weight", "bias"],
                KerasKind::BatchNorm { .. } => &["gamma", "beta", "running_mean", "running_var"],
            };
            out.extend(names.iter().map(|n| format!("{}.{n}", slot.path)));
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_of_a_kind_keep_their_order_whatever_their_options() {
        let layout = KerasLayout {
            slots: vec![
                KerasSlot::new("a", KerasKind::Conv { bias: true }, "c1"),
                KerasSlot::new(
                    "b",
                    KerasKind::BatchNorm {
                        scale: false,
                        center: true,
                    },
                    "bn1",
                ),
                KerasSlot::new("c", KerasKind::Conv { bias: false }, "c2"),
                KerasSlot::new("d", KerasKind::Dense { from_hwc: None }, "fc"),
            ],
            order: KerasOrder::File,
            head: vec!["d".into()],
        };
        let convs: Vec<&str> = layout
            .slots_like(KerasKind::Conv { bias: false })
            .map(|s| s.path.as_str())
            .collect();
        assert_eq!(convs, ["a", "c"]);
        assert!(layout.is_head("d.weight") && !layout.is_head("a.weight"));
    }
}
