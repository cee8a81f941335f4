//! The normalized event model. One [`CallEvent`] is one thing that happened on one PBX,
//! already correlated to a call id where it belongs to a call.
//!
//! Compatibility rule: these types are stored with postcard (not self-describing), inside the
//! versioned envelope of `store::codec`. Adding a new [`EventBody`] variant at the end is
//! backward compatible; changing a field of an existing variant needs a new envelope version.

use serde::{Deserialize, Serialize};

use super::record::{CallRecord, Direction};
use crate::link::LinkState;

/// Which kind of connector produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Ctip,
    Ami,
    Ari,
    /// Agent states from Cisco Finesse.
    Finesse,
    /// Events the gateway makes itself (link states, SMS results).
    Gateway,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ctip => "ctip",
            Source::Ami => "ami",
            Source::Ari => "ari",
            Source::Finesse => "finesse",
            Source::Gateway => "gateway",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "ctip" => Some(Source::Ctip),
            "ami" => Some(Source::Ami),
            "ari" => Some(Source::Ari),
            "finesse" => Some(Source::Finesse),
            "gateway" => Some(Source::Gateway),
            _ => None,
        }
    }
}

/// One normalized event with its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// Unix time in milliseconds: the PBX's own time where it sends one, else arrival time.
    pub ts_ms: i64,
    pub source: Source,
    /// The configured name of the PBX link (`[[pbx]] name`), or "gateway".
    pub pbx: String,
    pub call_id: Option<String>,
    /// The raw line or frame this event came from, kept for the local log and `pbxgw sniff`.
    pub raw: Option<String>,
    pub body: EventBody,
}

impl CallEvent {
    /// The event kind as used in MQTT topics and the `kind` column: `call.started`, ...
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }

    /// The call record, if this is a `call.ended`.
    pub fn record(&self) -> Option<&super::CallRecord> {
        match &self.body {
            EventBody::CallEnded(r) => Some(r),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventBody {
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
    /// Derived by the store: an answered call reached a caller missed before it.
    CallbackClosed(CallbackClosed),
}

impl EventBody {
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::CallStarted(_) => "call.started",
            EventBody::CallRinging(_) => "call.ringing",
            EventBody::CallAnswered(_) => "call.answered",
            EventBody::CallHeld(_) => "call.held",
            EventBody::CallTransferred(_) => "call.transferred",
            EventBody::CallDtmf(_) => "call.dtmf",
            EventBody::CallRecording(_) => "call.recording",
            EventBody::CallEnded(_) => "call.ended",
            EventBody::AgentState(_) => "agent.state",
            EventBody::LinkState(_) => "link.state",
            EventBody::SmsSent(_) => "sms.sent",
            EventBody::SmsDelivered(_) => "sms.delivered",
            EventBody::SmsFailed(_) => "sms.failed",
            EventBody::SmsReceived(_) => "sms.received",
            EventBody::CallbackClosed(_) => "callback.closed",
        }
    }

    /// The kind-specific fields as a JSON object (flattened into the MQTT payload).
    pub(crate) fn fields_json(&self) -> serde_json::Value {
        let value = match self {
            EventBody::CallStarted(b) => serde_json::to_value(b),
            EventBody::CallRinging(b) => serde_json::to_value(b),
            EventBody::CallAnswered(b) => serde_json::to_value(b),
            EventBody::CallHeld(b) => serde_json::to_value(b),
            EventBody::CallTransferred(b) => serde_json::to_value(b),
            EventBody::CallDtmf(b) => serde_json::to_value(b),
            EventBody::CallRecording(b) => serde_json::to_value(b),
            EventBody::CallEnded(b) => serde_json::to_value(b),
            EventBody::AgentState(b) => serde_json::to_value(b),
            EventBody::LinkState(b) => serde_json::to_value(b),
            EventBody::SmsSent(b) | EventBody::SmsDelivered(b) | EventBody::SmsFailed(b) => {
                serde_json::to_value(b)
            }
            EventBody::SmsReceived(b) => serde_json::to_value(b),
            EventBody::CallbackClosed(b) => serde_json::to_value(b),
        };
        // Serializing plain structs of strings and numbers cannot fail; keep the event
        // publishable with an empty body rather than dropping it if it ever did.
        value.unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
    }
}

/// How a missed caller was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClosedBy {
    /// Someone at the exchange called the number and it answered.
    CalledBack,
    /// The number called again and someone answered.
    CalledAgain,
}

/// `callback.closed`: the answered call (the event's `call_id`) that reached an outside
/// caller whose earlier calls nobody answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackClosed {
    /// The caller's number as the PBX gave it on the first missed call.
    pub number: String,
    pub how: ClosedBy,
    /// The missed calls it closes, oldest first.
    pub missed_call_ids: Vec<String>,
    pub first_missed_ms: i64,
    /// When the closing call was answered (Unix ms).
    pub answered_ms: i64,
    /// From the first missed call to that answer: how long the caller waited.
    pub after_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallStarted {
    pub direction: Direction,
    pub caller: Option<String>,
    pub callee: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRinging {
    pub extension: String,
    pub caller: Option<String>,
    /// The caller's name and company from the contact directory, for a screen pop before
    /// anyone answers (the pipeline fills them).
    pub caller_name: Option<String>,
    pub company: Option<String>,
}

impl CallRinging {
    /// A ring as a connector sees it, before the directory names the caller.
    pub fn new(extension: String, caller: Option<String>) -> CallRinging {
        CallRinging {
            extension,
            caller,
            caller_name: None,
            company: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallAnswered {
    pub extension: Option<String>,
    pub agent: Option<String>,
    /// false when the PBX itself answered (IVR, queue announcement), true for a person.
    pub by_person: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallHeld {
    pub extension: Option<String>,
    /// true when put on hold, false when taken off hold.
    pub held: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferKind {
    Blind,
    Attended,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallTransferred {
    pub transfer_kind: TransferKind,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallDtmf {
    pub digit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecording {
    pub file: String,
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentState {
    Ready,
    Ringing,
    Talking,
    WrapUp,
    Paused,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStateChanged {
    pub agent: String,
    pub state: AgentState,
    pub queue: Option<String>,
    /// Why the agent is not ready, as the source names it (a Finesse reason code's label).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkStateChanged {
    pub link: String,
    pub state: LinkState,
    pub detail: Option<String>,
}

/// What became of one queued text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsOutcome {
    /// The `sms_out` row.
    pub sms_id: i64,
    /// Why it was sent: `rule:<name>:<call id>`, `mqtt:<request id>`, `cli:<id>`.
    pub dedupe_key: String,
    pub to: String,
    pub parts: u32,
    /// The modem's or the network's reason, for a failure.
    pub error: Option<String>,
}

/// A text that arrived at the box's modem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsReceived {
    pub from: String,
    pub text: String,
    /// The network's time stamp, Unix ms.
    pub sent_at: i64,
    /// The sender asked not to be texted again (the opt-out keyword).
    pub opted_out: bool,
}
