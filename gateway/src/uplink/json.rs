//! The documented JSON payloads (schema version `v` = 1).
//!
//! Event, on `{prefix}/{gw}/event/{kind}`:
//! `{"v":1,"gw":ID,"seq":N,"ts":"2026-11-22T04:29:49.123Z","source":"ami","pbx":NAME,
//!   "kind":"call.ringing","call_id":ID|null,"historical":false, ...kind fields}`.
//! Call record, on `{prefix}/{gw}/call/{call_id}`: `{"v":1,"gw","seq", ...record fields}`
//! with times as RFC 3339 strings.

use serde_json::{json, Map, Value};

use crate::calls::{CallRecord, EventBody};
use crate::store::StoredEvent;
use crate::timefmt::rfc3339_ms;

/// The envelope fields every payload keeps, even one cut to fit a size bound.
const ENVELOPE: [&str; 9] = [
    "v",
    "gw",
    "seq",
    "ts",
    "source",
    "pbx",
    "kind",
    "call_id",
    "historical",
];

/// `payload` if it is at most `max` bytes, else its envelope with `"truncated":true` and the
/// size it had: an event too large for the transport is still delivered (and acknowledged)
/// in order, never blocking the ones after it. The full event stays in the local log.
pub(crate) fn fit(payload: Value, max: usize) -> (String, bool) {
    let text = payload.to_string();
    if text.len() <= max {
        return (text, false);
    }
    let mut m = Map::new();
    if let Value::Object(fields) = &payload {
        for key in ENVELOPE {
            if let Some(v) = fields.get(key) {
                m.insert(key.into(), v.clone());
            }
        }
    }
    m.insert("truncated".into(), json!(true));
    m.insert("bytes".into(), json!(text.len()));
    (Value::Object(m).to_string(), true)
}

pub fn event_json(gw: &str, ev: &StoredEvent, historical: bool) -> Value {
    let mut m = Map::new();
    m.insert("v".into(), json!(1));
    m.insert("gw".into(), json!(gw));
    m.insert("seq".into(), json!(ev.seq));
    m.insert("ts".into(), json!(rfc3339_ms(ev.ts_ms)));
    if ev.clock_unsynced {
        // Only when set: central can tell a 1970 stamp from a real one.
        m.insert("clock_unsynced".into(), json!(true));
    }
    m.insert("source".into(), json!(ev.source));
    m.insert("pbx".into(), json!(ev.pbx));
    m.insert("kind".into(), json!(ev.kind));
    m.insert("call_id".into(), json!(ev.call_id));
    m.insert("historical".into(), json!(historical));
    match &ev.body {
        Ok(body) => {
            let fields = match body {
                EventBody::CallEnded(record) => record_fields(record),
                other => other.fields_json(),
            };
            if let Value::Object(fields) = fields {
                for (k, v) in fields {
                    m.entry(k).or_insert(v);
                }
            }
        }
        Err(reason) => {
            m.insert("body_error".into(), json!(reason));
        }
    }
    Value::Object(m)
}

/// The call record with its times as RFC 3339 strings.
pub(crate) fn record_fields(record: &CallRecord) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        for key in ["started_at", "pbx_answered_at", "answered_at", "ended_at"] {
            if let Some(Value::Number(n)) = m.get(key) {
                if let Some(ms) = n.as_i64() {
                    m.insert(key.into(), json!(rfc3339_ms(ms)));
                }
            }
        }
        if let Some(Value::Array(transfers)) = m.get_mut("transfers") {
            for t in transfers.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(ms) = t.get("at_ms").and_then(Value::as_i64) {
                    t.insert("at".into(), json!(rfc3339_ms(ms)));
                }
            }
        }
    }
    v
}

pub fn call_json(gw: &str, seq: u64, record: &CallRecord) -> Value {
    let mut v = record_fields(record);
    if let Value::Object(m) = &mut v {
        m.insert("v".into(), json!(1));
        m.insert("gw".into(), json!(gw));
        m.insert("seq".into(), json!(seq));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::CallRinging;

    fn stored(body: EventBody) -> StoredEvent {
        StoredEvent {
            seq: 7,
            ts_ms: 1_795_316_989_123,
            source: "ami".into(),
            pbx: "pbx1".into(),
            kind: body.kind().into(),
            call_id: Some("c1".into()),
            raw: None,
            body: Ok(body),
            clock_unsynced: false,
        }
    }

    #[test]
    fn an_event_stamped_by_an_unsynchronised_clock_says_so() {
        let mut ev = stored(EventBody::CallDtmf(crate::calls::CallDtmf {
            digit: "1".into(),
        }));
        assert!(event_json("gw", &ev, false).get("clock_unsynced").is_none());
        ev.clock_unsynced = true;
        assert_eq!(event_json("gw", &ev, false)["clock_unsynced"], true);
    }

    #[test]
    fn event_payload_has_the_envelope_and_flat_fields() {
        let v = event_json(
            "gw1",
            &stored(EventBody::CallRinging(CallRinging::new(
                "201".into(),
                Some("+48600".into()),
            ))),
            true,
        );
        assert_eq!(v["v"], 1);
        assert_eq!(v["gw"], "gw1");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["ts"], "2026-11-22T03:09:49.123Z");
        assert_eq!(v["kind"], "call.ringing");
        assert_eq!(v["historical"], true);
        assert_eq!(v["extension"], "201");
        assert_eq!(v["caller"], "+48600");
    }

    #[test]
    fn call_record_times_are_rfc3339() {
        let r = CallRecord::example("c1", 1_000);
        let v = call_json("gw1", 9, &r);
        assert_eq!(v["started_at"], "1970-01-01T00:00:01.000Z");
        assert_eq!(v["pbx_answered_at"], Value::Null);
        assert_eq!(v["billsec_s"], 60);
        assert_eq!(v["duration_s"], 62);
        assert_eq!(v["disposition"], "answered");
        assert_eq!(v["seq"], 9);
    }

    #[test]
    fn undecodable_body_is_still_published_with_the_reason() {
        let mut e = stored(EventBody::CallDtmf(crate::calls::CallDtmf {
            digit: "1".into(),
        }));
        e.body = Err("unknown variant".into());
        let v = event_json("gw1", &e, false);
        assert_eq!(v["body_error"], "unknown variant");
        assert_eq!(v["seq"], 7);
    }
}

#[cfg(test)]
mod fit_tests {
    use super::*;

    #[test]
    fn a_payload_past_the_bound_keeps_its_envelope_and_says_so() {
        let big = json!({"v":1,"gw":"g","seq":7,"kind":"sms.received","call_id":null,"text":"x".repeat(1000)});
        let (text, cut) = fit(big.clone(), 2000);
        assert!(!cut);
        assert_eq!(text, big.to_string());
        let (text, cut) = fit(big, 200);
        assert!(cut);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (v["seq"].as_u64(), v["kind"].as_str()),
            (Some(7), Some("sms.received"))
        );
        assert_eq!(v["truncated"], true);
        assert!(v.get("text").is_none() && v["bytes"].as_u64() > Some(1000));
        assert!(text.len() <= 200);
    }
}
