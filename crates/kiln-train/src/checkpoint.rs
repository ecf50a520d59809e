//! Checkpoints written atomically, and finding the one to resume from.
//!
//! Burn's `FileCheckpointer` writes the `.bpk` file in place: a run killed during the write leaves
//! a truncated checkpoint that a later `--resume` fails on. [`AtomicFileCheckpointer`] writes to a
//! temporary file in the same directory, flushes it to disk and renames it over the final name.

use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};
use std::path::{Path, PathBuf};

/// The sub-directory of a run directory that holds its checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoint";

/// The three records a training checkpoint consists of.
pub const CHECKPOINT_PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// Saves each record as `{directory}/{name}-{epoch}.bpk`, atomically.
#[derive(Clone, Debug)]
pub struct AtomicFileCheckpointer {
    directory: PathBuf,
    name: String,
}

impl AtomicFileCheckpointer {
    /// A checkpointer for records called `name` in `directory` (created if needed).
    pub fn new(directory: impl AsRef<Path>, name: &str) -> Self {
        let directory = directory.as_ref().to_path_buf();
        std::fs::create_dir_all(&directory).ok();
        Self {
            directory,
            name: name.to_string(),
        }
    }

    fn path_for_epoch(&self, epoch: usize) -> PathBuf {
        checkpoint_path(&self.directory, &self.name, epoch)
    }
}

/// `{dir}/{name}-{epoch}.bpk`.
pub fn checkpoint_path(dir: &Path, name: &str, epoch: usize) -> PathBuf {
    dir.join(format!("{name}-{epoch}.bpk"))
}

impl<R: Checkpoint> Checkpointer<R> for AtomicFileCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        let path = self.path_for_epoch(epoch);
        let tmp = crate::fsutil::temp_path(&path);
        record.save(tmp.clone())?;
        fault_point(&format!("checkpoint-{}-{epoch}", self.name));
        crate::fsutil::commit(&tmp, &path).map_err(CheckpointerError::IOError)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        let path = self.path_for_epoch(epoch);
        if path.exists() {
            std::fs::remove_file(path).map_err(CheckpointerError::IOError)?;
        }
        Ok(())
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        R::load(self.path_for_epoch(epoch))
    }
}

/// Fault injection for the tests: when the environment variable `KILN_FAULT` equals `point`,
/// the process dies on the spot (as `kill -9` would: no unwinding, no cleanup). Points:
/// `checkpoint-{model,optim,scheduler}-{epoch}` (the record written to its temporary file, not
/// yet renamed into place), `dense-state`.
pub fn fault_point(point: &str) {
    if std::env::var("KILN_FAULT").is_ok_and(|f| f == point) {
        std::process::abort();
    }
}

/// Whether a `.bpk` file is whole: its header and metadata parse and every tensor's bytes are
/// within the file (a truncated or overwritten file is not).
pub fn bpk_intact(path: &Path) -> Result<(), String> {
    let reader = burn::store::burn_pack::Reader::from_file_exact(path).map_err(|e| format!("{e:?}"))?;
    let names: Vec<String> = reader.tensor_names().into_iter().map(String::from).collect();
    for name in names {
        reader.tensor_data(&name).map_err(|e| format!("tensor {name}: {e:?}"))?;
    }
    Ok(())
}

/// The checkpoint to resume from: the newest epoch whose model, optimizer and scheduler files
/// all exist and are whole, and the damaged files of newer epochs passed over (`(file, why)`).
pub fn latest_intact_checkpoint(run_dir: &Path) -> (Option<usize>, Vec<(PathBuf, String)>) {
    let dir = run_dir.join(CHECKPOINT_DIR);
    let mut epochs: Vec<usize> = complete_epochs(&dir);
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    let mut damaged = Vec::new();
    for epoch in epochs {
        let bad: Vec<(PathBuf, String)> = CHECKPOINT_PARTS
            .iter()
            .map(|part| checkpoint_path(&dir, part, epoch))
            .filter_map(|p| bpk_intact(&p).err().map(|why| (p, why)))
            .collect();
        if bad.is_empty() {
            return (Some(epoch), damaged);
        }
        damaged.extend(bad);
    }
    (None, damaged)
}

fn complete_epochs(dir: &Path) -> Vec<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("model-")?.strip_suffix(".bpk")?.parse::<usize>().ok()
        })
        .filter(|&epoch| {
            CHECKPOINT_PARTS
                .iter()
                .all(|part| checkpoint_path(dir, part, epoch).is_file())
        })
        .collect()
}

/// Removes every checkpoint but those of the last two epochs and of `best` (the README's
/// promise, which Burn's own policy breaks after a resume: it never saw the earlier epochs).
pub fn prune_checkpoints(run_dir: &Path, best: Option<usize>) {
    let dir = run_dir.join(CHECKPOINT_DIR);
    let mut epochs = complete_epochs(&dir);
    epochs.sort_unstable();
    let keep: Vec<usize> = epochs.iter().rev().take(2).copied().chain(best).collect();
    for epoch in epochs.into_iter().filter(|e| !keep.contains(e)) {
        for part in CHECKPOINT_PARTS {
            let _ = std::fs::remove_file(checkpoint_path(&dir, part, epoch));
        }
    }
}

/// The latest epoch for which all of model, optimizer and scheduler checkpoints exist in
/// `{run_dir}/checkpoint`, if any (whole or not; see [`latest_intact_checkpoint`]).
pub fn latest_complete_checkpoint(run_dir: &Path) -> Option<usize> {
    complete_epochs(&run_dir.join(CHECKPOINT_DIR)).into_iter().max()
}
