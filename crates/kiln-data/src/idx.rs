//! The IDX file format (LeCun's MNIST distribution format), plain or gzipped.
//!
//! ```text
//! magic: 0x00 0x00 <type> <ndims>     type 0x08 = unsigned byte (the only type MNIST uses)
//! dims:  ndims big-endian u32
//! data:  prod(dims) values, row-major
//! ```
//! A gzipped file is recognised by its magic bytes (`1f 8b`), not by its name.

use super::DataError;
use flate2::{Compression, GzBuilder, read::GzDecoder};
use std::{
    io::{Read, Write},
    path::Path,
};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_U8: u8 = 0x08;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// `prod(dims)` values, row-major.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// The number of items along the first dimension.
    pub fn len(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads an IDX file, gunzipping it if it is gzipped.
///
/// Every defect is an error naming the file: a wrong magic number, a type other than unsigned
/// byte, a header or body shorter than the dimensions promise, trailing bytes, a corrupt gzip
/// stream.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray, DataError> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bytes = if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|reason| DataError::format(path, reason))
}

/// Parses the bytes of an (uncompressed) IDX file.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "not an IDX file: {} bytes, shorter than the 4-byte magic number",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "not an IDX file: magic number starts with {:#04x} {:#04x}, expected 0x00 0x00",
            bytes[0], bytes[1]
        ));
    }
    if bytes[2] != TYPE_U8 {
        return Err(format!(
            "IDX element type {:#04x} is not supported (only 0x08, unsigned byte)",
            bytes[2]
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err("IDX file declares 0 dimensions".into());
    }
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(format!(
            "truncated IDX header: {ndims} dimensions need {header_len} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("IDX dimensions {dims:?} overflow"))?;
    let body = &bytes[header_len..];
    if body.len() < count {
        return Err(format!(
            "truncated IDX data: dimensions {dims:?} need {count} bytes, file has {}",
            body.len()
        ));
    }
    if body.len() > count {
        return Err(format!(
            "IDX data longer than its dimensions {dims:?}: {} bytes, expected {count}",
            body.len()
        ));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// Encodes an array as IDX bytes (unsigned byte type).
pub fn encode_idx(array: &IdxArray) -> Result<Vec<u8>, String> {
    let count: usize = array.dims.iter().product();
    if count != array.data.len() {
        return Err(format!(
            "dimensions {:?} need {count} values, got {}",
            array.dims,
            array.data.len()
        ));
    }
    if array.dims.len() > u8::MAX as usize || array.dims.iter().any(|&d| d > u32::MAX as usize) {
        return Err(format!("dimensions {:?} do not fit IDX", array.dims));
    }
    let mut out = Vec::with_capacity(4 + 4 * array.dims.len() + count);
    out.extend_from_slice(&[0, 0, TYPE_U8, array.dims.len() as u8]);
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    Ok(out)
}

/// Writes an array as an IDX file, gzipped (with a zero timestamp, so the bytes are
/// reproducible) when `gzip` is true. The file is written atomically.
pub fn write_idx(path: impl AsRef<Path>, array: &IdxArray, gzip: bool) -> Result<(), DataError> {
    let path = path.as_ref();
    let bytes = encode_idx(array).map_err(|r| DataError::format(path, r))?;
    let bytes = if gzip {
        let mut encoder = GzBuilder::new().mtime(0).write(Vec::new(), Compression::best());
        encoder
            .write_all(&bytes)
            .and_then(|_| encoder.finish())
            .map_err(|e| DataError::io(path, e))?
    } else {
        bytes
    };
    kiln_core::fsutil::write_atomic(path, &bytes).map_err(|e| DataError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IdxArray {
        IdxArray {
            dims: vec![3, 2, 2],
            data: (0..12).collect(),
        }
    }

    #[test]
    fn round_trip_plain_and_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        for gzip in [false, true] {
            let path = dir.path().join(format!("a-{gzip}.idx"));
            write_idx(&path, &sample(), gzip).unwrap();
            let raw = std::fs::read(&path).unwrap();
            assert_eq!(raw.starts_with(&GZIP_MAGIC), gzip);
            assert_eq!(read_idx(&path).unwrap(), sample());
        }
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_defect() {
        let good = encode_idx(&sample()).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "shorter than the 4-byte magic"),
            (vec![1, 2, 8, 1, 0, 0, 0, 0], "magic number"),
            (vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "not supported"),
            (good[..10].to_vec(), "truncated IDX header"),
            (good[..good.len() - 1].to_vec(), "truncated IDX data"),
            ([good.clone(), vec![7]].concat(), "longer than its dimensions"),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, (bytes, expected)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("bad-{i}"));
            std::fs::write(&path, &bytes).unwrap();
            let msg = read_idx(&path).unwrap_err().to_string();
            assert!(msg.contains(expected), "case {i}: `{msg}` lacks `{expected}`");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        // A gzip stream cut short.
        let path = dir.path().join("cut.gz");
        write_idx(&path, &sample(), true).unwrap();
        let raw = std::fs::read(&path).unwrap();
        std::fs::write(&path, &raw[..raw.len() / 2]).unwrap();
        let msg = read_idx(&path).unwrap_err().to_string();
        assert!(msg.contains("corrupt gzip"), "{msg}");
        // A missing file.
        let msg = read_idx(dir.path().join("absent")).unwrap_err().to_string();
        assert!(msg.contains("cannot read"), "{msg}");
    }
}
