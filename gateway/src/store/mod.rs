//! The store: the gateway's durable event log in one SQLite file, and the only writer to it.
//!
//! # What is durable when
//!
//! * Producers hand [`CallEvent`]s to the [`Appender`]. An event is **accepted** when the
//!   SQLite transaction that holds it has committed; only then does its [`Receipt`] resolve to
//!   its `seq`. Before that the event lives only in memory and a crash loses it (the producer
//!   has not been told it was accepted).
//! * `seq` is assigned by the single writer task, starts at 1, increases by exactly 1 per
//!   event and is never reused: rows are only ever deleted from the head, and the last
//!   assigned value is kept in `meta.last_seq` even when every row is gone.
//! * Group commit: the writer takes every event already waiting (up to `store.batch_max`)
//!   and commits them in one transaction at once: events that arrive while one commit
//!   syncs form the next (`store.batch_wait_ms` can add a wait for more; default 0). The
//!   `calls` table and the sink cursors change in that same transaction, so after any crash
//!   they agree with the log.
//! * Sinks read the log from their own cursor and tell the writer what the far side has
//!   acknowledged; the writer stores the cursor with its next transaction. A crash can
//!   therefore lose the latest cursor moves, never events: after a restart a sink resends
//!   from its stored cursor (at-least-once; every message carries `(gateway_id, seq)`).
//!
//! # What a power cut can lose
//!
//! The database runs in WAL mode. A separate thread copies the WAL back into the database
//! file every half second (a passive checkpoint), so commits never wait for that.
//! * `sync = "full"`: every commit is fsynced before receipts resolve. A power cut loses no
//!   accepted event.
//! * `sync = "normal"`: commits reach the OS at once but are fsynced only at WAL checkpoints.
//!   A power cut can lose the batches accepted since the last checkpoint (about half a second
//!   of traffic); the database itself stays consistent,
//!   and `seq` continues from the last durable value, so central sees no reuse of a seq it
//!   already received only if that seq was lost before reaching it.
//!
//! # Retention, the size cap and a full disk
//!
//! * Every minute, rows acknowledged by every configured sink and older than
//!   `store.history_days` are deleted from the head. With no sink configured nothing is
//!   waiting for delivery and rows are kept only for the history window.
//! * When the pages in use exceed `store.max_size_mb`, the oldest tenth of the rows goes,
//!   acknowledged or not. Unacknowledged rows dropped that way are counted in
//!   `meta.evicted_unacked`, logged as an error and shown by `pbxgw status`, the MQTT status
//!   and the fault LED — never silent, never a crash.
//! * When the file system holding the store runs low, the oldest rows go before SQLite
//!   hits ENOSPC (the file shrinks to leave room), but only while the rows take more than a
//!   floor: when something else filled the disk, the store keeps its newest rows and the
//!   room it holds. From then on it recycles that room: before each batch the oldest rows
//!   are evicted until the file's free pages hold the batch, and the WAL is rewritten from
//!   its start rather than truncated, so a neighbour that takes every freed byte cannot
//!   starve it.
//! * When SQLite reports the disk full anyway, a reserve file kept beside the database is
//!   released (room for a checkpoint of the WAL at its limit and an eviction), the oldest
//!   rows are evicted the same way and the batch is retried once; if that fails the
//!   producers' receipts resolve to [`StoreError`] (those events were not accepted) and the
//!   writer carries on. The reserve is taken again once that much is free.
//!
//! # Corruption
//!
//! At start the database is checked with `PRAGMA quick_check`. A file that fails is moved
//! aside (with its `-wal`/`-shm`) as `pbxgw.db.corrupt-<time>` for analysis, a fresh database
//! is created, and the quarantine is counted and reported. The new database continues `seq`
//! after the last value that can still be read from the old one; when none can, it starts
//! from a time-based floor (Unix ms × 1000) so central never mistakes new events for
//! duplicates of old ones. The service never crash-loops over a bad file.

mod callbacks;
mod calls_table;
mod codec;
mod error;
mod export;
mod missed;
mod open;
mod reader;
mod report;
mod reserve;
mod schema;
mod writer;

pub(crate) use codec::decode_body;
pub use codec::encode_body;
pub(crate) use error::{NotAccepted, StoreError};
pub use export::{Csv, ExportError, ReportTable, Separator, EXPORT_PAGE};
pub use missed::{Callback, ClosedBy, MissedCaller};
pub use open::{open, Opened, Quarantine};
pub use reader::{
    AgentNow, AsyncReader, CallQuery, CallSummary, SinkBacklog, StoreReader, StoreStats,
    StoredEvent,
};
pub use report::{AgentCounts, Callbacks, HourCounts, QueueCounts, Report, Totals};
pub use writer::{spawn_writer, Appender, Receipt, WriterHandle};

use crate::calls::CallEvent;

