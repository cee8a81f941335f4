//! Control through CTIP: click-to-call, hang up, reject/deflect, status request. Commands
//! are answered in order (spec p.4), so the answers are matched to a FIFO of pending requests;
//! the session's own liveness probes go through the same FIFO.
//!
//! Click-to-call (spec p.11-13): `PICK ext` lifts a system phone's speaker; the PBX then sends
//! `DRDY ext` (dial tone) and we send `DIAL ext number`. Analog and SIP phones answer PICK
//! with `NA 24` ("use DIAL"): then `DIAL` goes at once and the PBX rings the phone first.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::codec::{normalize_ext, Message, NaCode, StatFlags};
use super::session::{Connection, CtipError};

/// How long to wait for the dial tone after PICK.
const DRDY_WITHIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtipCommand {
    /// Click-to-call: ring `ext`, then dial `number` from it.
    Dial { ext: String, number: String },
    /// Hang up a system phone's call (speakerphone).
    Hangup { ext: String },
    /// Reject a ringing call, or deflect it to `target`.
    Reject { ext: String, target: Option<String> },
    /// Ask for the extension's STAT flags.
    Request { ext: String },
}

/// The PBX's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandAnswer {
    Done,
    Stat(StatFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the PBX refused: NA {} ({})", .0.map_or(0, |c| c.0), .0.map_or("no code", |c| c.meaning()))]
    Refused(Option<NaCode>),
    #[error("the PBX answered ERROR (bad syntax)")]
    Syntax,
    #[error("no answer from the PBX in time")]
    Timeout,
    #[error("the PBX link is not up")]
    NotConnected,
    #[error("invalid command: {0}")]
    Invalid(&'static str),
}

pub(crate) type CommandResult = Result<CommandAnswer, CommandError>;

pub struct CommandRequest {
    pub command: CtipCommand,
    pub reply: oneshot::Sender<CommandResult>,
}

/// The handle the rest of the gateway uses to command one CTIP PBX.
#[derive(Clone)]
pub struct CtipControl {
    tx: mpsc::Sender<CommandRequest>,
}

impl CtipControl {
    pub fn channel() -> (CtipControl, mpsc::Receiver<CommandRequest>) {
        let (tx, rx) = mpsc::channel(32);
        (CtipControl { tx }, rx)
    }

    pub async fn send(&self, command: CtipCommand) -> CommandResult {
        validate(&command)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(CommandRequest { command, reply })
            .await
            .map_err(|_| CommandError::NotConnected)?;
        tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .map_err(|_| CommandError::Timeout)?
            .map_err(|_| CommandError::NotConnected)?
    }
}

/// Fields go on the wire space-separated: refuse anything that would break the framing.
fn validate(command: &CtipCommand) -> Result<(), CommandError> {
    let ext_ok = |e: &str| {
        !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let number_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 16
            && n.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | '/'))
    };
    let (ext, number) = match command {
        CtipCommand::Dial { ext, number } => (ext, Some(number)),
        CtipCommand::Reject { ext, target } => (ext, target.as_ref()),
        CtipCommand::Hangup { ext } | CtipCommand::Request { ext } => (ext, None),
    };
    if !ext_ok(ext) {
        return Err(CommandError::Invalid(
            "extension: letters, digits or '_', up to 8",
        ));
    }
    if number.is_some_and(|n| !number_ok(n)) {
        return Err(CommandError::Invalid("number: up to 16 of 0-9 * # /"));
    }
    Ok(())
}

/// The wire form of an extension: padded with `_` to four characters.
fn pad(ext: &str) -> String {
    format!("{ext:_<4}")
}

enum Pending {
    Probe,
    Pick {
        ext: String,
        number: String,
        reply: oneshot::Sender<CommandResult>,
    },
    Final(oneshot::Sender<CommandResult>),
    Stat {
        ext: String,
        reply: oneshot::Sender<CommandResult>,
    },
}

