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

/// Whether a dial status is the dial's end (Asterisk's `DIALSTATUS` values), not a progress
/// report (`RINGING`, `PROGRESS`, `PROCEEDING`, `EARLYMEDIA` in ARI's `Dial` events).
pub(crate) fn dial_ended(status: &str) -> bool {
    matches!(
        status,
        "ANSWER"
            | "BUSY"
            | "NOANSWER"
            | "CANCEL"
            | "CONGESTION"
            | "CHANUNAVAIL"
            | "DONTCALL"
            | "TORTURE"
            | "INVALIDARGS"
    )
}

/// What a dial status (Asterisk `DIALSTATUS`) says about a call nobody answered, and whether
/// it only fills in when nothing else was said: CANCEL means the caller hung up while it rang,
/// a missed call, unless a busy or failed leg said more.
pub(crate) fn dial_outcome(status: &str) -> Option<(Disposition, bool)> {
    match status {
        "BUSY" => Some((Disposition::Busy, false)),
        "NOANSWER" => Some((Disposition::NoAnswer, false)),
        "CONGESTION" | "CHANUNAVAIL" => Some((Disposition::Failed, false)),
        "CANCEL" => Some((Disposition::NoAnswer, true)),
        _ => None,
    }
}

/// The disposition of a call nobody answered: abandoned in a queue, else what the last dial
/// said, else the hang-up cause (17 busy, 21 rejected, 34/38/1/3 failed), else no-answer if
/// anyone was dialled, else the PBX handled it alone.
pub(crate) fn unanswered_disposition(
    abandoned: bool,
    dial_outcome: Option<Disposition>,
    cause: Option<i64>,
    dialled: bool,
) -> Disposition {
    if abandoned {
        return Disposition::Abandoned;
    }
    if let Some(d) = dial_outcome {
        return d;
    }
    match cause {
        Some(17) => Disposition::Busy,
        Some(21) => Disposition::Rejected,
        Some(34 | 38 | 1 | 3) => Disposition::Failed,
        _ if dialled => Disposition::NoAnswer,
        _ => Disposition::PbxOnly,
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
    /// Everyone the call rang, in order (empty where the PBX never said).
    pub rang: Vec<super::Offer>,
    /// What the call cost, as the PBX last advised it (CTIP `AOC`; outbound calls).
    pub charge: Option<Charge>,
    /// A link central can open to the recording (`recording_url_base` and the file's name).
    pub recording_url: Option<String>,
}

/// An advice of charge: the gross amount as a decimal with a dot (`"0.38"`, as the PBX sent
/// it) and its currency (ISO 4217, from the PBX's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub amount: String,
    pub currency: String,
}

impl Charge {
    /// A PBX's amount (`0.38`, `12,50`, `3`) as a charge; `None` for anything that is not a
    /// non-negative decimal of at most 12 digits and 4 decimals.
    pub fn parse(amount: &str, currency: &str) -> Option<Charge> {
        let amount = amount.trim().replace(',', ".");
        let (whole, fraction) = amount.split_once('.').unwrap_or((&amount, ""));
        let digits = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
        let valid = !whole.is_empty() && digits(whole, 12) && digits(fraction, 4);
        let exact = !amount.ends_with('.');
        (valid && exact).then(|| Charge {
            amount,
            currency: currency.to_owned(),
        })
    }
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
            rang: vec![super::Offer {
                extension: "201".into(),
                rang_at: t0,
                ring_ms: 2_000,
                answered: true,
            }],
            charge: None,
            recording_url: None,
        }
        .with_durations()
    }
}

#[cfg(test)]
mod charge_tests {
    use super::Charge;

    #[test]
    fn amounts_are_decimals_or_nothing() {
        let amount = |a: &str| Charge::parse(a, "PLN").map(|c| c.amount);
        for (given, want) in [
            ("0.38", Some("0.38")),
            (" 12,50 ", Some("12.50")),
            ("3", Some("3")),
            ("123456789012.1234", Some("123456789012.1234")),
            ("1234567890123", None),
            ("0.12345", None),
            ("-1", None),
            ("1.", None),
            (".5", None),
            ("1.2.3", None),
            ("", None),
            ("١٢", None),
        ] {
            assert_eq!(amount(given).as_deref(), want, "{given:?}");
        }
    }
}
