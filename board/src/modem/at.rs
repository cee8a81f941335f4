//! The AT engine: commands and their answers over any async byte stream (a serial port, a
//! pseudo-terminal), with unsolicited result codes (URCs) kept apart.
//!
//! * Every command has a fixed deadline from the moment it is written; URCs arriving
//!   meanwhile are queued and never extend it.
//! * Final result codes end a command: `OK`, `ERROR`, `+CME ERROR: n`, `+CMS ERROR: n` (typed,
//!   with the 3GPP meaning), `NO CARRIER` and friends.
//! * A line is the command's answer when it starts with the command's own prefix (`+CSQ:` for
//!   `AT+CSQ`), a URC when it starts with a known URC prefix (`+CMTI:`, `+CDS:`, `+CREG:`,
//!   `RING`, vendor `^...` lines), and an answer otherwise (a PDU line, an IMEI). `+CMT:` and
//!   `+CDS:` carry their PDU on the next line.
//! * `AT+CMGS` waits for the `> ` prompt, then writes the PDU and Ctrl-Z; if no answer comes
//!   the PDU may or may not have left ([`AtError::Unconfirmed`]), and ESC aborts a prompt.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::errors::{cme_class, cme_meaning, cms_class, cms_meaning, ErrorClass};

/// The longest line kept; a modem spewing garbage without line ends cannot grow memory.
const MAX_LINE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum AtError {
    #[error("modem port: {0}")]
    Io(#[from] std::io::Error),
    #[error("the modem port closed")]
    Closed,
    #[error("no answer to {command} within {after:?}")]
    Timeout { command: String, after: Duration },
    #[error("{command}: ERROR")]
    Error { command: String },
    #[error("+CME ERROR: {code} ({meaning})")]
    Cme { code: u16, meaning: &'static str },
    #[error("+CMS ERROR: {code} ({meaning})")]
    Cms { code: u16, meaning: &'static str },
    #[error("{command}: {result}")]
    Other { command: String, result: String },
    #[error("no \"> \" prompt for the SMS within {0:?}")]
    NoPrompt(Duration),
    #[error(
        "the SMS was handed to the modem but no answer came within {0:?}: it may have been sent"
    )]
    Unconfirmed(Duration),
    #[error("the modem answered {0:?} where a message reference was expected")]
    NoReference(String),
}

impl AtError {
    /// What the error means for a message being sent.
    pub fn class(&self) -> ErrorClass {
        match self {
            AtError::Cms { code, .. } => cms_class(*code),
            AtError::Cme { code, .. } => cme_class(*code),
            _ => ErrorClass::Transient,
        }
    }
}

/// Something the modem said on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Urc {
    /// `+CMTI: "SM",3`: a text was stored at this index.
    NewMessage {
        storage: String,
        index: u32,
    },
    /// `+CMT:` with its PDU: a text routed directly.
    Deliver {
        pdu: String,
    },
    /// `+CDS:` with its PDU: a delivery report routed directly.
    StatusReport {
        pdu: String,
    },
    /// `+CDSI: "SM",4`: a delivery report stored at this index.
    StatusReportStored {
        storage: String,
        index: u32,
    },
    /// `+CREG: 1` / `+CEREG: 5,...`: registration status changed.
    Registration {
        stat: u8,
    },
    Ring,
    /// Anything else unsolicited (`^BOOT:...`, `^RSSI:...`), kept as it came.
    Other(String),
}

const FINAL_OTHER: [&str; 4] = ["NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"];
const URC_PREFIXES: [&str; 13] = [
    "+CMTI:", "+CMT:", "+CDS:", "+CDSI:", "+CREG:", "+CEREG:", "+CGREG:", "RING", "+CRING:",
    "+CLIP:", "+CUSD:", "^", "+PBREADY",
];

/// What one line turned out to be.
enum Line {
    Answer(String),
    Final(Result<(), AtError>),
    Urc,
}

/// Counters for the status page.
#[derive(Debug, Clone, Default)]
pub struct AtStats {
    pub commands: u64,
    pub timeouts: u64,
    pub urcs: u64,
    pub dropped_bytes: u64,
}

pub struct AtChannel<S> {
    io: S,
    buf: Vec<u8>,
    urcs: VecDeque<Urc>,
    /// A `+CMT:` / `+CDS:` line was seen; its PDU is the next line.
    pdu_follows: Option<fn(String) -> Urc>,
    pub stats: AtStats,
}

/// `+CSQ:` for `AT+CSQ`, `+CREG:` for `AT+CREG?`, `^SYSINFO:` for `AT^SYSINFO`.
fn answer_prefix(command: &str) -> Option<String> {
    let body = command.get(2..)?;
    if !(body.starts_with('+') || body.starts_with('^')) {
        return None;
    }
    let end = body.find(['=', '?']).unwrap_or(body.len());
    Some(format!("{}:", &body[..end]))
}

