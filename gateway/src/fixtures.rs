//! Test access to `../shared/fixtures/` (real PBX traffic) beside the repository.

/// The text of a fixture file, e.g. `fixture("ctip/raw_stream_anon.txt")`.
pub(crate) fn fixture(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| {
        panic!(
            "fixture {} is missing ({e}); shared/ must sit beside the repository",
            full.display()
        )
    })
}
