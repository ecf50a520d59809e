//! The fuzz harness in CI: it must see a panic and a dead worker when there are some (its
//! self-test), and find none in Kiln's readers in 40 seconds of mutated files.

use std::process::Command;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

#[test]
fn the_harness_reports_panics_and_dead_workers() {
    let out = xtask()
        .args(["fuzz", "--seconds", "3", "--self-test"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("PANIC seed 1 panic 3") && text.contains("self-test panic"),
        "{text}"
    );
    assert!(text.contains("CRASH seed 1 case 6"), "{text}");
}

#[test]
fn readers_survive_forty_seconds_of_mutated_files() {
    let out = xtask()
        .args(["fuzz", "--seconds", "40", "--seed", "7"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(" cases in "), "{text}");
}
