//! Application-only mode: what a Stasis application sees of its own channels (rules in
//! `calls/ari.rs`).

use std::collections::{HashMap, HashSet};

use super::{AriCorrelatorConfig, Listing};
use crate::calls::record::{unanswered_disposition, CallRecord, Direction, Disposition};
use crate::calls::{
    CallAnswered, CallDtmf, CallHeld, CallRecording, CallRinging, CallStarted, EventBody, Offers,
    Out,
};
use crate::pbx::ari::model::{AriEvent, Channel};

#[derive(Debug)]
struct Leg {
    /// `None` while an originated channel waits to join a call.
    call: Option<String>,
    name: String,
    first_seen: i64,
    up: bool,
    gone: bool,
    dial_status: Option<String>,
    cause: Option<(i64, String)>,
}

#[derive(Debug)]
struct Call {
    id: String,
    /// Creation order: of two calls in one bridge, the older is the customer's.
    seq: u64,
    entry: String,
    direction: Direction,
    caller: Option<String>,
    caller_name: Option<String>,
    callee: Option<String>,
    started_at: i64,
    last_seen: i64,
    pbx_answered_at: Option<i64>,
    answered_at: Option<i64>,
    extension: Option<String>,
    dialled: bool,
    dial_outcome: Option<Disposition>,
    digits: String,
    recording: Option<String>,
    holds: u32,
    /// The agents the application dialled.
    offers: Offers,
}

pub(super) struct AppCorrelator {
    config: AriCorrelatorConfig,
    legs: HashMap<String, Leg>,
    calls: HashMap<String, Call>,
    /// Bridge id -> the channels in it; holding bridges are not kept.
    bridges: HashMap<String, HashSet<String>>,
    /// Channels of calls already closed, with when: their late events (a `ChannelDestroyed`
    /// after `StasisEnd`) must not start a call again. Pruned after a minute.
    closed: HashMap<String, i64>,
    /// Calls started so far (their `seq`).
    started: u64,
    /// Calls closed by the reaper or a resync, for the status page.
    pub reaped: u64,
}

/// `Local/201@ext-00000000;2` -> `Local/201@ext-00000000`: the pair both halves share.
fn local_pair(name: &str) -> Option<&str> {
    name.strip_prefix("Local/")?;
    name.rsplit_once(';').map(|(pair, _)| pair)
}

fn ringing_or_up(state: &str) -> bool {
    matches!(state, "Ring" | "Ringing" | "Up")
}

impl AppCorrelator {
    pub fn new(config: AriCorrelatorConfig) -> AppCorrelator {
        AppCorrelator {
            config,
            legs: HashMap::new(),
            calls: HashMap::new(),
            bridges: HashMap::new(),
            closed: HashMap::new(),
            started: 0,
            reaped: 0,
        }
    }

    /// A leg that belongs to a call, and that call's id.
    #[cfg(test)]
    pub(super) fn a_leg_in_a_call(&self) -> Option<(String, String)> {
        self.legs
            .iter()
            .find_map(|(id, l)| Some((id.clone(), l.call.clone()?)))
    }

    #[cfg(test)]
    pub(super) fn has_call(&self, id: &str) -> bool {
        self.calls.contains_key(id)
    }

    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    pub fn on_message(&mut self, out: &mut Out<'_>, event: &AriEvent) {
        if let Some(channel) = event.channel() {
            if self.closed.contains_key(&channel.id) {
                return;
            }
            self.see(out, channel);
        }
        self.apply(out, event);
    }

