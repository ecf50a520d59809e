//! Runs killed with `kill -9`, mid-epoch and inside a checkpoint write (a fault-injection hook,
//! `KILN_FAULT`, aborts the process there), then resumed: they end where an uninterrupted run
//! ends.

use std::{path::Path, time::Duration};

/// Epochs of the runs below.
const EPOCHS: usize = 4;

/// A LeNet-5 run of `EPOCHS` epochs on 2,000 MNIST images into `$KILN_TEST_RUN_DIR`, resumed
/// when `$KILN_TEST_RESUME` is set; writes the final test accuracy to `accuracy.txt` (run in a
/// child process by the tests below).
#[test]
#[ignore = "run in a child process by the interruption tests"]
fn interrupted_child_run() {
    let Some(out) = std::env::var_os("KILN_TEST_RUN_DIR") else {
        return;
    };
    let config = kiln::tasks::TrainConfig {
        fit: kiln_train::FitConfig {
            epochs: EPOCHS,
            train_limit: Some(2_000),
            valid_size: 500,
            augment: Some("crop:28,pad=2".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let resume = std::env::var_os("KILN_TEST_RESUME").is_some();
    let report = kiln::tasks::train(&config, &super::common::data_roots(), Path::new(&out), resume).unwrap();
    std::fs::write(
        Path::new(&out).join("accuracy.txt"),
        format!("{}", report.test.accuracy),
    )
    .unwrap();
}

fn run(dir: &Path, resume: bool, fault: Option<&str>) -> std::process::ExitStatus {
    let mut command = super::common::child_test(
        "interrupted::interrupted_child_run",
        &[("KILN_TEST_RUN_DIR", dir.as_os_str())],
    );
    if resume {
        command.env("KILN_TEST_RESUME", "1");
    }
    if let Some(f) = fault {
        command.env("KILN_FAULT", f);
    }
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command.status().unwrap()
}

fn accuracy(dir: &Path) -> f64 {
    std::fs::read_to_string(dir.join("accuracy.txt"))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn killed_runs_resume_to_the_same_result() {
    let whole = tempfile::tempdir().unwrap();
    assert!(run(whole.path(), false, None).success());
    let expected = accuracy(whole.path());

    // Killed inside the write of epoch 2's optimizer checkpoint: the record is in its temporary
    // file, not yet renamed into place.
    let mid_write = tempfile::tempdir().unwrap();
    assert!(!run(mid_write.path(), false, Some("checkpoint-optim-2")).success());
    let ckpt = mid_write.path().join("checkpoint");
    let files: Vec<String> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !ckpt.join("optim-2.bpk").exists() && files.iter().any(|f| f.starts_with("optim-2.bpk.tmp")),
        "{files:?}"
    );
    assert!(run(mid_write.path(), true, None).success());
    let after_write = accuracy(mid_write.path());

    // Killed (SIGKILL) in the middle of epoch 2.
    let mid_epoch = tempfile::tempdir().unwrap();
    let mut child = super::common::child_test(
        "interrupted::interrupted_child_run",
        &[("KILN_TEST_RUN_DIR", mid_epoch.path().as_os_str())],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let first = mid_epoch.path().join("checkpoint/scheduler-1.bpk");
    let started = std::time::Instant::now();
    while !first.exists() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before it finished");
    assert!(run(mid_epoch.path(), true, None).success());
    let after_kill = accuracy(mid_epoch.path());

    println!("uninterrupted {expected}, killed mid-write {after_write}, killed mid-epoch {after_kill}");
    assert!((after_write - expected).abs() <= 0.003, "{after_write} vs {expected}");
    assert!((after_kill - expected).abs() <= 0.003, "{after_kill} vs {expected}");
}
