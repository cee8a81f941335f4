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
    /// Stored while the box's clock was not known to be right: `ts_ms` may be far off.
    pub clock_unsynced: bool,
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

/// Filters of the call journal. A parameter it does not know is refused by name (a typo
/// must not return every call).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallQuery {
    /// Caller or callee (any part of the number), or the contact's name or company.
    pub number: Option<String>,
    /// Answered there, or only rang there.
    pub extension: Option<String>,
    /// The queue agent who took the call.
    pub agent: Option<String>,
    pub queue: Option<String>,
    /// `inbound`, `outbound`, `internal`, `unknown`.
    pub direction: Option<String>,
    /// `answered`, `no-answer`, `busy`, `failed`, `abandoned`, `rejected`, `pbx-only`,
    /// `link-lost`.
    pub disposition: Option<String>,
    pub since_ms: Option<i64>,
    /// Calls that started before then: the next page after a page's last call (with
    /// `before_id` to page past calls that started in the same millisecond).
    pub before_ms: Option<i64>,
    pub before_id: Option<String>,
    /// `live` or `ended`.
    pub state: Option<String>,
    /// One call by its id.
    pub call_id: Option<String>,
    pub limit: u32,
}

impl CallQuery {
    /// The first filter whose value cannot match anything, with the values it takes.
    pub fn invalid_value(&self) -> Option<String> {
        use crate::calls::{Direction, Disposition};
        let directions = [
            Direction::Inbound,
            Direction::Outbound,
            Direction::Internal,
            Direction::Unknown,
        ]
        .map(Direction::as_str);
        let dispositions = [
            Disposition::Answered,
            Disposition::NoAnswer,
            Disposition::Busy,
            Disposition::Failed,
            Disposition::Abandoned,
            Disposition::Rejected,
            Disposition::PbxOnly,
            Disposition::LinkLost,
        ]
        .map(Disposition::as_str);
        let checks = [
            ("direction", &self.direction, &directions[..]),
            ("disposition", &self.disposition, &dispositions[..]),
            ("state", &self.state, &["live", "ended"][..]),
        ];
        for (name, value, allowed) in checks {
            if let Some(value) = value.as_deref().filter(|v| !allowed.contains(v)) {
                return Some(format!(
                    "{name} = {value:?} is none of: {}",
                    allowed.join(", ")
                ));
            }
        }
        None
    }
}

/// An agent on the supervisor's panel.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentNow {
    pub agent: String,
    pub state: crate::calls::AgentState,
    pub queue: Option<String>,
    /// Why not ready (Finesse's reason code label).
    pub reason: Option<String>,
    /// Since when (Unix ms).
    pub ts_ms: i64,
}

/// One row of the call journal (the `calls` table).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallSummary {
    pub call_id: String,
    pub pbx: String,
    pub state: String,
    pub direction: Option<String>,
    pub caller: Option<String>,
    pub callee: Option<String>,
    pub extension: Option<String>,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub started_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub disposition: Option<String>,
    /// The other party's name and company: from the record once the call ended, from the
    /// contact directory while it is live (filled by the API).
    pub caller_name: Option<String>,
    pub company: Option<String>,
    /// Everyone the call rang (from its record: empty while it is live).
    pub rang: Vec<crate::calls::Offer>,
}

pub struct StoreReader {
    pub(super) conn: Connection,
    path: std::path::PathBuf,
}

impl StoreReader {
    pub fn open(path: &Path) -> Result<StoreReader, StoreError> {
        let conn = super::open::connect(path, SyncMode::Normal)?;
        // Readers mostly read the log's tail, which the OS page cache holds anyway: 512 KiB
        // each, instead of SQLite's 2 MiB default, keeps the box's resident memory small.
        conn.execute_batch("PRAGMA query_only = 1; PRAGMA cache_size = -512")
            .map_err(StoreError::sql("opening a reader"))?;
        Ok(StoreReader {
            conn,
            path: path.to_owned(),
        })
    }

