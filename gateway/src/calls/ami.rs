//! AMI correlation: Asterisk events become one call record per real call.
//!
//! Mapping rules (the real capture in `fixtures/asterisk/` is the test, with Asterisk's own
//! `Cdr` events as the oracle):
//! * **Call identity.** A call is a `Linkedid`; its id is `{pbx}-{Linkedid}`. A channel keeps
//!   the call it was born in (`Newchannel`). When Asterisk re-links a channel into an older
//!   call (it joined that call's bridge: an agent leg an application originated, a parked
//!   call's retriever), the call that channel was born in was a helper of the older one: it
//!   becomes part of it and leaves no record of its own. A call whose first channel was born
//!   down (placed by the PBX, not arriving) is announced by its first event of substance, not
//!   after a second, so such a helper never shows as a call.
//! * **Local channels.** Both halves (`;1`, `;2`) are born together with the same Linkedid, so
//!   they are one leg of one call. The pseudo-channel `OutgoingSpoolFailed` (a failed
//!   originate) is not a call.
//! * **Caller and callee.** The entry leg is the first channel that arrives ringing into the
//!   dialplan (`Newchannel` in state Ring: a trunk's inbound channel, or the `;2` half of a
//!   Local channel); the caller is its caller-ID number until answer, the callee its
//!   `Exten` at birth (the number dialled). With no such leg, the first channel stands in.
//! * **Answered.** A call is answered (by a person) when one of its channels shares a bridge
//!   with a channel younger than itself: the party it called, an agent, the operator who
//!   retrieved it from a parking lot, a conference joined by someone else. This is how
//!   Asterisk's CDRs pair party A with party B. Holding bridges (parking lots) do not count.
//!   The younger channel names the `extension`; `AgentConnect` names the queue `agent` (the
//!   extension behind the member's interface, the key `agent.state` uses too).
//!   The entry leg going Up without that (`Answer()` before an IVR or a queue) is a PBX
//!   answer (`pbx_answered_at`).
//! * **End.** A call ends when its last channel hangs up. An unanswered call's disposition:
//!   `abandoned` after `QueueCallerAbandon` (the caller gave up in a queue); `busy`,
//!   `no-answer`, `failed` from the last `DialEnd` status (BUSY, NOANSWER or CANCEL - the
//!   caller hung up while it rang -, CONGESTION/CHANUNAVAIL) or the hang-up cause (17, 21
//!   rejected, 34/38 failed); `pbx-only` when nobody was ever dialled (IVR, conference).
//! * **Transfers.** `BlindTransfer` (target: `Extension`) and `AttendedTransfer` (target: the
//!   party the transferer last talked to, i.e. the consultation call) are recorded on the
//!   transferer's call. The transferred
//!   legs stay in the same call, so billsec runs from the first answer to the last hang-up.
//! * **Details.** IVR digits from `DTMFEnd` received on the entry leg; recording from
//!   `MIXMONITOR_FILENAME` / the `MixMonitor` dialplan step and `MixMonitorStart/Stop`, the
//!   older `Monitor` step, or an audio file's name set in `CDR(userfield)`; holds
//!   from `Hold`; queue from `QueueCallerJoin`.
//! * **Link loss and resync.** A lost link does not end calls: after every (re)connect the
//!   session lists the live channels (`CoreShowChannels`) and [`AmiCorrelator::resync`]
//!   closes calls whose channels are gone ("ended during link loss", dated at the loss) and
//!   adopts channels it has not seen. Calls confirmed by no event and no resync for
//!   `stale_after` are reaped. A call that begins and ends entirely while the link is down
//!   never shows over AMI; Asterisk's own CDR backend is the record of those.

pub(crate) mod presence;
mod resync;
mod transfers;

use std::collections::{HashMap, HashSet};

use super::record::{CallRecord, Direction, Disposition, Transfer};
use super::{
    CallAnswered, CallDtmf, CallEvent, CallHeld, CallRecording, CallRinging, CallStarted,
    CallTransferred, EventBody, Offers, Out, Source, TransferKind,
};
use crate::pbx::ami::codec::Message;
use crate::pbx::asterisk::extension_of;
pub(crate) use presence::Presence;

