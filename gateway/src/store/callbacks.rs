//! `callback.closed`: as an answered call with an outside number ends, the store looks back
//! for that number's calls nobody answered since the last time someone reached it, and
//! appends one event that closes them — in the same transaction as the `call.ended`, so a
//! power cut never keeps one without the other. The rule is the missed-callers view's
//! (`missed.rs`): numbers compared in E.164 (the `calls.party` column), a miss closed by the
//! first answered call with the number after it.

use rusqlite::Connection;

use super::missed::{number_key, Row, ROW_COLUMNS};
use super::StoreError;
use crate::calls::{CallEvent, CallRecord, CallbackClosed, Disposition, EventBody};
use crate::numbers::NumberPlan;

/// How far back a miss is still closed by an event: a week. The missed-callers view (and the
/// report) look back over any period; a caller missed longer ago than this is closed there
/// but gets no event.
pub(crate) const LOOK_BACK_MS: i64 = 7 * 86_400_000;

/// Most misses one event closes (a number that called thousands of times in a week unanswered
/// is a robot or an attack; the newest ones are named).
const MAX_MISSES: usize = 1_000;

/// Most numbers remembered as missed: a week of a busy exchange's missed callers fits; past
/// it the oldest are forgotten (their callbacks get no event; the view still closes them).
const MAX_TRACKED: usize = 100_000;

/// The outside numbers (E.164) missed in the last week, with their newest miss: an answered
/// call with any other number closes nothing, and is passed without a query. Kept by the
/// writer; a superset is harmless (a query that finds nothing).
#[derive(Debug, Default)]
pub(super) struct MissedNumbers(std::collections::HashMap<String, i64>);

impl MissedNumbers {
    /// The numbers with a miss in the week before `now_ms`, from the `calls` table.
    pub(super) fn load(conn: &Connection, now_ms: i64) -> Result<MissedNumbers, StoreError> {
        let doing = "reading the numbers missed this week";
        let mut stmt = conn
            .prepare(
                "SELECT party, MAX(started_ms) FROM calls
                 WHERE party IS NOT NULL AND started_ms >= ?1 AND state = 'ended'
                   AND direction = 'inbound' AND disposition IN ('no-answer', 'busy', 'abandoned')
                 GROUP BY party ORDER BY 2 DESC LIMIT ?2",
            )
            .map_err(StoreError::sql(doing))?;
        let rows = stmt
            .query_map(
                rusqlite::params![now_ms.saturating_sub(LOOK_BACK_MS), MAX_TRACKED as i64],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .map_err(StoreError::sql(doing))?;
        let parties = rows
            .collect::<Result<_, _>>()
            .map_err(StoreError::sql(doing))?;
        Ok(MissedNumbers(parties))
    }

    fn note_miss(&mut self, key: String, at_ms: i64) {
        if self.0.len() >= MAX_TRACKED {
            let since = at_ms.saturating_sub(LOOK_BACK_MS);
            self.0.retain(|_, last| *last >= since);
            if self.0.len() >= MAX_TRACKED {
                tracing::warn!("more than {MAX_TRACKED} numbers missed this week; forgetting them");
                self.0.clear();
            }
        }
        let last = self.0.entry(key).or_insert(at_ms);
        *last = (*last).max(at_ms);
    }
}

/// The `callback.closed` events the ended calls among `events` cause, read after the batch's
/// calls are in the `calls` table.
pub(super) fn closed_by(
    conn: &Connection,
    events: &[&CallEvent],
    plan: &NumberPlan,
    missed: &mut MissedNumbers,
) -> Result<Vec<CallEvent>, StoreError> {
    let mut closed = Vec::new();
    for event in events {
        let Some(record) = event.record() else {
            continue;
        };
        let this = Row::of_record(record);
        let Some((number, _)) = this.party() else {
            continue;
        };
        let key = number_key(number, plan);
        if this.missed() {
            missed.note_miss(key, record.started_at);
            continue;
        }
        if record.disposition != Disposition::Answered || !missed.0.contains_key(&key) {
            continue;
        }
        if let Some(body) = closes(conn, record, &key)? {
            closed.push(CallEvent {
                ts_ms: event.ts_ms,
                source: event.source,
                pbx: event.pbx.clone(),
                call_id: Some(record.call_id.clone()),
                raw: None,
                body: EventBody::CallbackClosed(body),
            });
        }
    }
    Ok(closed)
}

/// What the answered call `record` closes: the misses of its outside party since the last
/// answered call with it.
fn closes(
    conn: &Connection,
    record: &CallRecord,
    key: &str,
) -> Result<Option<CallbackClosed>, StoreError> {
    let this = Row::of_record(record);
    let Some((number, how)) = this.party() else {
        return Ok(None);
    };
    let open = misses_since_last_answer(conn, record, key)?;
    let Some(first) = open.first() else {
        return Ok(None);
    };
    let answered_ms = record.answered_at.unwrap_or(record.started_at);
    Ok(Some(CallbackClosed {
        number: first.party().map_or(number, |(n, _)| n).to_owned(),
        how,
        first_missed_ms: first.started_ms,
        answered_ms,
        after_ms: answered_ms.saturating_sub(first.started_ms),
        missed_call_ids: open.into_iter().map(|r| r.call_id).collect(),
    }))
}

/// The missed calls with the outside party `key` since the last answered call with it (in
/// the week before `record`, itself left out), oldest first. Read newest first and stopped at
/// that answered call, so a number reached every time costs one row.
fn misses_since_last_answer(
    conn: &Connection,
    record: &CallRecord,
    key: &str,
) -> Result<Vec<Row>, StoreError> {
    let doing = "looking for the misses a call closes";
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM calls
             WHERE party = ?4 AND started_ms >= ?1 AND started_ms <= ?2
               AND call_id <> ?3 AND state = 'ended'
             ORDER BY started_ms DESC, call_id DESC"
        ))
        .map_err(StoreError::sql(doing))?;
    let mut rows = stmt
        .query(rusqlite::params![
            record.started_at.saturating_sub(LOOK_BACK_MS),
            record.started_at,
            record.call_id,
            key,
        ])
        .map_err(StoreError::sql(doing))?;
    let mut misses = Vec::new();
    while let Some(row) = rows.next().map_err(StoreError::sql(doing))? {
        let row = Row::read(row).map_err(StoreError::sql(doing))?;
        if row.answered() || misses.len() == MAX_MISSES {
            break;
        }
        if row.missed() {
            misses.push(row);
        }
    }
    misses.reverse();
    Ok(misses)
}
