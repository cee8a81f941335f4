//! Test access to `../shared/fixtures/` (real PBX traffic) beside the repository; declared
//! under #[cfg(test)] in lib.rs.

fn path(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(path)
}

/// The bytes of a fixture file, e.g. `fixture_bytes("asterisk/ami_session.raw")`.
pub(crate) fn fixture_bytes(name: &str) -> Vec<u8> {
    let full = path(name);
    std::fs::read(&full).unwrap_or_else(|e| {
        panic!(
            "fixture {} is missing ({e}); shared/ must sit beside the repository",
            full.display()
        )
    })
}

/// The text of a fixture file, e.g. `fixture("ctip/raw_stream_anon.txt")`.
pub(crate) fn fixture(name: &str) -> String {
    String::from_utf8_lossy(&fixture_bytes(name)).into_owned()
}