    fn apply(&mut self, out: &mut Out<'_>, event: &AriEvent) {
        match event {
            AriEvent::Dial {
                peer,
                caller,
                dialstatus,
                ..
            } => self.dial(out, peer, caller.as_deref(), dialstatus),
            AriEvent::ChannelStateChange { channel, .. } if channel.state == "Up" => {
                self.up(out, &channel.id)
            }
            AriEvent::ChannelEnteredBridge {
                bridge, channel, ..
            } if bridge.bridge_type != "holding" => self.entered(out, &bridge.id, &channel.id),
            AriEvent::ChannelLeftBridge {
                bridge, channel, ..
            } => {
                if let Some(members) = self.bridges.get_mut(&bridge.id) {
                    members.remove(&channel.id);
                }
            }
            AriEvent::BridgeDestroyed { bridge, .. } => {
                self.bridges.remove(&bridge.id);
            }
            AriEvent::ChannelDtmfReceived { channel, digit, .. } => {
                if let Some(call) = self.call_of_mut(&channel.id) {
                    call.digits.push_str(digit);
                    let id = call.id.clone();
                    out.push(
                        &id,
                        EventBody::CallDtmf(CallDtmf {
                            digit: digit.clone(),
                        }),
                    );
                }
            }
            AriEvent::ChannelHold { channel, .. } | AriEvent::ChannelUnhold { channel, .. } => {
                let held = matches!(event, AriEvent::ChannelHold { .. });
                let extension = Some(crate::pbx::asterisk::extension_of(&channel.name));
                if let Some(call) = self.call_of_mut(&channel.id) {
                    call.holds += u32::from(held);
                    let id = call.id.clone();
                    out.push(&id, EventBody::CallHeld(CallHeld { extension, held }));
                }
            }
            AriEvent::RecordingStarted { recording, .. }
            | AriEvent::RecordingFinished { recording, .. } => {
                let active = matches!(event, AriEvent::RecordingStarted { .. });
                let file = if recording.format.is_empty() {
                    recording.name.clone()
                } else {
                    format!("{}.{}", recording.name, recording.format)
                };
                if let Some(id) = self.call_of_target(&recording.target_uri) {
                    if let Some(call) = self.calls.get_mut(&id) {
                        call.recording = Some(file.clone());
                    }
                    out.push(
                        &id,
                        EventBody::CallRecording(CallRecording { file, active }),
                    );
                }
            }
            AriEvent::ChannelHangupRequest { channel, cause, .. } => {
                if let (Some(leg), Some(cause)) = (self.legs.get_mut(&channel.id), cause) {
                    leg.cause.get_or_insert((*cause, String::new()));
                }
            }
            AriEvent::ChannelDestroyed {
                channel,
                cause,
                cause_txt,
                ..
            } => {
                if let Some(leg) = self.legs.get_mut(&channel.id) {
                    leg.cause = Some((*cause, cause_txt.clone()));
                }
                self.gone(out, &channel.id);
            }
            AriEvent::StasisEnd { channel, .. } if !self.config.subscribe_all => {
                self.gone(out, &channel.id)
            }
            _ => {}
        }
    }

    /// First sight of a channel: a new call, a Local half joining its pair, or a waiting leg.
    fn see(&mut self, out: &mut Out<'_>, channel: &Channel) {
        if let Some(leg) = self.legs.get(&channel.id) {
            if let Some(call) = leg.call.as_ref().and_then(|c| self.calls.get_mut(c)) {
                call.last_seen = out.ts;
            }
            return;
        }
        let partner = local_pair(&channel.name).and_then(|pair| {
            self.legs
                .iter()
                .find(|(_, l)| local_pair(&l.name) == Some(pair) && !l.gone)
                .map(|(id, l)| (id.clone(), l.call.clone()))
        });
        let call = match partner {
            Some((_, Some(call))) => Some(call),
            _ if ringing_or_up(&channel.state) => {
                let call = self.start_call(out, channel);
                if let Some(leg) = partner.and_then(|(id, _)| self.legs.get_mut(&id)) {
                    leg.call = Some(call.clone());
                }
                Some(call)
            }
            _ => None,
        };
        self.legs.insert(
            channel.id.clone(),
            Leg {
                call,
                name: channel.name.clone(),
                first_seen: out.ts,
                up: channel.state == "Up",
                gone: false,
                dial_status: None,
                cause: None,
            },
        );
    }