impl<S: AsyncRead + AsyncWrite + Unpin> AtChannel<S> {
    pub fn new(io: S) -> AtChannel<S> {
        AtChannel {
            io,
            buf: Vec::new(),
            urcs: VecDeque::new(),
            pdu_follows: None,
            stats: AtStats::default(),
        }
    }

    /// The URCs seen so far, oldest first.
    pub fn take_urcs(&mut self) -> Vec<Urc> {
        self.urcs.drain(..).collect()
    }

    /// Runs `command` (without the trailing CR) and returns its answer lines.
    pub async fn command(
        &mut self,
        command: &str,
        within: Duration,
    ) -> Result<Vec<String>, AtError> {
        let deadline = Instant::now() + within;
        self.stats.commands += 1;
        self.io.write_all(format!("{command}\r").as_bytes()).await?;
        self.io.flush().await?;
        self.collect(command, deadline, within).await
    }

    /// Reads lines until the final result of `command`.
    async fn collect(
        &mut self,
        command: &str,
        deadline: Instant,
        within: Duration,
    ) -> Result<Vec<String>, AtError> {
        let prefix = answer_prefix(command);
        let mut answer = Vec::new();
        loop {
            let line = match self.next_line(deadline).await {
                Ok(l) => l,
                Err(AtError::Timeout { .. }) => {
                    self.stats.timeouts += 1;
                    return Err(AtError::Timeout {
                        command: command.to_owned(),
                        after: within,
                    });
                }
                Err(e) => return Err(e),
            };
            if line == command {
                continue; // echo, before ATE0 took effect
            }
            match self.classify(command, prefix.as_deref(), line) {
                Line::Answer(l) => answer.push(l),
                Line::Final(Ok(())) => return Ok(answer),
                Line::Final(Err(e)) => return Err(e),
                Line::Urc => {}
            }
        }
    }

    fn classify(&mut self, command: &str, prefix: Option<&str>, line: String) -> Line {
        if let Some(make) = self.pdu_follows.take() {
            self.push_urc(make(line));
            return Line::Urc;
        }
        if line == "OK" {
            return Line::Final(Ok(()));
        }
        if line == "ERROR" {
            return Line::Final(Err(AtError::Error {
                command: command.to_owned(),
            }));
        }
        if let Some(code) = error_code(&line, "+CME ERROR:") {
            return Line::Final(Err(AtError::Cme {
                code,
                meaning: cme_meaning(code),
            }));
        }
        if let Some(code) = error_code(&line, "+CMS ERROR:") {
            return Line::Final(Err(AtError::Cms {
                code,
                meaning: cms_meaning(code),
            }));
        }
        if FINAL_OTHER.contains(&line.as_str()) {
            return Line::Final(Err(AtError::Other {
                command: command.to_owned(),
                result: line,
            }));
        }
        if prefix.is_some_and(|p| line.starts_with(p)) {
            return Line::Answer(line);
        }
        if URC_PREFIXES.iter().any(|p| line.starts_with(p)) {
            self.urc_line(line);
            return Line::Urc;
        }
        Line::Answer(line)
    }

    fn push_urc(&mut self, urc: Urc) {
        self.stats.urcs += 1;
        self.urcs.push_back(urc);
    }

    fn urc_line(&mut self, line: String) {
        let value = |p: &str| line.strip_prefix(p).map(str::trim);
        let urc = if let Some(v) = value("+CMTI:") {
            storage_index(v).map(|(storage, index)| Urc::NewMessage { storage, index })
        } else if let Some(v) = value("+CDSI:") {
            storage_index(v).map(|(storage, index)| Urc::StatusReportStored { storage, index })
        } else if line.starts_with("+CMT:") {
            self.pdu_follows = Some(|pdu| Urc::Deliver { pdu });
            return;
        } else if line.starts_with("+CDS:") {
            self.pdu_follows = Some(|pdu| Urc::StatusReport { pdu });
            return;
        } else if let Some(v) = value("+CREG:").or(value("+CEREG:")).or(value("+CGREG:")) {
            // Unsolicited form: `<stat>[,<lac>,<ci>...]`.
            v.split(',')
                .next()
                .and_then(|s| s.trim().parse().ok())
                .map(|stat| Urc::Registration { stat })
        } else if line == "RING" || line.starts_with("+CRING:") {
            Some(Urc::Ring)
        } else {
            None
        };
        self.push_urc(urc.unwrap_or(Urc::Other(line)));
    }

    /// Reads URCs that arrive while no command runs: returns as soon as there is one (with
    /// any queued before), or empty when `within` passes.
    pub async fn poll_urcs(&mut self, within: Duration) -> Result<Vec<Urc>, AtError> {
        self.wait_for_urcs(within).await?;
        Ok(self.take_urcs())
    }

