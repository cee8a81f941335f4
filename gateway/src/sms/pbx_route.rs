//! The PBX's own GSM module (Slican CTIP `SMSS`) as the SMS route, for a box without a
//! modem: the same queue, rules, limits and events as the modem; the module's order ids are
//! the parts' references, and its `SMSR` reports and `SMSG` texts come back as events.

use std::path::PathBuf;
use std::sync::Arc;

use board::modem::errors::ErrorClass;
use board::modem::pdu::SubmitOptions;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::dispatch::{Dispatch, Failure, Route};
use super::queue::{self, SmsRow};
use crate::clock::now_ms;
use crate::config::SmsConfig;
use crate::pbx::ctip::gsm::{GsmError, GsmEvent, GsmRoute};
use crate::store::Appender;

impl Route for GsmRoute {
    async fn send(
        &mut self,
        row: &SmsRow,
        _options: &SubmitOptions,
    ) -> Result<Vec<String>, Failure> {
        GsmRoute::send(self, &row.destination, &row.text)
            .await
            .map_err(|e| {
                let code = match &e {
                    GsmError::Refused(Some(na)) => Some(i64::from(na.0)),
                    _ => None,
                };
                Failure {
                    class: if e.is_transient() {
                        ErrorClass::Transient
                    } else {
                        ErrorClass::Permanent
                    },
                    code,
                    text: e.to_string(),
                    route_broken: matches!(e, GsmError::NotConnected),
                }
            })
    }
}

pub(crate) struct PbxGsmWorker {
    pub route: GsmRoute,
    pub events: mpsc::Receiver<GsmEvent>,
    pub sms: SmsConfig,
    pub db_path: PathBuf,
    pub appender: Appender,
    pub wake: Arc<Notify>,
    pub shutdown: CancellationToken,
}

impl PbxGsmWorker {
    pub async fn run(mut self) {
        let mut conn = match crate::store::side_connection(&self.db_path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "SMS route cannot open the database");
                return;
            }
        };
        if let Ok(n @ 1..) = queue::requeue_interrupted(&conn, now_ms()) {
            tracing::warn!(
                texts = n,
                "texts interrupted while sending are queued again (they may arrive twice)"
            );
        }
        let mut route = self.route.clone();
        let mut dispatch = Dispatch {
            conn: &mut conn,
            sms: &self.sms,
            appender: &self.appender,
        };
        loop {
            let broken = dispatch.send_due(&mut route).await.is_err();
            // While the module is not logged in, look again in a while, not in a loop.
            let wait = if broken {
                std::time::Duration::from_secs(5)
            } else {
                dispatch.until_next_due()
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                event = self.events.recv() => match event {
                    Some(e) => on_event(&mut dispatch, e).await,
                    None => return,
                },
                _ = self.shutdown.cancelled() => return,
            }
        }
    }
}

async fn on_event(dispatch: &mut Dispatch<'_>, event: GsmEvent) {
    match event {
        GsmEvent::Delivered { order_id, .. } => dispatch.report(&order_id, None, None).await,
        GsmEvent::NotDelivered {
            order_id, error, ..
        } => {
            let why = format!("the network gave up delivering it (SMSR error {error})");
            dispatch.report(&order_id, None, Some((0, why))).await
        }
        GsmEvent::Received {
            from,
            sent_at,
            text,
        } => {
            let at = parse_sent_at(&sent_at).unwrap_or_else(now_ms);
            dispatch.received(from, text, at).await
        }
    }
}

/// `2021-12-07_18:03:04` (the PBX's local time, taken as UTC: it carries no zone).
fn parse_sent_at(s: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]_[hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(s, format).ok()?;
    Some((t.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_modules_time_stamps() {
        assert_eq!(
            super::parse_sent_at("2021-12-07_18:03:04"),
            Some(1_638_900_184_000)
        );
        assert_eq!(super::parse_sent_at("garbage"), None);
    }
}
