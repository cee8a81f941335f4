//! The supervisor's figures over ended calls that started in a time range: per agent (from
//! the records' `rang`), per queue, per hour, and the totals. Every figure is a count over
//! the same rows the journal (`/api/calls`) lists, so the two always agree.

use rusqlite::params;
use serde::Serialize;

use super::reader::StoreReader;
use super::StoreError;

/// The dispositions of a call nobody answered although someone could have (the caller was
/// lost): what "missed" means everywhere.
const MISSED: &str = "('no-answer', 'busy', 'abandoned')";

/// One agent's (or extension's) ended calls: the supervisor's day counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentCounts {
    pub agent: String,
    /// Calls that rang there.
    pub calls: u64,
    /// Answered there.
    pub answered: u64,
    /// Rang there and nobody answered (no-answer, busy, abandoned).
    pub missed: u64,
    /// Seconds talked (answer there to the call's end).
    pub talk_s: u64,
    /// Average time it rang there before it was answered or stopped (ms).
    pub avg_ring_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueCounts {
    pub queue: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Average time from the call's start to its answer, over the answered calls (ms).
    pub avg_wait_ms: u64,
    /// Share of the offered calls answered within the service-level time (0 to 1).
    pub service_level: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourCounts {
    /// The hour's start (Unix ms, whole UTC hours; the page shows them in local time).
    pub hour_ms: i64,
    pub calls: u64,
    pub answered: u64,
    pub missed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub calls: u64,
    pub inbound: u64,
    pub outbound: u64,
    pub internal: u64,
    pub answered: u64,
    /// Inbound calls nobody answered (no-answer, busy, abandoned).
    pub missed: u64,
    /// Inbound answered / (inbound answered + missed); calls the PBX handled alone (IVR
    /// only, failed dials) count in neither. `null` without such calls.
    pub answer_rate: Option<f64>,
    pub talk_s: u64,
}

/// The period's missed outside callers and how many were reached since (see `missed.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Callbacks {
    /// Distinct numbers missed.
    pub missed_callers: u64,
    /// Reached since: called back, or called again and answered.
    pub closed: u64,
    /// Nobody has reached them yet.
    pub open: u64,
    /// Average wait from the first missed try to the answer, over the closed ones (ms).
    pub avg_wait_ms: u64,
}

/// `GET /api/report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The time the service level is measured against (s).
    pub service_level_s: u32,
    pub totals: Totals,
    pub agents: Vec<AgentCounts>,
    pub queues: Vec<QueueCounts>,
    pub hours: Vec<HourCounts>,
    pub callbacks: Callbacks,
}

/// A count read from SQL: NULL (no rows) and negatives (never expected) read as 0.
fn count(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
}