    /// Like [`poll_urcs`](Self::poll_urcs) but leaves them queued.
    pub async fn wait_for_urcs(&mut self, within: Duration) -> Result<(), AtError> {
        let deadline = Instant::now() + within;
        while self.urcs.is_empty() || self.pdu_follows.is_some() {
            match self.next_line(deadline).await {
                Ok(line) => {
                    if let Line::Answer(other) = self.classify("", None, line) {
                        self.push_urc(Urc::Other(other));
                    }
                }
                Err(AtError::Timeout { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Leaves text entry mode if the modem is in it (ESC).
    pub async fn escape(&mut self) -> Result<(), AtError> {
        self.io.write_all(b"\x1b").await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Sends one SMS-SUBMIT PDU; returns the message reference (`+CMGS: <mr>`).
    pub async fn send_pdu(
        &mut self,
        tpdu_len: usize,
        hex: &str,
        prompt_within: Duration,
        answer_within: Duration,
    ) -> Result<u8, AtError> {
        let command = format!("AT+CMGS={tpdu_len}");
        self.stats.commands += 1;
        self.io.write_all(format!("{command}\r").as_bytes()).await?;
        self.io.flush().await?;
        let prompt_deadline = Instant::now() + prompt_within;
        if let Err(e) = self.await_prompt(&command, prompt_deadline).await {
            // Leave the modem out of text-entry mode whatever happened.
            let _ = self.io.write_all(b"\x1b").await;
            return Err(match e {
                AtError::Timeout { .. } => AtError::NoPrompt(prompt_within),
                e => e,
            });
        }
        self.io.write_all(hex.as_bytes()).await?;
        self.io.write_all(b"\x1a").await?;
        self.io.flush().await?;
        let deadline = Instant::now() + answer_within;
        let answer = match self.collect(&command, deadline, answer_within).await {
            Err(AtError::Timeout { .. }) => {
                let _ = self.io.write_all(b"\x1b").await;
                return Err(AtError::Unconfirmed(answer_within));
            }
            other => other?,
        };
        let line = answer
            .iter()
            .find(|l| l.starts_with("+CMGS:"))
            .cloned()
            .unwrap_or_default();
        line.trim_start_matches("+CMGS:")
            .split(',')
            .next()
            .and_then(|v| v.trim().parse::<u16>().ok())
            .map(|mr| (mr & 0xFF) as u8)
            .ok_or(AtError::NoReference(line))
    }

    /// Waits for `>` at the start of the unread input; final results before it fail.
    async fn await_prompt(&mut self, command: &str, deadline: Instant) -> Result<(), AtError> {
        loop {
            self.consume_blank();
            if self.buf.first() == Some(&b'>') {
                let n = if self.buf.get(1) == Some(&b' ') { 2 } else { 1 };
                self.buf.drain(..n);
                return Ok(());
            }
            if let Some(line) = self.take_line() {
                if line == command {
                    continue;
                }
                match self.classify(command, None, line) {
                    Line::Final(Err(e)) => return Err(e),
                    Line::Final(Ok(())) => {
                        return Err(AtError::Other {
                            command: command.to_owned(),
                            result: "OK without a prompt".into(),
                        })
                    }
                    _ => continue,
                }
            }
            self.read_more(deadline).await?;
        }
    }

    fn consume_blank(&mut self) {
        let n = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        self.buf.drain(..n);
    }

    /// A complete non-empty line from the buffer, if there is one.
    fn take_line(&mut self) -> Option<String> {
        loop {
            self.consume_blank();
            let end = self.buf.iter().position(|b| *b == b'\r' || *b == b'\n')?;
            let line: Vec<u8> = self.buf.drain(..end).collect();
            let text = String::from_utf8_lossy(&line).trim().to_owned();
            if !text.is_empty() {
                return Some(text);
            }
        }
    }

    async fn next_line(&mut self, deadline: Instant) -> Result<String, AtError> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(line);
            }
            self.read_more(deadline).await?;
        }
    }

    async fn read_more(&mut self, deadline: Instant) -> Result<(), AtError> {
        let mut chunk = [0u8; 512];
        let n = match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
            Err(_) => {
                return Err(AtError::Timeout {
                    command: String::new(),
                    after: Duration::ZERO,
                })
            }
            Ok(r) => r?,
        };
        if n == 0 {
            return Err(AtError::Closed);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        if self.buf.len() > MAX_LINE {
            // No line end in sight: drop the oldest bytes.
            let excess = self.buf.len() - MAX_LINE;
            self.buf.drain(..excess);
            self.stats.dropped_bytes += excess as u64;
        }
        Ok(())
    }

    /// Drops whatever the modem said that nobody asked for (before a resync).
    pub fn discard_input(&mut self) {
        self.stats.dropped_bytes += self.buf.len() as u64;
        self.buf.clear();
        self.pdu_follows = None;
    }

    /// The stream, to drop it (re-open the port) or inspect it in tests.
    pub fn into_inner(self) -> S {
        self.io
    }
}

fn error_code(line: &str, prefix: &str) -> Option<u16> {
    line.strip_prefix(prefix)?.trim().parse().ok()
}

/// `"SM",3` -> ("SM", 3).
fn storage_index(v: &str) -> Option<(String, u32)> {
    let (storage, index) = v.split_once(',')?;
    Some((
        storage.trim().trim_matches('"').to_owned(),
        index.trim().parse().ok()?,
    ))
}

#[cfg(test)]
mod tests;
