//! Event bodies inside SQLite: postcard in a versioned envelope. A new envelope version is
//! added (never an old one changed) when a body's fields change; old rows keep decoding.

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::calls::EventBody;

mod v1;
mod v2;

/// Writing: always the newest version.
#[derive(Serialize)]
enum EnvelopeRef<'a> {
    /// Written only by the tests that show old rows still read.
    #[cfg_attr(not(test), allow(dead_code))]
    V1(&'a v1::EventBody),
    #[cfg_attr(not(test), allow(dead_code))]
    V2(&'a v2::EventBody),
    V3(&'a EventBody),
}

#[derive(Deserialize)]
enum Envelope {
    /// Before call records named who the call rang (`rang`).
    V1(v1::EventBody),
    /// Before a ring named the caller's contact and records carried `charge` and
    /// `recording_url`.
    V2(v2::EventBody),
    V3(EventBody),
}

pub fn encode_body(body: &EventBody) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(&EnvelopeRef::V3(body)).map_err(StoreError::Encode)
}

pub(crate) fn decode_body(bytes: &[u8]) -> Result<EventBody, postcard::Error> {
    match postcard::from_bytes::<Envelope>(bytes)? {
        Envelope::V1(body) => Ok(v2::EventBody::from(body).into()),
        Envelope::V2(body) => Ok(body.into()),
        Envelope::V3(body) => Ok(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallDtmf, CallRecord, CallStarted, Direction};

    #[test]
    fn round_trip() {
        for body in [
            EventBody::CallDtmf(CallDtmf { digit: "7".into() }),
            EventBody::CallStarted(CallStarted {
                direction: Direction::Inbound,
                caller: Some("+48123".into()),
                callee: None,
            }),
            EventBody::CallEnded(Box::new(CallRecord::example("c1", 1_000))),
        ] {
            let bytes = encode_body(&body).unwrap();
            assert_eq!(decode_body(&bytes).unwrap(), body);
        }
    }

    #[test]
    fn a_record_stored_before_rang_existed_still_reads_with_no_offers() {
        let now = CallRecord::example("c1", 1_000);
        let old = v1::CallRecord {
            call_id: now.call_id.clone(),
            direction: now.direction,
            caller: now.caller.clone(),
            callee: now.callee.clone(),
            extension: now.extension.clone(),
            agent: None,
            queue: None,
            started_at: now.started_at,
            pbx_answered_at: None,
            answered_at: now.answered_at,
            ended_at: now.ended_at,
            duration_s: now.duration_s,
            billsec_s: now.billsec_s,
            disposition: now.disposition,
            hangup_cause: None,
            ivr_digits: None,
            recording: None,
            transfers: vec![],
            holds: 0,
            caller_name: None,
            company: None,
        };
        let bytes = postcard::to_stdvec(&EnvelopeRef::V1(&v1::EventBody::CallEnded(Box::new(old))))
            .unwrap();
        let read = decode_body(&bytes).unwrap();
        let expected = CallRecord {
            rang: vec![],
            charge: None,
            recording_url: None,
            ..now
        };
        assert_eq!(read, EventBody::CallEnded(Box::new(expected)));
        let dtmf = postcard::to_stdvec(&EnvelopeRef::V1(&v1::EventBody::CallDtmf(CallDtmf {
            digit: "3".into(),
        })))
        .unwrap();
        assert_eq!(
            decode_body(&dtmf).unwrap(),
            EventBody::CallDtmf(CallDtmf { digit: "3".into() })
        );
    }

    #[test]
    fn a_version_2_ring_and_record_read_without_names_charge_or_link() {
        let now = CallRecord {
            charge: None,
            recording_url: None,
            ..CallRecord::example("c2", 5_000)
        };
        let old = v2::CallRecord {
            call_id: now.call_id.clone(),
            direction: now.direction,
            caller: now.caller.clone(),
            callee: now.callee.clone(),
            extension: now.extension.clone(),
            agent: None,
            queue: None,
            started_at: now.started_at,
            pbx_answered_at: None,
            answered_at: now.answered_at,
            ended_at: now.ended_at,
            duration_s: now.duration_s,
            billsec_s: now.billsec_s,
            disposition: now.disposition,
            hangup_cause: None,
            ivr_digits: None,
            recording: None,
            transfers: vec![],
            holds: 0,
            caller_name: None,
            company: None,
            rang: now.rang.clone(),
        };
        let ended = v2::EventBody::CallEnded(Box::new(old));
        let bytes = postcard::to_stdvec(&EnvelopeRef::V2(&ended)).unwrap();
        assert_eq!(
            decode_body(&bytes).unwrap(),
            EventBody::CallEnded(Box::new(now))
        );
        let ring = v2::EventBody::CallRinging(v2::CallRinging {
            extension: "201".into(),
            caller: Some("600".into()),
        });
        let bytes = postcard::to_stdvec(&EnvelopeRef::V2(&ring)).unwrap();
        assert_eq!(
            decode_body(&bytes).unwrap(),
            EventBody::CallRinging(crate::calls::CallRinging::new(
                "201".into(),
                Some("600".into())
            ))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[][..], &[0xff; 7], &[0, 200, 1, 2], &[9, 9, 9]] {
            assert!(decode_body(bytes).is_err());
        }
    }
}