/// Where the store's file lives and how it behaves; built from `[store]` and `[gateway]`.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub path: std::path::PathBuf,
    pub sync: crate::config::SyncMode,
    pub max_size_bytes: u64,
    pub history_ms: i64,
    pub batch_max: usize,
    pub batch_wait: std::time::Duration,
    /// Names of the configured sinks; only they hold back retention (the runtime fills them
    /// in: the store knows no uplink).
    pub sinks: Vec<String>,
    /// How often retention and the size cap are checked.
    pub maintenance_every: std::time::Duration,
    /// Work another stage does inside each batch's transaction (the SMS rules); `None`: none.
    pub hook: Option<std::sync::Arc<dyn BatchHook>>,
    /// How the site writes numbers: a missed caller is matched with its callback in E.164.
    pub plan: crate::numbers::NumberPlan,
    /// Whether events are flagged `clock_unsynced` while the clock is not known to be right.
    pub clock: crate::clock::ClockTrust,
}

/// Work another stage does inside each batch's transaction, so that what a batch triggers
/// (an SMS a rule queues) commits or rolls back with it. The store owns the trait; the SMS
/// stage implements it, so the store knows nothing of SMS.
pub trait BatchHook: Send + Sync + std::fmt::Debug {
    /// Runs in the batch's transaction; returns how many follow-ups it queued. Its own
    /// failures are its to log: they never cost the events their place in the log.
    fn in_batch(&self, tx: &rusqlite::Transaction<'_>, events: &[&CallEvent], now: i64) -> usize;
    /// The batch committed with `queued` follow-ups (more than zero).
    fn committed(&self, queued: usize);
}

impl StoreOptions {
    pub fn from_config(config: &crate::config::Config) -> StoreOptions {
        StoreOptions {
            path: config.db_path(),
            sync: config.store.sync,
            max_size_bytes: config.store.max_size_mb * 1024 * 1024,
            history_ms: i64::from(config.store.history_days) * 86_400_000,
            batch_max: config.store.batch_max,
            batch_wait: std::time::Duration::from_millis(config.store.batch_wait_ms),
            sinks: Vec::new(),
            maintenance_every: std::time::Duration::from_secs(60),
            hook: None,
            plan: config.sms.plan(),
            clock: config.gateway.clock,
        }
    }
}

/// A connection beside the writer, for the tables other parts own (the SMS queue, the
/// contact directory); it waits for the writer's transactions instead of failing.
pub(crate) fn side_connection(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// A new migrated database in `dir`, for the tests of the tables beside the log.
#[cfg(test)]
pub(crate) fn migrated_db(dir: &std::path::Path) -> std::path::PathBuf {
    let config = crate::config::Config::from_toml("[gateway]\nid = \"t\"\n", "t.toml".as_ref())
        .expect("a minimal config");
    let options = StoreOptions {
        path: dir.join("gateway.db"),
        ..StoreOptions::from_config(&config)
    };
    drop(open(&options).expect("a new database"));
    options.path
}

/// Kept public for producers that build events by hand (tests, the demo feeder).
pub type Event = CallEvent;

#[cfg(test)]
mod tests;

/// For other stages' tests: real traffic through a real store.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Stores `events` (any age: retention is set past them) in a fresh database in `dir`,
    /// waits until the writer has stopped, and opens a reader on it.
    pub(crate) async fn stored(dir: &std::path::Path, events: Vec<CallEvent>) -> StoreReader {
        stored_with(dir, events, None).await
    }

    /// [`stored`], with `hook` run in each batch as the runtime runs the SMS rules.
    pub(crate) async fn stored_with(
        dir: &std::path::Path,
        events: Vec<CallEvent>,
        hook: Option<std::sync::Arc<dyn BatchHook>>,
    ) -> StoreReader {
        let options = StoreOptions {
            path: dir.join("pbxgw.db"),
            sync: crate::config::SyncMode::Normal,
            max_size_bytes: 512 * 1024 * 1024,
            history_ms: 20 * 365 * 86_400_000,
            batch_max: 1000,
            batch_wait: std::time::Duration::from_millis(1),
            sinks: Vec::new(),
            maintenance_every: std::time::Duration::from_secs(3600),
            hook,
            plan: crate::config::SmsConfig::default().plan(),
            clock: crate::clock::ClockTrust::Trusted,
        };
        let opened = open(&options).expect("store opens");
        let (appender, writer, _) =
            spawn_writer(opened, options.clone(), tokio::runtime::Handle::current())
                .expect("writer starts");
        let mut receipts = Vec::new();
        for event in events {
            receipts.push(appender.submit(event).await.expect("queued"));
        }
        for receipt in receipts {
            receipt.committed().await.expect("stored");
        }
        drop(appender);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .expect("writer stops");
        StoreReader::open(&options.path).expect("reader opens")
    }

    /// `events` stored, then each agent's (calls, answered, missed) since the epoch, as
    /// `(agent, calls, answered, missed)` in the agents' order.
    pub(crate) async fn agent_counts_of(events: Vec<CallEvent>) -> Vec<(String, u64, u64, u64)> {
        let dir = tempfile::tempdir().expect("temp dir");
        stored(dir.path(), events)
            .await
            .agent_counts(0, i64::MAX)
            .expect("counts")
            .into_iter()
            .map(|a| (a.agent, a.calls, a.answered, a.missed))
            .collect()
    }
}