#[derive(Debug, Clone)]
pub struct AmiCorrelatorConfig {
    /// The `[[pbx]] name`: part of every call id.
    pub pbx: String,
    /// Dialplan contexts where calls from outside arrive: a call whose entry leg is born in
    /// one of them is inbound.
    pub inbound_contexts: Vec<String>,
    /// Channel-name prefixes of trunks (`PJSIP/provider`, `SIP/trunk`): an entry leg on a
    /// trunk is inbound, a dialled leg on a trunk makes the call outbound.
    pub trunk_prefixes: Vec<String>,
    /// A call with no event and not seen in a resync for this long is closed.
    pub stale_after_ms: i64,
}

impl AmiCorrelatorConfig {
    pub fn new(pbx: &str) -> AmiCorrelatorConfig {
        AmiCorrelatorConfig {
            pbx: pbx.to_owned(),
            inbound_contexts: ["from-pstn", "from-trunk", "from-external", "inbound"]
                .map(String::from)
                .to_vec(),
            trunk_prefixes: Vec::new(),
            stale_after_ms: 3_600_000,
        }
    }
}

#[derive(Debug)]
struct Channel {
    call: String,
    name: String,
    /// Birth order: of two bridged channels, the younger one is the answering party.
    born: u64,
    born_at: i64,
    /// The extension this channel last shared a bridge with.
    partner: Option<String>,
}

#[derive(Debug)]
struct Call {
    id: String,
    started_at: i64,
    last_seen: i64,
    announced: bool,
    /// Its first channel was born down: the PBX placed it (an originate), it did not arrive.
    originated: bool,
    /// Uniqueid of the entry leg (or the first channel until one arrives).
    entry: Option<String>,
    entry_is_ringing: bool,
    direction: Direction,
    caller: Option<String>,
    caller_name: Option<String>,
    callee: Option<String>,
    live: HashSet<String>,
    pbx_answered_at: Option<i64>,
    answered_at: Option<i64>,
    /// A `DialEnd ANSWER` just happened: the next Up is the person, not the PBX.
    dial_answered: bool,
    dialled: bool,
    extension: Option<String>,
    agent: Option<String>,
    queue: Option<String>,
    dial_outcome: Option<Disposition>,
    abandoned: bool,
    cause: Option<(u32, String)>,
    ivr_digits: String,
    recording: Option<String>,
    transfers: Vec<Transfer>,
    holds: u32,
    last_hangup_at: i64,
    /// The extensions and queue members it was dialled to.
    offers: Offers,
}

impl Call {
    fn new(id: String, ts: i64) -> Call {
        Call {
            id,
            started_at: ts,
            last_seen: ts,
            announced: false,
            originated: false,
            entry: None,
            entry_is_ringing: false,
            direction: Direction::Internal,
            caller: None,
            caller_name: None,
            callee: None,
            live: HashSet::new(),
            pbx_answered_at: None,
            answered_at: None,
            dial_answered: false,
            dialled: false,
            extension: None,
            agent: None,
            queue: None,
            dial_outcome: None,
            abandoned: false,
            cause: None,
            ivr_digits: String::new(),
            recording: None,
            transfers: Vec::new(),
            holds: 0,
            last_hangup_at: ts,
            offers: Offers::default(),
        }
    }

    fn is_entry(&self, uid: &str) -> bool {
        self.entry.as_deref() == Some(uid)
    }

    fn disposition(&self) -> Disposition {
        if self.answered_at.is_some() {
            return Disposition::Answered;
        }
        super::record::unanswered_disposition(
            self.abandoned,
            self.dial_outcome,
            self.cause.as_ref().map(|c| i64::from(c.0)),
            self.dialled,
        )
    }
}

#[derive(Debug, Default)]
struct Bridge {
    holding: bool,
    members: Vec<String>,
}

pub struct AmiCorrelator {
    config: AmiCorrelatorConfig,
    channels: HashMap<String, Channel>,
    calls: HashMap<String, Call>,
    bridges: HashMap<String, Bridge>,
    presence: Presence,
    born: u64,
    /// Channels hung up recently: a resync list that was taken before their `Hangup` must
    /// not bring them back. Pruned by age.
    gone: HashMap<String, i64>,
    lost_at: Option<i64>,
    /// Calls closed by the reaper or by a resync after link loss, for the status page.
    pub reaped: u64,
}

/// The events whose arrival alone does not make a call worth announcing yet: the caller ID
/// is usually set right after `Newchannel`.
const SETUP_EVENTS: [&str; 5] = [
    "Newchannel",
    "NewCallerid",
    "NewConnectedLine",
    "VarSet",
    "Newexten",
];

