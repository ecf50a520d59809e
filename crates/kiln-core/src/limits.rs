//! The ranges of every number a user gives Kiln (flags, recipes, augmentation and schedule
//! specs, model cards), declared once here; each entry point checks its values against these,
//! with an error that names the field and its range. NaN and infinities are refused everywhere.
//!
//! The bounds are generous but finite: an image side of 8,192 pixels, a batch whose memory is
//! checked separately ([`crate::memory`]), counts that fit in memory.

/// An integer setting's range, `min..=max`.
#[derive(Clone, Copy, Debug)]
pub struct Count {
    /// The setting's name in messages (a flag, or a field).
    pub name: &'static str,
    /// Smallest allowed value.
    pub min: usize,
    /// Largest allowed value.
    pub max: usize,
}

impl Count {
    /// `value` when within range, else an error naming the setting, its range and the value.
    pub fn check(&self, value: usize) -> Result<usize, String> {
        self.check_as(self.name, value)
    }

    /// [`Count::check`] with another name for the field (a model card's `height`, a spec step).
    pub fn check_as(&self, name: &str, value: usize) -> Result<usize, String> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else if self.max == usize::MAX {
            Err(format!("{name} must be at least {}, got {value}", self.min))
        } else {
            Err(format!(
                "{name} must be between {} and {}, got {value}",
                self.min, self.max
            ))
        }
    }
}

/// A real setting's range; each end open or closed.
#[derive(Clone, Copy, Debug)]
pub struct Real {
    /// The setting's name in messages.
    pub name: &'static str,
    /// Lower bound.
    pub min: f64,
    /// Whether the lower bound itself is excluded.
    pub min_open: bool,
    /// Upper bound.
    pub max: f64,
    /// Whether the upper bound itself is excluded.
    pub max_open: bool,
}

impl Real {
    /// `value` when finite and within range, else an error naming the setting and its range.
    pub fn check(&self, value: f64) -> Result<f64, String> {
        self.check_as(self.name, value)
    }

    /// [`Real::check`] with another name for the field.
    pub fn check_as(&self, name: &str, value: f64) -> Result<f64, String> {
        let above = if self.min_open {
            value > self.min
        } else {
            value >= self.min
        };
        let below = if self.max_open {
            value < self.max
        } else {
            value <= self.max
        };
        if value.is_finite() && above && below {
            Ok(value)
        } else if self.min == 0.0 && self.min_open {
            Err(format!(
                "{name} must be positive and {} {}, got {value}",
                if self.max_open { "below" } else { "at most" },
                self.max
            ))
        } else {
            Err(format!(
                "{name} must be a number in {}{}, {}{}, got {value}",
                if self.min_open { "(" } else { "[" },
                self.min,
                self.max,
                if self.max_open { ")" } else { "]" }
            ))
        }
    }
}

const fn count(name: &'static str, min: usize, max: usize) -> Count {
    Count { name, min, max }
}

const fn real(name: &'static str, min: f64, min_open: bool, max: f64, max_open: bool) -> Real {
    Real {
        name,
        min,
        min_open,
        max,
        max_open,
    }
}

/// A side of an image or input, in pixels (`--image-size`, crop and resize sizes, a model
/// card's height and width).
pub const IMAGE_SIDE: Count = count("image side", 1, 8192);
/// Images per batch (`--batch-size`); memory is checked beside.
pub const BATCH_SIZE: Count = count("--batch-size", 1, 1 << 20);
/// Passes over the data (`--epochs`).
pub const EPOCHS: Count = count("--epochs", 1, 1_000_000);
/// Optimizer steps before stopping (`--max-steps`).
pub const MAX_STEPS: Count = count("--max-steps", 1, usize::MAX);
/// Training images used (`--limit`).
pub const LIMIT: Count = count("--limit", 1, usize::MAX);
/// Classes of a classifier (`--num-classes`, a model card's class list).
pub const NUM_CLASSES: Count = count("--num-classes", 1, 1_000_000);
/// Channels of an input (1 grey, 3 RGB).
pub const CHANNELS: Count = count("channels", 1, 3);
/// Data-loader threads (`--workers`).
pub const WORKERS: Count = count("--workers", 0, 1024);
/// Classes shown per image (`--top`).
pub const TOP_K: Count = count("--top", 1, 1_000_000);
/// A number of epochs inside a schedule spec (`step:every=E`, warm-up, patience).
pub const SCHEDULE_EPOCHS: Count = count("schedule epochs", 1, 1_000_000);
/// A count inside an augmentation spec (padding in pixels).
pub const PADDING: Count = count("padding", 0, 8192);

