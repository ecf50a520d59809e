//! Backend selection: every Kiln binary takes `--backend NAME` and maps it to a Burn [`Device`]
//! at run time. Which names work depends on the cargo features the binary was built with.
//!
//! | name | cargo feature | device |
//! |---|---|---|
//! | `flex` | `flex` | Burn's pure-Rust CPU backend (the default: see [`DEFAULT_BACKEND`]) |
//! | `ndarray` | `ndarray` | the ndarray CPU backend (deprecated upstream, kept for comparison) |
//! | `cpu` | `cpu` | CubeCL's CPU backend (JIT-compiled kernels) |
//! | `wgpu` | `wgpu` | a GPU through wgpu (Vulkan, Metal, DX12 or a software Vulkan device), with fusion + autotune |
//! | `vulkan` | `vulkan` | wgpu pinned to Vulkan (SPIR-V kernels), with fusion + autotune |
//! | `cuda` | `cuda` | NVIDIA GPUs through CubeCL (driver and NVRTC loaded at run time), with fusion + autotune |
//! | `rocm` | `rocm` | AMD GPUs through CubeCL's HIP runtime, with fusion + autotune |
//! | `metal` | `metal` | Apple GPUs, wgpu pinned to Metal |
//! | `tch` | `tch` | LibTorch (PyTorch's kernels; `scripts/tch/setup.sh`) |

use burn::tensor::Device;
use thiserror::Error;

/// The backend used when none is named. Chosen by measuring LeNet-5 training throughput on
/// the 2-core CI machine (README, "Backends"): `flex` was the fastest CPU backend there.
pub const DEFAULT_BACKEND: &str = "flex";

/// Every backend name Kiln knows, with the cargo feature that compiles it in.
pub const KNOWN_BACKENDS: [(&str, &str); 9] = [
    ("flex", "flex"),
    ("ndarray", "ndarray"),
    ("cpu", "cpu"),
    ("wgpu", "wgpu"),
    ("vulkan", "vulkan"),
    ("cuda", "cuda"),
    ("rocm", "rocm"),
    ("metal", "metal"),
    ("tch", "tch"),
];

/// What each backend needs at build and at run time, for `cargo xtask list`.
pub fn requirements(name: &str) -> &'static str {
    match name {
        "flex" => "nothing (pure Rust)",
        "ndarray" => "nothing (pure Rust)",
        "cpu" => {
            "network access at build time (cubecl-llvm's build script downloads an LLVM bundle); kernels are JIT-compiled by LLVM at run time (slow first steps)"
        }
        "wgpu" => {
            "a Vulkan, Metal or DX12 driver at run time (Debian: mesa-vulkan-drivers gives a software Vulkan device)"
        }
        "vulkan" => "a Vulkan driver at run time (mesa-vulkan-drivers for software Vulkan)",
        "cuda" => {
            "network access at build time (cubecl-llvm's build script downloads an LLVM bundle; no CUDA toolkit); an NVIDIA driver and CUDA's NVRTC at run time"
        }
        "rocm" => {
            "network access at build time (cubecl-llvm downloads an LLVM bundle); ROCm / HIP at run time (Linux, AMD GPU)"
        }
        "metal" => "macOS (Metal); not usable on Linux",
        "tch" => {
            "LibTorch 2.9: scripts/tch/setup.sh makes a venv with torch==2.9.0 and sets LIBTORCH_USE_PYTORCH; a C++ compiler"
        }
        _ => "",
    }
}

/// Why a backend name could not be turned into a device.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BackendError {
    /// The name is not a backend Kiln knows.
    #[error("unknown backend `{name}`; valid backends in this build: {}", .compiled.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The backends compiled into this binary.
        compiled: Vec<&'static str>,
    },
    /// Kiln knows the backend, but this binary was built without its cargo feature.
    #[error(
        "backend `{name}` is not compiled into this binary (rebuild with `--features {feature}`); \
         valid backends in this build: {}", .compiled.join(", ")
    )]
    NotCompiled {
        /// The name asked for.
        name: String,
        /// The cargo feature that enables it.
        feature: &'static str,
        /// The backends compiled into this binary.
        compiled: Vec<&'static str>,
    },
    /// The backend is compiled in but found no usable device (e.g. wgpu without any adapter).
    #[error("backend `{name}` has no usable device: {reason}")]
    Unavailable {
        /// The name asked for.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// The backend names compiled into this binary, in [`KNOWN_BACKENDS`] order.
pub fn compiled_backends() -> Vec<&'static str> {
    KNOWN_BACKENDS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| is_compiled(name))
        .collect()
}

