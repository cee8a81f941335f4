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

/// Most calls with one number looked at (a number that called thousands of times in a week
/// is a robot or an attack; the newest ones decide).
const MAX_ROWS: i64 = 2_000;

/// The `callback.closed` events the ended calls among `events` cause, read after the batch's
/// calls are in the `calls` table.
pub(super) fn closed_by(
    conn: &Connection,
    events: &[&CallEvent],
    plan: &NumberPlan,
) -> Result<Vec<CallEvent>, StoreError> {
    let mut closed = Vec::new();
    for event in events {
        let Some(record) = event.record() else {
            continue;
        };
        if record.disposition != Disposition::Answered {
            continue;
        }
        if let Some(body) = closes(conn, record, plan)? {
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
    plan: &NumberPlan,
) -> Result<Option<CallbackClosed>, StoreError> {
    let this = Row::of_record(record);
    let Some((number, how)) = this.party() else {
        return Ok(None);
    };
    let key = number_key(number, plan);
    let mut open: Vec<Row> = Vec::new();
    for row in earlier_calls_with(conn, record, &key)? {
        if row.missed() {
            open.push(row);
        } else if row.answered() {
            open.clear();
        }
    }
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

/// The ended calls with the outside party `key` that started in the week before `record`
/// (itself left out), oldest first.
fn earlier_calls_with(
    conn: &Connection,
    record: &CallRecord,
    key: &str,
) -> Result<Vec<Row>, StoreError> {
    let doing = "looking for the misses a call closes";
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM (
                 SELECT * FROM calls
                 WHERE party = ?4 AND started_ms >= ?1 AND started_ms <= ?2
                   AND call_id <> ?3 AND state = 'ended'
                 ORDER BY started_ms DESC LIMIT ?5)
             ORDER BY started_ms, call_id"
        ))
        .map_err(StoreError::sql(doing))?;
    let rows = stmt
        .query_map(
            rusqlite::params![
                record.started_at.saturating_sub(LOOK_BACK_MS),
                record.started_at,
                record.call_id,
                key,
                MAX_ROWS
            ],
            Row::read,
        )
        .map_err(StoreError::sql(doing))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sql(doing))
}
