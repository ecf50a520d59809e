//! A checkpoint's first convolution for another number of input channels, as timm's
//! `adapt_input_conv` does: an RGB filter `[o, 3, k, k]` becomes a grey one by summing its three
//! input channels (a grey image `g` seen as `(g, g, g)` gives the same response), or, for `c`
//! channels other than 3, the RGB filter repeated over `c` channels and scaled by `3 / c`.

use burn::store::burn_pack::Tensor as PackTensor;
use burn::tensor::{Bytes, DType, TensorData};

/// Whether `found` (the file's shape) is `expected` (the model's) with 3 input channels instead
/// of `expected[1]`: a convolution weight that [`adapt`] can convert.
pub fn adaptable(expected: &[usize], found: &[usize]) -> bool {
    expected.len() == 4
        && found.len() == 4
        && found[1] == 3
        && expected[1] != 3
        && expected[1] > 0
        && expected[0] == found[0]
        && expected[2..] == found[2..]
}

/// The tensor `t` (`[o, 3, kh, kw]`) for `channels` input channels, as f32.
pub fn adapt(t: &PackTensor, channels: usize) -> Result<PackTensor, String> {
    let dims: Vec<usize> = t.shape.to_vec();
    let [o, three, kh, kw] = [dims[0], dims[1], dims[2], dims[3]];
    if three != 3 {
        return Err(format!("{}: expected 3 input channels, found {three}", t.name));
    }
    let bytes = t.to_bytes().map_err(|e| format!("{}: {e}", t.name))?;
    let values: Vec<f32> = TensorData::from_bytes(bytes, dims.clone(), t.dtype)
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{}: {e:?}", t.name))?;
    let plane = kh * kw;
    let mut out = vec![0f32; o * channels * plane];
    for f in 0..o {
        let src = &values[f * 3 * plane..][..3 * plane];
        let dst = &mut out[f * channels * plane..][..channels * plane];
        if channels == 1 {
            for c in 0..3 {
                for (d, s) in dst.iter_mut().zip(&src[c * plane..][..plane]) {
                    *d += s;
                }
            }
        } else {
            let scale = 3.0 / channels as f32;
            for c in 0..channels {
                for (d, s) in dst[c * plane..][..plane]
                    .iter_mut()
                    .zip(&src[(c % 3) * plane..][..plane])
                {
                    *d = s * scale;
                }
            }
        }
    }
    Ok(PackTensor::new(
        t.name.clone(),
        DType::F32,
        [o, channels, kh, kw],
        t.param_id,
        Bytes::from_elems(out),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb() -> PackTensor {
        // Two filters of 1×1: (1, 2, 3) and (4, 5, 6).
        let v: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        PackTensor::new(
            "conv1.weight".into(),
            DType::F32,
            [2, 3, 1, 1],
            None,
            Bytes::from_elems(v),
        )
    }

    fn values(t: &PackTensor) -> Vec<f32> {
        TensorData::from_bytes(t.to_bytes().unwrap(), t.shape.to_vec(), t.dtype)
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn grey_sums_and_other_counts_repeat_scaled() {
        assert!(adaptable(&[2, 1, 1, 1], &[2, 3, 1, 1]));
        assert!(!adaptable(&[2, 1, 3, 3], &[2, 3, 1, 1]) && !adaptable(&[4, 1, 1, 1], &[2, 3, 1, 1]));
        assert_eq!(values(&adapt(&rgb(), 1).unwrap()), [6.0, 15.0]);
        let four = adapt(&rgb(), 4).unwrap();
        assert_eq!(four.shape.to_vec(), [2, 4, 1, 1]);
        let s = 0.75;
        assert_eq!(
            values(&four),
            [s, 2.0 * s, 3.0 * s, s, 4.0 * s, 5.0 * s, 6.0 * s, 4.0 * s]
        );
    }
}
