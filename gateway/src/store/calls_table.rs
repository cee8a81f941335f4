//! The `calls` table, kept in step with the log inside the writer's transaction. Changes of
//! one batch are folded per call first, so a call whose start, answer and end arrive in the
//! same batch costs one row write instead of three.

use std::collections::HashMap;

use rusqlite::Transaction;

use super::StoreError;
use crate::calls::{CallEvent, EventBody};

/// What a batch knows about one call. `None` = this batch did not say.
#[derive(Debug, Default)]
struct CallRow {
    pbx: String,
    ended: bool,
    direction: Option<&'static str>,
    caller: Option<String>,
    callee: Option<String>,
    extension: Option<String>,
    agent: Option<String>,
    queue: Option<String>,
    started_ms: Option<i64>,
    answered_ms: Option<i64>,
    ended_ms: Option<i64>,
    disposition: Option<&'static str>,
    caller_name: Option<String>,
    company: Option<String>,
    /// The record's `rang` as JSON (ended calls only).
    rang: Option<String>,
    /// The outside party as the record gives it (ended calls only).
    party: Option<String>,
    ended_seq: Option<i64>,
    last_seq: i64,
}

#[derive(Debug, Default)]
pub(crate) struct CallChanges {
    rows: HashMap<String, CallRow>,
    /// First-seen order, so rows are written deterministically.
    order: Vec<String>,
}

impl CallChanges {
    /// Folds one event into the pending row of its call.
    pub(crate) fn note(&mut self, event: &CallEvent, seq: i64) {
        let Some(call_id) = &event.call_id else {
            return;
        };
        let relevant = matches!(
            &event.body,
            EventBody::CallStarted(_) | EventBody::CallEnded(_)
        ) || matches!(&event.body, EventBody::CallAnswered(a) if a.by_person);
        if !relevant {
            return;
        }
        let row = self.rows.entry(call_id.clone()).or_insert_with(|| {
            self.order.push(call_id.clone());
            CallRow {
                pbx: event.pbx.clone(),
                ..Default::default()
            }
        });
        row.last_seq = seq;
        row.started_ms.get_or_insert(event.ts_ms);
        match &event.body {
            EventBody::CallStarted(s) => {
                row.direction.get_or_insert(s.direction.as_str());
                if row.caller.is_none() {
                    row.caller = s.caller.clone();
                }
                if row.callee.is_none() {
                    row.callee = s.callee.clone();
                }
            }
            EventBody::CallAnswered(a) => {
                row.answered_ms.get_or_insert(event.ts_ms);
                if a.extension.is_some() {
                    row.extension = a.extension.clone();
                }
                if a.agent.is_some() {
                    row.agent = a.agent.clone();
                }
            }
            EventBody::CallEnded(r) => {
                // The final record is authoritative for every column.
                row.ended = true;
                row.direction = Some(r.direction.as_str());
                row.caller = r.caller.clone();
                row.callee = r.callee.clone();
                row.extension = r.extension.clone();
                row.agent = r.agent.clone();
                row.queue = r.queue.clone();
                row.started_ms = Some(r.started_at);
                row.answered_ms = r.answered_at;
                row.ended_ms = Some(r.ended_at);
                row.disposition = Some(r.disposition.as_str());
                row.caller_name = r.caller_name.clone();
                row.company = r.company.clone();
                row.rang = serde_json::to_string(&r.rang).ok();
                row.party = super::missed::Row::of_record(r)
                    .party()
                    .map(|(number, _)| number.to_owned());
                row.ended_seq = Some(seq);
            }
            _ => {}
        }
    }

