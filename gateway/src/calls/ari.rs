//! ARI correlation: the channel and bridge events Asterisk sends on `/ari/events` become the
//! same call records as AMI's (`calls/ami.rs` states the contract; the same dispositions
//! apply). ARI gives no `linkedid` and shows the two halves of a Local channel as two
//! channels, so what makes one call out of many channels is decided here. Two modes:
//!
//! **Whole PBX** (`subscribe_all = true`, `pbx_wide.rs`): every channel of the PBX is seen.
//! * **One call = the channels that belong together.** Channels join one call when they are
//!   the two halves of a Local channel (same name up to the last `;`), when one dials the
//!   other (`Dial` with a caller: a dial leg, a queue's agent leg, a forward), when they are in
//!   one mixing bridge at the same time (the customer talks to the person who answered, a
//!   parked call's retriever, an agent an application bridged in), when a transfer names them
//!   (`BridgeBlindTransfer`, `BridgeAttendedTransfer`, `BridgeMerged`). A conference
//!   (`ConfBridge`'s bridge) and a parking lot (holding bridge) do not join calls: their
//!   members are separate callers.
//! * **Identity.** The call is that of its earliest channel, the customer-facing leg: its id is
//!   `{pbx}-{channel id}`; when two calls join, the older one goes on with the other's
//!   channels. The customer-facing leg and its Local partner are the call's *entry*.
//! * **Caller and callee.** The caller is the first non-empty caller number of the entry
//!   (channels are created empty and get their number from `ChannelCallerId`; connected-line
//!   updates and transfers later do not change it); the callee is the dialplan extension the
//!   entry was created for. Inbound when the entry is in one of `inbound_contexts`.
//! * **Answered.** A person answered when a channel that is not the entry shares a mixing
//!   bridge with the entry: from then on is talk time (`answered_at`, `billsec_s`); that
//!   channel names the `extension` (and the `agent` when the call was queued). The entry going
//!   Up before that, with no dialled party answering, is the PBX's own answer
//!   (`pbx_answered_at`: `Answer()` before an IVR, a queue or a conference).
//! * **End.** A call ends when its last channel is destroyed. Unanswered: `abandoned` if the
//!   entry hung up while in `Queue()`, else the last dial status of its legs, else the entry's
//!   hang-up cause, else `pbx-only` (as for AMI).
//! * **Not calls.** The `OutgoingSpoolFailed` pseudo-channel of a failed originate, and a call
//!   made only of Local channels that never reached a device or an inbound context (an
//!   originate the dialplan answered itself) leave no record.
//! * **Details.** Queue from the entry's `Queue()` step; recording from its `MixMonitor()`
//!   step or an ARI recording of one of its channels or bridges; IVR digits from
//!   `ChannelDtmfReceived` on the entry; holds of any of its channels; transfers (blind: the
//!   transferer's extension to the dialled extension; attended: the transferer to the
//!   consultation's target).
//! * **Live events.** A call arriving from outside (its first channel ringing or up) is
//!   announced (`call.started`) a second after it began, when its caller ID has settled, or at
//!   its first ringing, answer, digit or hold; a call the PBX originated only then, so that a
//!   helper leg that joins an older call a moment later never appears as a call of its own.
//!
//! **Application only** (`subscribe_all = false`, `app.rs`): only the channels in pbxgw's Stasis
//! application are seen, and a channel that leaves it is gone from view.
//! * A channel first seen ringing or up starts a call; one first seen `Down` was originated (by
//!   a `Dial` or by the application) and joins the call of the channel that dialled it or of
//!   the first channel it shares a bridge with; one that never joins anything is a call of
//!   its own. Both halves of a Local channel are one leg.
//! * Caller and callee as above, taken when the entry is first seen; answered when a joining
//!   channel enters a (non-holding) bridge with the call's channels; a call ends when its last
//!   channel is destroyed or has left the application.
//!
//! In both modes:
//! * **Presence.** `DeviceStateChanged` of phones (not `Local/...` or `Queue:...`
//!   pseudo-devices) and `EndpointStateChange` become `agent.state`, as AMI's device states
//!   do (`calls/ami/presence.rs`), one event per real change.
//! * **Resync.** After a reconnect the session lists the live channels and bridges; calls whose
//!   channels are gone end ("ended during link loss", dated at the loss), unknown live
//!   channels are adopted and bridges taken as listed (joining calls by the same rules); calls
//!   nothing confirms for `stale_after_ms` are reaped.

use std::collections::HashSet;

mod app;
mod pbx_wide;

use super::ami::{presence, Presence};
use super::{CallEvent, Out, Source};
use crate::pbx::ari::model::AriEvent;

