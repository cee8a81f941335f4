//! SMS: rules and explicit requests queue texts in `sms_out`; a worker hands them to the
//! route and follows them to delivery. The route is the box's modem (`[modem]`), or else the
//! PBX's own GSM module (a CTIP `[[pbx]]` with `gsm_module`).
//!
//! States: `queued` -> `sending` -> `sent` -> `delivered`, or `failed` with the modem's or
//! network's code and text. Every transition is committed on its own, before and after each
//! exchange with the modem:
//! * `queued` -> `sending` is committed before the first byte goes to the modem;
//! * `sending` -> `sent` (with each part's reference) right after `+CMGS`, or back to
//!   `queued` (transient: retried with backoff, at most `max_attempts` in all) or `failed`
//!   (permanent: invalid number, barred; never retried).
//!
//! Crash rule (at-least-once): a row found in `sending` at start was interrupted between
//! handing the text to the modem and hearing back, so it may or may not have left; it is
//! queued again and its `error_text` says it may arrive twice. The window is one modem
//! exchange: at most `send_within` per part. A hang after the PDU (`+CMGS` never comes) is
//! treated the same way. Nothing is ever dropped without a `failed` row saying why.
//!
//! Dedupe: each row has a unique key (`rule:<name>:<call id>`, `mqtt:<request id>`,
//! `cli:<id>`), so the same trigger never queues twice. Rules also respect a per-number
//! cooldown and the do-not-text list (`sms_optout`, fed by the opt-out keyword). Sending
//! respects a global per-minute and a per-destination per-hour limit (texts wait, they are
//! not dropped).

pub(crate) mod dispatch;
pub(crate) mod pbx_route;
pub mod queue;
pub mod rules;
pub mod worker;

use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction};

use crate::calls::CallEvent;
use rules::{CallInfo, SmsRules};

/// What the store writer needs to queue texts in its transaction and wake the worker.
#[derive(Clone)]
pub(crate) struct SmsHook {
    pub rules: Arc<LiveRules>,
    pub wake: Arc<tokio::sync::Notify>,
}

/// The SMS rules in force: replaced whole by a reload (SIGHUP), read by every batch.
pub struct LiveRules(std::sync::RwLock<Arc<SmsRules>>);

impl LiveRules {
    pub(crate) fn new(rules: SmsRules) -> LiveRules {
        LiveRules(std::sync::RwLock::new(Arc::new(rules)))
    }

    pub(crate) fn current(&self) -> Arc<SmsRules> {
        match self.0.read() {
            Ok(rules) => rules.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `config`'s rules in force for the next batch; how many there are.
    pub fn replace(&self, config: crate::config::SmsConfig) -> usize {
        let rules = Arc::new(SmsRules::new(config));
        let count = rules.config().rules.len();
        match self.0.write() {
            Ok(mut current) => *current = rules,
            Err(poisoned) => *poisoned.into_inner() = rules,
        }
        count
    }
}

impl std::fmt::Debug for SmsHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rules = self.rules.current();
        write!(f, "SmsHook({} rules)", rules.config().rules.len())
    }
}

impl crate::store::BatchHook for SmsHook {
    fn in_batch(&self, tx: &Transaction<'_>, events: &[&CallEvent], now: i64) -> usize {
        queue_triggered(tx, &self.rules.current(), events, now)
    }

    fn committed(&self, _queued: usize) {
        self.wake.notify_one();
    }
}

/// Queues the texts a batch of events triggers, inside the batch's transaction. A failure
/// to queue is logged and never costs the events their place in the log.
fn queue_triggered(
    tx: &Transaction<'_>,
    rules: &SmsRules,
    events: &[&CallEvent],
    now: i64,
) -> usize {
    if rules.is_empty() {
        return 0;
    }
    let mut queued = 0;
    let cooldown_ms = (rules.config().cooldown_s as i64).saturating_mul(1000);
    for event in events {
        let info = || call_info(tx, event.call_id.as_deref().unwrap_or_default());
        for (rule, wanted) in rules.triggered(event, info) {
            let e = match wanted {
                Ok(e) => e,
                Err(why) => {
                    tracing::info!(rule, call = ?event.call_id, reason = %why, "SMS rule matched; not queued");
                    continue;
                }
            };
            match queue::enqueue(tx, &e, now, cooldown_ms) {
                Ok(queue::Queued::Queued(id)) => {
                    queued += 1;
                    tracing::info!(rule, sms = id, to = %e.destination, "SMS queued");
                }
                Ok(other) => {
                    tracing::info!(rule, to = %e.destination, outcome = ?other, "SMS not queued")
                }
                Err(err) => tracing::error!(rule, error = %err, "SMS could not be queued"),
            }
        }
    }
    queued
}

