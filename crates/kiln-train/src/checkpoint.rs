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

/// The latest epoch for which all of model, optimizer and scheduler checkpoints exist in
/// `{run_dir}/checkpoint`, if any.
pub fn latest_complete_checkpoint(run_dir: &Path) -> Option<usize> {
    let dir = run_dir.join(CHECKPOINT_DIR);
    let entries = std::fs::read_dir(&dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("model-")?.strip_suffix(".bpk")?.parse::<usize>().ok()
        })
        .filter(|&epoch| {
            CHECKPOINT_PARTS
                .iter()
                .all(|part| checkpoint_path(&dir, part, epoch).is_file())
        })
        .max()
}
