//! `--backend NAME` for a backend this build lacks: `cargo xtask list` says what each one needs,
//! and on a machine without a Vulkan driver `cargo xtask train resnet --backend wgpu` fails within
//! seconds, before any build, naming the missing piece and the package that provides it.

use std::process::Command;
use std::time::{Duration, Instant};

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

fn has_vulkan() -> bool {
    let icd = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()));
    let loader = ["/usr/lib/x86_64-linux-gnu/libvulkan.so.1", "/usr/lib/libvulkan.so.1"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    icd && loader
}

#[test]
fn list_names_every_backend_and_what_it_needs() {
    let out = xtask().arg("list").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for (name, _) in kiln::core::backend::KNOWN_BACKENDS {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("`{name}` missing from:\n{text}"));
        assert!(
            line.contains("compiled in") || line.contains("built on first use") || line.contains("not usable here"),
            "{line}"
        );
    }
    assert!(text.contains("needs: LibTorch 2.9"), "{text}");
}

#[test]
fn wgpu_without_a_vulkan_driver_fails_fast_and_names_the_package() {
    if has_vulkan() {
        println!("skipped: this machine has a Vulkan driver, so the command would build and train");
        return;
    }
    let started = Instant::now();
    let out = xtask()
        .args(["train", "resnet", "--backend", "wgpu", "--max-steps", "5"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(err.contains("backend `wgpu` cannot run here"), "{err}");
    assert!(err.contains("Vulkan") && err.contains("mesa-vulkan-drivers"), "{err}");
    assert!(!err.contains("building Kiln"), "it must not start a build: {err}");
}
