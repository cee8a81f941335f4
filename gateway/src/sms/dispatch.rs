//! The queue's side of sending, whatever the route (the box's modem, the PBX's GSM module):
//! what is due within the rate limits, each state change committed around the route's
//! answer, the events that tell central, delivery reports and incoming texts.

use std::time::Duration;

use board::modem::errors::ErrorClass;
use board::modem::pdu::SubmitOptions;
use rusqlite::Connection;

use super::queue::{self, Report, SmsRow};
use crate::calls::{CallEvent, EventBody, SmsOutcome, SmsReceived, Source};
use crate::clock::now_ms;
use crate::config::SmsConfig;
use crate::store::Appender;

/// Why a route did not take a text.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub class: ErrorClass,
    /// The route's own code (`+CMS ERROR n`, `NA n`).
    pub code: Option<i64>,
    pub text: String,
    /// The route itself needs recovery (stopped answering, lost its link).
    pub route_broken: bool,
}

/// Something that can send a text; returns the reference of every part.
pub(crate) trait Route {
    async fn send(&mut self, row: &SmsRow, options: &SubmitOptions)
        -> Result<Vec<String>, Failure>;
}

pub(crate) struct Dispatch<'a> {
    // `&mut`: a shared reference to a Connection (not Sync) would make the task !Send.
    pub conn: &'a mut Connection,
    pub sms: &'a SmsConfig,
    pub appender: &'a Appender,
}

impl Dispatch<'_> {
    /// How long until the next queued text is due (at most a second).
    pub(crate) fn until_next_due(&self) -> Duration {
        let now = now_ms();
        let due = queue::next_due_at(self.conn)
            .ok()
            .flatten()
            .unwrap_or(now + 1000);
        Duration::from_millis((due - now).clamp(10, 1000) as u64)
    }

    /// Sends every text due now, within the rate limits. `Err` when the route broke.
    pub(crate) async fn send_due<R: Route>(&mut self, route: &mut R) -> Result<(), Failure> {
        loop {
            let now = now_ms();
            if queue::sent_since(self.conn, now - 60_000, None).unwrap_or(0)
                >= self.sms.rate_per_minute
            {
                return Ok(());
            }
            let Some(row) = queue::next_due(self.conn, now).ok().flatten() else {
                return Ok(());
            };
            let to_this =
                queue::sent_since(self.conn, now - 3_600_000, Some(&row.destination)).unwrap_or(0);
            if to_this >= self.sms.per_destination_per_hour {
                let why = "waiting: per-destination hourly limit";
                let _ = queue::mark_retry(self.conn, row.id, now + 600_000, None, why, now);
                continue;
            }
            if !queue::claim(self.conn, row.id, now).unwrap_or(false) {
                continue;
            }
            self.send(route, row).await?;
        }
    }

    async fn send<R: Route>(&mut self, route: &mut R, row: SmsRow) -> Result<(), Failure> {
        let options = SubmitOptions {
            status_report: self.sms.delivery_reports,
            validity_minutes: self.sms.validity_h.saturating_mul(60),
            reference: (row.id & 0xFF) as u8,
        };
        let result = route.send(&row, &options).await;
        let now = now_ms();
        let failure = match result {
            Ok(refs) => {
                let _ = queue::mark_sent(self.conn, row.id, &refs, now);
                tracing::info!(sms = row.id, parts = refs.len(), "SMS sent");
                self.event(
                    row.call_id.clone(),
                    EventBody::SmsSent(outcome(&row, refs.len(), None)),
                )
                .await;
                return Ok(());
            }
            Err(f) => f,
        };
        let out_of_tries = row.attempts + 1 >= self.sms.max_attempts;
        if failure.class == ErrorClass::Permanent
            || (failure.class == ErrorClass::Transient && out_of_tries)
        {
            let _ = queue::mark_failed(self.conn, row.id, failure.code, &failure.text, now);
            tracing::warn!(sms = row.id, error = %failure.text, "SMS failed");
            let body = EventBody::SmsFailed(outcome(&row, 0, Some(failure.text.clone())));
            self.event(row.call_id.clone(), body).await;
            return Ok(());
        }
        // A text that failed because the route broke goes first once the route is back.
        let delay = if failure.route_broken {
            0
        } else {
            retry_delay(row.attempts + 1)
        };
        let _ = queue::mark_retry(
            self.conn,
            row.id,
            now + delay,
            failure.code,
            &failure.text,
            now,
        );
        tracing::warn!(sms = row.id, error = %failure.text, retry_in_ms = delay, "SMS not sent; retrying");
        if failure.route_broken || failure.class == ErrorClass::Modem {
            return Err(failure);
        }
        Ok(())
    }

    /// A delivery report for the part `reference` (to `recipient`, when the route says);
    /// `failed` with the network's code and reason when it gave up.
    pub async fn report(
        &mut self,
        reference: &str,
        recipient: Option<&str>,
        failed: Option<(i64, String)>,
    ) {
        let now = now_ms();
        match queue::delivery_report(self.conn, reference, recipient, failed, now) {
            Ok(Report::Delivered(row)) => {
                let parts = row.parts.unwrap_or(1) as usize;
                self.event(
                    row.call_id.clone(),
                    EventBody::SmsDelivered(outcome(&row, parts, None)),
                )
                .await;
            }
            Ok(Report::Failed(row)) => {
                let why = row.error_text.clone();
                self.event(
                    row.call_id.clone(),
                    EventBody::SmsFailed(outcome(&row, 0, why)),
                )
                .await;
            }
            Ok(Report::Partial) => {}
            Ok(Report::Unknown) => tracing::info!(reference, "delivery report for no known text"),
            Err(e) => tracing::error!(error = %e, "delivery report not recorded"),
        }
    }

    /// An incoming text: an event, and the do-not-text list when it is the opt-out word.
    pub async fn received(&mut self, from: String, text: String, sent_at: i64) {
        let opted_out = self
            .sms
            .opt_out_keyword
            .as_deref()
            .is_some_and(|k| text.trim().eq_ignore_ascii_case(k));
        if opted_out {
            let _ = queue::opt_out(self.conn, &from, now_ms());
            tracing::info!("a sender asked not to be texted again; added to the do-not-text list");
        }
        let body = EventBody::SmsReceived(SmsReceived {
            from,
            text,
            sent_at,
            opted_out,
        });
        self.event(None, body).await;
    }

    async fn event(&mut self, call_id: Option<String>, body: EventBody) {
        let event = CallEvent {
            ts_ms: now_ms(),
            source: Source::Gateway,
            pbx: "gateway".into(),
            call_id,
            raw: None,
            body,
        };
        if let Err(e) = self.appender.submit(event).await {
            tracing::error!(error = %e, "SMS event not stored");
        }
    }
}

fn outcome(row: &SmsRow, parts: usize, error: Option<String>) -> SmsOutcome {
    SmsOutcome {
        sms_id: row.id,
        dedupe_key: row.dedupe_key.clone(),
        to: row.destination.clone(),
        parts: parts as u32,
        error,
    }
}

/// 30 s, 1 min, 2 min, ... at most 30 min.
fn retry_delay(attempt: u32) -> i64 {
    (30_000i64 << attempt.saturating_sub(1).min(6)).min(1_800_000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_half_an_hour() {
        assert_eq!(super::retry_delay(1), 30_000);
        assert_eq!(super::retry_delay(2), 60_000);
        assert_eq!(super::retry_delay(20), 1_800_000);
    }
}