/// Requests in flight on one connection.
#[derive(Default)]
pub(crate) struct Control {
    pending: VecDeque<(Instant, Pending)>,
    /// PICK answered OK: waiting for the dial tone on that extension.
    dial_tone: HashMap<String, (Instant, String, oneshot::Sender<CommandResult>)>,
}

impl Control {
    pub(crate) async fn probe(&mut self, c: &mut Connection, probe: &str) -> Result<(), CtipError> {
        c.send(probe).await?;
        self.pending.push_back((Instant::now(), Pending::Probe));
        Ok(())
    }

    pub(crate) async fn request(
        &mut self,
        c: &mut Connection,
        req: CommandRequest,
    ) -> Result<(), CtipError> {
        let now = Instant::now();
        match req.command {
            CtipCommand::Dial { ext, number } => {
                c.send(&format!("PICK {}", pad(&ext))).await?;
                self.pending.push_back((
                    now,
                    Pending::Pick {
                        ext,
                        number,
                        reply: req.reply,
                    },
                ));
            }
            CtipCommand::Hangup { ext } => {
                c.send(&format!("HANG {}", pad(&ext))).await?;
                self.pending.push_back((now, Pending::Final(req.reply)));
            }
            CtipCommand::Reject { ext, target } => {
                let line = match target {
                    Some(t) => format!("REJ {} {t}", pad(&ext)),
                    None => format!("REJ {}", pad(&ext)),
                };
                c.send(&line).await?;
                self.pending.push_back((now, Pending::Final(req.reply)));
            }
            CtipCommand::Request { ext } => {
                c.send(&format!("RQST {}", pad(&ext))).await?;
                self.pending.push_back((
                    now,
                    Pending::Stat {
                        ext,
                        reply: req.reply,
                    },
                ));
            }
        }
        Ok(())
    }

    /// OK / NA / ERROR: the answer to the oldest pending request. The round trip when it
    /// answered a probe.
    pub(crate) async fn answer(
        &mut self,
        c: &mut Connection,
        msg: &Message,
    ) -> Result<Option<Duration>, CtipError> {
        let Some((sent, pending)) = self.pending.pop_front() else {
            tracing::debug!(answer = msg.kind(), "CTIP answer with no request pending");
            return Ok(None);
        };
        let failure = match msg {
            Message::Na { code } => Some(CommandError::Refused(*code)),
            Message::Error => Some(CommandError::Syntax),
            _ => None,
        };
        match (pending, failure) {
            (Pending::Probe, _) => return Ok(Some(sent.elapsed())),
            (Pending::Pick { ext, number, reply }, None) => {
                self.dial_tone.insert(
                    normalize_ext(&ext).to_owned(),
                    (Instant::now(), number, reply),
                );
            }
            (
                Pending::Pick { ext, number, reply },
                Some(CommandError::Refused(Some(NaCode(24)))),
            ) => {
                // Analog or SIP phone: DIAL directly, the PBX rings the phone first.
                c.send(&format!("DIAL {} {number}", pad(&ext))).await?;
                self.pending
                    .push_back((Instant::now(), Pending::Final(reply)));
            }
            (
                Pending::Pick { reply, .. } | Pending::Final(reply) | Pending::Stat { reply, .. },
                Some(e),
            ) => {
                let _ = reply.send(Err(e));
            }
            (Pending::Final(reply), None) => {
                let _ = reply.send(Ok(CommandAnswer::Done));
            }
            (Pending::Stat { reply, .. }, None) => {
                // RQST is answered with STAT, not OK; treat a bare OK as done.
                let _ = reply.send(Ok(CommandAnswer::Done));
            }
        }
        Ok(None)
    }

