//! Envelope version 2, as rows written before a ring named the caller's contact, a call
//! record carried its charge and recording link, and an agent's state its reason. Those three
//! bodies changed; every other is today's type.

use serde::{Deserialize, Serialize};

use crate::calls::{
    AgentState, CallAnswered, CallDtmf, CallHeld, CallRecording, CallStarted, CallTransferred,
    CallbackClosed, Direction, Disposition, LinkStateChanged, Offer, SmsOutcome, SmsReceived,
    Transfer,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum EventBody {
    CallStarted(CallStarted),
    CallRinging(CallRinging),
    CallAnswered(CallAnswered),
    CallHeld(CallHeld),
    CallTransferred(CallTransferred),
    CallDtmf(CallDtmf),
    CallRecording(CallRecording),
    CallEnded(Box<CallRecord>),
    AgentState(AgentStateChanged),
    LinkState(LinkStateChanged),
    SmsSent(SmsOutcome),
    SmsDelivered(SmsOutcome),
    SmsFailed(SmsOutcome),
    SmsReceived(SmsReceived),
    CallbackClosed(CallbackClosed),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AgentStateChanged {
    pub agent: String,
    pub state: AgentState,
    pub queue: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CallRinging {
    pub extension: String,
    pub caller: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CallRecord {
    pub call_id: String,
    pub direction: Direction,
    pub caller: Option<String>,
    pub callee: Option<String>,
    pub extension: Option<String>,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub started_at: i64,
    pub pbx_answered_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub ended_at: i64,
    pub duration_s: i64,
    pub billsec_s: i64,
    pub disposition: Disposition,
    pub hangup_cause: Option<String>,
    pub ivr_digits: Option<String>,
    pub recording: Option<String>,
    pub transfers: Vec<Transfer>,
    pub holds: u32,
    pub caller_name: Option<String>,
    pub company: Option<String>,
    pub rang: Vec<Offer>,
}

impl From<CallRecord> for crate::calls::CallRecord {
    /// A version 2 record has no charge and no recording link.
    fn from(r: CallRecord) -> Self {
        crate::calls::CallRecord {
            call_id: r.call_id,
            direction: r.direction,
            caller: r.caller,
            callee: r.callee,
            extension: r.extension,
            agent: r.agent,
            queue: r.queue,
            started_at: r.started_at,
            pbx_answered_at: r.pbx_answered_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            duration_s: r.duration_s,
            billsec_s: r.billsec_s,
            disposition: r.disposition,
            hangup_cause: r.hangup_cause,
            ivr_digits: r.ivr_digits,
            recording: r.recording,
            transfers: r.transfers,
            holds: r.holds,
            caller_name: r.caller_name,
            company: r.company,
            rang: r.rang,
            charge: None,
            recording_url: None,
        }
    }
}

impl From<EventBody> for crate::calls::EventBody {
    fn from(body: EventBody) -> Self {
        use crate::calls::EventBody as Now;
        match body {
            EventBody::CallStarted(b) => Now::CallStarted(b),
            EventBody::CallRinging(b) => {
                Now::CallRinging(crate::calls::CallRinging::new(b.extension, b.caller))
            }
            EventBody::CallAnswered(b) => Now::CallAnswered(b),
            EventBody::CallHeld(b) => Now::CallHeld(b),
            EventBody::CallTransferred(b) => Now::CallTransferred(b),
            EventBody::CallDtmf(b) => Now::CallDtmf(b),
            EventBody::CallRecording(b) => Now::CallRecording(b),
            EventBody::CallEnded(r) => Now::CallEnded(Box::new((*r).into())),
            EventBody::AgentState(b) => Now::AgentState(crate::calls::AgentStateChanged {
                agent: b.agent,
                state: b.state,
                queue: b.queue,
                reason: None,
            }),
            EventBody::LinkState(b) => Now::LinkState(b),
            EventBody::SmsSent(b) => Now::SmsSent(b),
            EventBody::SmsDelivered(b) => Now::SmsDelivered(b),
            EventBody::SmsFailed(b) => Now::SmsFailed(b),
            EventBody::SmsReceived(b) => Now::SmsReceived(b),
            EventBody::CallbackClosed(b) => Now::CallbackClosed(b),
        }
    }
}
