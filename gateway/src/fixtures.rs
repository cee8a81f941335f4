//! Real PBX traffic (`shared/fixtures/`: the Slican CTIP stream, the Asterisk AMI and ARI
//! captures) for the unit tests and the simulators of `pbxgw demo`. By default the folder beside
//! the repository the binary was built from; `pbxgw demo --fixtures DIR` points elsewhere.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// The files the simulators replay.
#[cfg(feature = "demo")]
pub(crate) const REPLAYED: [&str; 5] = [
    "ctip/raw_stream_anon_timed.tsv",
    "asterisk/ami_session.raw",
    "asterisk/ami_session.chunks.jsonl",
    "asterisk/ari_events.jsonl",
    "asterisk/ari_rest.jsonl",
];

#[derive(Debug, thiserror::Error)]
#[error(
    "fixture {path} cannot be read ({source}); pass --fixtures with the shared/fixtures folder"
)]
pub struct FixtureMissing {
    path: PathBuf,
    source: std::io::Error,
}

/// Where the fixtures are: the folder set by [`use_dir`], else the build's.
pub fn dir() -> PathBuf {
    DIR.get()
        .cloned()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"))
}

/// Takes the fixtures from `dir` from now on, once every replayed file is there. Only the
/// first call sets it.
#[cfg(feature = "demo")]
pub(crate) fn use_dir(dir: &Path) -> Result<(), FixtureMissing> {
    for name in REPLAYED {
        let path = dir.join(name);
        std::fs::metadata(&path).map_err(|source| FixtureMissing { path, source })?;
    }
    let _ = DIR.set(dir.to_owned());
    Ok(())
}

/// The bytes of a fixture file, e.g. `fixture_bytes("asterisk/ami_session.raw")`. The
/// simulators and tests treat a missing fixture as a broken checkout: `pbxgw demo` checks
/// them first with [`use_dir`].
pub(crate) fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(source) => panic!("{}", FixtureMissing { path, source }), // ok: a broken checkout
    }
}

/// The text of a fixture file, e.g. `fixture("ctip/raw_stream_anon.txt")`.
pub fn fixture(name: &str) -> String {
    String::from_utf8_lossy(&fixture_bytes(name)).into_owned()
}
