//! Downloading published weights into a cache, as torch.hub does: the file is written beside its
//! final name (`NAME.part`), resumed with an HTTP range request after an interruption, checked
//! against the sha256 prefix its name carries, and only then renamed into place. A file that
//! fails the check is deleted, never used.

use sha2::{Digest, Sha256};
use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
};
use thiserror::Error;

/// Why a download failed.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The server could not be reached or answered with an error.
    #[error("cannot download {url}: {reason}")]
    Http {
        /// The address.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The transfer stopped before the end; the bytes so far are kept for the next try.
    #[error(
        "download of {url} stopped after {received} of {expected} bytes ({reason}); run the same command again to resume from {}",
        .part.display()
    )]
    Interrupted {
        /// The address.
        url: String,
        /// Bytes in the partial file.
        received: u64,
        /// Bytes announced, when known.
        expected: String,
        /// What happened.
        reason: String,
        /// The partial file.
        part: PathBuf,
    },
    /// The downloaded file does not hash to the prefix its name carries (or to the md5 its
    /// publisher gives); it was deleted.
    #[error(
        "{url}: the downloaded file's {}; it was deleted",
        match (expected.strip_prefix("md5:"), found.strip_prefix("md5:")) {
            (Some(e), Some(f)) => format!("md5 is {f}, not {e} as published"),
            _ => format!("sha256 starts with {found}, not {expected} as its name says"),
        }
    )]
    HashMismatch {
        /// The address.
        url: String,
        /// The prefix the file name carries.
        expected: String,
        /// The start of the actual hash.
        found: String,
    },
    /// A local file operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Kiln's cache directory: `$KILN_HOME`, else `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`.
pub fn kiln_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("KILN_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    cache_root().join("kiln")
}

fn cache_root() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
}

/// Where downloaded weights are kept: `kiln_home()/weights`.
pub fn weights_dir() -> PathBuf {
    kiln_home().join("weights")
}

/// The directories searched for a published file by name: Kiln's cache, then torch.hub's
/// (`$TORCH_HOME/hub/checkpoints`, default `~/.cache/torch/hub/checkpoints`), so that weights a
/// PyTorch user already has are found without downloading them again.
pub fn search_dirs() -> Vec<PathBuf> {
    let torch_home = std::env::var_os("TORCH_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_root().join("torch"));
    vec![weights_dir(), torch_home.join("hub").join("checkpoints")]
}

/// The digest `D` of a file, as lowercase hex.
fn hash_file<D: Digest>(path: &Path) -> Result<String, FetchError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    hash_file::<Sha256>(path)
}

/// The md5 of a file, as lowercase hex (Keras publishes its files' md5).
pub fn md5_file(path: &Path) -> Result<String, FetchError> {
    hash_file::<md5::Md5>(path)
}

/// Downloads `url` into `dir/file_name` unless a verified copy is already there, and returns its
/// path. With `sha256_prefix`, the file must hash to it before it is put in place.
///
/// An interrupted transfer leaves `dir/file_name.part`, which the next call resumes (an HTTP
/// range request; a server that ignores it sends the whole file again and the part is
/// restarted). `progress` is called with (bytes so far, total when known).
pub fn fetch(
    url: &str,
    dir: &Path,
    file_name: &str,
    sha256_prefix: Option<&str>,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<PathBuf, FetchError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let dest = dir.join(file_name);
    if dest.is_file() && verify(&dest, sha256_prefix)?.is_none() {
        return Ok(dest);
    }
    let part = dir.join(format!("{file_name}.part"));
    let offset = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(url);
    if offset > 0 {
        request = request.header("Range", format!("bytes={offset}-"));
    }
    let http = |reason: String| FetchError::Http {
        url: url.to_string(),
        reason,
    };
    let mut response = request.call().map_err(|e| http(e.to_string()))?;
    let status = response.status().as_u16();
    let (mut file, mut received) = match status {
        206 => (
            std::fs::OpenOptions::new()
                .append(true)
                .open(&part)
                .map_err(io(&part))?,
            offset,
        ),
        200 => (std::fs::File::create(&part).map_err(io(&part))?, 0),
        416 => {
            // The part is as long as the file or longer: start again.
            std::fs::remove_file(&part).map_err(io(&part))?;
            return fetch(url, dir, file_name, sha256_prefix, progress);
        }
        other => return Err(http(format!("the server answered HTTP {other}"))),
    };
    let length: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let total = length.map(|l| l + received);
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 1 << 16];
    let interrupted = |received: u64, reason: String| FetchError::Interrupted {
        url: url.to_string(),
        received,
        expected: total.map_or_else(|| "?".into(), |t| t.to_string()),
        reason,
        part: part.clone(),
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                file.flush().map_err(io(&part))?;
                return Err(interrupted(received, e.to_string()));
            }
        };
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).map_err(io(&part))?;
        received += n as u64;
        progress(received, total);
    }
    file.sync_all().map_err(io(&part))?;
    drop(file);
    if let Some(t) = total.filter(|&t| t != received) {
        return Err(interrupted(received, format!("the server announced {t} bytes")));
    }
    if let Some(found) = verify(&part, sha256_prefix)? {
        std::fs::remove_file(&part).map_err(io(&part))?;
        return Err(FetchError::HashMismatch {
            url: url.to_string(),
            expected: sha256_prefix.unwrap_or_default().to_string(),
            found,
        });
    }
    std::fs::rename(&part, &dest).map_err(io(&dest))?;
    Ok(dest)
}

/// `None` when `path` hashes to `prefix` (a sha256 prefix, or `md5:<hex>` for a whole md5), or
/// there is none; otherwise the start of the actual hash.
pub fn verify(path: &Path, prefix: Option<&str>) -> Result<Option<String>, FetchError> {
    let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if let Some(md5) = prefix.strip_prefix("md5:") {
        let hash = md5_file(path)?;
        return Ok((hash != md5.to_ascii_lowercase()).then(|| format!("md5:{hash}")));
    }
    let hash = sha256_file(path)?;
    Ok((!hash.starts_with(&prefix.to_ascii_lowercase())).then(|| hash[..prefix.len().min(hash.len())].to_string()))
}
