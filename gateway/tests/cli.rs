//! The `pbxgw` binary's offline commands, as an installer runs them.

use std::process::Command;

/// The binary, through `PBXGW_TEST_RUNNER` (e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`)
/// when the tests run for a foreign target.
fn command() -> Command {
    let bin = env!("CARGO_BIN_EXE_pbxgw");
    match std::env::var("PBXGW_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut c = Command::new(words.next().unwrap_or_default());
            c.args(words).arg(bin);
            c
        }
        _ => Command::new(bin),
    }
}

fn pbxgw(args: &[&str]) -> (i32, String, String) {
    let out = command().args(args).output().expect("run pbxgw");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("pbxgw.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn check_accepts_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let (code, template, _) = pbxgw(&["config-template"]);
    assert_eq!(code, 0);
    let path = write(&dir, &template);
    let (code, out, err) = pbxgw(&["check", "-c", &path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("valid"), "{out}");
}

#[test]
fn check_lists_every_problem_with_key_value_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "[gateway]\nid = \"site 1\"\n[[pbx]]\nname = \"a\"\nkind = \"ctip\"\nhost = \"10.0.0.1\"\nport = 0\n",
    );
    let (code, out, _) = pbxgw(&["check", "-c", &path]);
    assert_eq!(code, 1);
    assert!(out.contains("3 problem(s)"), "{out}");
    assert!(
        out.contains("gateway.id") && out.contains("\"site 1\""),
        "{out}"
    );
    assert!(out.contains("pbx[0].port") && out.contains("fix:"), "{out}");
    assert!(out.contains("pbx[0].pin"), "{out}");
}

#[test]
fn check_names_a_typo_and_never_echoes_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"a\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"Sup3rS3cret\"\nsecrett = 1\n",
    );
    let (code, out, err) = pbxgw(&["check", "-c", &path]);
    assert_eq!(code, 1);
    assert!(out.contains("secrett"), "{out}");
    assert!(
        !out.contains("Sup3rS3cret") && !err.contains("Sup3rS3cret"),
        "{out}{err}"
    );
}

#[test]
fn status_without_a_database_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        &format!(
            "[gateway]\nid = \"a\"\ndata_dir = {:?}\n",
            dir.path().join("data")
        ),
    );
    let (code, _, err) = pbxgw(&["status", "-c", &path]);
    assert_eq!(code, 1);
    assert!(err.contains("no event database"), "{err}");
}