/// A header value that says something: not empty, not `<unknown>`.
/// `Monitor(format,basename,options)` writes `basename.format` (`wav49` as `.WAV`).
fn monitor_file(app_data: &str) -> Option<String> {
    let mut args = app_data.split(',');
    let format = args
        .next()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or("wav");
    let base = args.next().map(str::trim).filter(|b| !b.is_empty())?;
    let extension = if format.eq_ignore_ascii_case("wav49") {
        "WAV"
    } else {
        format
    };
    Some(format!("{base}.{extension}"))
}

/// A file name with an extension Asterisk records in.
fn is_audio_file(name: &str) -> bool {
    const FORMATS: [&str; 8] = ["wav", "wav49", "gsm", "mp3", "ogg", "sln", "g722", "ulaw"];
    name.rsplit_once('.').is_some_and(|(base, ext)| {
        !base.is_empty() && FORMATS.iter().any(|f| f.eq_ignore_ascii_case(ext))
    })
}

fn known(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty() && *v != "<unknown>")
}

impl AmiCorrelator {
    pub fn new(config: AmiCorrelatorConfig) -> AmiCorrelator {
        AmiCorrelator {
            config,
            channels: HashMap::new(),
            calls: HashMap::new(),
            bridges: HashMap::new(),
            presence: Presence::default(),
            born: 0,
            gone: HashMap::new(),
            lost_at: None,
            reaped: 0,
        }
    }

    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// One event, stamped `ts` on arrival (AMI events carry no time by default).
    pub fn on_message(&mut self, ts: i64, raw: &str, msg: &Message) -> Vec<CallEvent> {
        let pbx = self.config.pbx.clone();
        let mut out = Out::new(Source::Ami, &pbx, ts, Some(raw));
        let Some(event) = msg.event() else {
            return out.events;
        };
        self.follow_relink(msg);
        if let Some(call) = self.call_of_event(msg) {
            let arrived = self.calls.get_mut(&call).is_some_and(|c| {
                c.last_seen = ts;
                !c.originated
            });
            if arrived && !SETUP_EVENTS.contains(&event) {
                self.announce(&mut out, &call);
            }
        }
        self.dispatch(&mut out, event, msg);
        self.announce_originated(&mut out);
        self.presence.on_event(&mut out, event, msg);
        out.events
    }

    fn dispatch(&mut self, out: &mut Out<'_>, event: &str, m: &Message) {
        match event {
            "Newchannel" => self.new_channel(out.ts, m),
            "NewCallerid" => self.new_caller_id(m),
            "Newstate" => self.new_state(out, m),
            "DialBegin" => self.dial_begin(out, m),
            "DialEnd" => self.dial_end(out.ts, m),
            "BridgeCreate" => self.bridge_create(m),
            "BridgeEnter" => self.bridge_enter(out, m),
            "BridgeLeave" => self.bridge_leave(m),
            "BridgeDestroy" => {
                if let Some(b) = m.get("BridgeUniqueid") {
                    self.bridges.remove(b);
                }
            }
            "Hangup" => self.hangup(out, m),
            "DTMFEnd" => self.dtmf(out, m),
            "Hold" | "Unhold" => self.hold(out, m, event == "Hold"),
            "VarSet" if m.get("Variable") == Some("MIXMONITOR_FILENAME") => {
                self.set_recording_file(m, m.get("Value"))
            }
            "Newexten" if m.get("Application") == Some("MixMonitor") => {
                let file = m.get("AppData").and_then(|d| d.split(',').next());
                self.set_recording_file(m, file)
            }
            // The older Monitor() starts at once and announces nothing of its own.
            "Newexten" if m.get("Application") == Some("Monitor") => {
                let file = m.get("AppData").and_then(monitor_file);
                self.set_recording_file(m, file.as_deref());
                self.recording(out, m, true)
            }
            // Dialplans that record often leave the file's name in the CDR's userfield.
            "Newexten" if m.get("Application") == Some("Set") => {
                let set = m
                    .get("AppData")
                    .and_then(|d| d.strip_prefix("CDR(userfield)="));
                if let Some(file) = set.filter(|f| is_audio_file(f)) {
                    self.set_recording_file(m, Some(file))
                }
            }
            "MixMonitorStart" | "MixMonitorStop" => {
                self.recording(out, m, event == "MixMonitorStart")
            }
            "QueueCallerJoin" => {
                if let Some(c) = self.call_mut(m.get("Uniqueid")) {
                    c.queue = m.get("Queue").map(str::to_owned);
                }
            }
            "QueueCallerAbandon" => {
                if let Some(c) = self.call_mut(m.get("Uniqueid")) {
                    c.abandoned = true;
                }
            }
            "AgentConnect" => {
                if let Some(c) = self.call_mut(m.get("Uniqueid")) {
                    // The agent's key is the extension behind its interface, as in `agent.state`.
                    c.extension = known(m.get("Interface")).map(extension_of);
                    c.agent.clone_from(&c.extension);
                    c.queue = m.get("Queue").map(str::to_owned).or(c.queue.take());
                }
            }
            "BlindTransfer" => self.blind_transfer(out, m),
            "AttendedTransfer" => self.attended_transfer(out, m),
            _ => {}
        }
    }

