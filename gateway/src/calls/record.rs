//! The call record: one per real call, the same for every PBX kind (DESIGN.md, "The call
//! record"). It is the body of `call.ended` and the row of `calls` / `pbxgw_calls`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
    Internal,
    Unknown,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disposition {
    /// A person (extension or agent) answered.
    Answered,
    NoAnswer,
    Busy,
    Failed,
    /// The caller hung up while queued or ringing.
    Abandoned,
    Rejected,
    /// The PBX handled the call alone (IVR hang-up, conference, parked and never retrieved).
    PbxOnly,
    /// The link to the PBX was lost while the call was open; its end is not known exactly.
    LinkLost,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::NoAnswer => "no-answer",
            Disposition::Busy => "busy",
            Disposition::Failed => "failed",
            Disposition::Abandoned => "abandoned",
            Disposition::Rejected => "rejected",
            Disposition::PbxOnly => "pbx-only",
            Disposition::LinkLost => "link-lost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    pub kind: super::TransferKind,
    pub from: Option<String>,
    pub to: Option<String>,
    pub at_ms: i64,
}

/// Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
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
}

impl CallRecord {
    /// Recomputes `duration_s` and `billsec_s` from the timestamps, so every producer
    /// derives them the same way.
    pub fn with_durations(mut self) -> Self {
        self.duration_s = ((self.ended_at - self.started_at).max(0)) / 1000;
        self.billsec_s = self
            .answered_at
            .map(|a| ((self.ended_at - a).max(0)) / 1000)
            .unwrap_or(0);
        self
    }
}

#[cfg(test)]
impl CallRecord {
    /// An answered inbound call for tests: started at `t0`, answered 2 s later, ended 62 s
    /// after the start.
    pub(crate) fn example(call_id: &str, t0: i64) -> CallRecord {
        CallRecord {
            call_id: call_id.into(),
            direction: Direction::Inbound,
            caller: Some("600".into()),
            callee: Some("100".into()),
            extension: Some("201".into()),
            agent: None,
            queue: None,
            started_at: t0,
            pbx_answered_at: None,
            answered_at: Some(t0 + 2_000),
            ended_at: t0 + 62_000,
            duration_s: 0,
            billsec_s: 0,
            disposition: Disposition::Answered,
            hangup_cause: None,
            ivr_digits: None,
            recording: None,
            transfers: vec![],
            holds: 0,
            caller_name: None,
            company: None,
        }
        .with_durations()
    }
}
