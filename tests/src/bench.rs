//! What the benchmarks share: a store as the gateway opens it for a burst (sync = full, a
//! large size cap, no maintenance during the run).

use std::path::Path;
use std::time::Duration;

use pbxgw::config::SyncMode;
use pbxgw::store::{self, Appender, StoreOptions, WriterHandle};

pub fn store_options(dir: &Path, sinks: Vec<String>) -> StoreOptions {
    StoreOptions {
        path: dir.join("pbxgw.db"),
        sync: SyncMode::Full,
        max_size_bytes: 4 << 30,
        history_ms: 30 * 86_400_000,
        batch_max: 1000,
        batch_wait: Duration::from_millis(2),
        sinks,
        maintenance_every: Duration::from_secs(3600),
        sms: None,
    }
}

/// Opens a store in `dir` and starts its writer on the current runtime.
pub fn start_store(dir: &Path) -> anyhow::Result<(Appender, WriterHandle)> {
    let options = store_options(dir, vec![]);
    let (appender, writer, _) = store::spawn_writer(
        store::open(&options)?,
        options.clone(),
        tokio::runtime::Handle::current(),
    )?;
    Ok((appender, writer))
}
