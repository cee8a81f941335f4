//! The CTIP session: one TCP connection to the PBX, `WHO` then `LOGA <pin>`, events until the
//! link drops, then reconnect with capped, jittered backoff.
//!
//! * A PBX older than CTIP v14 does not answer `WHO`: after a short wait we log in anyway.
//! * A refused login (`NA 11` wrong key, `NA 19` CTI disabled, `NA 20` too many wrong keys,
//!   or `ERROR`) is an installer-fixable state, shown as such, and retried no more often than
//!   once a minute so a wrong PIN cannot get the PBX to block logins.
//! * Liveness: after `probe_after` without a byte (bare `t` test frames count), a `WHO` (or
//!   `RQST` on a PBX without WHO) is sent; no answer within the spec's 5 s drops the link.
//! * The PIN is never logged: the LOGA line is written to the socket only.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::codec::{frame_command, parse, CodePage, Frame, FrameDecoder, Message, NaCode};
use super::control::{self, CommandRequest, Control};
use crate::config::Secret;
use crate::link::LinkState;
use crate::link::Links;
use crate::pbx::PbxEvent;

/// The spec: the PBX answers any request within 5 s.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How long to wait for a `WHO` answer before assuming a pre-v14 PBX.
const WHO_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum CtipError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the PBX refused the login: NA {} ({})", code.map_or(0, |c| c.0), code.map_or("no code", |c| c.meaning()))]
    LoginRefused { code: Option<NaCode> },
    #[error("the PBX answered the login with ERROR (bad syntax; check the pin: digits or '_')")]
    LoginError,
    #[error("no answer to {0} within 5 s")]
    NoAnswer(&'static str),
    #[error("the PBX closed the connection")]
    Closed,
    #[error("the link went silent and did not answer a probe")]
    Silent,
    #[error("shutting down")]
    Shutdown,
}

impl crate::link::LinkError for CtipError {
    fn needs_installer(&self) -> bool {
        matches!(self, CtipError::LoginRefused { .. } | CtipError::LoginError)
    }
}

/// Who the PBX said it is (`WHO` answer), for logs and `pbxgw check`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub who: Option<String>,
    pub login: String,
}

#[derive(Clone)]
pub struct CtipSettings {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub pin: Secret,
    pub code_page: CodePage,
    pub probe_after: Duration,
}

impl CtipSettings {
    /// A checked block's settings (`pbxgw check` refuses a missing PIN or an unknown code page).
    pub fn from_config(pbx: &super::config::CtipConfig) -> CtipSettings {
        CtipSettings {
            name: pbx.name.clone(),
            host: pbx.host.clone(),
            port: pbx.port,
            pin: pbx.pin.clone().unwrap_or_else(|| Secret::new("")),
            code_page: CodePage::by_number(pbx.codepage).unwrap_or_else(CodePage::ibm852),
            probe_after: Duration::from_secs(pbx.probe_after_s),
        }
    }
}

/// A logged-in connection.
pub struct Connection {
    stream: TcpStream,
    decoder: FrameDecoder,
    code_page: CodePage,
    pub identity: Identity,
}

impl Connection {
    /// Connects and logs in to a GSM module with `LOGI Gnnn <SIM PIN>` (spec p.30).
    pub(crate) async fn open_gsm(
        s: &CtipSettings,
        module: &str,
        sim_pin: &Secret,
    ) -> Result<Connection, CtipError> {
        let mut c = Connection::connect(s).await?;
        c.send_secret(&format!("LOGI {module}"), sim_pin).await?;
        c.login_answer().await?;
        Ok(c)
    }

    async fn connect(s: &CtipSettings) -> Result<Connection, CtipError> {
        let stream = crate::pbx::connect(&s.host, s.port, ANSWER_WITHIN)
            .await
            .map_err(|(addr, source)| CtipError::Connect { addr, source })?;
        Ok(Connection {
            stream,
            decoder: FrameDecoder::new(),
            code_page: s.code_page,
            identity: Identity::default(),
        })
    }

    /// The answer to a login: OK (identity kept), NA or ERROR (typed refusal).
    async fn login_answer(&mut self) -> Result<(), CtipError> {
        match self.answer(ANSWER_WITHIN).await {
            Ok(Message::Ok { fields }) => {
                self.identity.login = fields.join(" ");
                Ok(())
            }
            Ok(Message::Na { code }) => Err(CtipError::LoginRefused { code }),
            Ok(_) => Err(CtipError::LoginError),
            Err(CtipError::NoAnswer(_)) => Err(CtipError::NoAnswer("the login")),
            Err(e) => Err(e),
        }
    }

    /// Connects and logs in to every extension: `WHO`, then `LOGA <pin>`.
    pub async fn open(s: &CtipSettings) -> Result<Connection, CtipError> {
        let mut c = Connection::connect(s).await?;
        c.send("WHO").await?;
        c.identity.who = match c.answer(WHO_WAIT).await {
            Ok(Message::Ok { fields }) => Some(fields.join(" ")),
            Ok(_) | Err(CtipError::NoAnswer(_)) => None,
            Err(e) => return Err(e),
        };
        c.send_secret("LOGA", &s.pin).await?;
        c.login_answer().await?;
        Ok(c)
    }

