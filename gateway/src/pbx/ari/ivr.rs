//! The built-in Stasis IVR: for a site without an IVR of its own, a call the dialplan sends
//! to `Stasis(app,ivr)` is answered, hears the prompt, and after one DTMF digit (or a silence
//! after the prompt) goes on in the dialplan with the digit in a channel variable. The
//! digit itself reaches the call record through the correlator like any DTMF, so the
//! `ivr_digit` SMS rules fire on it.
//!
//! The session hands every event to [`Ivr::offer`]; a dispatcher task gives each caller in
//! the IVR its own small task (one REST request at a time, in order) and routes the
//! caller's events to it. Whatever goes wrong, the caller is not left in the application:
//! a failed step still tries to continue in the dialplan, and a caller who hung up is let go.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::IvrConfig;
use super::model::{AriEvent, Channel};
use super::rest::{AriError, AriRest};
use crate::link::Links;

/// How long a prompt may play before the digit timer runs anyway (Asterisk's
/// `PlaybackFinished` lost with the link, say).
const PROMPT_AT_MOST: Duration = Duration::from_secs(120);

/// How one caller's visit to the IVR ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Visit {
    /// Went on in the dialplan with this digit.
    Chose(String),
    /// Went on in the dialplan without a digit (silence after the prompt).
    NoDigit,
    /// Hung up (or was taken away) before going on.
    Left,
}

impl Visit {
    pub fn name(&self) -> &'static str {
        match self {
            Visit::Chose(_) => "chose",
            Visit::NoDigit => "no-digit",
            Visit::Left => "left",
        }
    }
}

/// The session's handle: events in, never blocking the session.
#[derive(Clone)]
pub(crate) struct Ivr {
    events: mpsc::Sender<AriEvent>,
    /// The first Stasis() argument the IVR answers to.
    arg: String,
}

impl Ivr {
    /// Starts the dispatcher; it stops with `shutdown`. Each visit is counted on the PBX's
    /// link as `pbx:NAME:ivr:chose`, `:no-digit` or `:left`.
    pub fn start(
        pbx: &str,
        settings: IvrConfig,
        rest: AriRest,
        links: Links,
        shutdown: CancellationToken,
    ) -> Ivr {
        let (tx, rx) = mpsc::channel(256);
        let arg = settings.arg.clone();
        let dispatcher = Dispatcher {
            pbx: pbx.to_owned(),
            settings,
            rest,
            callers: HashMap::new(),
            links,
        };
        tokio::spawn(dispatcher.run(rx, shutdown));
        Ivr { events: tx, arg }
    }

    /// Whether a channel entering the application with these arguments is the IVR's.
    pub fn takes(&self, args: &[String]) -> bool {
        args.first() == Some(&self.arg)
    }

    /// Hands an event to the IVR. The IVR is a side path: if it falls behind, the event is
    /// dropped for it (its callers' timers still move them on), never held up for the
    /// correlator.
    pub(crate) fn offer(&self, event: &AriEvent) {
        let relevant = matches!(
            event,
            AriEvent::StasisStart { .. }
                | AriEvent::StasisEnd { .. }
                | AriEvent::ChannelDestroyed { .. }
                | AriEvent::ChannelHangupRequest { .. }
                | AriEvent::ChannelDtmfReceived { .. }
                | AriEvent::PlaybackFinished { .. }
        );
        if relevant && self.events.try_send(event.clone()).is_err() {
            tracing::warn!("built-in IVR busy: an event was not seen by it");
        }
    }
}

struct Dispatcher {
    pbx: String,
    settings: IvrConfig,
    rest: AriRest,
    /// Callers in the IVR by channel id.
    callers: HashMap<String, mpsc::UnboundedSender<AriEvent>>,
    links: Links,
}

impl Dispatcher {
    async fn run(mut self, mut events: mpsc::Receiver<AriEvent>, shutdown: CancellationToken) {
        loop {
            let event = tokio::select! {
                e = events.recv() => match e {
                    Some(e) => e,
                    None => return,
                },
                _ = shutdown.cancelled() => return,
            };
            self.dispatch(event);
        }
    }

    fn dispatch(&mut self, event: AriEvent) {
        if let AriEvent::StasisStart { args, channel, .. } = &event {
            if args.first() == Some(&self.settings.arg) {
                self.admit(channel.clone());
            }
            return;
        }
        let Some(id) = caller_of(&event) else { return };
        let Some(caller) = self.callers.get(&id) else {
            return;
        };
        let last = matches!(
            event,
            AriEvent::StasisEnd { .. } | AriEvent::ChannelDestroyed { .. }
        );
        if caller.send(event).is_err() || last {
            self.callers.remove(&id);
        }
    }

    fn admit(&mut self, channel: Channel) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.callers.insert(channel.id.clone(), tx);
        let (pbx, settings, rest, links) = (
            self.pbx.clone(),
            self.settings.clone(),
            self.rest.clone(),
            self.links.clone(),
        );
        tokio::spawn(async move {
            let visit = visit(&rest, &settings, &channel, rx).await;
            tracing::info!(pbx = %pbx, channel = %channel.id, ?visit, "built-in IVR");
            links.count(&format!("pbx:{pbx}:ivr:{}", visit.name()));
        });
    }
}

