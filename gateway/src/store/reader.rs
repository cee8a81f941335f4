//! Reading the log: sinks drain it from their cursors; `pbxgw status`/`events` inspect it.
//! Readers use their own connections (WAL lets them read while the writer commits).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension};

use super::codec::decode_body;
use super::StoreError;
use crate::calls::EventBody;
use crate::config::SyncMode;

/// One row of the log as read back.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub ts_ms: i64,
    pub source: String,
    pub pbx: String,
    pub kind: String,
    pub call_id: Option<String>,
    pub raw: Option<String>,
    /// `Err` with the reason when the body cannot be decoded (written by a newer version,
    /// or damaged); the envelope fields are still good.
    pub body: Result<EventBody, String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SinkBacklog {
    pub sink: String,
    pub acked_seq: u64,
    /// Events not yet acknowledged by this sink.
    pub backlog: u64,
    /// Timestamp of the oldest event this sink has not had acknowledged.
    pub oldest_unacked_ms: Option<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreStats {
    pub last_seq: u64,
    pub first_seq: Option<u64>,
    pub rows: u64,
    /// Unacknowledged events removed at the size cap or on a full disk.
    pub dropped: u64,
    pub evicted_total: u64,
    pub quarantined: u64,
    pub last_quarantine: Option<String>,
    /// Database file plus its WAL, in bytes.
    pub db_bytes: u64,
    pub sinks: Vec<SinkBacklog>,
}

pub struct StoreReader {
    conn: Connection,
    path: std::path::PathBuf,
}

impl StoreReader {
    pub fn open(path: &Path) -> Result<StoreReader, StoreError> {
        let conn = super::open::connect(path, SyncMode::Normal)?;
        conn.execute_batch("PRAGMA query_only = 1")
            .map_err(StoreError::sql("opening a reader"))?;
        Ok(StoreReader {
            conn,
            path: path.to_owned(),
        })
    }

    /// Up to `limit` events with `seq > after`, in order.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let doing = "reading events";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, ts_ms, source, pbx, kind, call_id, raw, body FROM events
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(StoreError::sql(doing))?;
        let rows = stmt
            .query_map((after as i64, limit as i64), |r| {
                let body: Vec<u8> = r.get(7)?;
                Ok(StoredEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    ts_ms: r.get(1)?,
                    source: r.get(2)?,
                    pbx: r.get(3)?,
                    kind: r.get(4)?,
                    call_id: r.get(5)?,
                    raw: r.get(6)?,
                    body: decode_body(&body).map_err(|e| e.to_string()),
                })
            })
            .map_err(StoreError::sql(doing))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::sql(doing))
    }

    pub fn cursor(&self, sink: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT acked_seq FROM sink_cursor WHERE sink = ?1",
                [sink],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sql("reading a sink cursor"))?;
        Ok(seq.unwrap_or(0).max(0) as u64)
    }

    fn meta_int(&self, key: &str) -> Result<u64, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(StoreError::sql("reading meta"))?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    /// All figures from one snapshot, so they agree with each other even while the writer
    /// evicts or commits.
    pub fn stats(&self, sinks: &[String]) -> Result<StoreStats, StoreError> {
        self.conn
            .execute_batch("BEGIN")
            .map_err(StoreError::sql("starting a read snapshot"))?;
        let stats = self.stats_in_snapshot(sinks);
        // A read-only transaction: ending it cannot lose anything.
        let _ = self.conn.execute_batch("COMMIT");
        stats
    }

    fn stats_in_snapshot(&self, sinks: &[String]) -> Result<StoreStats, StoreError> {
        let doing = "reading store statistics";
        let (first, last): (Option<i64>, Option<i64>) = self
            .conn
            .query_row("SELECT MIN(seq), MAX(seq) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(StoreError::sql(doing))?;
        let last_seq = self.meta_int("last_seq")?.max(last.unwrap_or(0) as u64);
        let rows = match (first, last) {
            (Some(f), Some(l)) => (l - f + 1) as u64,
            _ => 0,
        };
        let mut backlogs = Vec::new();
        for sink in sinks {
            let acked = self.cursor(sink)?;
            let oldest: Option<i64> = self
                .conn
                .query_row(
                    "SELECT ts_ms FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1",
                    [acked as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(StoreError::sql(doing))?;
            backlogs.push(SinkBacklog {
                sink: sink.clone(),
                acked_seq: acked,
                backlog: last_seq.saturating_sub(acked).min(rows),
                oldest_unacked_ms: oldest,
            });
        }
        let last_quarantine: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'last_quarantine'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sql(doing))?;
        Ok(StoreStats {
            last_seq,
            first_seq: first.map(|f| f as u64),
            rows,
            dropped: self.meta_int("evicted_unacked")?,
            evicted_total: self.meta_int("evicted_total")?,
            quarantined: self.meta_int("quarantined")?,
            last_quarantine,
            db_bytes: file_size(&self.path) + file_size(&wal_path(&self.path)),
            sinks: backlogs,
        })
    }
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}-wal", db.display()))
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// A reader shared by async tasks; each call runs on the blocking pool.
#[derive(Clone)]
pub struct AsyncReader(Arc<Mutex<StoreReader>>);

impl AsyncReader {
    pub fn open(path: &Path) -> Result<AsyncReader, StoreError> {
        Ok(AsyncReader(Arc::new(Mutex::new(StoreReader::open(path)?))))
    }

    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let reader = inner.lock().map_err(|_| StoreError::Closed)?;
            f(&reader)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}
