//! MobileNet V2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018)
//! and MobileNet V3 small / large (Howard et al., "Searching for MobileNetV3", 2019) as
//! torchvision builds them: the block tables are torchvision's, checkpoints map onto the fields
//! through [`key_rules_v2`] / [`key_rules_v3`].

mod v2;
mod v3;
mod weights;

pub use v2::{MOBILENET_V2_SETTING, MobileNetV2, MobileNetV2Config};
pub use v3::{MOBILENET_V3_VARIANTS, MobileNetV3, MobileNetV3Config, MobileNetV3Variant, V3Block};
pub use weights::{key_rules_v2, key_rules_v3};
