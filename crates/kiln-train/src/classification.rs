//! Training and validation steps for any [`ImageClassifier`].

use burn::{
    module::Module,
    nn::loss::CrossEntropyLossConfig,
    tensor::Tensor,
    train::{ClassificationOutput, InferenceStep, Interrupter, TrainOutput, TrainStep},
};
use kiln_core::ImageClassifier;
use kiln_data::ClassificationBatch;
use std::sync::{Arc, Mutex};

/// Wraps a classifier with cross-entropy training and validation steps (burn-train's
/// `TrainStep` / `InferenceStep`), so that architecture crates need not depend on burn-train.
///
/// Records saved from this wrapper carry a `model.` prefix; [`ClassificationModel::model`] is the
/// bare classifier that is saved as the final model.
#[derive(Module, Debug)]
pub struct ClassificationModel<M: ImageClassifier> {
    /// The classifier being trained.
    pub model: M,
    /// Stops training on a non-finite loss (or after `--max-steps`).
    #[module(skip)]
    pub guard: LossGuard,
    /// Label smoothing of the cross-entropy.
    #[module(skip)]
    pub label_smoothing: Option<f32>,
}

impl<M: ImageClassifier> ClassificationModel<M> {
    /// Wraps `model`.
    pub fn new(model: M, guard: LossGuard) -> Self {
        Self {
            model,
            guard,
            label_smoothing: None,
        }
    }

    /// Forward pass and cross-entropy loss.
    ///
    /// # Shapes
    /// - images `[batch, c, h, w]`, targets `[batch]`
    /// - output logits `[batch, num_classes]`, loss `[1]`
    pub fn forward_classification(&self, batch: ClassificationBatch) -> ClassificationOutput {
        let (logits, aux) = self.model.forward_with_aux(batch.images);
        let ce = CrossEntropyLossConfig::new()
            .with_smoothing(self.label_smoothing)
            .init(&logits.device());
        let mut loss = match batch.mix {
            // MixUp / CutMix: λ·CE(y) + (1 - λ)·CE(y_b).
            Some(mix) => {
                ce.forward(logits.clone(), batch.targets.clone()) * mix.lambda
                    + ce.forward(logits.clone(), mix.targets_b) * (1.0 - mix.lambda)
            }
            None => ce.forward(logits.clone(), batch.targets.clone()),
        };
        // Auxiliary classifiers (Inception v3 in training) add their weighted losses.
        for (weight, aux_logits) in aux {
            loss = loss + ce.forward(aux_logits, batch.targets.clone()) * weight;
        }
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl<M: ImageClassifier> TrainStep for ClassificationModel<M> {
    type Input = ClassificationBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ClassificationBatch) -> TrainOutput<ClassificationOutput> {
        let images = batch.images.dims()[0];
        let output = self.forward_classification(batch);
        self.guard.check(&output.loss, images);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<M: ImageClassifier> InferenceStep for ClassificationModel<M> {
    type Input = ClassificationBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ClassificationBatch) -> ClassificationOutput {
        let images = batch.images.dims()[0];
        let output = self.forward_classification(batch);
        self.guard.record_valid(&output.loss, images);
        output
    }
}

/// Watches the training loss; on the first NaN or infinite value it records the step and asks
/// the training loop to stop before the next checkpoint is written, so no checkpoint holds the
/// diverged weights.
#[derive(Clone, Default)]
pub struct LossGuard {
    interrupter: Option<Interrupter>,
    state: Arc<Mutex<GuardState>>,
    monitor: Option<crate::ValidMonitor>,
}

#[derive(Default, Debug)]
struct GuardState {
    steps: usize,
    max_steps: Option<usize>,
    tripped: Option<(usize, f32)>,
    reached_max: bool,
    /// `(when, images)` of every training step, for throughput.
    step_log: Vec<(std::time::Instant, usize)>,
}

impl std::fmt::Debug for LossGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LossGuard").finish_non_exhaustive()
    }
}

impl LossGuard {
    /// A guard that stops training through `interrupter`.
    pub fn new(interrupter: Interrupter) -> Self {
        Self {
            interrupter: Some(interrupter),
            state: Arc::default(),
            monitor: None,
        }
    }

    /// Also report validation losses to `monitor` (for reduce-on-plateau).
    pub fn with_monitor(mut self, monitor: crate::ValidMonitor) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Records one validation batch's loss, when a monitor listens (one scalar read-back).
    pub fn record_valid(&self, loss: &Tensor<1>, images: usize) {
        if let Some(monitor) = &self.monitor {
            let value = loss.clone().into_scalar::<f32>() as f64;
            monitor.record(self.steps(), value, images);
        }
    }

    /// Also stop (successfully) once `max_steps` optimizer steps have run.
    pub fn with_max_steps(self, max_steps: Option<usize>) -> Self {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).max_steps = max_steps;
        self
    }

    /// Whether the run stopped because it reached its step limit.
    pub fn reached_max_steps(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).reached_max
    }

    /// Training steps seen.
    pub fn steps(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).steps
    }

    /// Checks one training loss (one read-back of a scalar per step) of a step of `images`
    /// images, and time-stamps the step for throughput.
    pub fn check(&self, loss: &Tensor<1>, images: usize) {
        let value = loss.clone().into_scalar::<f32>();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.steps += 1;
        state.step_log.push((std::time::Instant::now(), images));
        if !value.is_finite() && state.tripped.is_none() {
            state.tripped = Some((state.steps, value));
            if let Some(interrupter) = &self.interrupter {
                interrupter.stop(Some("non-finite training loss"));
            }
        }
        if state.max_steps.is_some_and(|m| state.steps >= m) && !state.reached_max {
            state.reached_max = true;
            if let Some(interrupter) = &self.interrupter {
                interrupter.stop(Some("--max-steps reached"));
            }
        }
    }

    /// Training images per second of each run of `per_epoch` consecutive steps (an epoch),
    /// measured between the epoch's first and last step: the training pass only, validation and
    /// checkpointing excluded. `None` for an epoch of fewer than two steps.
    pub fn epoch_throughput(&self, per_epoch: usize) -> Vec<Option<f64>> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .step_log
            .chunks(per_epoch.max(1))
            .map(|steps| {
                let (first, last) = (steps.first()?, steps.last()?);
                let seconds = last.0.duration_since(first.0).as_secs_f64();
                let images: usize = steps[1..].iter().map(|s| s.1).sum();
                (steps.len() > 1 && seconds > 0.0).then(|| images as f64 / seconds)
            })
            .collect()
    }

    /// `(step, value)` of the first non-finite loss, if one was seen.
    pub fn tripped(&self) -> Option<(usize, f32)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).tripped
    }
}
