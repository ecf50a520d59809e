//! Shared helpers.

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the integration tests find data sets (the shipped `datasets/`).
pub fn data_roots() -> Vec<PathBuf> {
    vec![root().join("datasets")]
}

/// The CPU device every test runs on.
pub fn device() -> burn::tensor::Device {
    kiln::device("flex").expect("flex is a default feature")
}

/// Runs one test of this binary in a child process (its own Burn backend state, its own random
/// generator) with extra environment variables, and panics with its output if it fails.
pub fn run_child_test(name: &str, envs: &[(&str, &std::ffi::OsStr)]) -> std::process::Output {
    let output = child_test(name, envs).output().expect("the test binary runs");
    assert!(
        output.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "{name} did not run (is it an #[ignore] test of this binary?):\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    output
}

/// The command that runs one ignored test of this binary in a child process.
pub fn child_test(name: &str, envs: &[(&str, &std::ffi::OsStr)]) -> std::process::Command {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = std::process::Command::new(exe);
    command
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads", "1"])
        .envs(envs.iter().map(|(k, v)| (*k, *v)));
    command
}
