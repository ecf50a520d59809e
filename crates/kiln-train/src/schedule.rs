//! Learning-rate schedules, as pure functions of the optimizer step (Burn steps schedulers once
//! per optimizer step), wrapped in a Burn `LrScheduler` whose state is the step counter, so a run
//! resumed from a checkpoint continues at the right place, warm-up included.
//!
//! Spec (the `--schedule` flag): `constant`, `cosine[:warmup=E,min=LR]`, `step:every=E[,gamma=G]`,
//! `multistep:E1-E2-..[,gamma=G]`, `exponential:gamma=G`, `onecycle[:pct=0.3,div=25,final=1e4]`,
//! `plateau[:factor=0.1,patience=2,threshold=1e-4,min=0]` (on the validation loss).
//! Epoch arguments may be fractional (`warmup=0.5`).

use crate::scheduler::{PlateauScheduler, ScaledScheduler, StepScheduler, ValidMonitor};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use serde::{Deserialize, Serialize};
use std::{f64::consts::PI, fmt, str::FromStr};

/// A learning-rate schedule. Epoch quantities are converted to steps with the number of steps
/// per epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Linear warm-up from 0 over `warmup_epochs`, then cosine annealing to `min_lr` at the end
    /// of the run (Loshchilov & Hutter 2017, without restarts).
    Cosine {
        /// Warm-up length in epochs.
        warmup_epochs: f64,
        /// Final rate.
        min_lr: f64,
    },
    /// Multiply by `gamma` every `every` epochs (torchvision's ResNet recipe: every 30, 0.1).
    Step {
        /// Period in epochs.
        every: f64,
        /// Factor.
        gamma: f64,
    },
    /// Multiply by `gamma` at each milestone epoch.
    MultiStep {
        /// Epochs at which the rate drops.
        milestones: Vec<f64>,
        /// Factor.
        gamma: f64,
    },
    /// Multiply by `gamma` every epoch.
    Exponential {
        /// Factor per epoch.
        gamma: f64,
    },
    /// Smith's one-cycle policy (PyTorch `OneCycleLR`, cosine): from `lr / div` up to `lr` over
    /// `pct` of the run, then down to `lr / (div · final_div)`.
    OneCycle {
        /// Fraction of the run spent increasing.
        pct: f64,
        /// Initial rate = lr / div.
        div: f64,
        /// Final rate = initial / final_div.
        final_div: f64,
    },
    /// PyTorch's `ReduceLROnPlateau` on the validation loss: after `patience` epochs without a
    /// relative improvement of `threshold`, multiply the rate by `factor` (not below `min_lr`).
    /// Needs the validation losses, which [`crate::fit`] feeds it through a [`ValidMonitor`].
    Plateau {
        /// Factor applied at each reduction.
        factor: f64,
        /// Epochs without improvement tolerated.
        patience: usize,
        /// Relative improvement that counts (PyTorch's `threshold`, mode `rel`).
        threshold: f64,
        /// Floor of the rate.
        min_lr: f64,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Self::Cosine {
            warmup_epochs: 0.0,
            min_lr: 0.0,
        }
    }
}

fn cos_interp(from: f64, to: f64, t: f64) -> f64 {
    to + (from - to) * (1.0 + (PI * t.clamp(0.0, 1.0)).cos()) / 2.0
}

impl Schedule {
    /// The rate of the `step`-th optimizer step (0-based) of a run of `total` steps with
    /// `per_epoch` steps per epoch, peaking at `lr`.
    pub fn lr_at(&self, lr: f64, step: usize, total: usize, per_epoch: usize) -> f64 {
        let per_epoch = per_epoch.max(1) as f64;
        let epoch = (step as f64 / per_epoch).floor();
        let total = total.max(1) as f64;
        let s = step as f64;
        match self {
            Self::Constant => lr,
            Self::Cosine { warmup_epochs, min_lr } => {
                let warmup = warmup_epochs * per_epoch;
                if s < warmup {
                    lr * (s + 1.0) / warmup
                } else {
                    cos_interp(lr, *min_lr, (s - warmup) / (total - warmup).max(1.0))
                }
            }
            Self::Step { every, gamma } => lr * gamma.powf((epoch / every.max(f64::MIN_POSITIVE)).floor()),
            Self::MultiStep { milestones, gamma } => {
                lr * gamma.powi(milestones.iter().filter(|&&m| epoch >= m).count() as i32)
            }
            Self::Exponential { gamma } => lr * gamma.powf(epoch),
            // The plateau rate depends on validation losses, not on the step: its starting rate.
            Self::Plateau { .. } => lr,
            Self::OneCycle { pct, div, final_div } => {
                let initial = lr / div;
                let up = (pct * total - 1.0).max(1.0);
                if s <= up {
                    cos_interp(initial, lr, s / up)
                } else {
                    cos_interp(lr, initial / final_div, (s - up) / (total - 1.0 - up).max(1.0))
                }
            }
        }
    }