fn is_compiled(name: &str) -> bool {
    match name {
        "flex" => cfg!(feature = "flex"),
        "ndarray" => cfg!(feature = "ndarray"),
        "cpu" => cfg!(feature = "cpu"),
        "wgpu" => cfg!(feature = "wgpu"),
        "vulkan" => cfg!(feature = "vulkan"),
        "cuda" => cfg!(feature = "cuda"),
        "rocm" => cfg!(feature = "rocm"),
        "metal" => cfg!(feature = "metal"),
        "tch" => cfg!(feature = "tch"),
        _ => false,
    }
}

/// Maps a backend name to its Burn device (without autodiff; call `.autodiff()` to train).
///
/// `wgpu` is probed with a tiny computation first, so that a machine without any adapter gets
/// [`BackendError::Unavailable`] rather than a panic deep inside the first forward pass.
pub fn device(name: &str) -> Result<Device, BackendError> {
    let compiled = compiled_backends();
    let Some((_, feature)) = KNOWN_BACKENDS.iter().find(|(n, _)| *n == name) else {
        return Err(BackendError::Unknown {
            name: name.to_string(),
            compiled,
        });
    };
    if !is_compiled(name) {
        return Err(BackendError::NotCompiled {
            name: name.to_string(),
            feature,
            compiled,
        });
    }
    Ok(make_device(name))
}

#[allow(unreachable_code, deprecated)]
fn make_device(name: &str) -> Device {
    match name {
        #[cfg(feature = "flex")]
        "flex" => Device::flex(),
        #[cfg(feature = "ndarray")]
        "ndarray" => Device::ndarray(),
        #[cfg(feature = "cpu")]
        "cpu" => Device::cpu(),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "vulkan")]
        "vulkan" => Device::vulkan(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        #[cfg(feature = "rocm")]
        "rocm" => Device::rocm(0),
        #[cfg(feature = "metal")]
        "metal" => Device::metal(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "tch")]
        "tch" => Device::libtorch(),
        _ => unreachable!("`{name}` was checked to be compiled in"),
    }
}

/// Like [`device`], then runs a one-element computation on it, turning a panic of the backend
/// (e.g. "no adapter found" from wgpu on a machine without a GPU) into
/// [`BackendError::Unavailable`].
pub fn checked_device(name: &str) -> Result<Device, BackendError> {
    let device = device(name)?;
    let probe = device.clone();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(move || {
        let t = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &probe);
        t.sum().into_scalar::<f32>()
    });
    std::panic::set_hook(previous_hook);
    match result {
        Ok(v) if v == 3.0 => Ok(device),
        Ok(v) => Err(BackendError::Unavailable {
            name: name.to_string(),
            reason: format!("probe computation 1 + 2 returned {v}"),
        }),
        Err(payload) => Err(BackendError::Unavailable {
            name: name.to_string(),
            reason: payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the backend panicked while starting".into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_lists_valid_backends() {
        let err = device("tpu").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown backend `tpu`"), "{msg}");
        for name in compiled_backends() {
            assert!(msg.contains(name), "{msg} should list {name}");
        }
    }

    #[test]
    fn known_but_missing_feature_names_the_feature() {
        for (name, feature) in KNOWN_BACKENDS {
            if !compiled_backends().contains(&name) {
                let msg = device(name).unwrap_err().to_string();
                assert!(msg.contains(&format!("--features {feature}")), "{msg}");
            }
        }
    }

    #[test]
    fn default_backend_is_known() {
        assert!(KNOWN_BACKENDS.iter().any(|(n, _)| *n == DEFAULT_BACKEND));
    }
}
