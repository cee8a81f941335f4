//! Simulated PBX peers that speak the real protocols and replay captured traffic.

pub mod ami;
pub mod ctip;
pub mod modem;

/// The text of a file under `../shared/fixtures/` beside the repository.
pub fn fixture(path: &str) -> String {
    String::from_utf8_lossy(&fixture_bytes(path)).into_owned()
}

/// The bytes of a file under `../shared/fixtures/` beside the repository.
pub fn fixture_bytes(path: &str) -> Vec<u8> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| {
        panic!(
            "fixture {} is missing ({e}); shared/ must sit beside the repository",
            full.display()
        )
    })
}
