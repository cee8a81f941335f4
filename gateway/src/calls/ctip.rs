//! CTIP correlation: Slican events carry no call id and no timestamp, only an extension. This
//! module rebuilds calls from per-extension state and evidence, and stamps events on arrival.
//!
//! Rules (PROTOCOL.md §4, §8; the real NCP stream is the test):
//! * An outside call starts at its first RING. Further RINGs with the same caller and the same
//!   dialled number (DDI) within `group_window` of the call's last activity are more ringing
//!   legs of the SAME call (hunt group), also when a group overflows seconds later.
//! * The extension that sends CONN answered; the other legs' `REL 39` (picked up elsewhere)
//!   only removes them — it never makes a missed call.
//! * An outgoing call starts at the extension's first ECHO; digits dialled one by one (one
//!   ECHO per digit) accumulate into one number until CONN, REL, the callee's RING, or
//!   `dial_complete` without a new digit. `call.started` is published then, with the whole
//!   number, and dated at the first digit.
//! * An internal call (`ECHO 101_ /109`, `RING 109_ /101 ...`) is one call with both
//!   extensions.
//! * Transfer: FLASH (`ECHO x /`) puts the call on hold; a RING whose held field names the
//!   transferring extension joins the same call. When the transferring extension releases,
//!   the transfer is complete: attended if the target had answered, blind otherwise. If the
//!   target never answers and the PBX rings the transferring extension again (recall), it is
//!   still the same call: a call whose last leg ended during a transfer waits `recall_grace`.
//! * A call ends when its last leg releases. Disposition: answered if anyone sent CONN;
//!   otherwise from the REL causes: 17 busy, 16 rejected, 15/18 failed, else no-answer.
//! * The IVR digit comes from the configured IVR map: the extension the call reached
//!   (CTIP has no DTMF event for outside callers).
//! * Recording: RECB gives the PBX's recording id (on the record; RECC cancels it), RECE the
//!   file on the PBX's FTP card, up to a minute after the call, as a `call.recording`.
//! * Charge: AOC sends the running gross charge of an extension's call on every change; the
//!   last one is the record's `charge`, in the PBX's configured `currency`.
//! * Nothing stays open: ringing with no news for `ring_timeout` ends as no-answer, any call
//!   silent for `stale_after` ends, and a lost link ends every open call as `link-lost`.
//!
//! Call-waiting (CW) joins or starts a call like RING. An extension can then be on two calls;
//! its REL is applied to the ringing one for causes 16/17/35/39, else to the talking one.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::record::{CallRecord, Charge, Direction, Disposition, Transfer};
use super::{
    CallAnswered, CallDtmf, CallEvent, CallHeld, CallRecording, CallRinging, CallStarted,
    CallTransferred, EventBody, Offers, Out, Source, TransferKind,
};
use crate::pbx::ctip::codec::{is_internal, normalize_ext, Message, RelCause};

#[derive(Debug, Clone)]
pub struct CtipCorrelatorConfig {
    /// The `[[pbx]] name`: part of every call id.
    pub pbx: String,
    /// Extension (without padding) -> IVR digit that leads there.
    pub ivr_map: HashMap<String, String>,
    pub group_window_ms: i64,
    pub dial_complete_ms: i64,
    pub recall_grace_ms: i64,
    pub ring_timeout_ms: i64,
    pub stale_after_ms: i64,
    /// The currency of the PBX's advice of charge.
    pub currency: String,
}