    pub(crate) async fn send(&mut self, command: &str) -> Result<(), CtipError> {
        tracing::debug!(command, "CTIP send");
        self.stream
            .write_all(&frame_command(command, self.code_page))
            .await?;
        Ok(())
    }

    async fn send_secret(&mut self, command: &str, secret: &Secret) -> Result<(), CtipError> {
        tracing::debug!(command, "CTIP send (secret hidden)");
        let line = format!("{command} {}", secret.expose());
        self.stream
            .write_all(&frame_command(&line, self.code_page))
            .await?;
        Ok(())
    }

    /// The next OK / NA / ERROR, skipping events; `NoAnswer` after `wait`.
    async fn answer(&mut self, wait: Duration) -> Result<Message, CtipError> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((_, msg)) = tokio::time::timeout(left, self.next_message())
                .await
                .map_err(|_| CtipError::NoAnswer("the command"))??
            else {
                continue;
            };
            if let Some(msg) = msg {
                if matches!(
                    msg,
                    Message::Ok { .. } | Message::Na { .. } | Message::Error
                ) {
                    return Ok(msg);
                }
            }
        }
    }

    /// The next frame off the wire, waiting for bytes as needed.
    pub async fn next_frame(&mut self) -> Result<Frame, CtipError> {
        crate::pbx::read_item(&mut self.stream, &mut self.decoder)
            .await?
            .ok_or(CtipError::Closed)
    }

    /// A frame as text, the way it came (for `pbxgw sniff`).
    pub(crate) fn raw_text(&self, frame: &Frame) -> String {
        match frame {
            Frame::Message(bytes) => format!("a{}", self.code_page.decode(bytes)),
            Frame::Test => "t".to_owned(),
            Frame::Garbage(bytes) => self.code_page.decode(bytes),
            Frame::Oversized(n) => format!("# oversized line of {n} bytes dropped"),
        }
    }

    /// The next frame, classified. Test frames and noise are proof of life all the same.
    pub(crate) async fn next_received(&mut self) -> Result<Received, CtipError> {
        Ok(match self.next_frame().await? {
            Frame::Message(bytes) => {
                let text = self.code_page.decode(&bytes);
                let raw = format!("a{text}");
                match parse(&text) {
                    Ok(Message::Unknown { kind }) => Received::Unknown { raw, kind },
                    Ok(message) => Received::Message { raw, message },
                    Err(error) => Received::Malformed { raw, error },
                }
            }
            Frame::Test => Received::Test,
            Frame::Garbage(bytes) => Received::Garbage(self.code_page.decode(&bytes)),
            Frame::Oversized(n) => Received::Oversized(n),
        })
    }

    /// The next message; everything else is logged and skipped (see [`next_received`] to
    /// count it).
    ///
    /// [`next_received`]: Connection::next_received
    pub(crate) async fn next_message(
        &mut self,
    ) -> Result<Option<(String, Option<Message>)>, CtipError> {
        Ok(match self.next_received().await? {
            Received::Message { raw, message } => Some((raw, Some(message))),
            other => {
                other.log();
                None
            }
        })
    }
}

/// One frame as the session sees it.
#[derive(Debug)]
pub enum Received {
    Message {
        raw: String,
        message: Message,
    },
    /// A type the spec does not define: ignored, as the spec says, but counted.
    Unknown {
        raw: String,
        kind: String,
    },
    /// A known type without its fields.
    Malformed {
        raw: String,
        error: super::codec::ParseError,
    },
    Test,
    Garbage(String),
    Oversized(usize),
}

impl Received {
    /// The counter this frame adds to, for frames that are not messages.
    pub fn counter(&self) -> Option<&'static str> {
        match self {
            Received::Message { .. } => None,
            Received::Unknown { .. } => Some("unknown"),
            Received::Malformed { .. } => Some("malformed"),
            Received::Test => Some("test_frames"),
            Received::Garbage(_) => Some("garbage"),
            Received::Oversized(_) => Some("oversized"),
        }
    }

    fn log(&self) {
        match self {
            Received::Unknown { raw, kind } => {
                tracing::debug!(kind, raw, "unknown CTIP message ignored")
            }
            Received::Malformed { raw, error } => {
                tracing::warn!(%error, raw, "malformed CTIP line ignored")
            }
            Received::Garbage(line) => {
                tracing::debug!(line, "CTIP line without the 'a' discriminator ignored")
            }
            Received::Oversized(n) => tracing::warn!(bytes = n, "oversized CTIP line dropped"),
            Received::Message { .. } | Received::Test => {}
        }
    }
}

