//! Per-epoch metrics as CSV, read from burn-train's metric logs
//! (`{run}/{train,valid}/epoch-N/{Metric}.log`, one serialised entry per batch).

use crate::TrainError;
use burn::train::metric::NumericEntry;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// One epoch's value of a metric: the epoch-level `final` entry when the metric logged one,
/// otherwise the count-weighted mean of its batch entries.
fn epoch_value(log: &str) -> Option<f64> {
    let entries: Vec<NumericEntry> = log
        .lines()
        .filter(|l| !l.is_empty())
        .filter_map(|l| NumericEntry::deserialize(l).ok())
        .collect();
    if let Some(NumericEntry::Final(v)) = entries.iter().rev().find(|e| matches!(e, NumericEntry::Final(_))) {
        return Some(*v);
    }
    let (mut sum, mut count) = (0.0, 0usize);
    for entry in &entries {
        match entry {
            NumericEntry::Aggregated {
                aggregated_value,
                count: n,
            } => {
                sum += aggregated_value * *n as f64;
                count += n;
            }
            NumericEntry::Value(v) => {
                sum += v;
                count += 1;
            }
            NumericEntry::Final(_) => {}
        }
    }
    (count > 0).then(|| sum / count as f64)
}

/// `{split}_{metric}` in snake case; burn-train's "Top-K Accuracy @ TopK(5)" becomes
/// `top5_accuracy`.
fn column_name(split: &str, metric: &str) -> String {
    let lower = metric.trim().replace('_', " ").to_lowercase();
    let name = match lower
        .strip_prefix("top-k accuracy @ topk(")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(k) => format!("top{k}_accuracy"),
        None => lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("_"),
    };
    format!("{split}_{name}")
}

/// Epoch → column → value, from the logs under `run_dir`.
pub fn read_epoch_metrics(run_dir: &Path) -> BTreeMap<usize, BTreeMap<String, f64>> {
    let mut table: BTreeMap<usize, BTreeMap<String, f64>> = BTreeMap::new();
    for split in ["train", "valid"] {
        let Ok(epochs) = std::fs::read_dir(run_dir.join(split)) else {
            continue;
        };
        for epoch_dir in epochs.filter_map(Result::ok) {
            let name = epoch_dir.file_name().to_string_lossy().to_string();
            let Some(epoch) = name.strip_prefix("epoch-").and_then(|n| n.parse().ok()) else {
                continue;
            };
            let Ok(files) = std::fs::read_dir(epoch_dir.path()) else {
                continue;
            };
            for file in files.filter_map(Result::ok) {
                let path = file.path();
                let (Some(stem), Some("log")) = (
                    path.file_stem().and_then(|s| s.to_str()),
                    path.extension().and_then(|s| s.to_str()),
                ) else {
                    continue;
                };
                let value = std::fs::read_to_string(&path).ok().and_then(|s| epoch_value(&s));
                if let Some(value) = value {
                    table.entry(epoch).or_default().insert(column_name(split, stem), value);
                }
            }
        }
    }
    table
}

/// Writes `{run_dir}/metrics.csv` (atomically): one row per epoch, one column per split and
/// metric (`train_loss`, `valid_accuracy`, ...), sorted by name.
pub fn write_metrics_csv(run_dir: &Path) -> Result<(), TrainError> {
    write_table_csv(run_dir, &read_epoch_metrics(run_dir))
}

/// Writes `{run_dir}/metrics.csv` (atomically) from an epoch → column → value table: one row per
/// epoch, columns sorted by name, empty cells where a column has no value.
pub fn write_table_csv(run_dir: &Path, table: &BTreeMap<usize, BTreeMap<String, f64>>) -> Result<(), TrainError> {
    let columns: BTreeSet<&String> = table.values().flat_map(|row| row.keys()).collect();
    let mut csv = String::from("epoch");
    for c in &columns {
        csv.push(',');
        csv.push_str(c);
    }
    csv.push('\n');
    for (epoch, row) in table {
        csv.push_str(&epoch.to_string());
        for c in &columns {
            csv.push(',');
            if let Some(v) = row.get(*c) {
                csv.push_str(&format!("{v:.6}"));
            }
        }
        csv.push('\n');
    }
    let path = run_dir.join("metrics.csv");
    crate::fsutil::write_atomic(&path, csv.as_bytes()).map_err(|e| TrainError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_entry_wins_else_weighted_mean() {
        assert_eq!(epoch_value("1,10\n3,30\n"), Some(2.5));
        assert_eq!(epoch_value("1,10\n3,30\n2.25,final\n"), Some(2.25));
        assert_eq!(epoch_value(""), None);
    }

    #[test]
    fn column_names_are_snake_case() {
        assert_eq!(column_name("valid", "Top-K Accuracy @ TopK(5)"), "valid_top5_accuracy");
        // burn-train writes the file names with underscores.
        assert_eq!(column_name("train", "Top-K_Accuracy_@_TopK(5)"), "train_top5_accuracy");
        assert_eq!(column_name("train", "Learning Rate"), "train_learning_rate");
    }

    #[test]
    fn csv_has_one_row_per_epoch() {
        let dir = tempfile::tempdir().unwrap();
        for (split, epoch, metric, body) in [
            ("train", 1, "Loss", "2,10\n"),
            ("train", 2, "Loss", "1,10\n"),
            ("valid", 1, "Accuracy", "90,5\n"),
            ("train", 1, "Learning Rate", "0.001\n"),
        ] {
            let d = dir.path().join(split).join(format!("epoch-{epoch}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{metric}.log")), body).unwrap();
        }
        write_metrics_csv(dir.path()).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(
            csv,
            "epoch,train_learning_rate,train_loss,valid_accuracy\n\
             1,0.001000,2.000000,90.000000\n\
             2,,1.000000,\n"
        );
    }
}
