//! The weights table: every published checkpoint Kiln knows, as torchvision's `Weights` enums
//! and timm's `pretrained_cfg` describe them, and Keras's `keras.applications` files. Data in
//! `assets/weights/`, generated from the references by `scripts/weights/make_table.py` and
//! `scripts/weights/make_keras_table.py`.

use kiln_core::{Interpolation, Preprocessing};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

const TORCHVISION: &str = include_str!("../../assets/weights/torchvision.json");
const KERAS: &str = include_str!("../../assets/weights/keras.json");
const IMAGENET_1K: &str = include_str!("../../assets/weights/imagenet-1k.txt");

/// A published checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsEntry {
    /// The name the reference gives it (`ResNet50_Weights.IMAGENET1K_V2`).
    pub name: String,
    /// Kiln's registry name of the architecture.
    pub arch: String,
    /// Where it is published.
    pub url: String,
    /// Its file name (the last segment of the URL).
    pub file: String,
    /// The hex prefix of the file's sha256 that its name carries (torch.hub checks it).
    pub sha256_prefix: Option<String>,
    /// The file's md5, for files published with one (Keras's `get_file(file_hash=...)`).
    #[serde(default)]
    pub md5: Option<String>,
    /// Keras's `preprocess_input` mode (`caffe`, `tf`, `torch`) for Keras's files: their
    /// preprocessing is Keras's (plain nearest resize to the crop, no centre crop).
    #[serde(default)]
    pub keras_mode: Option<String>,
    /// The class-name list: `imagenet-1k`, or none.
    pub categories: Option<String>,
    /// Output classes, when the classifier is usable.
    pub num_classes: Option<usize>,
    /// The evaluation transform.
    pub transform: EvalTransform,
    /// Inception's `transform_input` as the reference's pretrained model sets it.
    #[serde(default)]
    pub transform_input: bool,
    /// When only part of the model holds valid values (VGG-16's `IMAGENET1K_FEATURES`), its key
    /// prefix: the rest is left freshly initialised and the weights serve as a backbone.
    #[serde(default)]
    pub features_only: Option<String>,
    /// Published top-1 accuracy on ImageNet-1k validation, %.
    pub acc1: Option<f64>,
    /// Published top-5 accuracy, %.
    pub acc5: Option<f64>,
    /// Parameters.
    pub params: Option<u64>,
    /// Published GFLOPS (multiply-accumulates, 10⁹) at the transform's crop.
    pub gflops: Option<f64>,
    /// File size, MB.
    pub file_size_mb: Option<f64>,
    /// Smallest input, `[height, width]`.
    #[serde(default)]
    pub min_size: Option<[usize; 2]>,
    /// The training recipe.
    #[serde(default)]
    pub recipe: Option<String>,
}

/// torchvision's `ImageClassification` preset: resize the shorter side, centre crop, normalise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalTransform {
    /// Shorter side after resizing.
    pub resize: usize,
    /// Centre crop side.
    pub crop: usize,
    /// Resampling filter.
    pub interpolation: Interpolation,
    /// Per-channel mean on the 0–1 scale.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
}

impl WeightsEntry {
    /// The entry's evaluation transform as Kiln's preprocessing (RGB).
    pub fn preprocessing(&self) -> Preprocessing {
        let t = &self.transform;
        if let Some(p) = self.keras_mode.as_deref().and_then(|m| Preprocessing::keras(m, t.crop)) {
            return p;
        }
        Preprocessing {
            channels: 3,
            height: t.crop,
            width: t.crop,
            resize: Some(t.resize),
            mean: t.mean.clone(),
            std: t.std.clone(),
            invert_light_background: false,
            interpolation: t.interpolation,
            channel_order: Default::default(),
            pixel_divisor: 255.0,
        }
    }

    /// The class names, by output index, when the entry has a classifier.
    pub fn class_names(&self) -> Option<Vec<String>> {
        match self.categories.as_deref() {
            Some("imagenet-1k") => Some(imagenet_classes().to_vec()),
            _ => None,
        }
    }

    /// The hash the published file must have, as [`super::fetch::verify`] takes it: the sha256
    /// prefix, or `md5:<hex>`.
    pub fn expected_hash(&self) -> Option<String> {
        match (&self.md5, &self.sha256_prefix) {
            (Some(md5), _) => Some(format!("md5:{md5}")),
            (None, prefix) => prefix.clone(),
        }
    }

    /// Whether `file_name` is this entry's published file name.
    pub fn matches_file(&self, file_name: &str) -> bool {
        self.file == file_name
    }
}

#[derive(Deserialize)]
struct Table {
    entries: Vec<WeightsEntry>,
}

/// Every entry of the table, in registry order.
pub fn weights_table() -> &'static [WeightsEntry] {
    static TABLE: OnceLock<Vec<WeightsEntry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut entries = serde_json::from_str::<Table>(TORCHVISION)
            .expect("assets/weights/torchvision.json is valid (checked by the tests)")
            .entries;
        entries.extend(
            serde_json::from_str::<Table>(KERAS)
                .expect("assets/weights/keras.json is valid (checked by the tests)")
                .entries,
        );
        entries
    })
}

/// The entry called `name` (`ResNet50_Weights.IMAGENET1K_V2`, case-insensitive), or whose
/// published file name is `name` (`resnet50-11ad3fa6.pth`).
pub fn find_weights(name: &str) -> Option<&'static WeightsEntry> {
    weights_table()
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(name) || e.file == name)
}

/// The entries of one architecture.
pub fn weights_for(arch: &str) -> impl Iterator<Item = &'static WeightsEntry> {
    weights_table().iter().filter(move |e| e.arch == arch)
}

/// The 1,000 ImageNet-1k class names, by class index (torchvision's `_IMAGENET_CATEGORIES`).
pub fn imagenet_classes() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| IMAGENET_1K.lines().map(String::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_is_consistent() {
        let table = weights_table();
        assert!(table.len() >= 19);
        assert_eq!(imagenet_classes().len(), 1000);
        assert_eq!(imagenet_classes()[285], "Egyptian cat");
        for e in table {
            assert!(e.url.ends_with(&e.file), "{}", e.name);
            if let Some(md5) = &e.md5 {
                assert!(
                    md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{}",
                    e.name
                );
                assert!(e.keras_mode.is_some(), "{}: Keras's files are the md5 ones", e.name);
            } else {
                let hash = e.sha256_prefix.as_deref().unwrap_or_default();
                assert!(hash.len() >= 8 && e.file.contains(&format!("-{hash}.")), "{}", e.name);
            }
            assert_eq!(e.class_names().map(|c| c.len()), e.num_classes, "{}", e.name);
            assert_eq!(e.num_classes.is_none(), e.features_only.is_some(), "{}", e.name);
            assert!(e.transform.crop <= e.transform.resize, "{}", e.name);
        }
        let v2 = find_weights("resnet50_weights.imagenet1k_v2").unwrap();
        assert_eq!((v2.transform.resize, v2.transform.crop), (232, 224));
        assert_eq!(
            find_weights("resnet50-0676ba61.pth").unwrap().name,
            "ResNet50_Weights.IMAGENET1K_V1"
        );
        assert!(
            find_weights("Inception_V3_Weights.IMAGENET1K_V1")
                .unwrap()
                .transform_input
        );
    }
}
