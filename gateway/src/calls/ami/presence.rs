//! Agent and extension presence: the live panel a supervisor watches. Queue events, device
//! states and extension hints become `agent.state` events, one per real change.
//!
//! The agent key is the extension behind the member's interface (`Local/301@agents/n`,
//! `PJSIP/301` -> `301`), so a queue member and its phone are one agent. Device states of
//! internal technologies (Local, Announcer, ...) are not people and are ignored.

use std::collections::HashMap;

use super::extension_of;
use crate::calls::{AgentState, AgentStateChanged, EventBody, Out};
use crate::pbx::ami::codec::Message;

/// Device technologies that are not a person's phone.
const NOT_PHONES: [&str; 7] = [
    "Local",
    "Announcer",
    "Recorder",
    "Queue",
    "Custom",
    "Park",
    "Stasis",
];

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
    let Some(device) = m.get("Device") else {
        return (None, None);
    };
    let tech = device.split('/').next().unwrap_or_default();
    if NOT_PHONES.contains(&tech) || !device.contains('/') {
        return (None, None);
    }
    let state = match m.get("State").unwrap_or_default() {
        "NOT_INUSE" => Some(AgentState::Ready),
        "INUSE" | "BUSY" | "ONHOLD" => Some(AgentState::Talking),
        "RINGING" | "RINGINUSE" => Some(AgentState::Ringing),
        "UNAVAILABLE" | "INVALID" => Some(AgentState::Unavailable),
        _ => None,
    };
    (Some(extension_of(device)), state)
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
