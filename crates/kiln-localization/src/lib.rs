//! Classification + localization of one object per image (the course's "what and where" head):
//! an [`kiln_core::Encoder`], then a shared fully connected layer over a coarse spatial grid of
//! the deepest features, a class head and a box head.
//!
//! Boxes are `[cx, cy, w, h]`, normalised by the image size (sigmoid outputs in 0..1).
//! [`box_iou`] and [`smooth_l1`] are the metric and the regression loss.

mod boxes;
mod model;

pub use boxes::{box_iou, cxcywh_to_xyxy, giou_loss, smooth_l1};
pub use model::{Localizer, LocalizerConfig, LocalizerOutput};
