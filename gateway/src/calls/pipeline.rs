//! The correlation stage as a task: takes a connector's events, runs them through the
//! protocol's correlator, names the caller of a ring and the other party of an ended call from
//! the contact directory, links a record's recording, and hands the resulting call events to
//! the store.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ami::AmiCorrelator;
use super::ari::AriCorrelator;
use super::ctip::CtipCorrelator;
use super::finesse::FinesseCorrelator;
use super::recording_link::RecordingLinks;
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

impl Correlator for FinesseCorrelator {
    type Message = crate::pbx::finesse::team::Team;
    fn on_message(&mut self, ts: i64, _raw: &str, team: &Self::Message) -> Vec<CallEvent> {
        self.on_team(ts, team)
    }
    fn tick(&mut self, _now: i64) -> Vec<CallEvent> {
        Vec::new()
    }
    fn link_lost(&mut self, _ts: i64) -> Vec<CallEvent> {
        Vec::new()
    }
}

/// Runs until the connector's channel closes or shutdown; ticks the correlator every second
/// so time-based decisions (dialling done, ring timeout, reaping) happen without traffic.
pub async fn run<C: Correlator>(
    mut correlator: C,
    mut events: mpsc::Receiver<PbxEvent<C::Message>>,
    appender: Appender,
    enrich: Enrichment,
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
        enrich.apply(&mut out);
        if !store(&appender, out).await {
            break;
        }
    }
}

/// What the pipeline adds to a correlator's events; each part optional.
#[derive(Default)]
pub struct Enrichment {
    /// Names callers on `call.ringing` (a screen pop before anyone answers) and the other
    /// party on `call.ended`.
    pub directory: Option<Directory>,
    /// Gives records a `recording_url`.
    pub recordings: Option<RecordingLinks>,
}

impl Enrichment {
    /// A lookup that fails leaves the event as it was: a name is never worth losing a call.
    pub fn apply(&self, events: &mut [CallEvent]) {
        for event in events {
            match &mut event.body {
                EventBody::CallEnded(record) => {
                    if let Some(links) = &self.recordings {
                        record.recording_url =
                            record.recording.as_deref().and_then(|f| links.link(f));
                    }
                    if let Err(e) = self.directory.as_ref().map_or(Ok(()), |d| d.enrich(record)) {
                        tracing::warn!(error = %e, call_id = %record.call_id, "contact lookup failed");
                    }
                }
                EventBody::CallRinging(ring) => self.name_caller(ring),
                _ => {}
            }
        }
    }

    fn name_caller(&self, ring: &mut super::CallRinging) {
        let (Some(directory), Some(caller)) = (&self.directory, &ring.caller) else {
            return;
        };
        match directory.lookup(caller) {
            Ok(Some(contact)) => {
                ring.caller_name = Some(contact.name);
                ring.company = contact.company;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "contact lookup failed"),
        }
    }
}

/// Submits events in order without waiting for their commit. False when the store is gone.
async fn store(appender: &Appender, events: Vec<CallEvent>) -> bool {
    for event in events {
        // At debug: `journalctl CALL_ID=…` then shows a call's every event.
        tracing::debug!(call_id = event.call_id.as_deref(), pbx = %event.pbx, kind = event.body.kind(), "call event");
        if let Err(e) = appender.submit(event).await {
            tracing::error!(error = %e, "call event not stored: the store has stopped");
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallRecord, CallRinging, Source};
    use crate::contacts::ContactInput;

    fn event(body: EventBody) -> CallEvent {
        CallEvent {
            ts_ms: 1,
            source: Source::Ami,
            pbx: "pbx".into(),
            call_id: Some("c1".into()),
            raw: None,
            body,
        }
    }

    /// The CRM's screen pop: the ring already names the caller from the directory (not only
    /// the ended record), and a recorded call's record links its file.
    #[test]
    fn rings_are_named_and_records_linked() {
        let dir = tempfile::tempdir().unwrap();
        let plan = crate::numbers::NumberPlan {
            country_code: "48".into(),
            outside_line_prefix: None,
            trunk_prefix: None,
            min_national_digits: 9,
        };
        let directory = Directory::open(&crate::store::migrated_db(dir.path()), plan).unwrap();
        let contact = ContactInput {
            number: "+48 601 234 567".into(),
            name: "Jan Kowalski".into(),
            company: Some("ACME".into()),
            note: None,
        };
        directory.upsert(&contact, "api", 0).unwrap();
        let enrich = Enrichment {
            directory: Some(directory),
            recordings: Some(RecordingLinks::new(
                "https://rec.example.com/m",
                "/var/spool/asterisk/monitor",
            )),
        };
        let mut record = CallRecord::example("c1", 0);
        record.caller = Some("+48601234567".into());
        record.recording = Some("/var/spool/asterisk/monitor/in-1.wav".into());
        let mut events = vec![
            event(EventBody::CallRinging(CallRinging::new(
                "201".into(),
                Some("601234567".into()),
            ))),
            event(EventBody::CallRinging(CallRinging::new(
                "202".into(),
                Some("600".into()),
            ))),
            event(EventBody::CallEnded(Box::new(record))),
        ];
        enrich.apply(&mut events);
        let EventBody::CallRinging(known) = &events[0].body else {
            panic!()
        };
        assert_eq!(
            (known.caller_name.as_deref(), known.company.as_deref()),
            (Some("Jan Kowalski"), Some("ACME"))
        );
        let EventBody::CallRinging(unknown) = &events[1].body else {
            panic!()
        };
        assert_eq!(unknown.caller_name, None);
        let EventBody::CallEnded(record) = &events[2].body else {
            panic!()
        };
        assert_eq!(record.caller_name.as_deref(), Some("Jan Kowalski"));
        assert_eq!(
            record.recording_url.as_deref(),
            Some("https://rec.example.com/m/in-1.wav")
        );
        Enrichment::default().apply(&mut events);
    }
}