/// Peak learning rate (`--lr`).
pub const LEARNING_RATE: Real = real("--lr", 0.0, true, 1e3, false);
/// A learning rate that may be 0 (a schedule's floor).
pub const MIN_LEARNING_RATE: Real = real("minimum learning rate", 0.0, false, 1e3, false);
/// Momentum (`--momentum`).
pub const MOMENTUM: Real = real("--momentum", 0.0, false, 1.0, true);
/// Weight decay (`--weight-decay`).
pub const WEIGHT_DECAY: Real = real("--weight-decay", 0.0, false, 1.0, false);
/// Gradient-norm clipping (`--grad-clip`).
pub const GRAD_CLIP: Real = real("--grad-clip", 0.0, true, 1e9, false);
/// Label smoothing (`--label-smoothing`).
pub const LABEL_SMOOTHING: Real = real("--label-smoothing", 0.0, false, 1.0, true);
/// The backbone's learning-rate multiplier (`--backbone-lr-mult`).
pub const LR_MULTIPLIER: Real = real("--backbone-lr-mult", 0.0, false, 1e6, false);
/// The validation fraction of an image folder (`--val-split`).
pub const VAL_SPLIT: Real = real("--val-split", 0.0, true, 1.0, true);
/// A per-channel mean on the 0–1 scale (`--mean`, model cards).
pub const MEAN: Real = real("mean", -1e3, false, 1e3, false);
/// A per-channel standard deviation (`--std`, model cards): never 0.
pub const STD: Real = real("std", 0.0, true, 1e3, false);
/// A probability inside a spec.
pub const PROBABILITY: Real = real("probability", 0.0, false, 1.0, false);
/// An angle in degrees inside a spec (rotation, shear).
pub const DEGREES: Real = real("degrees", 0.0, false, 360.0, false);
/// A fraction inside a spec (translation, jitter strength, area).
pub const FRACTION: Real = real("fraction", 0.0, false, 1.0, false);
/// A scale factor or aspect ratio inside a spec.
pub const FACTOR: Real = real("factor", 0.0, true, 100.0, false);
/// A schedule's multiplicative factor (`gamma`, plateau `factor`).
pub const DECAY_FACTOR: Real = real("gamma", 0.0, true, 1.0, false);
/// A schedule's threshold or a positive number inside a spec.
pub const POSITIVE: Real = real("value", 0.0, true, 1e9, false);
/// MixUp / CutMix's Beta(α, α) parameter.
pub const ALPHA: Real = real("alpha", 0.0, true, 1e3, false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_field_and_refuse_non_finite_values() {
        assert_eq!(IMAGE_SIDE.check(224), Ok(224));
        let e = IMAGE_SIDE.check_as("--crop", 0).unwrap_err();
        assert_eq!(e, "--crop must be between 1 and 8192, got 0");
        assert!(MAX_STEPS.check(0).unwrap_err().contains("at least 1"));
        for bad in [f64::NAN, f64::INFINITY, -1.0, 0.0] {
            let e = LEARNING_RATE.check(bad).unwrap_err();
            assert!(e.starts_with("--lr must be positive and at most 1000"), "{e}");
        }
        assert!(STD.check(0.0).is_err() && STD.check(0.229).is_ok());
        assert!(MOMENTUM.check(0.9).is_ok() && MOMENTUM.check(1.0).is_err());
    }
}
