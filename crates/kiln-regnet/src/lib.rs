//! RegNet (Radosavovic, Kosaraju, Girshick, He, Dollár, "Designing Network Design Spaces",
//! 2020) as torchvision builds it: RegNet X (residual bottleneck blocks with grouped 3×3
//! convolutions) and RegNet Y (the same with squeeze-and-excitation), every torchvision size
//! under 150 M parameters (`regnet_x_400mf` … `regnet_x_32gf`, `regnet_y_400mf` …
//! `regnet_y_32gf`). Stage widths, depths and group widths are generated from each variant's
//! six design parameters exactly as torchvision's `BlockParams.from_init_params` does.
//!
//! - `params.rs`: the generation of the per-stage parameters (quantised widths, stages, group
//!   compatibility).
//! - `regnet.rs`: the variant table, the configuration, the model and its feature contract
//!   (`stem` and `trunk_output.block1` … `block4`; reductions 2–32).
//! - `block.rs`: the residual bottleneck block, its stages and torchvision's initialisation.
//! - `weights.rs`: key rules from torchvision's names (`trunk_output.block1.block1-0.f.a.0`) to
//!   the fields (`trunk_output.0.0.f.a.conv`).

mod block;
mod params;
mod regnet;
mod weights;

pub use block::{BottleneckTransform, ResBottleneckBlock, build_stage};
pub use params::{BlockParams, QUANT, STAGE_STRIDE, StageParams, adjust_widths_groups, block_widths};
pub use regnet::{REGNET_VARIANTS, RegNet, RegNetConfig, RegNetVariant};
pub use weights::key_rules;