    /// Writes one upsert per call touched by the batch (the party in E.164 by `plan`).
    pub(crate) fn apply(
        self,
        tx: &Transaction<'_>,
        plan: &crate::numbers::NumberPlan,
    ) -> Result<(), StoreError> {
        if self.order.is_empty() {
            return Ok(());
        }
        let mut upsert = tx
            .prepare_cached(UPSERT)
            .map_err(StoreError::sql("preparing the calls upsert"))?;
        let mut rows = self.rows;
        for call_id in &self.order {
            let Some(r) = rows.remove(call_id) else {
                continue;
            };
            upsert
                .execute(rusqlite::params![
                    call_id,
                    r.pbx,
                    if r.ended { "ended" } else { "live" },
                    r.direction,
                    r.caller,
                    r.callee,
                    r.extension,
                    r.agent,
                    r.queue,
                    r.started_ms,
                    r.answered_ms,
                    r.ended_ms,
                    r.disposition,
                    r.ended_seq,
                    r.last_seq,
                    r.caller_name,
                    r.company,
                    r.rang,
                    r.party.map(|n| super::missed::number_key(&n, plan)),
                ])
                .map_err(StoreError::sql("updating the calls table"))?;
        }
        Ok(())
    }
}

/// An end record sets every column. Once a row has ended, live updates no longer change
/// it (a late event must not rewrite a finished call). A live update fills what is unknown;
/// who answered takes the newest value.
const UPSERT: &str = "
INSERT INTO calls (call_id, pbx, state, direction, caller, callee, extension, agent, queue,
                   started_ms, answered_ms, ended_ms, disposition, ended_seq, last_seq,
                   caller_name, company, rang, party)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
ON CONFLICT(call_id) DO UPDATE SET
    direction   = CASE WHEN excluded.state = 'ended' THEN excluded.direction
                       WHEN calls.state = 'ended' THEN calls.direction
                       ELSE COALESCE(calls.direction, excluded.direction) END,
    caller      = CASE WHEN excluded.state = 'ended' THEN excluded.caller
                       WHEN calls.state = 'ended' THEN calls.caller
                       ELSE COALESCE(calls.caller, excluded.caller) END,
    callee      = CASE WHEN excluded.state = 'ended' THEN excluded.callee
                       WHEN calls.state = 'ended' THEN calls.callee
                       ELSE COALESCE(calls.callee, excluded.callee) END,
    extension   = CASE WHEN excluded.state = 'ended' THEN excluded.extension
                       WHEN calls.state = 'ended' THEN calls.extension
                       ELSE COALESCE(excluded.extension, calls.extension) END,
    agent       = CASE WHEN excluded.state = 'ended' THEN excluded.agent
                       WHEN calls.state = 'ended' THEN calls.agent
                       ELSE COALESCE(excluded.agent, calls.agent) END,
    queue       = CASE WHEN excluded.state = 'ended' THEN excluded.queue
                       WHEN calls.state = 'ended' THEN calls.queue
                       ELSE COALESCE(calls.queue, excluded.queue) END,
    started_ms  = CASE WHEN excluded.state = 'ended' THEN excluded.started_ms
                       WHEN calls.state = 'ended' THEN calls.started_ms
                       ELSE MIN(calls.started_ms, excluded.started_ms) END,
    answered_ms = CASE WHEN excluded.state = 'ended' THEN excluded.answered_ms
                       WHEN calls.state = 'ended' THEN calls.answered_ms
                       ELSE COALESCE(calls.answered_ms, excluded.answered_ms) END,
    ended_ms    = COALESCE(excluded.ended_ms, calls.ended_ms),
    disposition = COALESCE(excluded.disposition, calls.disposition),
    ended_seq   = COALESCE(excluded.ended_seq, calls.ended_seq),
    caller_name = CASE WHEN excluded.state = 'ended' THEN excluded.caller_name ELSE calls.caller_name END,
    company     = CASE WHEN excluded.state = 'ended' THEN excluded.company ELSE calls.company END,
    rang        = CASE WHEN excluded.state = 'ended' THEN excluded.rang ELSE calls.rang END,
    party       = CASE WHEN excluded.state = 'ended' THEN excluded.party ELSE calls.party END,
    state       = CASE WHEN excluded.state = 'ended' OR calls.state = 'ended' THEN 'ended' ELSE 'live' END,
    last_seq    = MAX(calls.last_seq, excluded.last_seq)";