    /// Asterisk re-links a channel that joins the bridge of an older call (an agent leg an
    /// application originated, a parked call's retriever): the call that channel was born in
    /// was a helper of the older one and becomes part of it, with no record of its own.
    fn follow_relink(&mut self, m: &Message) {
        let (Some(uid), Some(linked)) = (m.get("Uniqueid"), m.get("Linkedid")) else {
            return;
        };
        let Some(helper) = self.channels.get(uid).map(|c| c.call.clone()) else {
            return;
        };
        let older = format!("{}-{linked}", self.config.pbx);
        let (Some(h), Some(o)) = (self.calls.get(&helper), self.calls.get(&older)) else {
            return;
        };
        if helper == older || o.started_at > h.started_at {
            return;
        }
        let Some(helper) = self.calls.remove(&helper) else {
            return;
        };
        for uid in &helper.live {
            if let Some(c) = self.channels.get_mut(uid) {
                c.call.clone_from(&older);
            }
        }
        if let Some(call) = self.calls.get_mut(&older) {
            call.live.extend(helper.live);
            call.transfers.extend(helper.transfers);
            call.holds += helper.holds;
            call.offers.absorb(helper.offers);
            call.last_seen = call.last_seen.max(helper.last_seen);
        }
    }

    /// The call an event is about: its channel's birth call, else the call of its Linkedid.
    fn call_of_event(&self, m: &Message) -> Option<String> {
        let by_uid = |key: &str| {
            m.get(key)
                .and_then(|u| self.channels.get(u))
                .map(|c| c.call.clone())
        };
        by_uid("Uniqueid")
            .or_else(|| by_uid("DestUniqueid"))
            .or_else(|| by_uid("TransfererUniqueid"))
            .or_else(|| by_uid("OrigTransfererUniqueid"))
            .or_else(|| by_uid("ParkeeUniqueid"))
    }

    fn call_mut(&mut self, uid: Option<&str>) -> Option<&mut Call> {
        let call = &self.channels.get(uid?)?.call;
        self.calls.get_mut(call)
    }

    /// Time-driven: announce calls whose caller ID settled, reap calls nobody confirms.
    pub fn tick(&mut self, now: i64) -> Vec<CallEvent> {
        let pbx = self.config.pbx.clone();
        let mut out = Out::new(Source::Ami, &pbx, now, None);
        self.gone.retain(|_, at| now - *at < 300_000);
        let ids: Vec<String> = self.calls.keys().cloned().collect();
        for id in ids {
            let Some(call) = self.calls.get(&id) else {
                continue;
            };
            if now - call.last_seen >= self.config.stale_after_ms {
                self.reaped += 1;
                let at = call.last_seen;
                self.finish(
                    &mut out,
                    &id,
                    at,
                    Some("no event and not listed by Asterisk"),
                );
            } else if !call.announced && !call.originated && now - call.started_at >= 1_000 {
                self.announce(&mut out, &id);
            }
        }
        out.events
    }

