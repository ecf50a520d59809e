//! Finding image files as torchvision's `ImageFolder` does: the extensions of its
//! `IMG_EXTENSIONS`, case-insensitive; directories walked recursively in sorted order. Hidden
//! files and directories (a leading `.`, such as `.ipynb_checkpoints` or `.DS_Store`) are skipped.

use crate::DataError;
use std::path::{Path, PathBuf};

/// torchvision's `IMG_EXTENSIONS`.
pub const IMG_EXTENSIONS: [&str; 9] = ["jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp"];

/// Whether `path` has one of [`IMG_EXTENSIONS`] (any case).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMG_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Whether a directory entry's name starts with a dot.
pub fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Every image file under `dir` (recursively, symbolic links followed), sorted by path.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    walk(dir, &mut out, 0)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), DataError> {
    // A bound on the depth, so that a symbolic-link cycle ends.
    if depth > 32 {
        return Err(DataError::format(
            dir,
            "directories nested more than 32 deep (a symbolic-link cycle?)",
        ));
    }
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            walk(&path, out, depth + 1)?;
        } else if is_image_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// The sub-directories of `dir` that are not hidden, as `(name, path)`, sorted by name.
pub fn sub_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !is_hidden(p))
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), p))
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The images an argument names: the file itself, or every image under a directory.
pub fn expand_image_args(args: &[PathBuf]) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            out.extend(list_images(a)?);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_listed_as_torchvision_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("b/nested")).unwrap();
        std::fs::create_dir_all(d.join(".ipynb_checkpoints")).unwrap();
        for f in [
            "b/2.JPG",
            "b/1.png",
            "b/nested/0.webp",
            "b/notes.txt",
            "b/.hidden.png",
            ".ipynb_checkpoints/x.png",
            "a.tiff",
        ] {
            std::fs::write(d.join(f), b"").unwrap();
        }
        let names: Vec<String> = list_images(d)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.tiff", "b/1.png", "b/2.JPG", "b/nested/0.webp"]);
        let subs: Vec<String> = sub_dirs(d).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(subs, ["b"]);
    }
}
