//! `--backend NAME` for a backend this binary was built without: the command builds Kiln with
//! that backend's feature in a target directory of its own (`target/xtask-NAME`, so that the
//! next plain `cargo xtask` does not rebuild Burn) and runs itself there. Before any build, the
//! machine is probed for what the backend needs at run time (a Vulkan driver, an NVIDIA driver,
//! ...): a machine without it gets an error within seconds, not after a 20-minute build.

use std::path::{Path, PathBuf};

/// Where a Vulkan loader looks for drivers (ICD manifests).
const ICD_DIRS: [&str; 4] = [
    "/usr/share/vulkan/icd.d",
    "/etc/vulkan/icd.d",
    "/usr/local/share/vulkan/icd.d",
    "/usr/local/etc/vulkan/icd.d",
];

fn has_file(dirs: &[&str], suffix: &str) -> bool {
    dirs.iter().any(|d| {
        std::fs::read_dir(d).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(suffix))
        })
    })
}

fn library(names: &[&str]) -> bool {
    const LIB_DIRS: [&str; 5] = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ];
    names
        .iter()
        .any(|n| LIB_DIRS.iter().any(|d| Path::new(d).join(n).exists()))
}

/// What the backend needs at run time that this machine lacks, if anything.
pub fn missing(name: &str) -> Option<String> {
    match name {
        "wgpu" | "vulkan" => {
            let listed = std::env::var_os("VK_ICD_FILENAMES").or(std::env::var_os("VK_DRIVER_FILES"));
            let icd = listed.is_some() || has_file(&ICD_DIRS, ".json");
            let loader = library(&["libvulkan.so.1", "libvulkan.so"]);
            (!(icd && loader)).then(|| {
                format!(
                    "no Vulkan {} on this machine ({}): install your GPU's Vulkan driver, or Debian's \
                     `mesa-vulkan-drivers libvulkan1` for a software Vulkan device (lavapipe)",
                    if loader { "driver" } else { "loader (libvulkan.so.1)" },
                    if icd {
                        "a driver manifest is there"
                    } else {
                        "no driver manifest in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d"
                    }
                )
            })
        }
        "cuda" => (!library(&["libcuda.so.1", "libcuda.so"]))
            .then(|| "no NVIDIA driver on this machine (libcuda.so.1 not found)".to_string()),
        "rocm" => (!library(&["libamdhip64.so", "libamdhip64.so.6"])
            && !Path::new("/opt/rocm/lib/libamdhip64.so").exists())
        .then(|| "no ROCm / HIP runtime on this machine (libamdhip64.so not found)".to_string()),
        "metal" => (!cfg!(target_os = "macos")).then(|| "Metal exists on macOS only".to_string()),
        "tch" => {
            (std::env::var_os("LIBTORCH").is_none() && std::env::var_os("LIBTORCH_USE_PYTORCH").is_none()).then(|| {
                "LibTorch is not set up: run `source scripts/tch/setup.sh` (a venv with torch==2.9.0 and the variables \
             tch needs), then this command again"
                    .to_string()
            })
        }
        _ => None,
    }
}

/// When the command asks for a known backend this binary lacks: probes the machine, then builds
/// and runs `cargo xtask` with that backend, returning its exit code. `None` when there is
/// nothing to do (no `--backend`, or the backend is compiled in).
pub fn reexec_for_backend() -> Option<anyhow::Result<i32>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args
        .iter()
        .position(|a| a == "--backend")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| args.iter().find_map(|a| a.strip_prefix("--backend=").map(String::from)))?;
    let feature = kiln::core::backend::KNOWN_BACKENDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)?;
    if kiln::core::compiled_backends().contains(&name.as_str())
        || std::env::var_os("KILN_XTASK_BACKEND_BUILD").is_some()
    {
        return None;
    }
    Some(build_and_run(&name, feature, &args))
}

fn build_and_run(name: &str, feature: &str, args: &[String]) -> anyhow::Result<i32> {
    if let Some(why) = missing(name) {
        anyhow::bail!("backend `{name}` cannot run here: {why}");
    }
    let root = crate::workspace_root();
    let target: PathBuf = root.join("target").join(format!("xtask-{name}"));
    let first = !target.join("release").join("xtask").exists();
    eprintln!(
        "backend `{name}` is not in this build: building Kiln with it into {}{}",
        target.display(),
        if first {
            " (the first time, a second build of Burn with the GPU runtime: about 20–25 minutes on two cores; later runs start at once)"
        } else {
            ""
        }
    );
    let started = std::time::Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(&root)
        .args([
            "run",
            "--release",
            "--package",
            "xtask",
            "--features",
            feature,
            "--target-dir",
        ])
        .arg(&target)
        .arg("--")
        .args(args)
        .env("KILN_XTASK_BACKEND_BUILD", "1")
        .status()?;
    if first {
        eprintln!("(building and running took {:.0} s)", started.elapsed().as_secs_f64());
    }
    Ok(status.code().unwrap_or(1))
}