/// The channel an event concerns, for routing (a playback by its target).
fn caller_of(event: &AriEvent) -> Option<String> {
    match event {
        AriEvent::PlaybackFinished { playback, .. } => playback
            .target_uri
            .strip_prefix("channel:")
            .map(str::to_owned),
        _ => event.channel().map(|c| c.id.clone()),
    }
}

/// One caller through the IVR.
async fn visit(
    rest: &AriRest,
    settings: &IvrConfig,
    channel: &Channel,
    mut events: mpsc::UnboundedReceiver<AriEvent>,
) -> Visit {
    let playback = format!("pbxgw-ivr-{}", channel.id);
    let greeted = greet(rest, settings, channel, &playback).await;
    let digit = match greeted {
        Err(e) if e.is_gone() => return Visit::Left,
        Err(e) => {
            tracing::warn!(channel = %channel.id, error = %e, "built-in IVR could not play the prompt");
            None
        }
        Ok(()) => match listen(settings, &playback, &mut events).await {
            Listened::Digit(d) => {
                if let Err(e) = rest.stop_playback(&playback).await {
                    if !e.is_gone() {
                        tracing::debug!(error = %e, "prompt not stopped");
                    }
                }
                Some(d)
            }
            Listened::Silence => None,
            Listened::Left => return Visit::Left,
        },
    };
    match go_on(rest, settings, &channel.id, digit.as_deref()).await {
        Ok(()) => digit.map_or(Visit::NoDigit, Visit::Chose),
        Err(e) if e.is_gone() => Visit::Left,
        Err(e) => {
            tracing::warn!(channel = %channel.id, error = %e, "built-in IVR could not hand the call back to the dialplan");
            Visit::Left
        }
    }
}

async fn greet(
    rest: &AriRest,
    settings: &IvrConfig,
    channel: &Channel,
    playback: &str,
) -> Result<(), AriError> {
    if channel.state != "Up" {
        rest.answer(&channel.id).await?;
    }
    rest.play_as(&channel.id, playback, &settings.prompt).await
}

enum Listened {
    Digit(String),
    Silence,
    Left,
}

/// Waits for the first digit: while the prompt plays (it may be interrupted) and for
/// `timeout` after it.
async fn listen(
    settings: &IvrConfig,
    playback: &str,
    events: &mut mpsc::UnboundedReceiver<AriEvent>,
) -> Listened {
    let mut deadline = Instant::now() + PROMPT_AT_MOST;
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = tokio::time::sleep_until(deadline) => return Listened::Silence,
        };
        match event {
            None
            | Some(AriEvent::StasisEnd { .. })
            | Some(AriEvent::ChannelDestroyed { .. })
            | Some(AriEvent::ChannelHangupRequest { .. }) => return Listened::Left,
            Some(AriEvent::ChannelDtmfReceived { digit, .. }) => return Listened::Digit(digit),
            Some(AriEvent::PlaybackFinished { playback: p, .. }) if p.id == playback => {
                deadline = Instant::now() + Duration::from_secs(settings.timeout_s);
            }
            Some(_) => {}
        }
    }
}

/// Sets the digit (when there is one) and continues in the dialplan.
async fn go_on(
    rest: &AriRest,
    settings: &IvrConfig,
    channel: &str,
    digit: Option<&str>,
) -> Result<(), AriError> {
    if let Some(d) = digit {
        rest.set_variable(channel, &settings.variable, d).await?;
    }
    rest.continue_in_dialplan(
        channel,
        &settings.context,
        &settings.extension,
        settings.priority,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pbx::ari::model::{decode, Decoded};

    fn event(json: &str) -> AriEvent {
        match decode(json) {
            Ok(Decoded::Event(e)) => *e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn playback_events_are_routed_by_their_target_channel() {
        let finished = event(
            r#"{"type":"PlaybackFinished","timestamp":"2026-11-22T03:09:57.984+0000","playback":{"id":"pbxgw-ivr-1.2","target_uri":"channel:1.2","state":"done"}}"#,
        );
        assert_eq!(caller_of(&finished).as_deref(), Some("1.2"));
        let bridge_play = event(
            r#"{"type":"PlaybackFinished","timestamp":"2026-11-22T03:09:57.984+0000","playback":{"id":"x","target_uri":"bridge:b1","state":"done"}}"#,
        );
        assert_eq!(caller_of(&bridge_play), None);
    }

    #[test]
    fn defaults_name_the_stasis_argument_and_the_variable() {
        let config: IvrConfig = toml::from_str(
            r#"prompt = "sound:welcome"
context = "inbound"
extension = "queue""#,
        )
        .expect("parses");
        assert_eq!(
            (
                config.arg.as_str(),
                config.variable.as_str(),
                config.priority,
                config.timeout_s
            ),
            ("ivr", "IVR_DIGIT", 1, 5)
        );
    }
}
