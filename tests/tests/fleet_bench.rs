//! `fleet-bench`'s exactly-once check can fail: with its test hook deleting one central row
//! it must exit 1 naming the box, and pass on the same small fleet without it.
//!
//! It spawns native services and gateway processes, so it runs on the build host only.
#![cfg(target_arch = "x86_64")]

use std::process::Command;

fn fleet_bench(extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fleet-bench"))
        .args(["--boxes", "2", "--seconds", "9", "--burst", "30"])
        .args(extra)
        .output()
        .expect("run fleet-bench")
}

#[test]
fn the_exactly_once_check_fails_when_a_central_row_is_missing() {
    let dropped = fleet_bench(&["--test-drop-row"]);
    let out = String::from_utf8_lossy(&dropped.stdout);
    let err = String::from_utf8_lossy(&dropped.stderr);
    assert_eq!(dropped.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("deleted 1 central row"), "{out}");
    assert!(out.contains("FAILED for 1 checks"), "{out}");
    assert!(err.contains("box-000: PostgreSQL has"), "{err}");

    let whole = fleet_bench(&[]);
    let out = String::from_utf8_lossy(&whole.stdout);
    assert!(
        whole.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    assert!(out.contains("every seq of every box: passed"), "{out}");
}
