//! The correlation stage as a task: takes a connector's events, runs them through the
//! protocol's correlator, and hands the resulting call events to the store.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ctip::CtipCorrelator;
use super::CallEvent;
use crate::pbx::ctip::codec::Message;
use crate::pbx::PbxEvent;
use crate::store::Appender;

/// Runs until the connector's channel closes or shutdown; ticks the correlator every second
/// so time-based decisions (dialling done, ring timeout) happen without traffic.
pub async fn run_ctip(
    mut correlator: CtipCorrelator,
    mut events: mpsc::Receiver<PbxEvent<Message>>,
    appender: Appender,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let out = tokio::select! {
            event = events.recv() => match event {
                Some(PbxEvent::Message { ts_ms, raw, message }) => {
                    let mut out = correlator.tick(ts_ms);
                    out.extend(correlator.on_message(ts_ms, &raw, &message));
                    out
                }
                Some(PbxEvent::Lost { ts_ms, .. }) => correlator.link_lost(ts_ms),
                Some(PbxEvent::Up | PbxEvent::Resync { .. }) => Vec::new(),
                None => break,
            },
            _ = tick.tick() => correlator.tick(crate::store::now_ms()),
            _ = shutdown.cancelled() => break,
        };
        if !store(&appender, out).await {
            break;
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