    /// Events that complete a request: DRDY (dial now), STAT (answer to RQST, and to the
    /// RQST probe of a PBX without WHO). The round trip when it answered a probe.
    pub(crate) async fn event(
        &mut self,
        c: &mut Connection,
        msg: &Message,
    ) -> Result<Option<Duration>, CtipError> {
        match msg {
            Message::Drdy { ext } => {
                if let Some((_, number, reply)) = self.dial_tone.remove(normalize_ext(ext)) {
                    c.send(&format!("DIAL {} {number}", pad(normalize_ext(ext))))
                        .await?;
                    self.pending
                        .push_back((Instant::now(), Pending::Final(reply)));
                }
                Ok(None)
            }
            Message::Stat { .. } if matches!(self.pending.front(), Some((_, Pending::Probe))) => {
                Ok(self.pending.pop_front().map(|(sent, _)| sent.elapsed()))
            }
            Message::Stat { ext, flags } => {
                let asked = matches!(self.pending.front(), Some((_, Pending::Stat { ext: e, .. })) if normalize_ext(e) == normalize_ext(ext));
                if asked {
                    if let Some((_, Pending::Stat { reply, .. })) = self.pending.pop_front() {
                        let _ = reply.send(Ok(CommandAnswer::Stat(*flags)));
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Fails requests that waited past `limit`; true if the link must be considered dead
    /// (a probe went unanswered).
    pub(crate) fn expire(&mut self, limit: Duration) -> bool {
        let mut dead = false;
        while let Some((at, _)) = self.pending.front() {
            if at.elapsed() < limit {
                break;
            }
            match self.pending.pop_front() {
                Some((_, Pending::Probe)) => dead = true,
                Some((
                    _,
                    Pending::Pick { reply, .. }
                    | Pending::Final(reply)
                    | Pending::Stat { reply, .. },
                )) => {
                    let _ = reply.send(Err(CommandError::Timeout));
                }
                None => {}
            }
        }
        let late: Vec<String> = self
            .dial_tone
            .iter()
            .filter(|(_, (at, _, _))| at.elapsed() >= DRDY_WITHIN)
            .map(|(ext, _)| ext.clone())
            .collect();
        for ext in late {
            if let Some((_, _, reply)) = self.dial_tone.remove(&ext) {
                let _ = reply.send(Err(CommandError::Timeout));
            }
        }
        dead
    }

    /// When the next deadline falls, if anything is pending.
    pub(crate) fn next_deadline(&self, limit: Duration) -> Option<Instant> {
        let answer = self.pending.front().map(|(at, _)| *at + limit);
        let tone = self
            .dial_tone
            .values()
            .map(|(at, _, _)| *at + DRDY_WITHIN)
            .min();
        answer.into_iter().chain(tone).min()
    }
}

/// Refuses requests while the link is down.
pub(crate) fn refuse(req: CommandRequest) {
    let _ = req.reply.send(Err(CommandError::NotConnected));
}

impl From<CommandError> for crate::pbx::control::ControlFailure {
    fn from(e: CommandError) -> Self {
        use crate::pbx::control::ControlFailure as F;
        match e {
            e @ (CommandError::Refused(_) | CommandError::Syntax) => F::Refused(e.to_string()),
            CommandError::Timeout => F::Timeout,
            CommandError::NotConnected => F::NotConnected("the PBX link is not up"),
            CommandError::Invalid(m) => F::Invalid(m.to_owned()),
        }
    }
}

impl CtipControl {
    async fn done(&self, command: CtipCommand) -> crate::pbx::control::ControlResult {
        let answer = self.send(command).await?;
        Ok(crate::pbx::control::Done {
            message: Some(format!("{answer:?}")),
            channel: None,
            recording: None,
        })
    }
}

impl crate::pbx::control::CallControl for CtipControl {
    async fn originate(
        &self,
        extension: &str,
        number: &str,
        _caller_id: Option<&str>,
    ) -> crate::pbx::control::ControlResult {
        self.done(CtipCommand::Dial {
            ext: extension.to_owned(),
            number: number.to_owned(),
        })
        .await
    }

    async fn hangup(
        &self,
        call: &crate::pbx::control::CallRef,
    ) -> crate::pbx::control::ControlResult {
        let ext = call.extension()?.to_owned();
        self.done(CtipCommand::Hangup { ext }).await
    }
}