#[derive(Debug, Clone)]
pub struct AriCorrelatorConfig {
    pub pbx: String,
    pub inbound_contexts: Vec<String>,
    /// Whether the application sees every channel (`subscribeAll`); without it a channel that
    /// leaves the application is gone from view.
    pub subscribe_all: bool,
    pub stale_after_ms: i64,
}

impl AriCorrelatorConfig {
    pub fn new(pbx: &str) -> AriCorrelatorConfig {
        AriCorrelatorConfig {
            pbx: pbx.to_owned(),
            inbound_contexts: ["from-pstn", "from-trunk", "from-external", "inbound"]
                .map(String::from)
                .to_vec(),
            subscribe_all: false,
            stale_after_ms: 3_600_000,
        }
    }
}

/// What a resync learnt: the channels Asterisk listed, when the list was asked for, and when
/// the link was lost (what ended unseen is dated then).
struct Listing<'a> {
    alive: HashSet<&'a str>,
    asked: i64,
    lost: i64,
}

impl Listing<'_> {
    /// A channel known before the list was asked for and not in it has gone; one first seen
    /// after was created since (its events raced the list).
    fn vanished(&self, channel: &str, first_seen: i64) -> bool {
        first_seen < self.asked && !self.alive.contains(channel)
    }
}

enum Mode {
    App(app::AppCorrelator),
    Pbx(pbx_wide::PbxWideCorrelator),
}

pub struct AriCorrelator {
    pbx: String,
    mode: Mode,
    /// Phones' device and endpoint states as agents' states.
    presence: Presence,
    /// When the link was lost, until the next event or resync.
    lost_at: Option<i64>,
}

impl AriCorrelator {
    pub fn new(config: AriCorrelatorConfig) -> AriCorrelator {
        let pbx = config.pbx.clone();
        let mode = if config.subscribe_all {
            Mode::Pbx(pbx_wide::PbxWideCorrelator::new(config))
        } else {
            Mode::App(app::AppCorrelator::new(config))
        };
        AriCorrelator {
            pbx,
            mode,
            presence: Presence::default(),
            lost_at: None,
        }
    }

    #[cfg(test)]
    fn app(&self) -> &app::AppCorrelator {
        match &self.mode {
            Mode::App(c) => c,
            Mode::Pbx(_) => panic!("not in application mode"),
        }
    }

    pub fn open_calls(&self) -> usize {
        match &self.mode {
            Mode::App(c) => c.open_calls(),
            Mode::Pbx(c) => c.open_calls(),
        }
    }

    pub fn on_message(&mut self, ts: i64, raw: &str, event: &AriEvent) -> Vec<CallEvent> {
        let mut out = Out::new(Source::Ari, &self.pbx, ts, Some(raw));
        self.lost_at = None;
        match event {
            AriEvent::DeviceStateChanged { device_state, .. } => {
                let d = device_state;
                if let Some((agent, state)) = presence::device_state(&d.name, &d.state) {
                    self.presence.set(&mut out, agent, state, None);
                }
            }
            AriEvent::EndpointStateChange { endpoint, .. } => {
                let e = endpoint;
                if let Some((agent, state)) =
                    presence::endpoint_state(&e.technology, &e.resource, &e.state)
                {
                    self.presence.set(&mut out, agent, state, None);
                }
            }
            _ => match &mut self.mode {
                Mode::App(c) => c.on_message(&mut out, event),
                Mode::Pbx(c) => c.on_message(&mut out, event),
            },
        }
        out.events
    }

    /// Time-driven: announcements and reaping.
    pub fn tick(&mut self, now: i64) -> Vec<CallEvent> {
        let mut out = Out::new(Source::Ari, &self.pbx, now, None);
        match &mut self.mode {
            Mode::App(c) => c.tick(&mut out),
            Mode::Pbx(c) => c.tick(&mut out),
        }
        out.events
    }

    pub fn link_lost(&mut self, ts: i64) {
        self.lost_at.get_or_insert(ts);
    }

    /// The live picture after a (re)connect, asked for at `asked`: `GET /channels` as
    /// `ChannelStateChange` snapshots and `GET /bridges` as `BridgeCreated`. What ended
    /// unseen is dated at the loss (or, not knowing it, when the list was asked for).
    pub fn resync(&mut self, asked: i64, ts: i64, live: &[AriEvent]) -> Vec<CallEvent> {
        let mut out = Out::new(Source::Ari, &self.pbx, ts, None);
        let listing = Listing {
            alive: live
                .iter()
                .filter_map(|e| e.channel().map(|c| c.id.as_str()))
                .collect(),
            asked,
            lost: self.lost_at.take().unwrap_or(asked),
        };
        match &mut self.mode {
            Mode::App(c) => c.resync(&mut out, &listing, live),
            Mode::Pbx(c) => c.resync(&mut out, &listing, live),
        }
        out.events
    }
}

#[cfg(test)]
mod tests;
