//! Synthetic call traffic for the spine's tests and benchmarks, shaped like real calls: each
//! call is started, ringing, answered and ended (with a full call record), 4 events.

use pbxgw::calls::{
    CallAnswered, CallEvent, CallRecord, CallRinging, CallStarted, Charge, Direction, Disposition,
    EventBody, Offer, Source,
};

/// The `i`-th event of an endless stream of calls.
pub fn event(i: u64, ts_ms: i64) -> CallEvent {
    let call = i / 4;
    let call_id = format!("syn-{call}");
    let caller = format!("+4860{:07}", call % 10_000_000);
    let extension = format!("{}", 200 + call % 50);
    let body = match i % 4 {
        0 => EventBody::CallStarted(CallStarted {
            direction: Direction::Inbound,
            caller: Some(caller.clone()),
            callee: Some("100".into()),
        }),
        1 => EventBody::CallRinging(CallRinging::new(extension.clone(), Some(caller.clone()))),
        2 => EventBody::CallAnswered(CallAnswered {
            extension: Some(extension.clone()),
            agent: None,
            by_person: true,
        }),
        _ => EventBody::CallEnded(Box::new(
            CallRecord {
                call_id: call_id.clone(),
                direction: Direction::Inbound,
                caller: Some(caller.clone()),
                callee: Some("100".into()),
                extension: Some(extension.clone()),
                agent: None,
                queue: None,
                started_at: ts_ms - 60_000,
                pbx_answered_at: None,
                answered_at: Some(ts_ms - 50_000),
                ended_at: ts_ms,
                duration_s: 0,
                billsec_s: 0,
                disposition: Disposition::Answered,
                hangup_cause: Some("16".into()),
                ivr_digits: None,
                recording: None,
                transfers: vec![],
                holds: 0,
                caller_name: None,
                company: None,
                rang: vec![Offer {
                    extension: extension.clone(),
                    rang_at: ts_ms - 60_000,
                    ring_ms: 10_000,
                    answered: true,
                }],
                // Every tenth call was charged and recorded.
                charge: call.is_multiple_of(10).then(|| Charge {
                    amount: "0.38".into(),
                    currency: "PLN".into(),
                }),
                recording_url: call
                    .is_multiple_of(10)
                    .then(|| format!("https://rec.example.com/monitor/{call_id}.wav")),
            }
            .with_durations(),
        )),
    };
    // A raw line of the size a real AMI/CTIP line has (about 120 bytes).
    let raw = format!(
        "Event: Synthetic\r\nChannel: Local/{extension}@ext-{call:08};1\r\nCallerIDNum: {caller}\r\nLinkedid: {call_id}\r\nSeq: {i}"
    );
    CallEvent {
        ts_ms,
        source: Source::Ami,
        pbx: "synthetic".into(),
        call_id: Some(call_id),
        raw: Some(raw),
        body,
    }
}