    fn new_channel(&mut self, ts: i64, m: &Message) {
        let (Some(uid), Some(name)) = (m.get("Uniqueid"), m.get("Channel")) else {
            return;
        };
        if name.starts_with("OutgoingSpoolFailed") {
            return;
        }
        let linked = m.get("Linkedid").unwrap_or(uid);
        let id = format!("{}-{linked}", self.config.pbx);
        self.born += 1;
        self.channels.insert(
            uid.to_owned(),
            Channel {
                call: id.clone(),
                name: name.to_owned(),
                born: self.born,
                born_at: ts,
                partner: None,
            },
        );
        let ringing = m.get("ChannelState") == Some("4");
        let inbound = self.is_inbound_entry(name, m.get("Context"));
        let call = self
            .calls
            .entry(id.clone())
            .or_insert_with(|| Call::new(id, ts));
        if call.live.is_empty() && call.entry.is_none() {
            call.originated = m.get("ChannelState") == Some("0");
        }
        call.live.insert(uid.to_owned());
        let takes_entry = call.entry.is_none() || (ringing && !call.entry_is_ringing);
        if takes_entry {
            call.entry = Some(uid.to_owned());
            call.entry_is_ringing = ringing;
            call.callee = known(m.get("Exten"))
                .filter(|e| *e != "s")
                .map(str::to_owned);
            if let Some(n) = known(m.get("CallerIDNum")) {
                call.caller = Some(n.to_owned());
            }
            if inbound {
                call.direction = Direction::Inbound;
            }
        }
    }

    fn is_inbound_entry(&self, name: &str, context: Option<&str>) -> bool {
        let trunk = self.is_trunk(name);
        trunk || context.is_some_and(|c| self.config.inbound_contexts.iter().any(|i| i == c))
    }

    fn is_trunk(&self, name: &str) -> bool {
        self.config
            .trunk_prefixes
            .iter()
            .any(|p| name.starts_with(p.as_str()))
    }

    fn new_caller_id(&mut self, m: &Message) {
        let uid = m.get("Uniqueid").unwrap_or_default();
        let Some(call) = self.call_mut(Some(uid)) else {
            return;
        };
        if !call.is_entry(uid) || call.answered_at.is_some() {
            return;
        }
        if let Some(n) = known(m.get("CallerIDNum")) {
            call.caller = Some(n.to_owned());
        }
        if let Some(n) = known(m.get("CallerIDName")) {
            call.caller_name = Some(n.to_owned());
        }
    }