    /// The Burn scheduler for a run where each `(group, multiplier)` runs the same schedule at
    /// `multiplier ×` the rate (the last matching group wins; everything else at `lr`).
    pub fn build_grouped(
        &self,
        lr: f64,
        total_steps: usize,
        steps_per_epoch: usize,
        groups: Vec<(burn::module::ParamGroup, f64)>,
    ) -> ModuleLrScheduler {
        let mut scheduler = self.build(lr, total_steps, steps_per_epoch);
        for (group, mult) in groups {
            scheduler = scheduler.with_group(
                group,
                ScaledScheduler {
                    inner: StepScheduler {
                        schedule: self.clone(),
                        lr,
                        total: total_steps,
                        per_epoch: steps_per_epoch,
                        step: 0,
                    },
                    mult,
                },
            );
        }
        scheduler
    }

    /// The Burn scheduler for a run; a plateau schedule reads validation losses from `monitor`
    /// (without one it keeps its starting rate).
    pub fn build_monitored(
        &self,
        lr: f64,
        total_steps: usize,
        steps_per_epoch: usize,
        monitor: Option<ValidMonitor>,
    ) -> ModuleLrScheduler {
        if let (
            Self::Plateau {
                factor,
                patience,
                threshold,
                min_lr,
            },
            Some(monitor),
        ) = (self, monitor)
        {
            return PlateauScheduler {
                lr,
                factor: *factor,
                patience: *patience,
                threshold: *threshold,
                min_lr: *min_lr,
                per_epoch: steps_per_epoch.max(1),
                step: 0,
                scale: 1.0,
                best: f64::INFINITY,
                bad: 0,
                monitor,
            }
            .into();
        }
        self.build(lr, total_steps, steps_per_epoch)
    }

    /// The Burn scheduler for a run.
    pub fn build(&self, lr: f64, total_steps: usize, steps_per_epoch: usize) -> ModuleLrScheduler {
        StepScheduler {
            schedule: self.clone(),
            lr,
            total: total_steps,
            per_epoch: steps_per_epoch,
            step: 0,
        }
        .into()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Constant => write!(f, "constant"),
            Self::Cosine { warmup_epochs, min_lr } => write!(f, "cosine:warmup={warmup_epochs},min={min_lr}"),
            Self::Step { every, gamma } => write!(f, "step:every={every},gamma={gamma}"),
            Self::MultiStep { milestones, gamma } => write!(
                f,
                "multistep:{},gamma={gamma}",
                milestones.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("-")
            ),
            Self::Exponential { gamma } => write!(f, "exponential:gamma={gamma}"),
            Self::OneCycle { pct, div, final_div } => write!(f, "onecycle:pct={pct},div={div},final={final_div}"),
            Self::Plateau {
                factor,
                patience,
                threshold,
                min_lr,
            } => {
                write!(
                    f,
                    "plateau:factor={factor},patience={patience},threshold={threshold},min={min_lr}"
                )
            }
        }
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
        let mut positional = None;
        let mut kv = std::collections::HashMap::new();
        for a in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match a.split_once('=') {
                Some((k, v)) => {
                    kv.insert(k.trim(), v.trim());
                }
                None => positional = Some(a),
            }
        }
        let num = |k: &str, d: f64| -> Result<f64, String> {
            kv.get(k)
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|_| format!("schedule `{spec}`: {k}=`{v}` is not a number"))
                })
                .transpose()
                .map(|v| v.unwrap_or(d))
        };
        let s = match name.trim() {
            "constant" => Self::Constant,
            "cosine" => Self::Cosine {
                warmup_epochs: num("warmup", 0.0)?,
                min_lr: num("min", 0.0)?,
            },
            "step" => Self::Step {
                every: num("every", positional.and_then(|p| p.parse().ok()).unwrap_or(30.0))?,
                gamma: num("gamma", 0.1)?,
            },
            "multistep" => Self::MultiStep {
                milestones: positional
                    .ok_or(format!("schedule `{spec}`: needs milestones, e.g. multistep:30-60"))?
                    .split('-')
                    .map(|m| {
                        m.parse::<f64>()
                            .map_err(|_| format!("schedule `{spec}`: milestone `{m}`"))
                    })
                    .collect::<Result<_, _>>()?,
                gamma: num("gamma", 0.1)?,
            },
            "exponential" => Self::Exponential {
                gamma: num("gamma", 0.9)?,
            },
            "onecycle" => Self::OneCycle {
                pct: num("pct", 0.3)?,
                div: num("div", 25.0)?,
                final_div: num("final", 1e4)?,
            },
            "plateau" => Self::Plateau {
                factor: num("factor", 0.1)?,
                patience: {
                    let p = num("patience", 2.0)?;
                    if !(p.is_finite() && (0.0..=1e6).contains(&p)) {
                        return Err(format!(
                            "schedule `{spec}`: patience must be a number of epochs in [0, 1000000], got {p}"
                        ));
                    }
                    p as usize
                },
                threshold: num("threshold", 1e-4)?,
                min_lr: num("min", 0.0)?,
            },
            other => {
                return Err(format!(
                    "unknown schedule `{other}`; expected constant, cosine, step, multistep, exponential, onecycle or plateau"
                ));
            }
        };
        s.validate()?;
        Ok(s)
    }
}

