//! Finesse correlation: each `Team` document the poller reads (`pbx/finesse`) becomes the
//! `agent.state` events of what changed since the last one, keyed by the agent's extension
//! (so the panel, the counts and the operator directory line up with the PBX's), with the
//! not-ready reason's label.

use std::collections::HashMap;

use super::{AgentState, AgentStateChanged, CallEvent, EventBody, Out, Source};
use crate::pbx::finesse::team::{Team, TeamUser};

/// Finesse's state as the panel's: not ready is a pause (with its reason), reserved is
/// ringing, work is wrap-up; logged out and unknown states are unavailable.
pub fn agent_state(user: &TeamUser) -> AgentState {
    match user.state.as_str() {
        "READY" => AgentState::Ready,
        "NOT_READY" => AgentState::Paused,
        "TALKING" | "HOLD" => AgentState::Talking,
        "RESERVED" | "RESERVED_OUTBOUND" | "RESERVED_OUTBOUND_PREVIEW" => AgentState::Ringing,
        "WORK" | "WORK_READY" => AgentState::WrapUp,
        _ => AgentState::Unavailable,
    }
}

pub struct FinesseCorrelator {
    /// The `[[finesse]] name`: the events' `pbx`.
    name: String,
    /// Agent key -> (state, reason) last sent, so only changes become events.
    last: HashMap<String, (AgentState, Option<String>)>,
    /// Login id -> the extension last seen for it: a logged-out agent may come without one.
    extension_of: HashMap<String, String>,
}

impl FinesseCorrelator {
    pub fn new(name: &str) -> FinesseCorrelator {
        FinesseCorrelator {
            name: name.to_owned(),
            last: HashMap::new(),
            extension_of: HashMap::new(),
        }
    }

    /// The events of what changed in `team` since the last read.
    pub fn on_team(&mut self, ts: i64, team: &Team) -> Vec<CallEvent> {
        let changes: Vec<_> = team.users.iter().filter_map(|u| self.change(u)).collect();
        let mut out = Out::new(Source::Finesse, &self.name, ts, None);
        for change in changes {
            out.push_event(None, EventBody::AgentState(change));
        }
        out.events
    }

    fn change(&mut self, user: &TeamUser) -> Option<AgentStateChanged> {
        if !user.extension.is_empty() {
            self.extension_of
                .insert(user.login_id.clone(), user.extension.clone());
        }
        let agent = self
            .extension_of
            .get(&user.login_id)
            .cloned()
            .or_else(|| Some(user.login_id.clone()).filter(|l| !l.is_empty()))?;
        let state = agent_state(user);
        let reason = user.reason.clone().filter(|_| state == AgentState::Paused);
        let now = (state, reason.clone());
        if self.last.get(&agent) == Some(&now) {
            return None;
        }
        self.last.insert(agent.clone(), now);
        Some(AgentStateChanged {
            agent,
            state,
            queue: None,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(login: &str, extension: &str, state: &str, reason: Option<&str>) -> TeamUser {
        TeamUser {
            login_id: login.into(),
            extension: extension.into(),
            first_name: String::new(),
            last_name: String::new(),
            state: state.into(),
            reason: reason.map(Into::into),
        }
    }

    fn team(users: Vec<TeamUser>) -> Team {
        Team {
            name: "t".into(),
            users,
        }
    }

    fn changes(c: &mut FinesseCorrelator, users: Vec<TeamUser>) -> Vec<AgentStateChanged> {
        c.on_team(1, &team(users))
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::AgentState(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_finesse_state_has_a_panel_state() {
        use AgentState::*;
        for (finesse, panel) in [
            ("READY", Ready),
            ("NOT_READY", Paused),
            ("TALKING", Talking),
            ("HOLD", Talking),
            ("RESERVED", Ringing),
            ("RESERVED_OUTBOUND", Ringing),
            ("RESERVED_OUTBOUND_PREVIEW", Ringing),
            ("WORK", WrapUp),
            ("WORK_READY", WrapUp),
            ("LOGOUT", Unavailable),
            ("UNKNOWN", Unavailable),
            ("", Unavailable),
        ] {
            assert_eq!(
                agent_state(&user("", "", finesse, None)),
                panel,
                "{finesse}"
            );
        }
    }

    #[test]
    fn only_changes_are_sent_keyed_by_the_extension_also_when_logged_out() {
        let mut c = FinesseCorrelator::new("cc");
        let first = changes(
            &mut c,
            vec![
                user("1234", "1001", "READY", None),
                user("1235", "1002", "NOT_READY", Some("Lunch Break")),
            ],
        );
        assert_eq!(first.len(), 2);
        assert_eq!(first[1].reason.as_deref(), Some("Lunch Break"));
        let events = c.on_team(
            2,
            &team(vec![
                user("1234", "1001", "READY", None),
                user("1235", "1002", "NOT_READY", Some("Lunch Break")),
            ]),
        );
        assert!(events.is_empty());
        let next = changes(
            &mut c,
            vec![
                user("1234", "", "LOGOUT", Some("End of shift")),
                user("1235", "1002", "NOT_READY", Some("Meeting")),
            ],
        );
        let got: Vec<_> = next
            .iter()
            .map(|c| (c.agent.as_str(), c.state, c.reason.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("1001", AgentState::Unavailable, None),
                ("1002", AgentState::Paused, Some("Meeting"))
            ]
        );
        let unknown = changes(&mut c, vec![user("", "", "READY", None)]);
        assert!(unknown.is_empty(), "a user with neither id nor extension");
        let event = &c.on_team(3, &team(vec![user("1234", "1001", "READY", None)]))[0];
        assert_eq!((event.source, event.pbx.as_str()), (Source::Finesse, "cc"));
    }
}
