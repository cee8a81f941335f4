//! What the benchmarks share: a store as the gateway opens it for a burst (sync = full, a
//! large size cap, no maintenance during the run).

use std::path::Path;
use std::time::Duration;

use pbxgw::config::SyncMode;
use pbxgw::store::{self, Appender, StoreOptions, WriterHandle};

/// What the packaged systemd unit sets (`gateway/systemd/pbxgw.service`): a gateway process
/// a benchmark measures runs as the unit runs it.
pub const UNIT_MALLOC_ARENA_MAX: &str = "2";

pub fn store_options(dir: &Path, sinks: Vec<String>) -> StoreOptions {
    StoreOptions {
        path: dir.join("pbxgw.db"),
        sync: SyncMode::Full,
        max_size_bytes: 4 << 30,
        history_ms: 30 * 86_400_000,
        batch_max: 1000,
        batch_wait: Duration::ZERO,
        sinks,
        maintenance_every: Duration::from_secs(3600),
        hook: None,
        plan: pbxgw::config::SmsConfig::default().plan(),
        clock: pbxgw::clock::ClockTrust::Trusted,
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

/// A correlator feeding a store, as the gateway's pipeline does; the caller times it.
pub struct CorrelatedStore<C> {
    pub correlator: C,
    appender: Appender,
    writer: WriterHandle,
    last: Option<pbxgw::store::Receipt>,
    /// Call events handed to the store.
    pub stored: usize,
}

impl<C: pbxgw::calls::pipeline::Correlator> CorrelatedStore<C> {
    pub fn start(dir: &Path, correlator: C) -> anyhow::Result<CorrelatedStore<C>> {
        let (appender, writer) = start_store(dir)?;
        Ok(CorrelatedStore {
            correlator,
            appender,
            writer,
            last: None,
            stored: 0,
        })
    }

    /// One message at `ts`; `tick` runs the correlator's time-driven decisions first.
    pub async fn feed(
        &mut self,
        ts: i64,
        raw: &str,
        message: &C::Message,
        tick: bool,
    ) -> anyhow::Result<()> {
        let mut out = if tick {
            self.correlator.tick(ts)
        } else {
            Vec::new()
        };
        out.extend(self.correlator.on_message(ts, raw, message));
        for e in out {
            self.stored += 1;
            self.last = Some(self.appender.submit(e).await?);
        }
        Ok(())
    }

    /// Waits until the last call event has committed.
    pub async fn committed(&mut self) -> anyhow::Result<()> {
        if let Some(r) = self.last.take() {
            r.committed().await?;
        }
        Ok(())
    }

    /// Stops the writer; the correlator is handed back for checks.
    pub async fn stop(self) -> anyhow::Result<C> {
        drop(self.appender);
        let writer = self.writer;
        tokio::task::spawn_blocking(move || writer.join()).await?;
        Ok(self.correlator)
    }
}