    fn new_state(&mut self, out: &mut Out<'_>, m: &Message) {
        let uid = m.get("Uniqueid").unwrap_or_default();
        if m.get("ChannelStateDesc") != Some("Up") {
            return;
        }
        let Some(call) = self.call_mut(Some(uid)) else {
            return;
        };
        if !call.is_entry(uid) || call.pbx_answered_at.is_some() || call.dial_answered {
            return;
        }
        call.pbx_answered_at = Some(out.ts);
        // The PBX answering a call it placed itself is no news until the call reaches someone.
        if call.originated {
            return;
        }
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

    fn dial_begin(&mut self, out: &mut Out<'_>, m: &Message) {
        // A dial with no calling channel is an Originate placing its first leg.
        let Some(uid) = m.get("Uniqueid") else {
            return;
        };
        let dest = m.get("DestChannel").unwrap_or_default().to_owned();
        let trunk = self.is_trunk(&dest);
        let Some(call) = self.call_mut(Some(uid)) else {
            return;
        };
        call.dialled = true;
        if trunk && call.direction != Direction::Inbound {
            call.direction = Direction::Outbound;
        }
        if !trunk && !dest.is_empty() {
            call.offers.ring(&extension_of(&dest), out.ts);
        }
        let (id, caller) = (call.id.clone(), call.caller.clone());
        out.push(
            &id,
            EventBody::CallRinging(CallRinging::new(extension_of(&dest), caller)),
        );
    }

    fn dial_end(&mut self, ts: i64, m: &Message) {
        let status = m.get("DialStatus").unwrap_or_default();
        let dest = m.get("DestChannel").unwrap_or_default();
        let offered = (!dest.is_empty() && !self.is_trunk(dest)).then(|| extension_of(dest));
        let Some(call) = self.call_mut(m.get("Uniqueid")) else {
            return;
        };
        match &offered {
            Some(ext) if status == "ANSWER" => call.offers.answered(ext, ts),
            Some(ext) => call.offers.stopped(ext, ts),
            None => {}
        }
        if status == "ANSWER" {
            call.dial_answered = true;
            return;
        }
        if let Some((outcome, weak)) = super::record::dial_outcome(status) {
            if !weak || call.dial_outcome.is_none() {
                call.dial_outcome = Some(outcome);
            }
        }
    }

    fn bridge_create(&mut self, m: &Message) {
        if let Some(b) = m.get("BridgeUniqueid") {
            let holding = m.get("BridgeTechnology") == Some("holding_bridge")
                || m.get("BridgeType") == Some("holding");
            self.bridges.entry(b.to_owned()).or_default().holding = holding;
        }
    }

    fn bridge_enter(&mut self, out: &mut Out<'_>, m: &Message) {
        let (Some(b), Some(uid)) = (m.get("BridgeUniqueid"), m.get("Uniqueid")) else {
            return;
        };
        let bridge = self.bridges.entry(b.to_owned()).or_default();
        if m.get("BridgeTechnology") == Some("holding_bridge") {
            bridge.holding = true;
        }
        if !bridge.members.iter().any(|u| u == uid) {
            bridge.members.push(uid.to_owned());
        }
        if bridge.holding {
            return;
        }
        let others: Vec<String> = bridge
            .members
            .iter()
            .filter(|u| *u != uid)
            .cloned()
            .collect();
        for other in others {
            self.pair_up(out, uid, &other);
        }
    }

    /// Two channels now share a bridge: the older one's call is answered by the younger.
    fn pair_up(&mut self, out: &mut Out<'_>, a: &str, b: &str) {
        let (Some(ca), Some(cb)) = (self.channels.get(a), self.channels.get(b)) else {
            return;
        };
        let (older, younger) = if ca.born < cb.born {
            (ca, cb)
        } else {
            (cb, ca)
        };
        let answerer = extension_of(&younger.name);
        let older_call = older.call.clone();
        let (name_a, name_b) = (extension_of(&ca.name), extension_of(&cb.name));
        if let Some(c) = self.channels.get_mut(a) {
            c.partner = Some(name_b);
        }
        if let Some(c) = self.channels.get_mut(b) {
            c.partner = Some(name_a);
        }
        let Some(call) = self.calls.get_mut(&older_call) else {
            return;
        };
        if call.answered_at.is_some() {
            return;
        }
        call.answered_at = Some(out.ts);
        if call.extension.is_none() {
            call.extension = Some(answerer);
        }
        let (id, extension, agent) = (call.id.clone(), call.extension.clone(), call.agent.clone());
        out.push(
            &id,
            EventBody::CallAnswered(CallAnswered {
                extension,
                agent,
                by_person: true,
            }),
        );
    }

    fn bridge_leave(&mut self, m: &Message) {
        let (Some(b), Some(uid)) = (m.get("BridgeUniqueid"), m.get("Uniqueid")) else {
            return;
        };
        if let Some(bridge) = self.bridges.get_mut(b) {
            bridge.members.retain(|u| u != uid);
            if bridge.members.is_empty() {
                // A BridgeDestroy lost with the link must not leave it behind.
                self.bridges.remove(b);
            }
        }
    }

    fn hangup(&mut self, out: &mut Out<'_>, m: &Message) {
        let Some(uid) = m.get("Uniqueid") else {
            return;
        };
        if let Some(call) = self.call_mut(Some(uid)) {
            let cause = m.get("Cause").and_then(|c| c.parse::<u32>().ok());
            if let Some(cause) = cause {
                if call.cause.is_none() || call.is_entry(uid) {
                    let text = m.get("Cause-txt").unwrap_or_default().to_owned();
                    call.cause = Some((cause, text));
                }
            }
        }
        let at = out.ts;
        self.drop_channel(out, uid, at, None);
    }

    /// A channel is gone; its call ends with its last channel.
    fn drop_channel(&mut self, out: &mut Out<'_>, uid: &str, at: i64, why: Option<&str>) {
        let Some(ch) = self.channels.remove(uid) else {
            return;
        };
        self.gone.insert(uid.to_owned(), at);
        for bridge in self.bridges.values_mut() {
            bridge.members.retain(|u| u != uid);
        }
        self.bridges.retain(|_, b| !b.members.is_empty());
        let Some(call) = self.calls.get_mut(&ch.call) else {
            return;
        };
        call.live.remove(uid);
        call.last_hangup_at = at;
        if call.live.is_empty() {
            if why.is_some() {
                self.reaped += 1;
            }
            self.finish(out, &ch.call, at, why);
        }
    }

    fn dtmf(&mut self, out: &mut Out<'_>, m: &Message) {
        let uid = m.get("Uniqueid").unwrap_or_default();
        if m.get("Direction") != Some("Received") {
            return;
        }
        let Some(digit) = known(m.get("Digit")) else {
            return;
        };
        let Some(call) = self.call_mut(Some(uid)) else {
            return;
        };
        if !call.is_entry(uid) {
            return;
        }
        call.ivr_digits.push_str(digit);
        let id = call.id.clone();
        out.push(
            &id,
            EventBody::CallDtmf(CallDtmf {
                digit: digit.to_owned(),
            }),
        );
    }

    fn hold(&mut self, out: &mut Out<'_>, m: &Message, held: bool) {
        let extension = m.get("Channel").map(extension_of);
        let Some(call) = self.call_mut(m.get("Uniqueid")) else {
            return;
        };
        if held {
            call.holds += 1;
        }
        let id = call.id.clone();
        out.push(&id, EventBody::CallHeld(CallHeld { extension, held }));
    }

    fn set_recording_file(&mut self, m: &Message, file: Option<&str>) {
        let file = known(file).map(str::to_owned);
        if let (Some(call), Some(file)) = (self.call_mut(m.get("Uniqueid")), file) {
            call.recording = Some(file);
        }
    }

    fn recording(&mut self, out: &mut Out<'_>, m: &Message, active: bool) {
        let Some(call) = self.call_mut(m.get("Uniqueid")) else {
            return;
        };
        let file = call.recording.get_or_insert_with(String::new).clone();
        let id = call.id.clone();
        out.push(
            &id,
            EventBody::CallRecording(CallRecording { file, active }),
        );
    }

    /// A call the PBX placed is announced by its first event of substance (it rings someone,
    /// is answered, ends), not by time: a helper leg that joins an older call a moment later
    /// must not show as a call of its own.
    fn announce_originated(&mut self, out: &mut Out<'_>) {
        let mut i = 0;
        while i < out.events.len() {
            let Some(id) = out.events[i].call_id.clone() else {
                i += 1;
                continue;
            };
            if let Some(call) = self.calls.get_mut(&id).filter(|c| !c.announced) {
                call.announced = true;
                let body = EventBody::CallStarted(CallStarted {
                    direction: call.direction,
                    caller: call.caller.clone(),
                    callee: call.callee.clone(),
                });
                out.insert(i, call.started_at, Some(&id), body);
                i += 1;
            }
            i += 1;
        }
    }

    fn announce(&mut self, out: &mut Out<'_>, id: &str) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        if call.announced {
            return;
        }
        call.announced = true;
        let body = EventBody::CallStarted(CallStarted {
            direction: call.direction,
            caller: call.caller.clone(),
            callee: call.callee.clone(),
        });
        let (ts, started) = (out.ts, call.started_at);
        out.ts = started;
        out.push(id, body);
        out.ts = ts;
    }

