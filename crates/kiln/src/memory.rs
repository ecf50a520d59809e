//! Up-front memory checks of the commands: a batch, an input or an image size that the machine
//! cannot hold is an error naming the flag before anything large is allocated
//! ([`kiln_core::memory`] estimates).

use crate::{ImageClassifier, RegistryError, lookup};
use burn::tensor::Device;

/// Checks that `model` (of architecture `arch`) fits `batch` images of `input` (`[c, h, w]`) in
/// memory, training or not; `flags` names what set the size (`--batch-size 512 with 224×224
/// images`).
pub fn check<M: ImageClassifier>(
    model: &M,
    arch: &str,
    input: [usize; 3],
    batch: usize,
    training: bool,
    flags: &str,
    device: &Device,
) -> Result<(), String> {
    let info = lookup(arch).map_err(|e: RegistryError| e.to_string())?;
    // Measured at a small input of the same aspect that the architecture accepts.
    let side = info.min_size.max(64);
    let [c, h, w] = input;
    let scale = (side as f64 / h.min(w) as f64).min(1.0);
    let probe = [
        c,
        ((h as f64 * scale).round() as usize).max(info.min_size),
        ((w as f64 * scale).round() as usize).max(info.min_size),
    ];
    let needed = kiln_core::memory::estimate_bytes(model, input, probe, batch, training, device);
    kiln_core::memory::check_fits(needed, flags)
}