    fn start_call(&mut self, out: &mut Out<'_>, entry: &Channel) -> String {
        let id = format!("{}-{}", self.config.pbx, entry.id);
        let direction = if self
            .config
            .inbound_contexts
            .contains(&entry.dialplan.context)
        {
            Direction::Inbound
        } else {
            Direction::Internal
        };
        let known = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty() && s != "<unknown>");
        self.started += 1;
        let call = Call {
            id: id.clone(),
            seq: self.started,
            entry: entry.id.clone(),
            direction,
            caller: known(&entry.caller.number),
            caller_name: known(&entry.caller.name),
            callee: known(&entry.dialplan.exten),
            started_at: out.ts,
            last_seen: out.ts,
            pbx_answered_at: None,
            answered_at: None,
            extension: None,
            dialled: false,
            dial_outcome: None,
            digits: String::new(),
            recording: None,
            holds: 0,
            offers: Offers::default(),
        };
        out.push(
            &id,
            EventBody::CallStarted(CallStarted {
                direction,
                caller: call.caller.clone(),
                callee: call.callee.clone(),
            }),
        );
        self.calls.insert(id.clone(), call);
        id
    }

    fn call_of(&self, channel: &str) -> Option<String> {
        self.legs.get(channel)?.call.clone()
    }

    fn call_of_mut(&mut self, channel: &str) -> Option<&mut Call> {
        let id = self.call_of(channel)?;
        self.calls.get_mut(&id)
    }

    /// `channel:<id>` or `bridge:<id>` -> the call it belongs to.
    fn call_of_target(&self, target: &str) -> Option<String> {
        match target.split_once(':')? {
            ("channel", id) => self.call_of(id),
            // The oldest call in the bridge: the customer's, not the agent leg's.
            ("bridge", id) => self
                .bridges
                .get(id)?
                .iter()
                .filter_map(|c| self.call_of(c))
                .filter_map(|c| self.calls.get(&c))
                .min_by_key(|c| c.seq)
                .map(|c| c.id.clone()),
            _ => None,
        }
    }

    /// A `Dial` with a caller links the dialled leg to the caller's call; one without (an
    /// originate) only notes how the leg's dialling went.
    fn dial(&mut self, out: &mut Out<'_>, peer: &Channel, caller: Option<&Channel>, status: &str) {
        let Some(call_id) = caller.and_then(|c| self.call_of(&c.id)) else {
            if let Some(leg) = self.legs.get_mut(&peer.id) {
                leg.dial_status = Some(status.to_owned()).filter(|s| !s.is_empty());
            }
            return;
        };
        if let Some(leg) = self.legs.get_mut(&peer.id) {
            leg.call.get_or_insert_with(|| call_id.clone());
        }
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let extension = crate::pbx::asterisk::extension_of(&peer.name);
        match status {
            "" => call.offers.ring(&extension, out.ts),
            "ANSWER" => call.offers.answered(&extension, out.ts),
            s if crate::calls::record::dial_ended(s) => call.offers.stopped(&extension, out.ts),
            _ => {}
        }
        if status.is_empty() {
            call.dialled = true;
            out.push(
                &call_id,
                EventBody::CallRinging(CallRinging::new(
                    crate::pbx::asterisk::extension_of(&peer.name),
                    call.caller.clone(),
                )),
            );
        } else if let Some((outcome, weak)) = crate::calls::record::dial_outcome(status) {
            if !weak || call.dial_outcome.is_none() {
                call.dial_outcome = Some(outcome);
            }
        }
    }

    fn up(&mut self, out: &mut Out<'_>, channel: &str) {
        let Some(leg) = self.legs.get_mut(channel) else {
            return;
        };
        leg.up = true;
        let Some(call) = leg.call.as_ref().and_then(|c| self.calls.get_mut(c)) else {
            return;
        };
        if call.entry == channel && call.pbx_answered_at.is_none() && call.answered_at.is_none() {
            call.pbx_answered_at = Some(out.ts);
            let id = call.id.clone();
            out.push(
                &id,
                EventBody::CallAnswered(CallAnswered {
                    extension: None,
                    agent: None,
                    by_person: false,
                }),
            );
        }
    }

    fn entered(&mut self, out: &mut Out<'_>, bridge: &str, channel: &str) {
        let members = self.bridges.entry(bridge.to_owned()).or_default();
        members.insert(channel.to_owned());
        let others: Vec<String> = members.iter().filter(|c| *c != channel).cloned().collect();
        let Some(call_id) = others.iter().find_map(|c| self.call_of(c)) else {
            return;
        };
        let Some(leg) = self.legs.get_mut(channel) else {
            return;
        };
        let joined = leg.call.is_none();
        if joined {
            leg.call = Some(call_id.clone());
        }
        let name = leg.name.clone();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if joined || leg_is_younger(call, channel) {
            answer(out, call, &name);
        }
    }

    fn gone(&mut self, out: &mut Out<'_>, channel: &str) {
        let Some(leg) = self.legs.get_mut(channel) else {
            return;
        };
        leg.gone = true;
        let call = leg.call.clone();
        for members in self.bridges.values_mut() {
            members.remove(channel);
        }
        match call {
            Some(id) => {
                let open = self
                    .legs
                    .values()
                    .any(|l| !l.gone && l.call.as_deref() == Some(id.as_str()));
                if !open {
                    self.end(out, &id, None);
                }
            }
            // An originated channel that never joined a call is a call of its own.
            None => self.lone_leg(out, channel),
        }
    }

    fn lone_leg(&mut self, out: &mut Out<'_>, channel: &str) {
        let Some(leg) = self.legs.get(channel) else {
            return;
        };
        let (started, up, status) = (leg.first_seen, leg.up, leg.dial_status.clone());
        let name = leg.name.clone();
        let id = format!("{}-{channel}", self.config.pbx);
        self.started += 1;
        let call = Call {
            id: id.clone(),
            seq: self.started,
            entry: channel.to_owned(),
            direction: Direction::Outbound,
            caller: None,
            caller_name: None,
            callee: Some(crate::pbx::asterisk::extension_of(&name)),
            started_at: started,
            last_seen: out.ts,
            pbx_answered_at: None,
            answered_at: up.then_some(started),
            extension: up.then(|| crate::pbx::asterisk::extension_of(&name)),
            dialled: true,
            dial_outcome: status
                .as_deref()
                .and_then(crate::calls::record::dial_outcome)
                .map(|(d, _)| d),
            digits: String::new(),
            recording: None,
            holds: 0,
            offers: Offers::default(),
        };
        if let Some(leg) = self.legs.get_mut(channel) {
            leg.call = Some(id.clone());
        }
        self.calls.insert(id.clone(), call);
        self.end(out, &id, None);
    }

    /// Closes a call: its record, dated at `out.ts`; `why` when it ended unseen.
    fn end(&mut self, out: &mut Out<'_>, id: &str, why: Option<&str>) {
        let Some(call) = self.calls.remove(id) else {
            return;
        };
        let entry = self.legs.get(&call.entry);
        let cause = entry.and_then(|l| l.cause.clone());
        let disposition = match (call.answered_at, why) {
            (Some(_), _) => Disposition::Answered,
            (None, Some(_)) => Disposition::LinkLost,
            (None, None) => unanswered_disposition(
                false,
                call.dial_outcome,
                cause.as_ref().map(|c| c.0),
                call.dialled,
            ),
        };
        let hangup_cause = why
            .map(str::to_owned)
            .or_else(|| cause.map(|(_, txt)| txt).filter(|t| !t.is_empty()));
        let closed: Vec<String> = self
            .legs
            .iter()
            .filter(|(_, l)| l.call.as_deref() == Some(id))
            .map(|(c, _)| c.clone())
            .collect();
        for channel in closed {
            self.legs.remove(&channel);
            self.closed.insert(channel, out.ts);
        }
        let record = CallRecord {
            call_id: call.id,
            direction: call.direction,
            caller: call.caller,
            callee: call.callee,
            extension: call.extension,
            agent: None,
            queue: None,
            started_at: call.started_at,
            pbx_answered_at: call.pbx_answered_at,
            answered_at: call.answered_at,
            ended_at: out.ts,
            duration_s: 0,
            billsec_s: 0,
            disposition,
            hangup_cause,
            ivr_digits: Some(call.digits).filter(|d| !d.is_empty()),
            recording: call.recording,
            transfers: Vec::new(),
            holds: call.holds,
            caller_name: call.caller_name,
            company: None,
            rang: call.offers.finish(out.ts),
            charge: None,
            recording_url: None,
        }
        .with_durations();
        out.push_ended(record);
    }

    /// Reaps calls nothing confirmed for `stale_after_ms`.
    pub fn tick(&mut self, out: &mut Out<'_>) {
        let now = out.ts;
        // As long as a call may last: a channel that left the application can come back (a
        // second `Stasis()` in the dialplan) and must not reopen its closed call.
        let memory = self.config.stale_after_ms;
        self.closed.retain(|_, at| now - *at < memory);
        let stale: Vec<String> = self
            .calls
            .values()
            .filter(|c| now - c.last_seen > self.config.stale_after_ms)
            .map(|c| c.id.clone())
            .collect();
        for id in stale {
            self.reaped += 1;
            self.end(out, &id, Some("not seen for an hour"));
        }
    }

    /// The live picture after a (re)connect (`alive`: the channels listed; `lost`: when the
    /// link was lost): `GET /channels` as
    /// `ChannelStateChange` snapshots and `GET /bridges` as `BridgeCreated`. Calls whose
    /// channels are all gone end, dated at the loss; unknown live channels are adopted; bridge
    /// membership is taken as listed.
    pub fn resync(&mut self, out: &mut Out<'_>, listing: &Listing<'_>, live: &[AriEvent]) {
        let ts = out.ts;
        let vanished: Vec<String> = self
            .legs
            .iter()
            .filter(|(id, l)| !l.gone && listing.vanished(id, l.first_seen))
            .map(|(id, _)| id.clone())
            .collect();
        out.ts = listing.lost;
        for id in vanished {
            if let Some(leg) = self.legs.get_mut(&id) {
                leg.gone = true;
            }
        }
        let ended: Vec<String> = self
            .calls
            .keys()
            .filter(|c| {
                !self
                    .legs
                    .values()
                    .any(|l| !l.gone && l.call.as_deref() == Some(c.as_str()))
            })
            .cloned()
            .collect();
        for id in ended {
            self.reaped += 1;
            self.end(out, &id, Some("ended during link loss"));
        }
        self.legs.retain(|_, l| !l.gone);
        out.ts = ts;
        // A channel of a call already closed cannot start it again under the same id.
        for channel in live.iter().filter_map(AriEvent::channel) {
            if !self.closed.contains_key(&channel.id) {
                self.see(out, channel);
            }
        }
        // Bridge membership as Asterisk has it now (what changed while the link was down).
        self.bridges = live
            .iter()
            .filter_map(|e| match e {
                AriEvent::BridgeCreated { bridge, .. } if bridge.bridge_type != "holding" => {
                    Some((bridge.id.clone(), bridge.channels.iter().cloned().collect()))
                }
                _ => None,
            })
            .collect();
    }
}

/// Whether `channel` joined the call after its entry leg (the party that answers).
fn leg_is_younger(call: &Call, channel: &str) -> bool {
    call.entry != channel && call.answered_at.is_none()
}

fn answer(out: &mut Out<'_>, call: &mut Call, name: &str) {
    if call.answered_at.is_some() {
        return;
    }
    let extension = crate::pbx::asterisk::extension_of(name);
    call.answered_at = Some(out.ts);
    call.extension = Some(extension.clone());
    let id = call.id.clone();
    out.push(
        &id,
        EventBody::CallAnswered(CallAnswered {
            extension: Some(extension),
            agent: None,
            by_person: true,
        }),
    );
}