impl StoreReader {
    /// Per extension or agent the calls rang (the record's `rang`), for calls that started in
    /// `[from_ms, to_ms)`.
    pub(crate) fn agent_counts(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<AgentCounts>, StoreError> {
        let doing = "counting calls per agent";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "WITH offered AS (
                     SELECT c.call_id, json_extract(o.value, '$.extension') AS who,
                            MAX(json_extract(o.value, '$.answered')) AS answered,
                            MIN(CASE WHEN json_extract(o.value, '$.answered')
                                     THEN json_extract(o.value, '$.rang_at')
                                          + json_extract(o.value, '$.ring_ms') END) AS answered_ms,
                            AVG(json_extract(o.value, '$.ring_ms')) AS ring_ms,
                            c.disposition, c.ended_ms
                     FROM calls c, json_each(c.rang) o
                     WHERE c.state = 'ended' AND c.started_ms >= ?1 AND c.started_ms < ?2
                       AND c.disposition IS NOT 'pbx-only'
                     GROUP BY c.call_id, who)
                 SELECT who, COUNT(*), SUM(answered), SUM(disposition IN {MISSED}),
                        SUM(CASE WHEN answered THEN MAX(ended_ms - answered_ms, 0) / 1000 ELSE 0 END),
                        AVG(ring_ms)
                 FROM offered WHERE who IS NOT NULL
                 GROUP BY who ORDER BY who"
            ))
            .map_err(StoreError::sql(doing))?;
        let rows = stmt
            .query_map(params![from_ms, to_ms], |r| {
                Ok(AgentCounts {
                    agent: r.get(0)?,
                    calls: count(r, 1)?,
                    answered: count(r, 2)?,
                    missed: count(r, 3)?,
                    talk_s: count(r, 4)?,
                    avg_ring_ms: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0).max(0.0) as u64,
                })
            })
            .map_err(StoreError::sql(doing))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::sql(doing))
    }

    /// The figures of the calls that started in `[from_ms, to_ms)` and have ended.
    pub fn report(
        &self,
        from_ms: i64,
        to_ms: i64,
        service_level_s: u32,
        plan: &crate::numbers::NumberPlan,
    ) -> Result<Report, StoreError> {
        Ok(Report {
            from_ms,
            to_ms,
            service_level_s,
            totals: self.totals(from_ms, to_ms)?,
            agents: self.agent_counts(from_ms, to_ms)?,
            queues: self.queue_counts(from_ms, to_ms, service_level_s)?,
            hours: self.hour_counts(from_ms, to_ms)?,
            callbacks: self.callbacks(from_ms, to_ms, plan)?,
        })
    }

    fn callbacks(
        &self,
        from_ms: i64,
        to_ms: i64,
        plan: &crate::numbers::NumberPlan,
    ) -> Result<Callbacks, StoreError> {
        let callers = self.missed_callers(from_ms, to_ms, plan)?;
        let waits: Vec<i64> = callers
            .iter()
            .filter_map(|c| Some(c.callback.as_ref()?.after_ms))
            .collect();
        let closed = waits.len() as u64;
        let total: i128 = waits.iter().map(|w| i128::from(*w)).sum();
        Ok(Callbacks {
            missed_callers: callers.len() as u64,
            closed,
            open: callers.len() as u64 - closed,
            avg_wait_ms: if closed == 0 {
                0
            } else {
                (total / i128::from(closed)).clamp(0, i128::from(i64::MAX)) as u64
            },
        })
    }

    fn totals(&self, from_ms: i64, to_ms: i64) -> Result<Totals, StoreError> {
        let doing = "adding up the calls";
        self.conn
            .prepare_cached(&format!(
                "SELECT COUNT(*), SUM(direction = 'inbound'), SUM(direction = 'outbound'),
                        SUM(direction = 'internal'), SUM(disposition = 'answered'),
                        SUM(direction = 'inbound' AND disposition IN {MISSED}),
                        SUM(direction = 'inbound' AND disposition = 'answered'),
                        SUM(CASE WHEN answered_ms IS NOT NULL
                                 THEN MAX(ended_ms - answered_ms, 0) / 1000 ELSE 0 END)
                 FROM calls WHERE state = 'ended' AND started_ms >= ?1 AND started_ms < ?2"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params![from_ms, to_ms], |r| {
                    let (missed, inbound_answered) = (count(r, 5)?, count(r, 6)?);
                    let reached = missed + inbound_answered;
                    Ok(Totals {
                        calls: count(r, 0)?,
                        inbound: count(r, 1)?,
                        outbound: count(r, 2)?,
                        internal: count(r, 3)?,
                        answered: count(r, 4)?,
                        missed,
                        answer_rate: (reached > 0)
                            .then(|| inbound_answered as f64 / reached as f64),
                        talk_s: count(r, 7)?,
                    })
                })
            })
            .map_err(StoreError::sql(doing))
    }

    fn queue_counts(
        &self,
        from_ms: i64,
        to_ms: i64,
        service_level_s: u32,
    ) -> Result<Vec<QueueCounts>, StoreError> {
        let doing = "counting calls per queue";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT queue, COUNT(*), SUM(disposition = 'answered'),
                        SUM(disposition = 'abandoned'),
                        AVG(CASE WHEN answered_ms IS NOT NULL THEN answered_ms - started_ms END),
                        SUM(answered_ms IS NOT NULL AND answered_ms - started_ms <= ?3)
                 FROM calls
                 WHERE state = 'ended' AND started_ms >= ?1 AND started_ms < ?2
                   AND queue IS NOT NULL
                 GROUP BY queue ORDER BY queue",
            )
            .map_err(StoreError::sql(doing))?;
        let within_ms = i64::from(service_level_s) * 1000;
        let rows = stmt
            .query_map(params![from_ms, to_ms, within_ms], |r| {
                let offered = count(r, 1)?;
                Ok(QueueCounts {
                    queue: r.get(0)?,
                    offered,
                    answered: count(r, 2)?,
                    abandoned: count(r, 3)?,
                    avg_wait_ms: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0).max(0.0) as u64,
                    service_level: if offered == 0 {
                        0.0
                    } else {
                        count(r, 5)? as f64 / offered as f64
                    },
                })
            })
            .map_err(StoreError::sql(doing))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::sql(doing))
    }

    fn hour_counts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<HourCounts>, StoreError> {
        let doing = "counting calls per hour";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT (started_ms / 3600000) * 3600000 AS hour, COUNT(*),
                        SUM(disposition = 'answered'),
                        SUM(direction = 'inbound' AND disposition IN {MISSED})
                 FROM calls WHERE state = 'ended' AND started_ms >= ?1 AND started_ms < ?2
                 GROUP BY hour ORDER BY hour"
            ))
            .map_err(StoreError::sql(doing))?;
        let rows = stmt
            .query_map(params![from_ms, to_ms], |r| {
                Ok(HourCounts {
                    hour_ms: r.get(0)?,
                    calls: count(r, 1)?,
                    answered: count(r, 2)?,
                    missed: count(r, 3)?,
                })
            })
            .map_err(StoreError::sql(doing))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::sql(doing))
    }
}
