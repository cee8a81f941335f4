//! The correlation stage as a task: takes a connector's events, runs them through the
//! protocol's correlator, names the other party of ended calls from the contact directory,
//! and hands the resulting call events to the store.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ami::AmiCorrelator;
use super::ari::AriCorrelator;
use super::ctip::CtipCorrelator;
use super::{CallEvent, EventBody};
use crate::contacts::Directory;
use crate::pbx::PbxEvent;
use crate::store::Appender;

/// What the pipeline needs from a protocol's correlator.
pub trait Correlator: Send + 'static {
    type Message: Send + 'static;
    fn on_message(&mut self, ts: i64, raw: &str, message: &Self::Message) -> Vec<CallEvent>;
    fn tick(&mut self, now: i64) -> Vec<CallEvent>;
    fn link_lost(&mut self, ts: i64) -> Vec<CallEvent>;
    /// The PBX's live picture after a (re)connect; protocols without one ignore it.
    fn resync(&mut self, _asked: i64, _ts: i64, _items: &[Self::Message]) -> Vec<CallEvent> {
        Vec::new()
    }
}

impl Correlator for CtipCorrelator {
    type Message = crate::pbx::ctip::codec::Message;
    fn on_message(&mut self, ts: i64, raw: &str, message: &Self::Message) -> Vec<CallEvent> {
        CtipCorrelator::on_message(self, ts, raw, message)
    }
    fn tick(&mut self, now: i64) -> Vec<CallEvent> {
        CtipCorrelator::tick(self, now)
    }
    fn link_lost(&mut self, ts: i64) -> Vec<CallEvent> {
        CtipCorrelator::link_lost(self, ts)
    }
}

impl Correlator for AmiCorrelator {
    type Message = crate::pbx::ami::codec::Message;
    fn on_message(&mut self, ts: i64, raw: &str, message: &Self::Message) -> Vec<CallEvent> {
        AmiCorrelator::on_message(self, ts, raw, message)
    }
    fn tick(&mut self, now: i64) -> Vec<CallEvent> {
        AmiCorrelator::tick(self, now)
    }
    fn link_lost(&mut self, ts: i64) -> Vec<CallEvent> {
        AmiCorrelator::link_lost(self, ts);
        Vec::new()
    }
    fn resync(&mut self, asked: i64, ts: i64, items: &[Self::Message]) -> Vec<CallEvent> {
        AmiCorrelator::resync(self, asked, ts, items)
    }
}

impl Correlator for AriCorrelator {
    type Message = crate::pbx::ari::model::AriEvent;
    fn on_message(&mut self, ts: i64, raw: &str, message: &Self::Message) -> Vec<CallEvent> {
        AriCorrelator::on_message(self, ts, raw, message)
    }
    fn tick(&mut self, now: i64) -> Vec<CallEvent> {
        AriCorrelator::tick(self, now)
    }
    fn link_lost(&mut self, ts: i64) -> Vec<CallEvent> {
        AriCorrelator::link_lost(self, ts);
        Vec::new()
    }
    fn resync(&mut self, asked: i64, ts: i64, items: &[Self::Message]) -> Vec<CallEvent> {
        AriCorrelator::resync(self, asked, ts, items)
    }
}

/// Runs until the connector's channel closes or shutdown; ticks the correlator every second
/// so time-based decisions (dialling done, ring timeout, reaping) happen without traffic.
pub async fn run<C: Correlator>(
    mut correlator: C,
    mut events: mpsc::Receiver<PbxEvent<C::Message>>,
    appender: Appender,
    directory: Option<Directory>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut out = tokio::select! {
            event = events.recv() => match event {
                Some(PbxEvent::Message { ts_ms, raw, message }) => {
                    let mut out = correlator.tick(ts_ms);
                    out.extend(correlator.on_message(ts_ms, &raw, &message));
                    out
                }
                Some(PbxEvent::Lost { ts_ms, .. }) => correlator.link_lost(ts_ms),
                Some(PbxEvent::Resync { asked_ms, ts_ms, items }) => correlator.resync(asked_ms, ts_ms, &items),
                Some(PbxEvent::Up) => Vec::new(),
                None => break,
            },
            _ = tick.tick() => correlator.tick(crate::clock::now_ms()),
            _ = shutdown.cancelled() => break,
        };
        if let Some(directory) = &directory {
            name_parties(directory, &mut out);
        }
        if !store(&appender, out).await {
            break;
        }
    }
}

/// Sets `caller_name` / `company` of each ended call's record from the directory. A lookup
/// that fails leaves the record as it was: a name is never worth losing the call.
fn name_parties(directory: &Directory, events: &mut [CallEvent]) {
    for event in events {
        if let EventBody::CallEnded(record) = &mut event.body {
            if let Err(e) = directory.enrich(record) {
                tracing::warn!(error = %e, call = %record.call_id, "contact lookup failed");
            }
        }
    }
}

/// Submits events in order without waiting for their commit. False when the store is gone.
async fn store(appender: &Appender, events: Vec<CallEvent>) -> bool {
    for event in events {
        if let Err(e) = appender.submit(event).await {
            tracing::error!(error = %e, "call event not stored: the store has stopped");
            return false;
        }
    }
    true
}