fn call_info(tx: &Transaction<'_>, call_id: &str) -> CallInfo {
    let mut info = tx
        .query_row(
            "SELECT caller, callee, extension FROM calls WHERE call_id = ?1",
            [call_id],
            |r| {
                Ok(CallInfo {
                    caller: r.get(0)?,
                    callee: r.get(1)?,
                    extension: r.get(2)?,
                    reached: Vec::new(),
                })
            },
        )
        .optional()
        .ok()
        .flatten()
        .unwrap_or_default();
    info.reached = rang_so_far(tx, call_id);
    info
}

/// The extensions a live call rang so far: its `call.ringing` events in the log (this
/// batch's included: they are written before the rules run).
fn rang_so_far(tx: &Transaction<'_>, call_id: &str) -> Vec<String> {
    let read = || -> rusqlite::Result<Vec<String>> {
        let mut stmt = tx.prepare_cached(
            "SELECT body FROM events WHERE call_id = ?1 AND kind = 'call.ringing' ORDER BY seq",
        )?;
        let bodies = stmt.query_map([call_id], |r| r.get::<_, Vec<u8>>(0))?;
        let mut reached = Vec::new();
        for body in bodies {
            if let Ok(crate::calls::EventBody::CallRinging(r)) = crate::store::decode_body(&body?) {
                reached.push(r.extension);
            }
        }
        Ok(reached)
    };
    read().unwrap_or_else(|e| {
        tracing::warn!(call_id, error = %e, "cannot read which extensions the call rang");
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallRecord, Direction, Disposition, EventBody, Source};
    use crate::config::{RuleTrigger, SmsConfig, SmsRule};

    fn missed(id: &str) -> CallEvent {
        let record = CallRecord {
            direction: Direction::Inbound,
            disposition: Disposition::NoAnswer,
            caller: Some("+48601234567".into()),
            answered_at: None,
            ..CallRecord::example(id, 1_795_000_000_000)
        };
        CallEvent {
            ts_ms: record.ended_at,
            source: Source::Ami,
            pbx: "p".into(),
            call_id: Some(id.into()),
            raw: None,
            body: EventBody::CallEnded(Box::new(record)),
        }
    }

    /// A reload (SIGHUP) puts new rules in force from the next batch: a missed call before
    /// it texts nobody, the same after it texts the caller.
    #[test]
    fn replaced_rules_apply_from_the_next_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = rusqlite::Connection::open(crate::store::migrated_db(dir.path())).unwrap();
        let hook = SmsHook {
            rules: Arc::new(LiveRules::new(SmsRules::new(SmsConfig::default()))),
            wake: Arc::new(tokio::sync::Notify::new()),
        };
        let batch = |conn: &mut rusqlite::Connection, id: &str| {
            let tx = conn.transaction().unwrap();
            let queued = crate::store::BatchHook::in_batch(&hook, &tx, &[&missed(id)], 0);
            tx.commit().unwrap();
            queued
        };
        assert_eq!(batch(&mut conn, "before"), 0);
        let config = SmsConfig {
            rules: vec![SmsRule {
                name: Some("missed".into()),
                on: RuleTrigger::MissedCall,
                digit: None,
                extension: None,
                text: "Oddzwonimy.".into(),
                mobile_only: false,
            }],
            ..SmsConfig::default()
        };
        assert_eq!(hook.rules.replace(config), 1);
        assert_eq!(batch(&mut conn, "after"), 1);
    }
}
