//! Whole-PBX mode (`subscribe_all = true`): every channel of the PBX becomes part of exactly
//! one call. The rules are in `calls/ari.rs`; this is their implementation.

use std::collections::{HashMap, HashSet};

use super::{AriCorrelatorConfig, Listing};
use crate::calls::record::{
    dial_outcome, unanswered_disposition, CallRecord, Direction, Disposition, Transfer,
};
use crate::calls::{
    CallAnswered, CallDtmf, CallHeld, CallRecording, CallRinging, CallStarted, CallTransferred,
    EventBody, Offers, Out, TransferKind,
};
use crate::pbx::ari::model::{timestamp_ms, AriEvent, Bridge, Channel};
use crate::pbx::asterisk::extension_of;

/// The stand-in channel of an originate that failed: never a call.
const SPOOL_FAILED: &str = "OutgoingSpoolFailed";
/// A call arriving from outside is announced once its caller ID has had this long to settle.
const ANNOUNCE_AFTER_MS: i64 = 1_000;
/// Late events about a closed call's channels are ignored for this long.
const CLOSED_MEMORY_MS: i64 = 60_000;
/// Time-driven work (announcing, reaping, forgetting) runs at most this often.
const SCAN_EVERY_MS: i64 = 250;

#[derive(Debug)]
struct Chan {
    /// The key of the call it belongs to (the call's first channel).
    call: String,
    name: String,
    first_seen: i64,
    gone: bool,
    /// The dialplan application it runs now (`Queue`: a hang-up now abandons the call).
    app: String,
    cause: Option<(i64, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BridgeKind {
    /// Its members talk to each other: one call.
    Mixing,
    /// A conference: its members are separate callers.
    Conference,
    /// A parking lot or waiting room.
    Holding,
}

impl BridgeKind {
    fn of(bridge: &Bridge) -> BridgeKind {
        if bridge.bridge_type == "holding" {
            BridgeKind::Holding
        } else if bridge.creator == "ConfBridge" {
            BridgeKind::Conference
        } else {
            BridgeKind::Mixing
        }
    }
}

#[derive(Debug)]
struct BridgeState {
    kind: BridgeKind,
    members: HashSet<String>,
}

#[derive(Debug)]
struct Call {
    id: String,
    /// Creation time and first-seen order of its first channel: the older call survives a join.
    order: (i64, u64),
    /// The customer-facing channel and its Local partner.
    entry: Vec<String>,
    members: Vec<String>,
    /// Its first channel arrived ringing or up (from outside), rather than being originated.
    arriving: bool,
    announced: bool,
    /// Some channel is a device, not a Local channel.
    reaches_device: bool,
    inbound: bool,
    caller: Option<String>,
    caller_name: Option<String>,
    callee: Option<String>,
    started_at: i64,
    last_seen: i64,
    pbx_answered_at: Option<i64>,
    answered_at: Option<i64>,
    /// A dial of the entry was just answered: the entry going up is that, not the PBX.
    dial_answered: bool,
    extension: Option<String>,
    agent: Option<String>,
    queue: Option<String>,
    /// Everyone it was dialled to.
    offers: Offers,
    dialled: bool,
    dial_outcome: Option<Disposition>,
    /// How the originate of its first channel went (a `Dial` with no caller).
    origin_outcome: Option<Disposition>,
    abandoned: bool,
    cause: Option<(i64, String)>,
    digits: String,
    recording: Option<String>,
    transfers: Vec<Transfer>,
    holds: u32,
}

impl Call {
    /// A call between people, not the PBX talking to itself.
    fn is_call(&self) -> bool {
        self.reaches_device || self.inbound
    }
}

pub(super) struct PbxWideCorrelator {
    config: AriCorrelatorConfig,
    chans: HashMap<String, Chan>,
    calls: HashMap<String, Call>,
    bridges: HashMap<String, BridgeState>,
    /// `Local/x@ctx-0000001a` -> the live half seen first.
    local_pairs: HashMap<String, String>,
    closed: HashMap<String, i64>,
    seen: u64,
    /// A resync is adopting the channels Asterisk lists.
    adopting: bool,
    next_scan: i64,
    /// Calls closed by the reaper or a resync.
    pub reaped: u64,
    /// Announced calls that later turned out to be part of an older one.
    pub joined_after_announce: u64,
}

fn local_pair(name: &str) -> Option<&str> {
    name.strip_prefix("Local/")?;
    name.rsplit_once(';').map(|(pair, _)| pair)
}

fn known(v: &str) -> Option<String> {
    Some(v.to_owned()).filter(|v| !v.is_empty() && v != "<unknown>")
}

/// `MixMonitor(/var/spool/x.wav,b)` or `Queue(support,t)` -> the first argument.
fn first_arg(data: &str) -> Option<String> {
    known(data.split(',').next().unwrap_or_default().trim())
}

impl PbxWideCorrelator {
    pub fn new(config: AriCorrelatorConfig) -> PbxWideCorrelator {
        PbxWideCorrelator {
            config,
            chans: HashMap::new(),
            calls: HashMap::new(),
            bridges: HashMap::new(),
            local_pairs: HashMap::new(),
            closed: HashMap::new(),
            seen: 0,
            adopting: false,
            next_scan: i64::MIN,
            reaped: 0,
            joined_after_announce: 0,
        }
    }

    pub fn open_calls(&self) -> usize {
        self.calls.values().filter(|c| c.is_call()).count()
    }

    pub fn on_message(&mut self, out: &mut Out<'_>, event: &AriEvent) {
        if let Some(channel) = event.channel() {
            if !self.see(out, channel) {
                return;
            }
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
            AriEvent::ChannelDialplan {
                channel,
                dialplan_app,
                dialplan_app_data,
                ..
            } => self.dialplan(out, &channel.id, dialplan_app, dialplan_app_data),
            AriEvent::BridgeCreated { bridge, .. } => {
                self.bridge(bridge);
            }
            AriEvent::ChannelEnteredBridge {
                bridge, channel, ..
            } => {
                self.bridge(bridge).members.insert(channel.id.clone());
                self.join_bridge(out, &bridge.id);
            }
            AriEvent::ChannelLeftBridge {
                bridge, channel, ..
            } => {
                if let Some(b) = self.bridges.get_mut(&bridge.id) {
                    b.members.remove(&channel.id);
                }
            }
            AriEvent::BridgeDestroyed { bridge, .. } => {
                self.bridges.remove(&bridge.id);
            }
            AriEvent::BridgeMerged {
                bridge,
                bridge_from,
                ..
            } => {
                let moved = self
                    .bridges
                    .remove(&bridge_from.id)
                    .map(|b| b.members)
                    .unwrap_or_default();
                self.bridge(bridge).members.extend(moved);
                self.join_bridge(out, &bridge.id);
            }
            AriEvent::BridgeBlindTransfer {
                channel,
                transferee,
                replace_channel,
                exten,
                ..
            } => {
                let others = [transferee.as_deref(), replace_channel.as_deref()];
                let to = known(exten);
                self.transfer(out, TransferKind::Blind, channel, &others, to);
            }
            AriEvent::BridgeAttendedTransfer {
                transferer_first_leg,
                transferer_second_leg,
                transferee,
                transfer_target,
                replace_channel,
                ..
            } => {
                let others = [
                    transferer_second_leg.as_deref(),
                    transferee.as_deref(),
                    transfer_target.as_deref(),
                    replace_channel.as_deref(),
                ];
                let to = transfer_target.as_ref().map(|t| extension_of(&t.name));
                self.transfer(
                    out,
                    TransferKind::Attended,
                    transferer_first_leg,
                    &others,
                    to,
                );
            }
            AriEvent::ChannelDtmfReceived { channel, digit, .. } => {
                self.dtmf(out, &channel.id, digit)
            }
            AriEvent::ChannelHold { channel, .. } | AriEvent::ChannelUnhold { channel, .. } => {
                let held = matches!(event, AriEvent::ChannelHold { .. });
                self.hold(out, channel, held);
            }
            AriEvent::RecordingStarted { recording, .. }
            | AriEvent::RecordingFinished { recording, .. } => {
                let file = if recording.format.is_empty() {
                    recording.name.clone()
                } else {
                    format!("{}.{}", recording.name, recording.format)
                };
                if let Some(key) = self.call_of_target(&recording.target_uri) {
                    let active = matches!(event, AriEvent::RecordingStarted { .. });
                    self.recording(out, &key, file, active);
                }
            }
            AriEvent::ChannelHangupRequest {
                channel,
                cause: Some(cause),
                ..
            } => {
                if let Some(chan) = self.chans.get_mut(&channel.id) {
                    chan.cause.get_or_insert((*cause, String::new()));
                }
            }
            AriEvent::ChannelDestroyed {
                channel,
                cause,
                cause_txt,
                ..
            } => {
                if let Some(chan) = self.chans.get_mut(&channel.id) {
                    chan.cause = Some((*cause, cause_txt.clone()));
                }
                self.gone(out, &channel.id);
            }
            _ => {}
        }
    }

    /// Every sighting of a channel: a new one starts a call of its own (joined to its Local
    /// partner's at once); a known one may bring the entry's caller ID. False for channels
    /// that are not followed (a failed originate, a closed call's late events).
    fn see(&mut self, out: &mut Out<'_>, channel: &Channel) -> bool {
        if channel.name.starts_with(SPOOL_FAILED) || self.closed.contains_key(&channel.id) {
            return false;
        }
        let key = match self.chans.get(&channel.id) {
            Some(chan) => chan.call.clone(),
            None => self.new_channel(out, channel),
        };
        if let Some(call) = self.calls.get_mut(&key) {
            call.last_seen = out.ts;
            if call.entry.contains(&channel.id) {
                if call.caller.is_none() {
                    call.caller = known(&channel.caller.number);
                }
                if call.caller_name.is_none() {
                    call.caller_name = known(&channel.caller.name);
                }
            }
        }
        true
    }

    fn new_channel(&mut self, out: &mut Out<'_>, channel: &Channel) -> String {
        self.seen += 1;
        // Asterisk's clock orders channels; the call's times are ours, except for a channel
        // adopted in a resync, whose start we only know from Asterisk.
        let created = timestamp_ms(&channel.creationtime)
            .filter(|c| *c <= out.ts)
            .unwrap_or(out.ts);
        let started_at = if self.adopting { created } else { out.ts };
        let key = channel.id.clone();
        self.chans.insert(
            key.clone(),
            Chan {
                call: key.clone(),
                name: channel.name.clone(),
                first_seen: out.ts,
                gone: false,
                app: String::new(),
                cause: None,
            },
        );
        let call = Call {
            id: format!("{}-{}", self.config.pbx, channel.id),
            order: (created, self.seen),
            entry: vec![key.clone()],
            members: vec![key.clone()],
            arriving: matches!(channel.state.as_str(), "Ring" | "Ringing" | "Up"),
            announced: false,
            reaches_device: !channel.name.starts_with("Local/"),
            inbound: self
                .config
                .inbound_contexts
                .contains(&channel.dialplan.context),
            caller: None,
            caller_name: None,
            callee: known(&channel.dialplan.exten),
            started_at,
            last_seen: out.ts,
            pbx_answered_at: None,
            answered_at: None,
            dial_answered: false,
            extension: None,
            agent: None,
            queue: None,
            offers: Offers::default(),
            dialled: false,
            dial_outcome: None,
            origin_outcome: None,
            abandoned: false,
            cause: None,
            digits: String::new(),
            recording: None,
            transfers: Vec::new(),
            holds: 0,
        };
        self.calls.insert(key.clone(), call);
        let Some(pair) = local_pair(&channel.name) else {
            return key;
        };
        let Some(partner) = self.local_pairs.get(pair).cloned() else {
            self.local_pairs.insert(pair.to_owned(), key.clone());
            return key;
        };
        let Some(partner_call) = self.chans.get(&partner).map(|c| c.call.clone()) else {
            return key;
        };
        let joined = self.join(&partner_call, &key);
        if let Some(call) = self.calls.get_mut(&joined) {
            if call.entry.contains(&partner) {
                call.entry.push(key);
                if call.callee.is_none() {
                    call.callee = known(&channel.dialplan.exten);
                }
            }
        }
        joined
    }

    /// Joins two calls; the one whose first channel is older goes on. Returns its key.
    fn join(&mut self, a: &str, b: &str) -> String {
        if a == b {
            return a.to_owned();
        }
        let (Some(ca), Some(cb)) = (self.calls.get(a), self.calls.get(b)) else {
            return a.to_owned();
        };
        let (keep, drop) = if ca.order <= cb.order { (a, b) } else { (b, a) };
        let (keep, drop) = (keep.to_owned(), drop.to_owned());
        let Some(old) = self.calls.remove(&drop) else {
            return keep;
        };
        for member in &old.members {
            if let Some(chan) = self.chans.get_mut(member) {
                chan.call = keep.clone();
            }
        }
        if old.announced {
            self.joined_after_announce += 1;
            tracing::debug!(call_id = %old.id, "an announced call turned out to be part of an older one");
        }
        if let Some(call) = self.calls.get_mut(&keep) {
            call.members.extend(old.members);
            call.reaches_device |= old.reaches_device;
            call.dialled |= old.dialled;
            call.dial_outcome = call.dial_outcome.or(old.dial_outcome);
            call.recording = call.recording.take().or(old.recording);
            call.transfers.extend(old.transfers);
            call.holds += old.holds;
            call.last_seen = call.last_seen.max(old.last_seen);
            call.offers.absorb(old.offers);
        }
        keep
    }

    fn key_of(&self, channel: &str) -> Option<String> {
        self.chans.get(channel).map(|c| c.call.clone())
    }

    /// `channel:<id>` or `bridge:<id>` -> the call it belongs to.
    fn call_of_target(&self, target: &str) -> Option<String> {
        match target.split_once(':')? {
            ("channel", id) => self.key_of(id),
            ("bridge", id) => self
                .bridges
                .get(id)?
                .members
                .iter()
                .find_map(|c| self.key_of(c)),
            _ => None,
        }
    }

    fn announce(&mut self, out: &mut Out<'_>, key: &str) {
        let Some(call) = self.calls.get_mut(key) else {
            return;
        };
        if call.announced || !call.is_call() {
            return;
        }
        call.announced = true;
        let body = EventBody::CallStarted(CallStarted {
            direction: direction(call),
            caller: call.caller.clone(),
            callee: call.callee.clone(),
        });
        let (ts, id) = (out.ts, call.id.clone());
        out.ts = call.started_at;
        out.push(&id, body);
        out.ts = ts;
    }

    /// Pushes an in-call event, announcing the call first.
    fn push(&mut self, out: &mut Out<'_>, key: &str, body: EventBody) {
        self.announce(out, key);
        if let Some(call) = self.calls.get(key).filter(|c| c.is_call()) {
            let id = call.id.clone();
            out.push(&id, body);
        }
    }

    /// A `Dial` with a caller joins the dialled leg to the caller's call; one without is the
    /// leg's own originate.
    fn dial(&mut self, out: &mut Out<'_>, peer: &Channel, caller: Option<&Channel>, status: &str) {
        let Some(peer_key) = self.key_of(&peer.id) else {
            return;
        };
        let caller_key = match caller {
            Some(c) if self.see(out, c) => self.key_of(&c.id),
            _ => None,
        };
        let Some(caller_key) = caller_key else {
            if let (Some(call), Some((outcome, _))) =
                (self.calls.get_mut(&peer_key), dial_outcome(status))
            {
                call.origin_outcome = Some(outcome);
            }
            return;
        };
        let key = self.join(&caller_key, &peer_key);
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let extension = extension_of(&peer.name);
        match status {
            "" => {
                call.dialled = true;
                let again = call.offers.has(&extension);
                call.offers.ring(&extension, out.ts);
                if again {
                    return;
                }
                let caller = call.caller.clone();
                self.push(
                    out,
                    &key,
                    EventBody::CallRinging(CallRinging::new(extension, caller)),
                );
            }
            "ANSWER" => {
                call.dial_answered = true;
                call.offers.answered(&extension, out.ts);
            }
            _ => {
                if crate::calls::record::dial_ended(status) {
                    call.offers.stopped(&extension, out.ts);
                }
                if let Some((outcome, weak)) = dial_outcome(status) {
                    if !weak || call.dial_outcome.is_none() {
                        call.dial_outcome = Some(outcome);
                    }
                }
            }
        }
    }

    fn up(&mut self, out: &mut Out<'_>, channel: &str) {
        let Some(key) = self.key_of(channel) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let pbx_answer = call.entry.iter().any(|c| c == channel)
            && call.answered_at.is_none()
            && call.pbx_answered_at.is_none()
            && !call.dial_answered;
        if pbx_answer {
            call.pbx_answered_at = Some(out.ts);
            // The PBX answering a call it placed itself is no news until it reaches someone.
            if !call.arriving {
                return;
            }
            let body = EventBody::CallAnswered(CallAnswered {
                extension: None,
                agent: None,
                by_person: false,
            });
            self.push(out, &key, body);
        }
    }

    fn dialplan(&mut self, out: &mut Out<'_>, channel: &str, app: &str, data: &str) {
        let Some(chan) = self.chans.get_mut(channel) else {
            return;
        };
        app.clone_into(&mut chan.app);
        let key = chan.call.clone();
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if !call.entry.iter().any(|c| c == channel) {
            return;
        }
        match app {
            "Queue" if call.queue.is_none() => call.queue = first_arg(data),
            "MixMonitor" if call.recording.is_none() => {
                if let Some(file) = first_arg(data) {
                    self.recording(out, &key, file, true);
                }
            }
            _ => {}
        }
    }

    fn recording(&mut self, out: &mut Out<'_>, key: &str, file: String, active: bool) {
        if let Some(call) = self.calls.get_mut(key) {
            call.recording = Some(file.clone());
        }
        self.push(
            out,
            key,
            EventBody::CallRecording(CallRecording { file, active }),
        );
    }

    fn bridge(&mut self, bridge: &Bridge) -> &mut BridgeState {
        self.bridges
            .entry(bridge.id.clone())
            .or_insert_with(|| BridgeState {
                kind: BridgeKind::of(bridge),
                members: bridge.channels.iter().cloned().collect(),
            })
    }

    /// The members of a mixing bridge are one call; the first channel other than the entry
    /// to share it with the entry answers that call; one the entry meets while waiting in a
    /// queue is the queue's agent.
    fn join_bridge(&mut self, out: &mut Out<'_>, bridge: &str) {
        let Some(b) = self
            .bridges
            .get(bridge)
            .filter(|b| b.kind == BridgeKind::Mixing)
        else {
            return;
        };
        let mut members: Vec<String> = b.members.iter().cloned().collect();
        members.sort_by_key(|m| self.calls_order_of(m));
        let mut key: Option<String> = None;
        for member in &members {
            if let Some(k) = self.key_of(member) {
                key = Some(match key {
                    Some(prev) => self.join(&prev, &k),
                    None => k,
                });
            }
        }
        let Some(key) = key else {
            return;
        };
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let Some(entry) = members.iter().find(|m| call.entry.contains(m)) else {
            return;
        };
        let Some(person) = members.iter().find(|m| !call.entry.contains(m)) else {
            return;
        };
        // The entry waiting in `Queue()` is connected to one of the queue's agents.
        let queued = self.chans.get(entry).is_some_and(|c| c.app == "Queue");
        let extension = self.chans.get(person).map(|c| extension_of(&c.name));
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if queued {
            call.agent.clone_from(&extension);
            call.extension.clone_from(&extension);
        }
        if call.answered_at.is_some() {
            return;
        }
        call.answered_at = Some(out.ts);
        call.extension.clone_from(&extension);
        let agent = call.agent.clone();
        self.push(
            out,
            &key,
            EventBody::CallAnswered(CallAnswered {
                extension,
                agent,
                by_person: true,
            }),
        );
    }

    /// Channel id -> the age of its call (unknown channels last), so joins are deterministic.
    fn calls_order_of(&self, channel: &str) -> (i64, u64) {
        self.key_of(channel)
            .and_then(|k| self.calls.get(&k))
            .map_or((i64::MAX, u64::MAX), |c| c.order)
    }

    fn transfer(
        &mut self,
        out: &mut Out<'_>,
        kind: TransferKind,
        transferer: &Channel,
        others: &[Option<&Channel>],
        to: Option<String>,
    ) {
        let Some(mut key) = self.key_of(&transferer.id) else {
            return;
        };
        for other in others.iter().flatten() {
            if self.see(out, other) {
                if let Some(k) = self.key_of(&other.id) {
                    key = self.join(&key, &k);
                }
            }
        }
        let from = Some(extension_of(&transferer.name));
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        call.transfers.push(Transfer {
            kind,
            from: from.clone(),
            to: to.clone(),
            at_ms: out.ts,
        });
        self.push(
            out,
            &key,
            EventBody::CallTransferred(CallTransferred {
                transfer_kind: kind,
                from,
                to,
            }),
        );
    }

    fn dtmf(&mut self, out: &mut Out<'_>, channel: &str, digit: &str) {
        let Some(key) = self.key_of(channel) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if !call.entry.iter().any(|c| c == channel) {
            return;
        }
        call.digits.push_str(digit);
        let digit = digit.to_owned();
        self.push(out, &key, EventBody::CallDtmf(CallDtmf { digit }));
    }

    fn hold(&mut self, out: &mut Out<'_>, channel: &Channel, held: bool) {
        let Some(key) = self.key_of(&channel.id) else {
            return;
        };
        if let Some(call) = self.calls.get_mut(&key) {
            call.holds += u32::from(held);
        }
        let extension = Some(extension_of(&channel.name));
        self.push(out, &key, EventBody::CallHeld(CallHeld { extension, held }));
    }

    fn gone(&mut self, out: &mut Out<'_>, channel: &str) {
        let Some(chan) = self.chans.get_mut(channel) else {
            return;
        };
        chan.gone = true;
        let (key, app, cause) = (chan.call.clone(), chan.app.clone(), chan.cause.clone());
        for b in self.bridges.values_mut() {
            b.members.remove(channel);
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.entry.iter().any(|c| c == channel) {
            if app == "Queue" && call.answered_at.is_none() {
                call.abandoned = true;
            }
            if call.cause.is_none() {
                call.cause = cause;
            }
        }
        let members = call.members.clone();
        if members
            .iter()
            .all(|m| self.chans.get(m).is_none_or(|c| c.gone))
        {
            self.end(out, &key, None);
        }
    }

    /// Closes a call: its record, dated at `out.ts`; `why` when it ended unseen.
    fn end(&mut self, out: &mut Out<'_>, key: &str, why: Option<&str>) {
        self.announce(out, key);
        let Some(call) = self.calls.remove(key) else {
            return;
        };
        for member in &call.members {
            self.chans.remove(member);
            self.closed.insert(member.clone(), out.ts);
        }
        self.local_pairs
            .retain(|_, half| !call.members.contains(half));
        if !call.is_call() {
            return;
        }
        let disposition = match (call.answered_at, why) {
            (Some(_), _) => Disposition::Answered,
            (None, Some(_)) => Disposition::LinkLost,
            (None, None) => unanswered_disposition(
                call.abandoned,
                call.dial_outcome.or(call.origin_outcome),
                call.cause.as_ref().map(|c| c.0),
                call.dialled,
            ),
        };
        let hangup_cause = why
            .map(str::to_owned)
            .or_else(|| call.cause.clone().map(|(n, txt)| format!("{n} ({txt})")));
        let record = CallRecord {
            call_id: call.id.clone(),
            direction: direction(&call),
            caller: call.caller,
            callee: call.callee,
            extension: call.extension,
            agent: call.agent,
            queue: call.queue,
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
            transfers: call.transfers,
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

    /// Announces calls whose caller ID has settled, reaps calls nothing confirmed for
    /// `stale_after_ms`, forgets closed channels.
    pub fn tick(&mut self, out: &mut Out<'_>) {
        let now = out.ts;
        if now < self.next_scan {
            return;
        }
        self.next_scan = now.saturating_add(SCAN_EVERY_MS);
        self.closed.retain(|_, at| now - *at < CLOSED_MEMORY_MS);
        let mut due = Vec::new();
        let mut stale = Vec::new();
        for (key, call) in &self.calls {
            if now - call.last_seen > self.config.stale_after_ms {
                stale.push(key.clone());
            } else if call.arriving && !call.announced && now - call.started_at >= ANNOUNCE_AFTER_MS
            {
                due.push(key.clone());
            }
        }
        for key in due {
            self.announce(out, &key);
        }
        for key in stale {
            self.reaped += 1;
            self.end(out, &key, Some("not seen for an hour"));
        }
    }

    /// The live picture after a (re)connect (`alive`: the channels listed; `lost`: when the
    /// link was lost): calls whose channels are
    /// all gone end, dated at the loss; unknown live channels are adopted; bridges are taken
    /// as listed and join calls as the events would have.
    pub fn resync(&mut self, out: &mut Out<'_>, listing: &Listing<'_>, live: &[AriEvent]) {
        let ts = out.ts;
        for (id, chan) in &mut self.chans {
            if listing.vanished(id, chan.first_seen) {
                chan.gone = true;
            }
        }
        let ended: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, call)| {
                call.members
                    .iter()
                    .all(|m| self.chans.get(m).is_none_or(|c| c.gone))
            })
            .map(|(key, _)| key.clone())
            .collect();
        out.ts = listing.lost;
        for key in ended {
            self.reaped += 1;
            self.end(out, &key, Some("ended during link loss"));
        }
        out.ts = ts;
        self.adopting = true;
        for event in live {
            if let Some(channel) = event.channel() {
                self.see(out, channel);
            }
        }
        self.adopting = false;
        self.bridges.clear();
        for event in live {
            if let AriEvent::BridgeCreated { bridge, .. } = event {
                self.bridge(bridge);
                self.join_bridge(out, &bridge.id);
            }
        }
    }
}

fn direction(call: &Call) -> Direction {
    if call.inbound {
        Direction::Inbound
    } else {
        Direction::Internal
    }
}
