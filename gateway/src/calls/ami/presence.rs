//! Agent and extension presence: the live panel a supervisor watches. Queue events, device
//! states and extension hints become `agent.state` events, one per real change.
//!
//! The agent key is the extension behind the member's interface (`Local/301@agents/n`,
//! `PJSIP/301` -> `301`), so a queue member and its phone are one agent. Device states of
//! internal technologies (Local, Announcer, ...) are not people and are ignored.

use std::collections::HashMap;

use crate::calls::{AgentState, AgentStateChanged, EventBody, Out};
use crate::pbx::ami::codec::Message;
use crate::pbx::asterisk::extension_of;

/// Device technologies that are not a person's phone (ConfBridge's announcer and recorder,
/// snoop and media channels of ARI included).
const NOT_PHONES: [&str; 13] = [
    "Local",
    "Announcer",
    "Recorder",
    "Queue",
    "Custom",
    "Park",
    "Stasis",
    "CBAnn",
    "CBRec",
    "Snoop",
    "UnicastRTP",
    "AudioSocket",
    "Message",
];

fn is_pseudo(technology: &str) -> bool {
    NOT_PHONES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(technology))
}

#[derive(Debug, Default)]
pub(crate) struct Presence {
    last: HashMap<String, AgentState>,
}

impl Presence {
    pub(crate) fn on_event(&mut self, out: &mut Out<'_>, event: &str, m: &Message) {
        let member = || {
            m.get("Interface")
                .or_else(|| m.get("StateInterface"))
                .or_else(|| m.get("Location"))
                .map(extension_of)
        };
        let queue = m.get("Queue").map(str::to_owned);
        let (agent, state) = match event {
            "QueueMemberStatus" | "QueueMember" | "QueueMemberAdded" => (member(), member_state(m)),
            "QueueMemberPause" => (member(), member_state(m)),
            "QueueMemberRemoved" => (member(), Some(AgentState::Unavailable)),
            "AgentCalled" => (member(), Some(AgentState::Ringing)),
            "AgentConnect" => (member(), Some(AgentState::Talking)),
            "AgentComplete" => (member(), Some(AgentState::WrapUp)),
            "AgentRingNoAnswer" => (member(), Some(AgentState::Ready)),
            "DeviceStateChange" => device(m),
            "ExtensionStatus" => (
                m.get("Exten").map(str::to_owned),
                m.get("Status").and_then(hint_state),
            ),
            _ => return,
        };
        let (Some(agent), Some(state)) = (agent, state) else {
            return;
        };
        self.set(out, agent, state, queue);
    }

    /// An agent's state, as an `agent.state` event when it changed.
    pub(crate) fn set(
        &mut self,
        out: &mut Out<'_>,
        agent: String,
        state: AgentState,
        queue: Option<String>,
    ) {
        if self.last.get(&agent) == Some(&state) {
            return;
        }
        self.last.insert(agent.clone(), state);
        out.push_event(
            None,
            EventBody::AgentState(AgentStateChanged {
                agent,
                state,
                queue,
                reason: None,
            }),
        );
    }
}

/// A queue member's `Status` (Asterisk device state number) and `Paused`.
fn member_state(m: &Message) -> Option<AgentState> {
    let by_device = match m.get("Status")? {
        "1" => AgentState::Ready,
        "2" | "3" | "8" => AgentState::Talking,
        "6" | "7" => AgentState::Ringing,
        "4" | "5" => AgentState::Unavailable,
        _ => return None,
    };
    if by_device == AgentState::Ready && m.get("Paused") == Some("1") {
        return Some(AgentState::Paused);
    }
    Some(by_device)
}

fn device(m: &Message) -> (Option<String>, Option<AgentState>) {
    match device_state(
        m.get("Device").unwrap_or_default(),
        m.get("State").unwrap_or_default(),
    ) {
        Some((agent, state)) => (Some(agent), Some(state)),
        None => (None, None),
    }
}

/// A device state (`PJSIP/201`, `INUSE`) as an agent's, for phones only: pseudo-devices
/// (`Local/...`, `Queue:...`) and states without a meaning here are `None`. AMI's
/// `DeviceStateChange` and ARI's `DeviceStateChanged` both come here.
pub(crate) fn device_state(device: &str, state: &str) -> Option<(String, AgentState)> {
    // `PJSIP/201`; pseudo-devices are `Local/...`, `Queue:sales_pause_Local/302@agents/n`.
    let tech = device.split(['/', ':']).next().unwrap_or_default();
    if is_pseudo(tech) || !device.contains('/') {
        return None;
    }
    let state = match state {
        "NOT_INUSE" => AgentState::Ready,
        "INUSE" | "BUSY" | "ONHOLD" => AgentState::Talking,
        "RINGING" | "RINGINUSE" => AgentState::Ringing,
        "UNAVAILABLE" | "INVALID" => AgentState::Unavailable,
        _ => return None,
    };
    Some((extension_of(device), state))
}

/// An endpoint's registration (`PJSIP`, `201`, `online`) as an agent's state: offline is
/// unavailable, online is ready until a device state says more.
pub(crate) fn endpoint_state(
    technology: &str,
    resource: &str,
    state: &str,
) -> Option<(String, AgentState)> {
    if is_pseudo(technology) || resource.is_empty() {
        return None;
    }
    let state = match state {
        "online" => AgentState::Ready,
        "offline" => AgentState::Unavailable,
        _ => return None,
    };
    Some((extension_of(&format!("{technology}/{resource}")), state))
}

/// An extension hint's `Status` bit set.
fn hint_state(status: &str) -> Option<AgentState> {
    let bits: i32 = status.parse().ok()?;
    Some(match bits {
        b if b < 0 => AgentState::Unavailable,
        0 => AgentState::Ready,
        b if b & 4 != 0 => AgentState::Unavailable,
        b if b & 8 != 0 => AgentState::Ringing,
        _ => AgentState::Talking,
    })
}
