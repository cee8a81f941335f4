//! Missed callers and whether they were called back: each outside number whose inbound call
//! nobody answered, how often it tried, and the answered call that closed it — an outbound
//! call to it (called back) or an inbound call from it (it called again and got through).
//! Numbers are compared in E.164, so `0601…` dialled out matches `+48601…` that rang in.

use rusqlite::params;
use serde::Serialize;

use super::reader::StoreReader;
use super::StoreError;
pub use crate::calls::ClosedBy;
use crate::numbers::NumberPlan;

/// Most calls one query looks at (a busy exchange makes a few thousand a day).
const MAX_CALLS: i64 = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Callback {
    pub call_id: String,
    pub how: ClosedBy,
    /// When the closing call was answered (Unix ms).
    pub at_ms: i64,
    /// From the first missed try to that answer.
    pub after_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissedCaller {
    /// As the PBX gave it first.
    pub number: String,
    pub caller_name: Option<String>,
    /// Missed calls before it was closed (or until now).
    pub tries: u64,
    pub first_missed_ms: i64,
    pub last_missed_ms: i64,
    /// The missed calls, oldest first.
    pub call_ids: Vec<String>,
    /// `None` while nobody has reached the caller.
    pub callback: Option<Callback>,
}

/// An ended call as the missed-caller rules see it.
pub(super) struct Row {
    pub(super) call_id: String,
    direction: Option<String>,
    caller: Option<String>,
    callee: Option<String>,
    disposition: Option<String>,
    pub(super) started_ms: i64,
    pub(super) answered_ms: Option<i64>,
    caller_name: Option<String>,
}

/// The columns [`Row::read`] takes, in its order.
pub(super) const ROW_COLUMNS: &str =
    "call_id, direction, caller, callee, disposition, started_ms, answered_ms, caller_name";

impl Row {
    pub(super) fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            call_id: r.get(0)?,
            direction: r.get(1)?,
            caller: r.get(2)?,
            callee: r.get(3)?,
            disposition: r.get(4)?,
            started_ms: r.get(5)?,
            answered_ms: r.get(6)?,
            caller_name: r.get(7)?,
        })
    }

    pub(super) fn of_record(r: &crate::calls::CallRecord) -> Row {
        Row {
            call_id: r.call_id.clone(),
            direction: Some(r.direction.as_str().to_owned()),
            caller: r.caller.clone(),
            callee: r.callee.clone(),
            disposition: Some(r.disposition.as_str().to_owned()),
            started_ms: r.started_at,
            answered_ms: r.answered_at,
            caller_name: r.caller_name.clone(),
        }
    }

    /// The outside party (the caller of an inbound call, the callee of an outbound one),
    /// and how an answered call with it would close a miss; `None` for other calls.
    pub(super) fn party(&self) -> Option<(&str, ClosedBy)> {
        let (party, how) = match self.direction.as_deref() {
            Some("inbound") => (self.caller.as_deref(), ClosedBy::CalledAgain),
            Some("outbound") => (self.callee.as_deref(), ClosedBy::CalledBack),
            _ => return None,
        };
        Some((party.filter(|n| !n.is_empty())?, how))
    }

    /// An inbound call nobody answered although someone could have.
    pub(super) fn missed(&self) -> bool {
        self.direction.as_deref() == Some("inbound")
            && matches!(
                self.disposition.as_deref(),
                Some("no-answer" | "busy" | "abandoned")
            )
    }

    pub(super) fn answered(&self) -> bool {
        self.disposition.as_deref() == Some("answered")
    }
}

/// `number` in E.164 where the plan can say, as given where it cannot: the key numbers are
/// matched by.
pub(super) fn number_key(number: &str, plan: &NumberPlan) -> String {
    crate::numbers::e164(number, plan).unwrap_or_else(|_| number.to_owned())
}

impl StoreReader {
    /// The callers missed among the calls that started in `[from_ms, to_ms)`, each closed by
    /// the first answered call with them after the miss (at any time since), newest first.
    pub fn missed_callers(
        &self,
        from_ms: i64,
        to_ms: i64,
        plan: &NumberPlan,
    ) -> Result<Vec<MissedCaller>, StoreError> {
        let mut open: std::collections::HashMap<String, MissedCaller> = Default::default();
        let mut done = Vec::new();
        for row in self.ended_calls_since(from_ms)? {
            let Some((number, how)) = row.party() else {
                continue;
            };
            let number = number.to_owned();
            let key = number_key(&number, plan);
            if row.missed() && row.started_ms < to_ms {
                let entry = open.entry(key).or_insert_with(|| MissedCaller {
                    number: number.clone(),
                    caller_name: row.caller_name.clone(),
                    tries: 0,
                    first_missed_ms: row.started_ms,
                    last_missed_ms: row.started_ms,
                    call_ids: Vec::new(),
                    callback: None,
                });
                entry.tries += 1;
                entry.last_missed_ms = row.started_ms;
                entry.call_ids.push(row.call_id);
            } else if row.answered() {
                if let Some(mut caller) = open.remove(&key) {
                    let at_ms = row.answered_ms.unwrap_or(row.started_ms);
                    caller.callback = Some(Callback {
                        call_id: row.call_id,
                        how,
                        at_ms,
                        after_ms: at_ms.saturating_sub(caller.first_missed_ms),
                    });
                    done.push(caller);
                }
            }
        }
        done.extend(open.into_values());
        done.sort_by_key(|c| std::cmp::Reverse(c.first_missed_ms));
        Ok(done)
    }

    fn ended_calls_since(&self, from_ms: i64) -> Result<Vec<Row>, StoreError> {
        let doing = "reading calls for the missed callers";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM calls WHERE state = 'ended' AND started_ms >= ?1
                     ORDER BY started_ms, call_id LIMIT ?2"
            ))
            .map_err(StoreError::sql(doing))?;
        let rows = stmt
            .query_map(params![from_ms, MAX_CALLS], Row::read)
            .map_err(StoreError::sql(doing))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::sql(doing))
    }
}
