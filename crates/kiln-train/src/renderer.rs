//! Plain-text progress for runs whose output is not a terminal (CI logs, `| tee`, files):
//! about ten lines per split with the running metrics, instead of burn-train's per-batch debug
//! lines. On a terminal, burn-train's TUI is used.

use burn::train::{
    logger::{EvaluationProgressLogger, TrainingProgressLogger},
    metric::MetricDefinition,
    renderer::{EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation, MetricsRendererTraining},
};
use std::collections::BTreeMap;

/// Prints progress as plain lines.
#[derive(Default)]
pub struct PlainRenderer {
    names: Vec<(String, String)>,
    metrics: BTreeMap<String, String>,
    epoch: usize,
    total_epochs: usize,
    split: String,
    items: usize,
    total_items: usize,
    printed_decile: usize,
}

impl PlainRenderer {
    /// A renderer with nothing registered yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn record(&mut self, state: MetricState) {
        let (MetricState::Generic(entry) | MetricState::Numeric(entry, _)) = state;
        let id = format!("{:?}", entry.metric_id);
        let Some((_, name)) = self.names.iter().find(|(i, _)| *i == id) else {
            return;
        };
        let formatted = &entry.serialized_entry.formatted;
        let running = formatted
            .split(" - batch")
            .next()
            .unwrap_or(formatted)
            .trim_start_matches("epoch ")
            .to_string();
        self.metrics.insert(name.clone(), running);
    }

    fn line(&self) -> String {
        let pct = if self.total_items == 0 {
            100
        } else {
            100 * self.items / self.total_items
        };
        let metrics: Vec<String> = self
            .metrics
            .iter()
            .map(|(k, v)| format!("{} {v}", k.to_lowercase()))
            .collect();
        format!(
            "[{}] epoch {}/{} {pct:>3}% ({}/{})  {}",
            self.split,
            self.epoch,
            self.total_epochs,
            self.items,
            self.total_items,
            metrics.join("  ")
        )
    }
}

impl MetricsRendererTraining for PlainRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }
}

impl TrainingProgressLogger for PlainRenderer {
    fn start(&mut self, total_epochs: usize, starting_epoch: usize, _items: Option<usize>, _label: Option<&str>) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch;
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        self.total_items = total_items;
        self.items = 0;
        self.printed_decile = 0;
        self.metrics.clear();
    }

    fn update_split(&mut self, items_processed: usize) {
        self.items = items_processed;
        let decile = if self.total_items == 0 {
            10
        } else {
            10 * items_processed / self.total_items
        };
        if decile > self.printed_decile && decile < 10 {
            self.printed_decile = decile;
            println!("{}", self.line());
        }
    }

    fn end_split(&mut self) {
        self.items = self.total_items;
        println!("{}", self.line());
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for PlainRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for PlainRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl MetricsRenderer for PlainRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .push((format!("{:?}", definition.metric_id), definition.name.to_string()));
    }
}
