//! Kiln's learning-rate schedules as Burn `LrScheduler`s: [`StepScheduler`] (a [`Schedule`] as a
//! function of the step counter, its saved state), [`ScaledScheduler`] (a parameter group's
//! multiple of it) and [`PlateauScheduler`] (reduce-on-plateau, reading the validation losses a
//! [`ValidMonitor`] collects).

use crate::schedule::Schedule;
use burn::optim::{
    LearningRate,
    lr_scheduler::{LrScheduler, LrSchedulerRecord},
};

/// Validation losses as the fit loop sees them, keyed by the number of training steps done when
/// they were measured (an epoch's validation runs after its last step). Shared by the model
/// wrapper that records them and the plateau scheduler that reads them.
#[derive(Clone, Debug, Default)]
pub struct ValidMonitor(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<usize, (f64, usize)>>>);

impl ValidMonitor {
    /// Records a validation batch of `n` samples with mean loss `loss`, measured after `step`
    /// training steps.
    pub fn record(&self, step: usize, loss: f64, n: usize) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(step).or_insert((0.0, 0));
        e.0 += loss * n as f64;
        e.1 += n;
    }

    /// The mean validation loss measured after `step` training steps.
    pub fn mean_at(&self, step: usize) -> Option<f64> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&step).filter(|(_, n)| *n > 0).map(|(s, n)| s / *n as f64)
    }
}

/// Reduce-on-plateau as a Burn scheduler: at the first step of each epoch it looks at the
/// previous epoch's mean validation loss. Its record holds the step, the scale, the best loss
/// and the count of bad epochs, so a resumed run continues with the same rate.
#[derive(Clone, Debug)]
pub struct PlateauScheduler {
    pub(crate) lr: f64,
    pub(crate) factor: f64,
    pub(crate) patience: usize,
    pub(crate) threshold: f64,
    pub(crate) min_lr: f64,
    pub(crate) per_epoch: usize,
    pub(crate) step: usize,
    pub(crate) scale: f64,
    pub(crate) best: f64,
    pub(crate) bad: usize,
    pub(crate) monitor: ValidMonitor,
}

impl PlateauScheduler {
    /// The decision after one epoch's validation loss (PyTorch's rule, `mode=min`,
    /// `threshold_mode=rel`, no cooldown).
    fn observe(&mut self, loss: f64) {
        if loss < self.best * (1.0 - self.threshold) {
            self.best = loss;
            self.bad = 0;
        } else {
            self.bad += 1;
            if self.bad > self.patience {
                self.scale *= self.factor;
                self.bad = 0;
            }
        }
    }
}

impl LrScheduler for PlateauScheduler {
    fn step(&mut self) -> LearningRate {
        if self.step > 0 && self.step % self.per_epoch == 0 {
            if let Some(loss) = self.monitor.mean_at(self.step) {
                self.observe(loss);
            }
        }
        self.step += 1;
        (self.lr * self.scale).max(self.min_lr)
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new()
            .with_scalar("step", self.step as u64)
            .with_scalar("scale", self.scale)
            .with_scalar("best", self.best)
            .with_scalar("bad", self.bad as u64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>("step") {
            self.step = step as usize;
        }
        if let Some(scale) = record.scalar::<f64>("scale") {
            self.scale = scale;
        }
        if let Some(best) = record.scalar::<f64>("best") {
            self.best = best;
        }
        if let Some(bad) = record.scalar::<u64>("bad") {
            self.bad = bad as usize;
        }
    }
}

/// A [`StepScheduler`] whose rate is multiplied by a constant (a parameter group's).
#[derive(Clone, Debug)]
pub struct ScaledScheduler {
    pub(crate) inner: StepScheduler,
    pub(crate) mult: f64,
}

impl LrScheduler for ScaledScheduler {
    fn step(&mut self) -> LearningRate {
        self.inner.step() * self.mult
    }

    fn to_record(&self) -> LrSchedulerRecord {
        self.inner.to_record()
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        self.inner.load_record(record)
    }
}

/// A [`Schedule`] as a Burn `LrScheduler`; its saved state is the step counter.
#[derive(Clone, Debug)]
pub struct StepScheduler {
    pub(crate) schedule: Schedule,
    pub(crate) lr: f64,
    pub(crate) total: usize,
    pub(crate) per_epoch: usize,
    pub(crate) step: usize,
}

impl LrScheduler for StepScheduler {
    fn step(&mut self) -> LearningRate {
        let lr = self.schedule.lr_at(self.lr, self.step, self.total, self.per_epoch);
        self.step += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("step", self.step as u64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>("step") {
            self.step = step as usize;
        }
    }
}