    fn finish(&mut self, out: &mut Out<'_>, id: &str, ended_at: i64, why: Option<&str>) {
        self.announce(out, id);
        let Some(call) = self.calls.remove(id) else {
            return;
        };
        for uid in &call.live {
            self.channels.remove(uid);
        }
        let mut disposition = call.disposition();
        if why.is_some() && disposition != Disposition::Answered {
            disposition = Disposition::LinkLost;
        }
        let hangup_cause = why
            .map(str::to_owned)
            .or_else(|| call.cause.map(|(n, text)| format!("{n} ({text})")));
        let record = CallRecord {
            call_id: call.id,
            direction: call.direction,
            caller: call.caller,
            callee: call.callee,
            extension: call.extension,
            agent: call.agent,
            queue: call.queue,
            started_at: call.started_at,
            pbx_answered_at: call.pbx_answered_at,
            answered_at: call.answered_at,
            ended_at,
            duration_s: 0,
            billsec_s: 0,
            disposition,
            hangup_cause,
            ivr_digits: Some(call.ivr_digits).filter(|d| !d.is_empty()),
            recording: call.recording.filter(|f| !f.is_empty()),
            transfers: call.transfers,
            holds: call.holds,
            caller_name: call.caller_name,
            company: None,
            rang: call.offers.finish(ended_at),
            charge: None,
            recording_url: None,
        }
        .with_durations();
        out.push_ended(record);
    }
}

/// `01:02:03` -> 3723 seconds.
fn parse_hms(s: &str) -> Option<i64> {
    let mut total = 0i64;
    for part in s.split(':') {
        total = total
            .checked_mul(60)?
            .checked_add(part.trim().parse().ok()?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests;
