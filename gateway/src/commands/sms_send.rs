//! `sms.send` `{"to","text"}`: queue a text to one number (the `[numbers]` policy applies);
//! answers `{"sms_id","to","state":"queued"}`.

use serde::{Deserialize, Serialize};

use super::request::Request;
use super::{refuse, Commands, Refusal};

#[derive(Deserialize)]
pub(super) struct SmsSend {
    to: String,
    text: String,
}

impl Request for SmsSend {
    const SHAPE: &'static str = r#"{"to": "+48601234567", "text": "..."}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("to", &self.to), ("text", &self.text)]
    }
}

#[derive(Serialize)]
pub(super) struct Queued {
    sms_id: i64,
    to: String,
    state: &'static str,
}

/// The longest text taken: ten parts of a concatenated SMS.
const MAX_CHARS: usize = 1530;

impl Commands {
    pub(super) fn sms_send(&self, request_id: &str, request: SmsSend) -> Result<Queued, Refusal> {
        use crate::sms::queue::{self, Queued as Enqueued};
        let target = self
            .sms
            .as_ref()
            .ok_or_else(|| refuse("unsupported", "this gateway has no SMS route"))?;
        if request.text.chars().count() > MAX_CHARS {
            return Err(refuse(
                "bad_request",
                "text longer than 10 parts (1530 characters)",
            ));
        }
        let destination = self.reach().check(&request.to)?;
        let enqueue = crate::sms::rules::Enqueue {
            dedupe_key: format!("mqtt:{request_id}"),
            origin: "mqtt".into(),
            call_id: None,
            destination: destination.clone(),
            text: request.text,
        };
        let internal = |e: &dyn std::fmt::Display| refuse("internal", e.to_string());
        let conn = crate::store::side_connection(&target.db_path).map_err(|e| internal(&e))?;
        let sms_id = match queue::enqueue(&conn, &enqueue, crate::clock::now_ms(), 0)
            .map_err(|e| internal(&e))?
        {
            Enqueued::Queued(id) => {
                target.wake.notify_one();
                id
            }
            Enqueued::Duplicate => conn
                .query_row(
                    "SELECT id FROM sms_out WHERE dedupe_key = ?1",
                    [&enqueue.dedupe_key],
                    |r| r.get(0),
                )
                .map_err(|e| internal(&e))?,
            Enqueued::OptedOut => {
                return Err(refuse(
                    "opted_out",
                    format!("{destination} asked not to be texted"),
                ))
            }
            Enqueued::Cooldown => return Err(refuse("refused", "cooldown")),
        };
        Ok(Queued {
            sms_id,
            to: destination,
            state: "queued",
        })
    }
}