impl Schedule {
    /// Checks every number of the schedule against its range ([`kiln_core::limits`]), naming
    /// the schedule's field.
    pub fn validate(&self) -> Result<(), String> {
        use kiln_core::limits::{DECAY_FACTOR, FACTOR, FRACTION, MIN_LEARNING_RATE, POSITIVE, Real};
        let epochs = Real {
            name: "",
            min: 0.0,
            min_open: true,
            max: 1e6,
            max_open: false,
        };
        let warmup = Real {
            min_open: false,
            ..epochs
        };
        match self {
            Self::Constant => {}
            Self::Cosine { warmup_epochs, min_lr } => {
                warmup.check_as("cosine: warmup (epochs)", *warmup_epochs)?;
                MIN_LEARNING_RATE.check_as("cosine: min", *min_lr)?;
            }
            Self::Step { every, gamma } => {
                epochs.check_as("step: every (epochs)", *every)?;
                DECAY_FACTOR.check_as("step: gamma", *gamma)?;
            }
            Self::MultiStep { milestones, gamma } => {
                if milestones.is_empty() {
                    return Err("multistep: needs at least one milestone".into());
                }
                for m in milestones {
                    epochs.check_as("multistep: milestone (epochs)", *m)?;
                }
                DECAY_FACTOR.check_as("multistep: gamma", *gamma)?;
            }
            Self::Exponential { gamma } => {
                DECAY_FACTOR.check_as("exponential: gamma", *gamma)?;
            }
            Self::OneCycle { pct, div, final_div } => {
                Real {
                    min_open: true,
                    max_open: true,
                    ..FRACTION
                }
                .check_as("onecycle: pct", *pct)?;
                FACTOR.check_as("onecycle: div", *div)?;
                POSITIVE.check_as("onecycle: final", *final_div)?;
            }
            Self::Plateau {
                factor,
                patience: _,
                threshold,
                min_lr,
            } => {
                Real {
                    max_open: true,
                    ..DECAY_FACTOR
                }
                .check_as("plateau: factor", *factor)?;
                Real {
                    min_open: false,
                    ..POSITIVE
                }
                .check_as("plateau: threshold", *threshold)?;
                MIN_LEARNING_RATE.check_as("plateau: min", *min_lr)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::lr_scheduler::LrScheduler;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    /// Hand-computed values: 10 steps per epoch, 100 steps, peak 0.1.
    #[test]
    fn schedules_against_hand_computed_values() {
        let lr = 0.1;
        let at = |s: &Schedule, step| s.lr_at(lr, step, 100, 10);
        close(at(&Schedule::Constant, 57), 0.1);

        let step: Schedule = "step:every=3,gamma=0.5".parse().unwrap();
        close(at(&step, 29), 0.1); // epoch 2
        close(at(&step, 30), 0.05); // epoch 3
        close(at(&step, 65), 0.025); // epoch 6

        let multi: Schedule = "multistep:2-5,gamma=0.1".parse().unwrap();
        close(at(&multi, 19), 0.1);
        close(at(&multi, 20), 0.01);
        close(at(&multi, 50), 0.001);

        let exp: Schedule = "exponential:gamma=0.5".parse().unwrap();
        close(at(&exp, 35), 0.1 * 0.125);

        // Cosine with one epoch (10 steps) of warm-up: (s+1)/10 · lr, then cosine over 90 steps.
        let cos: Schedule = "cosine:warmup=1".parse().unwrap();
        close(at(&cos, 0), 0.01);
        close(at(&cos, 4), 0.05);
        close(at(&cos, 9), 0.1);
        close(at(&cos, 10), 0.1);
        close(at(&cos, 55), 0.05); // half-way through the 90 annealing steps
        close(at(&cos, 100), 0.0);

        // One-cycle: 0.004 → 0.1 over 29 steps, then → 0.004 / 1e4.
        let one: Schedule = "onecycle".parse().unwrap();
        close(at(&one, 0), 0.004);
        close(at(&one, 29), 0.1);
        close(at(&one, 99), 0.004 / 1e4);
    }

    /// Plateau: 2 steps per epoch, patience 1, factor 0.5. Validation losses 1.0, 0.9, 0.95,
    /// 0.92, 0.91 → no reduction until the second epoch without improvement over 0.9.
    #[test]
    fn plateau_reduces_after_patience_and_resumes() {
        let monitor = ValidMonitor::default();
        let losses = [1.0, 0.9, 0.95, 0.92, 0.91, 0.5];
        for (e, l) in losses.iter().enumerate() {
            monitor.record(2 * (e + 1), *l, 10);
        }
        let spec: Schedule = "plateau:factor=0.5,patience=1".parse().unwrap();
        assert_eq!(spec.to_string().parse::<Schedule>().unwrap(), spec);
        let mut s = spec.build_monitored(0.1, 100, 2, Some(monitor.clone()));
        let rates: Vec<f64> = (0..14).map(|_| s.step().base()).collect();
        // Epoch starts at steps 0, 2, 4, ...: after epoch 1 (1.0) best; 2 (0.9) best; 3 (0.95)
        // bad 1; 4 (0.92) bad 2 > 1 → ×0.5 at step 8; 5 (0.91) bad 1; 6 (0.5) best.
        let expected = [
            0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05,
        ];
        for (r, e) in rates.iter().zip(expected) {
            close(*r, e);
        }
        // Restored mid-run, it continues with the same rate and counters.
        let record = s.to_record();
        let mut resumed = spec.build_monitored(0.1, 100, 2, Some(monitor)).load_record(record);
        close(resumed.step().base(), 0.05);
    }

    /// A scheduler restored from its record in the middle of the warm-up continues exactly where
    /// the uninterrupted one is.
    #[test]
    fn resume_in_the_middle_of_warmup() {
        let schedule: Schedule = "cosine:warmup=2,min=0.001".parse().unwrap();
        let make = || StepScheduler {
            schedule: schedule.clone(),
            lr: 0.1,
            total: 100,
            per_epoch: 10,
            step: 0,
        };
        let mut straight = make();
        let all: Vec<f64> = (0..30).map(|_| straight.step()).collect();
        let mut first = make();
        for _ in 0..7 {
            first.step(); // interrupted during warm-up (step 7 of 20)
        }
        let record = first.to_record();
        let mut resumed = make();
        resumed.load_record(record);
        let rest: Vec<f64> = (7..30).map(|_| resumed.step()).collect();
        assert_eq!(rest, all[7..]);
        close(all[6], 0.1 * 7.0 / 20.0);
    }

    #[test]
    fn specs_round_trip_and_errors() {
        for spec in [
            "constant",
            "cosine:warmup=0.5,min=0",
            "step:every=30,gamma=0.1",
            "multistep:30-60,gamma=0.1",
            "exponential:gamma=0.9",
            "onecycle:pct=0.3,div=25,final=10000",
        ] {
            let s: Schedule = spec.parse().unwrap();
            assert_eq!(s.to_string().parse::<Schedule>().unwrap(), s, "{spec}");
        }
        assert!("warmup".parse::<Schedule>().unwrap_err().contains("unknown schedule"));
        assert!("step:every=x".parse::<Schedule>().unwrap_err().contains("not a number"));
    }
}