impl CtipCorrelatorConfig {
    pub fn new(pbx: &str) -> CtipCorrelatorConfig {
        CtipCorrelatorConfig {
            pbx: pbx.to_owned(),
            ivr_map: HashMap::new(),
            group_window_ms: 15_000,
            dial_complete_ms: 5_000,
            recall_grace_ms: 5_000,
            ring_timeout_ms: 10 * 60_000,
            stale_after_ms: 12 * 3_600_000,
            currency: "PLN".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    Ringing,
    Dialling,
    Talking,
}

#[derive(Debug)]
struct Call {
    id: String,
    direction: Direction,
    caller: Option<String>,
    callee: Option<String>,
    /// The DDI an outside caller dialled (grouping key with the caller).
    dialled: Option<String>,
    started_at: i64,
    announced: bool,
    answered_at: Option<i64>,
    extension: Option<String>,
    last_activity: i64,
    legs: BTreeMap<String, Leg>,
    causes: Vec<RelCause>,
    /// The extension that put the call on hold to transfer it.
    transferring: Option<String>,
    /// Blind-transferred and the target has not answered: the PBX may recall.
    transfer_unanswered: bool,
    transfers: Vec<Transfer>,
    holds: u32,
    ivr_digits: Option<String>,
    /// All legs ended during a transfer: wait for a recall before ending.
    ending_since: Option<i64>,
    /// The extensions it rang.
    offers: Offers,
    /// The PBX's recording id (RECB), until cancelled (RECC).
    recording: Option<String>,
    /// The last advice of charge (AOC) on one of its legs.
    charge: Option<Charge>,
}

pub struct CtipCorrelator {
    config: CtipCorrelatorConfig,
    calls: HashMap<u64, Call>,
    /// Extension -> the calls it has a leg on (usually one).
    by_ext: HashMap<String, Vec<u64>>,
    next_key: u64,
    /// Calls ended because no REL came, for the status page.
    pub reaped: u64,
    /// RELs and CONNs for extensions with no call (e.g. the call began before we connected).
    pub orphans: u64,
    /// Dialled digits past [`MAX_DIALLED_DIGITS`] on one call, dropped.
    pub digits_dropped: u64,
    /// Recording ids of calls that ended, newest last: RECE comes up to a minute after the
    /// call, and names the file of a call the correlator no longer holds.
    recorded: VecDeque<(String, String)>,
}

/// Ended calls whose recording may still be announced (RECE): a minute's worth on a busy PBX.
const MAX_RECORDED: usize = 256;

/// Most digits kept as one call's dialled number: E.164 has at most 15, plus an outside-line
/// prefix, `00` and a service code fit easily. ECHO digits past it are dropped and counted, so
/// a phone left dialling (or a PBX echoing garbage) cannot grow a call without bound.
pub(crate) const MAX_DIALLED_DIGITS: usize = 32;

impl CtipCorrelator {
    pub fn new(config: CtipCorrelatorConfig) -> CtipCorrelator {
        CtipCorrelator {
            config,
            calls: HashMap::new(),
            by_ext: HashMap::new(),
            next_key: 0,
            reaped: 0,
            orphans: 0,
            digits_dropped: 0,
            recorded: VecDeque::new(),
        }
    }

    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// One message, stamped `ts` on arrival, with its raw line.
    pub fn on_message(&mut self, ts: i64, raw: &str, msg: &Message) -> Vec<CallEvent> {
        let pbx = self.config.pbx.clone();
        let mut out = Out::new(Source::Ctip, &pbx, ts, Some(raw));
        match msg {
            Message::Echo { ext, digits } => self.echo(&mut out, normalize_ext(ext), digits),
            Message::Ring {
                ext,
                caller,
                dialled,
                held,
                ..
            } => self.ring(
                &mut out,
                normalize_ext(ext),
                caller,
                Some(dialled),
                held.as_deref(),
            ),
            Message::Cw { ext, number, .. } => {
                self.ring(&mut out, normalize_ext(ext), number, None, None)
            }
            Message::Conn { ext, number, .. } => self.conn(&mut out, normalize_ext(ext), number),
            Message::Rel { ext, cause } => self.rel(&mut out, normalize_ext(ext), *cause),
            Message::Recb { ext, rec_id } => {
                self.recording(&mut out, normalize_ext(ext), rec_id, true)
            }
            Message::Recc { ext, rec_id } => {
                self.recording(&mut out, normalize_ext(ext), rec_id, false)
            }
            Message::Rece {
                rec_id, ip, path, ..
            } => self.recording_ready(&mut out, rec_id, ip, path),
            Message::Aoc { ext, amount } => self.charge(normalize_ext(ext), amount),
            _ => {}
        }
        out.events
    }

    /// Time-driven decisions: finished dialling, recall grace over, ringing or silent too long.
    pub fn tick(&mut self, now: i64) -> Vec<CallEvent> {
        self.sweep(now, |this, out, key| this.tick_call(out, key, now))
    }

    /// The link dropped: every open call ends now as `link-lost` (CTIP does not replay).
    pub fn link_lost(&mut self, now: i64) -> Vec<CallEvent> {
        self.sweep(now, |this, out, key| {
            this.finish(
                out,
                key,
                now,
                Some(Disposition::LinkLost),
                Some("link to the PBX lost"),
            )
        })
    }

    /// Runs `step` for every open call, collecting what it emits (stamped `ts`, no raw line).
    fn sweep(
        &mut self,
        ts: i64,
        mut step: impl FnMut(&mut Self, &mut Out<'_>, u64),
    ) -> Vec<CallEvent> {
        let pbx = self.config.pbx.clone();
        let mut out = Out::new(Source::Ctip, &pbx, ts, None);
        let keys: Vec<u64> = self.calls.keys().copied().collect();
        for key in keys {
            step(self, &mut out, key);
        }
        out.events
    }

    fn tick_call(&mut self, out: &mut Out<'_>, key: u64, now: i64) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let idle = now - call.last_activity;
        let at = call.last_activity;
        if let Some(since) = call.ending_since {
            if now - since >= self.config.recall_grace_ms {
                self.finish(out, key, since, None, None);
            }
        } else if !call.announced && idle >= self.config.dial_complete_ms {
            self.announce(out, key);
        } else if call.legs.values().all(|l| *l == Leg::Ringing)
            && idle >= self.config.ring_timeout_ms
        {
            self.reaped += 1;
            self.finish(
                out,
                key,
                at,
                None,
                Some("no REL received for the ringing call"),
            );
        } else if idle >= self.config.stale_after_ms {
            self.reaped += 1;
            self.finish(
                out,
                key,
                at,
                Some(Disposition::LinkLost),
                Some("no event for the call"),
            );
        }
    }

    fn new_call(&mut self, ts: i64, direction: Direction) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        let call = Call {
            id: format!("{}-{ts}-{key}", self.config.pbx),
            direction,
            caller: None,
            callee: None,
            dialled: None,
            started_at: ts,
            announced: false,
            answered_at: None,
            extension: None,
            last_activity: ts,
            legs: BTreeMap::new(),
            causes: Vec::new(),
            transferring: None,
            transfer_unanswered: false,
            transfers: Vec::new(),
            holds: 0,
            ivr_digits: None,
            ending_since: None,
            offers: Offers::default(),
            recording: None,
            charge: None,
        };
        self.calls.insert(key, call);
        key
    }

    fn attach(&mut self, key: u64, ext: &str, leg: Leg, ts: i64) {
        if let Some(call) = self.calls.get_mut(&key) {
            call.legs.insert(ext.to_owned(), leg);
            call.last_activity = ts;
            call.ending_since = None;
        }
        let calls = self.by_ext.entry(ext.to_owned()).or_default();
        if !calls.contains(&key) {
            calls.push(key);
        }
    }

    fn detach(&mut self, key: u64, ext: &str) -> Option<Leg> {
        if let Some(calls) = self.by_ext.get_mut(ext) {
            calls.retain(|k| *k != key);
            if calls.is_empty() {
                self.by_ext.remove(ext);
            }
        }
        self.calls.get_mut(&key)?.legs.remove(ext)
    }

    /// The extension's call in the given leg state, if any.
    fn call_of(&self, ext: &str, leg: Leg) -> Option<u64> {
        self.by_ext.get(ext)?.iter().copied().find(|k| {
            self.calls
                .get(k)
                .is_some_and(|c| c.legs.get(ext) == Some(&leg))
        })
    }

    fn announce(&mut self, out: &mut Out<'_>, key: u64) {
        let Some(call) = self.calls.get_mut(&key) else {
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
        let id = call.id.clone();
        // Dated at the first sign of the call, not when it was recognized.
        let ts = out.ts;
        out.ts = call.started_at;
        out.push(&id, body);
        out.ts = ts;
    }

    fn echo(&mut self, out: &mut Out<'_>, ext: &str, digits: &str) {
        if let Some(key) = self.call_of(ext, Leg::Talking) {
            let call = self.calls.get_mut(&key).expect("indexed call exists"); // ok: by_ext only holds live keys
            call.last_activity = out.ts;
            if let Some(rest) = digits.strip_prefix('/') {
                // FLASH: the caller is put on hold while the extension dials a transfer.
                call.transferring = Some(ext.to_owned());
                call.holds += 1;
                let id = call.id.clone();
                out.push(
                    &id,
                    EventBody::CallHeld(CallHeld {
                        extension: Some(ext.to_owned()),
                        held: true,
                    }),
                );
                let _ = rest;
            }
            return;
        }
        if let Some(key) = self.call_of(ext, Leg::Dialling) {
            let call = self.calls.get_mut(&key).expect("indexed call exists"); // ok: by_ext only holds live keys
            if !call.announced {
                let callee = call.callee.get_or_insert_with(String::new);
                let room = MAX_DIALLED_DIGITS.saturating_sub(callee.chars().count());
                let digits_in = digits.chars().count();
                callee.extend(digits.chars().take(room));
                if digits_in > room {
                    self.digits_dropped += (digits_in - room) as u64;
                }
            }
            call.last_activity = out.ts;
            return;
        }
        let direction = if is_internal(digits) {
            Direction::Internal
        } else {
            Direction::Outbound
        };
        let key = self.new_call(out.ts, direction);
        if let Some(call) = self.calls.get_mut(&key) {
            call.caller = Some(ext.to_owned());
            call.callee = Some(digits.to_owned());
        }
        self.attach(key, ext, Leg::Dialling, out.ts);
    }

    fn ring(
        &mut self,
        out: &mut Out<'_>,
        ext: &str,
        caller: &str,
        dialled: Option<&String>,
        held: Option<&str>,
    ) {
        let key = self
            .transfer_target_call(ext, held)
            .or_else(|| self.existing_leg(out.ts, ext, caller))
            .or_else(|| self.internal_dialler_call(caller))
            .or_else(|| self.group_call(out.ts, caller, dialled));
        let (key, fresh) = match key {
            Some(key) => (key, false),
            None => {
                let key = self.new_call(out.ts, Direction::Inbound);
                if let Some(call) = self.calls.get_mut(&key) {
                    call.caller = (caller != "_").then(|| caller.to_owned());
                    call.callee = dialled.cloned();
                    call.dialled = dialled.cloned();
                }
                (key, true)
            }
        };
        let already_ringing = self
            .calls
            .get(&key)
            .is_some_and(|c| c.legs.get(ext) == Some(&Leg::Ringing));
        self.attach(key, ext, Leg::Ringing, out.ts);
        if fresh || !self.calls.get(&key).is_some_and(|c| c.announced) {
            self.announce(out, key);
        }
        let ivr = self.config.ivr_map.get(ext).cloned();
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if already_ringing {
            return;
        }
        call.offers.ring(ext, out.ts);
        let id = call.id.clone();
        out.push(
            &id,
            EventBody::CallRinging(CallRinging::new(ext.to_owned(), call.caller.clone())),
        );
        if let Some(digit) = ivr {
            if call.ivr_digits.is_none() {
                call.ivr_digits = Some(digit.clone());
                out.push(&id, EventBody::CallDtmf(CallDtmf { digit }));
            }
        }
    }

    /// A RING whose held field names an extension on a call: that call is being transferred.
    fn transfer_target_call(&mut self, _ext: &str, held: Option<&str>) -> Option<u64> {
        let holder = normalize_ext(held?.trim_start_matches('/'));
        let key = self.call_of(holder, Leg::Talking)?;
        let call = self.calls.get_mut(&key)?;
        call.transferring.get_or_insert_with(|| holder.to_owned());
        Some(key)
    }

    /// The extension rings again for a call it is already ringing for (presentation update).
    fn existing_leg(&self, ts: i64, ext: &str, caller: &str) -> Option<u64> {
        let key = self.call_of(ext, Leg::Ringing)?;
        let call = self.calls.get(&key)?;
        (call.caller.as_deref().unwrap_or("_") == caller
            && ts - call.last_activity <= self.config.group_window_ms)
            .then_some(key)
    }

    /// `RING 109_ /101 ...`: extension 101 is dialling 109.
    fn internal_dialler_call(&self, caller: &str) -> Option<u64> {
        let dialler = normalize_ext(caller.strip_prefix('/')?);
        self.call_of(dialler, Leg::Dialling)
            .or_else(|| self.call_of(dialler, Leg::Talking))
    }

    /// An open outside call with the same caller and DDI, recently active or awaiting recall.
    fn group_call(&self, ts: i64, caller: &str, dialled: Option<&String>) -> Option<u64> {
        self.calls
            .iter()
            .filter(|(_, c)| {
                c.direction == Direction::Inbound
                    && c.caller.as_deref().unwrap_or("_") == caller
                    && (dialled.is_none() || c.dialled.as_ref() == dialled)
                    && (c.ending_since.is_some()
                        || ts - c.last_activity <= self.config.group_window_ms)
            })
            .max_by_key(|(_, c)| c.last_activity)
            .map(|(k, _)| *k)
    }

    fn conn(&mut self, out: &mut Out<'_>, ext: &str, number: &str) {
        if let Some(key) = self.call_of(ext, Leg::Ringing) {
            self.answer(out, key, ext);
        } else if let Some(key) = self.call_of(ext, Leg::Dialling) {
            self.announce(out, key);
            self.answer(out, key, ext);
        } else if self.call_of(ext, Leg::Talking).is_some() {
            // CONN may repeat (e.g. after a transfer); nothing new.
        } else {
            // A call that began before we were connected.
            self.orphans += 1;
            let direction = if is_internal(number) {
                Direction::Internal
            } else {
                Direction::Inbound
            };
            let key = self.new_call(out.ts, direction);
            if let Some(call) = self.calls.get_mut(&key) {
                call.caller = Some(number.to_owned());
                call.callee = Some(ext.to_owned());
            }
            self.attach(key, ext, Leg::Ringing, out.ts);
            self.announce(out, key);
            self.answer(out, key, ext);
        }
    }

    /// RECB (`begins`) or RECC on `ext`'s call: the call's recording id is set or cancelled.
    fn recording(&mut self, out: &mut Out<'_>, ext: &str, rec_id: &str, begins: bool) {
        let Some(key) = self
            .call_of(ext, Leg::Talking)
            .or_else(|| self.call_of(ext, Leg::Ringing))
        else {
            self.orphans += 1;
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if begins {
            call.recording = Some(rec_id.to_owned());
        } else if call.recording.as_deref() == Some(rec_id) {
            call.recording = None;
        }
        let id = call.id.clone();
        recording_event(out, &id, rec_id.to_owned(), begins);
    }

    /// AOC: the running gross charge of `ext`'s call; the last one is what the call cost. An
    /// amount that is not a decimal is dropped and counted with the orphans.
    fn charge(&mut self, ext: &str, amount: &str) {
        let key = [Leg::Talking, Leg::Dialling, Leg::Ringing]
            .into_iter()
            .find_map(|leg| self.call_of(ext, leg));
        let charge = Charge::parse(amount, &self.config.currency);
        match (key.and_then(|k| self.calls.get_mut(&k)), charge) {
            (Some(call), Some(charge)) => call.charge = Some(charge),
            _ => self.orphans += 1,
        }
    }

    /// RECE: the recording `rec_id` is ready on the PBX card at `ip` (fetched by FTP); a
    /// `call.recording` for its call, open or ended within the last [`MAX_RECORDED`].
    fn recording_ready(&mut self, out: &mut Out<'_>, rec_id: &str, ip: &str, path: &str) {
        let open = self
            .calls
            .values()
            .find(|c| c.recording.as_deref() == Some(rec_id))
            .map(|c| c.id.clone());
        let ended = || {
            self.recorded
                .iter()
                .find(|(id, _)| id == rec_id)
                .map(|(_, call)| call.clone())
        };
        let Some(call_id) = open.or_else(ended) else {
            self.orphans += 1;
            return;
        };
        let file = format!("ftp://{ip}/{}", path.trim_start_matches('/'));
        recording_event(out, &call_id, file, false);
    }

    fn answer(&mut self, out: &mut Out<'_>, key: u64, ext: &str) {
        let rang_here = self.call_of(ext, Leg::Ringing) == Some(key);
        self.attach(key, ext, Leg::Talking, out.ts);
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if rang_here {
            call.offers.answered(ext, out.ts);
        }
        call.transfer_unanswered = false;
        let first = call.answered_at.is_none();
        let after_transfer = call.transferring.as_deref().is_some_and(|t| t != ext);
        if first || after_transfer {
            call.answered_at.get_or_insert(out.ts);
            call.extension = Some(ext.to_owned());
            let id = call.id.clone();
            out.push(
                &id,
                EventBody::CallAnswered(CallAnswered {
                    extension: Some(ext.to_owned()),
                    agent: None,
                    by_person: true,
                }),
            );
        }
    }

    fn rel(&mut self, out: &mut Out<'_>, ext: &str, cause: RelCause) {
        let ringing_cause = matches!(cause.0, 16 | 17 | 35 | 39);
        let key = if ringing_cause {
            self.call_of(ext, Leg::Ringing)
                .or_else(|| self.call_of(ext, Leg::Talking))
        } else {
            self.call_of(ext, Leg::Talking)
                .or_else(|| self.call_of(ext, Leg::Ringing))
        }
        .or_else(|| self.call_of(ext, Leg::Dialling));
        let Some(key) = key else {
            self.orphans += 1;
            return;
        };
        // Dialling ends when the callee's side answers or releases: publish what was dialled.
        self.announce(out, key);
        let leg = self.detach(key, ext);
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        call.last_activity = out.ts;
        if leg != Some(Leg::Talking) {
            call.causes.push(cause);
        }
        if leg == Some(Leg::Ringing) {
            call.offers.stopped(ext, out.ts);
        }
        if call.transferring.as_deref() == Some(ext) {
            self.complete_transfer(out, key, ext);
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.legs.is_empty() {
            if call.transferring.is_some() || call.transfer_unanswered {
                // The transfer target never answered; the PBX may ring the transferring
                // extension again (recall). Wait a moment before ending.
                call.ending_since = Some(out.ts);
            } else {
                self.finish(out, key, out.ts, None, None);
            }
        }
    }

    /// The transferring extension released while the call goes on elsewhere.
    fn complete_transfer(&mut self, out: &mut Out<'_>, key: u64, from: &str) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some((to, leg)) = call.legs.iter().next().map(|(e, l)| (e.clone(), *l)) else {
            return; // Nobody left: a failed transfer, handled by the recall grace.
        };
        let kind = if leg == Leg::Talking {
            TransferKind::Attended
        } else {
            TransferKind::Blind
        };
        call.transferring = None;
        call.transfer_unanswered = leg != Leg::Talking;
        call.transfers.push(Transfer {
            kind,
            from: Some(from.to_owned()),
            to: Some(to.clone()),
            at_ms: out.ts,
        });
        let id = call.id.clone();
        out.push(
            &id,
            EventBody::CallTransferred(CallTransferred {
                transfer_kind: kind,
                from: Some(from.to_owned()),
                to: Some(to),
            }),
        );
    }

    fn finish(
        &mut self,
        out: &mut Out<'_>,
        key: u64,
        ended_at: i64,
        forced: Option<Disposition>,
        why: Option<&str>,
    ) {
        self.announce(out, key);
        let Some(call) = self.calls.remove(&key) else {
            return;
        };
        for ext in call.legs.keys() {
            if let Some(calls) = self.by_ext.get_mut(ext) {
                calls.retain(|k| *k != key);
                if calls.is_empty() {
                    self.by_ext.remove(ext);
                }
            }
        }
        let disposition =
            forced.unwrap_or_else(|| disposition(call.answered_at.is_some(), &call.causes));
        let hangup_cause = why.map(str::to_owned).or_else(|| {
            call.causes
                .last()
                .map(|c| format!("{} ({})", c.0, c.meaning()))
        });
        let record = CallRecord {
            call_id: call.id.clone(),
            direction: call.direction,
            caller: call.caller,
            callee: call.callee,
            extension: call.extension,
            agent: None,
            queue: None,
            started_at: call.started_at,
            pbx_answered_at: None,
            answered_at: call.answered_at,
            ended_at,
            duration_s: 0,
            billsec_s: 0,
            disposition,
            hangup_cause,
            ivr_digits: call.ivr_digits,
            recording: call.recording.clone(),
            transfers: call.transfers,
            holds: call.holds,
            caller_name: None,
            company: None,
            rang: call.offers.finish(ended_at),
            charge: call.charge,
            recording_url: None,
        }
        .with_durations();
        if let Some(rec_id) = call.recording {
            if self.recorded.len() == MAX_RECORDED {
                self.recorded.pop_front();
            }
            self.recorded.push_back((rec_id, call.id));
        }
        out.push_ended(record);
    }
}

fn recording_event(out: &mut Out<'_>, call_id: &str, file: String, active: bool) {
    out.push(
        call_id,
        EventBody::CallRecording(CallRecording { file, active }),
    );
}

/// An unanswered call's disposition from the causes its legs were released with.
fn disposition(answered: bool, causes: &[RelCause]) -> Disposition {
    if answered {
        return Disposition::Answered;
    }
    let has = |c: RelCause| causes.contains(&c);
    if has(RelCause::BUSY) {
        Disposition::Busy
    } else if has(RelCause::REJECTED) {
        Disposition::Rejected
    } else if has(RelCause::INVALID_NUMBER) || has(RelCause::OUT_OF_ORDER) {
        Disposition::Failed
    } else {
        Disposition::NoAnswer
    }
}

#[cfg(test)]
mod tests;
