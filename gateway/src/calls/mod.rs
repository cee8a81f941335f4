//! Correlation stage: `PbxEvent`s from the connectors become [`CallEvent`]s, one call id per
//! real call across all its legs. This module holds the normalized model that every later
//! stage (store, uplinks, SMS rules, status page) works on; the per-protocol correlators
//! live beside it.

pub mod ami;
pub mod ari;
pub mod ctip;
pub mod event;
pub mod finesse;
pub mod offers;
pub mod pipeline;
pub mod record;
pub mod recording_link;

pub use event::{
    AgentState, AgentStateChanged, CallAnswered, CallDtmf, CallEvent, CallHeld, CallRecording,
    CallRinging, CallStarted, CallTransferred, CallbackClosed, ClosedBy, EventBody,
    LinkStateChanged, SmsOutcome, SmsReceived, Source, TransferKind,
};
pub(crate) use offers::Offers;
pub use offers::{Offer, MAX_OFFERS};
pub use record::{CallRecord, Charge, Direction, Disposition, Transfer};

/// What a correlator emits for one input, before it leaves as events: every event gets the
/// same source, PBX name and raw text, and the input's time unless a handler moves it.
pub(crate) struct Out<'a> {
    pub ts: i64,
    raw: Option<&'a str>,
    pbx: &'a str,
    source: Source,
    pub events: Vec<CallEvent>,
}

impl<'a> Out<'a> {
    pub fn new(source: Source, pbx: &'a str, ts: i64, raw: Option<&'a str>) -> Out<'a> {
        Out {
            ts,
            raw,
            pbx,
            source,
            events: Vec::new(),
        }
    }

    pub fn push(&mut self, call_id: &str, body: EventBody) {
        self.push_event(Some(call_id), body);
    }

    pub(crate) fn push_event(&mut self, call_id: Option<&str>, body: EventBody) {
        self.insert(self.events.len(), self.ts, call_id, body);
    }

    /// An event dated `ts` placed before the `at`-th event already out.
    pub fn insert(&mut self, at: usize, ts: i64, call_id: Option<&str>, body: EventBody) {
        let event = CallEvent {
            ts_ms: ts,
            source: self.source,
            pbx: self.pbx.to_owned(),
            call_id: call_id.map(str::to_owned),
            raw: self.raw.map(str::to_owned),
            body,
        };
        self.events.insert(at.min(self.events.len()), event);
    }

    /// Emits a call's record dated at its end.
    pub(crate) fn push_ended(&mut self, record: CallRecord) {
        let ts = self.ts;
        self.ts = record.ended_at;
        let id = record.call_id.clone();
        self.push(&id, EventBody::CallEnded(Box::new(record)));
        self.ts = ts;
    }
}