    /// Up to `limit` events with `seq > after`, in order.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_where(
            "seq > ?1 ORDER BY seq LIMIT ?2",
            (after as i64, limit as i64),
        )
    }

    /// Every event of one call, in order.
    pub(crate) fn call_events(&self, call_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_where("call_id = ?1 ORDER BY seq LIMIT 1000", [call_id])
    }

    fn events_where(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let doing = "reading events";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT seq, ts_ms, source, pbx, kind, call_id, raw, body, clock_unsynced
                 FROM events WHERE {filter}"
            ))
            .map_err(StoreError::sql(doing))?;
        let rows = stmt
            .query_map(params, |r| {
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
                    clock_unsynced: r.get(8)?,
                })
            })
            .map_err(StoreError::sql(doing))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::sql(doing))
    }

    /// Each agent's latest state, from the newest `agent.state` events (the last 200,000
    /// events are looked at: an agent silent for longer is not on the panel).
    pub fn agents(&self) -> Result<Vec<AgentNow>, StoreError> {
        let events = self.events_where(
            "seq > (SELECT COALESCE(MAX(seq), 0) FROM events) - 200000 AND kind = 'agent.state'
             ORDER BY seq DESC LIMIT 20000",
            [],
        )?;
        let mut seen = std::collections::BTreeMap::new();
        for e in events {
            if let Ok(crate::calls::EventBody::AgentState(a)) = e.body {
                seen.entry(a.agent.clone()).or_insert(AgentNow {
                    agent: a.agent,
                    state: a.state,
                    queue: a.queue,
                    reason: a.reason,
                    ts_ms: e.ts_ms,
                });
            }
        }
        Ok(seen.into_values().collect())
    }

    /// The call journal, newest first: filtered by a number (caller or callee), an
    /// extension or agent, a time range; `before` pages back from a start time.
    pub fn calls(&self, q: &CallQuery) -> Result<Vec<CallSummary>, StoreError> {
        let doing = "reading calls";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT call_id, pbx, state, direction, caller, callee, extension, agent, queue,
                        started_ms, answered_ms, ended_ms, disposition, caller_name, company, rang
                 FROM calls
                 WHERE (?1 IS NULL OR caller LIKE '%' || ?1 || '%' OR callee LIKE '%' || ?1 || '%'
                        OR caller_name LIKE '%' || ?1 || '%' OR company LIKE '%' || ?1 || '%')
                   AND (?8 IS NULL OR direction = ?8)
                   AND (?9 IS NULL OR disposition = ?9)
                   AND (?10 IS NULL OR queue = ?10)
                   AND (?11 IS NULL OR agent = ?11)
                   AND (?2 IS NULL OR extension = ?2 OR agent = ?2
                        OR EXISTS (SELECT 1 FROM json_each(calls.rang)
                                   WHERE json_extract(value, '$.extension') = ?2))
                   AND (?3 IS NULL OR started_ms >= ?3)
                   AND (?4 IS NULL OR started_ms < ?4
                        OR (started_ms = ?4 AND ?12 IS NOT NULL AND call_id < ?12))
                   AND (?5 IS NULL OR state = ?5)
                   AND (?7 IS NULL OR call_id = ?7)
                 ORDER BY started_ms DESC, call_id DESC LIMIT ?6",
            )
            .map_err(StoreError::sql(doing))?;
        let params = (
            q.number.as_deref(),
            q.extension.as_deref(),
            q.since_ms,
            q.before_ms,
            q.state.as_deref(),
            i64::from(q.limit.clamp(1, 500)),
            q.call_id.as_deref(),
            q.direction.as_deref(),
            q.disposition.as_deref(),
            q.queue.as_deref(),
            q.agent.as_deref(),
            q.before_id.as_deref(),
        );
        let rows = stmt
            .query_map(params, |r| {
                Ok(CallSummary {
                    call_id: r.get(0)?,
                    pbx: r.get(1)?,
                    state: r.get(2)?,
                    direction: r.get(3)?,
                    caller: r.get(4)?,
                    callee: r.get(5)?,
                    extension: r.get(6)?,
                    agent: r.get(7)?,
                    queue: r.get(8)?,
                    started_ms: r.get(9)?,
                    answered_ms: r.get(10)?,
                    ended_ms: r.get(11)?,
                    disposition: r.get(12)?,
                    caller_name: r.get(13)?,
                    company: r.get(14)?,
                    rang: r
                        .get::<_, Option<String>>(15)?
                        .and_then(|json| serde_json::from_str(&json).ok())
                        .unwrap_or_default(),
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
            dropped: self.meta_int("evicted_unacked")? + self.meta_int("lost_failed")?,
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

    /// Runs a short read on the calling thread when the reader is free (a sink reading the
    /// few events just committed: a hop to the blocking pool would cost more than the read),
    /// else as [`call`](Self::call) does.
    pub async fn call_short<T: Send + 'static>(
        &self,
        f: impl FnOnce(&StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if let Ok(reader) = self.0.try_lock() {
            return f(&reader);
        }
        self.call(f).await
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