/// `pbxgw sniff`: logs in and writes every frame with its arrival time until `stop`.
pub async fn sniff(
    settings: &CtipSettings,
    out: &mut (dyn std::io::Write + Send),
    stop: CancellationToken,
) -> Result<u64, CtipError> {
    let mut c = Connection::open(settings).await?;
    let now = || crate::timefmt::rfc3339_ms(crate::clock::now_ms());
    writeln!(
        out,
        "# {} logged in to {}:{} ({}; {})",
        now(),
        settings.host,
        settings.port,
        c.identity.who.as_deref().unwrap_or("no WHO answer"),
        c.identity.login
    )?;
    let mut lines = 0;
    loop {
        let frame = tokio::select! {
            f = c.next_frame() => f?,
            _ = stop.cancelled() => return Ok(lines),
        };
        writeln!(out, "{}\t{}", now(), c.raw_text(&frame))?;
        out.flush()?;
        lines += 1;
    }
}

pub(crate) struct CtipSession {
    pub settings: CtipSettings,
    pub links: Links,
    pub events: mpsc::Sender<PbxEvent<Message>>,
    /// Commands from the rest of the gateway (see [`CtipControl`](super::control::CtipControl)).
    pub commands: mpsc::Receiver<CommandRequest>,
    pub shutdown: CancellationToken,
}

impl crate::link::Link for CtipSession {
    type Error = CtipError;

    fn name(&self) -> String {
        self.link()
    }

    async fn connected(&mut self) -> Result<(), CtipError> {
        match self.serve().await {
            Err(CtipError::Shutdown) => Ok(()),
            Err(e) => Err(e),
            Ok(()) => Err(CtipError::Closed),
        }
    }

    async fn lost(&mut self, error: &CtipError) -> crate::link::Retry {
        crate::pbx::tell_lost(&self.events, error).await
    }

    /// Commands are refused while the link is down.
    async fn while_down(&mut self, until: tokio::time::Instant) {
        crate::link::refuse_until(&mut self.commands, until, control::refuse).await
    }
}

impl CtipSession {
    fn link(&self) -> String {
        format!("pbx:{}", self.settings.name)
    }

    /// Runs until shutdown, reconnecting after every failure.
    pub async fn run(self) {
        let (links, shutdown) = (self.links.clone(), self.shutdown.clone());
        crate::link::supervise(self, &links, crate::link::Policy::PBX, &shutdown).await
    }

    /// One connection; returns why it ended.
    async fn serve(&mut self) -> Result<(), CtipError> {
        let mut c = Connection::open(&self.settings).await?;
        tracing::info!(
            pbx = %self.settings.name,
            who = c.identity.who.as_deref().unwrap_or("(no WHO answer: CTIP before v14)"),
            login = %c.identity.login,
            "CTIP logged in"
        );
        self.links
            .set(&self.link(), LinkState::Up, c.identity.who.clone());
        let _ = self.events.send(PbxEvent::Up).await;
        let probe = if c.identity.who.is_some() {
            "WHO"
        } else {
            "RQST 100_"
        };
        // WHO is cheap: ask it every period even on a busy link, so the link's round trip is
        // on record. The old RQST probe makes the PBX report a phone: only on silence.
        let always_probe = c.identity.who.is_some();
        let mut control = Control::default();
        let mut last_heard = Instant::now();
        let mut last_probe = Instant::now();
        loop {
            let quiet_since = if always_probe {
                last_probe
            } else {
                last_heard.max(last_probe)
            };
            let probe_at = quiet_since + self.settings.probe_after;
            let wake = control
                .next_deadline(ANSWER_WITHIN)
                .map_or(probe_at, |d| d.min(probe_at));
            tokio::select! {
                frame = c.next_received() => {
                    last_heard = Instant::now();
                    let (raw, message) = match frame? {
                        Received::Message { raw, message } => (raw, message),
                        other => {
                            other.log();
                            if let Some(counter) = other.counter() {
                                self.links.count(&format!("{}:{counter}", self.link()));
                            }
                            continue;
                        }
                    };
                    if matches!(message, Message::Ok { .. } | Message::Na { .. } | Message::Error) {
                        if let Some(rtt) = control.answer(&mut c, &message).await? {
                            self.links.quality.record(&self.link(), Some(rtt), crate::clock::now_ms());
                        }
                        continue;
                    }
                    if let Some(rtt) = control.event(&mut c, &message).await? {
                        self.links.quality.record(&self.link(), Some(rtt), crate::clock::now_ms());
                    }
                    let event = PbxEvent::Message { ts_ms: crate::clock::now_ms(), raw, message };
                    if self.events.send(event).await.is_err() {
                        return Err(CtipError::Shutdown);
                    }
                }
                Some(req) = self.commands.recv() => control.request(&mut c, req).await?,
                _ = tokio::time::sleep_until(wake.into()) => {
                    if control.expire(ANSWER_WITHIN) {
                        self.links.quality.record(&self.link(), None, crate::clock::now_ms());
                        return Err(CtipError::Silent);
                    }
                    if probe_at <= Instant::now() {
                        control.probe(&mut c, probe).await?;
                        last_probe = Instant::now();
                    }
                }
            }
        }
    }
}
