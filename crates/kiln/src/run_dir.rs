//! Where a run writes, so that nothing already written is lost: an explicit `--out` that holds
//! a model or a run is refused unless the run is resumed or `--overwrite` moves it aside; a
//! default output directory takes the next free name (`runs/lenet5-mnist-2`), as timm and
//! Ultralytics number their runs.

use std::path::{Path, PathBuf};

/// Files whose presence means a directory holds a model or a run.
const RUN_FILES: [&str; 8] = [
    "model.bpk",
    "model.json",
    "train.json",
    "metrics.csv",
    "checkpoint",
    "dense.json",
    "table.md",
    "pretrained",
];

/// Whether `dir` holds a model or a run (its weights, card, configuration, metrics or
/// checkpoints).
pub fn holds_run(dir: &Path) -> bool {
    dir.is_dir() && RUN_FILES.iter().any(|f| dir.join(f).exists())
}

/// Why an output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    /// The directory holds a run and neither `--resume` nor `--overwrite` was given.
    #[error(
        "{} already holds a trained model or run ({}); continue it with --resume, or pass --overwrite to move it \
         aside (to {}) and start afresh",
        .path.display(), .found.join(", "), .aside.display()
    )]
    Occupied {
        /// The directory.
        path: PathBuf,
        /// What it holds.
        found: Vec<String>,
        /// Where `--overwrite` would move it.
        aside: PathBuf,
    },
    /// Moving the old run aside failed.
    #[error("cannot move {} aside to {}: {source}", .path.display(), .aside.display())]
    Move {
        /// The directory.
        path: PathBuf,
        /// The name it was to get.
        aside: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The output directory chosen, and what was done to get it, for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutDir {
    /// The directory to write into.
    pub path: PathBuf,
    /// What happened (a new name, an old run moved aside), if anything.
    pub note: Option<String>,
}

/// `path` with `suffix` appended to its last component.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// The first of `make(2)`, `make(3)`, ... (or `make(1)`, ... from `first`) that does not exist or
/// holds no run.
fn next_free(first: usize, make: impl Fn(usize) -> PathBuf) -> PathBuf {
    (first..)
        .map(make)
        .find(|p| !p.exists() || (!holds_run(p) && p.read_dir().is_ok_and(|mut d| d.next().is_none())))
        .expect("an unbounded search finds a free name")
}

/// Chooses the output directory of a run.
///
/// - `explicit` (`--out`): used as is when it holds no run or the run is resumed; with
///   `overwrite`, an old run is moved aside to `DIR.old-N` first; otherwise an error naming the
///   directory and the two ways on.
/// - default: `default` itself when free or resumed; with `overwrite`, the old run moves aside;
///   otherwise the next free `default-2`, `default-3`, ... (said in the note).
pub fn choose_out(
    explicit: Option<&Path>,
    default: &Path,
    resume: bool,
    overwrite: bool,
) -> Result<OutDir, OutDirError> {
    let path = explicit.unwrap_or(default);
    if resume || !holds_run(path) {
        return Ok(OutDir {
            path: path.to_path_buf(),
            note: None,
        });
    }
    let aside = next_free(1, |n| with_suffix(path, &format!(".old-{n}")));
    if overwrite {
        std::fs::rename(path, &aside).map_err(|source| OutDirError::Move {
            path: path.to_path_buf(),
            aside: aside.clone(),
            source,
        })?;
        return Ok(OutDir {
            path: path.to_path_buf(),
            note: Some(format!(
                "moved the previous run in {} aside to {}",
                path.display(),
                aside.display()
            )),
        });
    }
    if explicit.is_some() {
        let found = RUN_FILES
            .iter()
            .filter(|f| path.join(f).exists())
            .map(|f| f.to_string())
            .collect();
        return Err(OutDirError::Occupied {
            path: path.to_path_buf(),
            found,
            aside,
        });
    }
    let free = next_free(2, |n| with_suffix(path, &format!("-{n}")));
    Ok(OutDir {
        note: Some(format!(
            "{} holds an earlier run: writing to {} (--out DIR to choose, --resume to continue the earlier run)",
            path.display(),
            free.display()
        )),
        path: free,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupied_directories_are_refused_renamed_or_moved_aside() {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("lenet5-mnist");
        // Free: used as is.
        assert_eq!(choose_out(None, &run, false, false).unwrap().path, run);
        std::fs::create_dir_all(run.join("checkpoint")).unwrap();
        std::fs::write(run.join("model.bpk"), b"weights").unwrap();
        // Default directory taken: the next free name, said.
        let out = choose_out(None, &run, false, false).unwrap();
        assert_eq!(out.path, root.path().join("lenet5-mnist-2"));
        assert!(out.note.unwrap().contains("holds an earlier run"));
        // Explicit: refused with both ways on.
        let err = choose_out(Some(&run), &run, false, false).unwrap_err().to_string();
        assert!(
            err.contains("--resume") && err.contains("--overwrite") && err.contains("model.bpk"),
            "{err}"
        );
        // Resume: the same directory.
        assert_eq!(choose_out(Some(&run), &run, true, false).unwrap().path, run);
        // Overwrite: moved aside, nothing deleted.
        let out = choose_out(Some(&run), &run, false, true).unwrap();
        assert_eq!(out.path, run);
        assert!(!run.exists());
        assert_eq!(
            std::fs::read(root.path().join("lenet5-mnist.old-1/model.bpk")).unwrap(),
            b"weights"
        );
    }
}
