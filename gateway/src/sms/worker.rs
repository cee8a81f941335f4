//! The SMS worker: owns the modem, sends queued texts, follows delivery reports, turns
//! incoming texts into events, and recovers a modem that stops answering.
//!
//! Recovery ladder, each step logged and counted: (1) resync with `AT` (ESC first, input
//! dropped), (2) radio off/on (`+CFUN`) and a new bring-up, (3) close and re-open the port
//! (USB modems re-enumerate), (4) when the modem still does not come up, the board's power
//! key or reset line (`[modem_power]` of the board profile; without one this is logged). A SIM or network problem only a
//! person can fix (PIN, PUK, no SIM, denied, no SMSC) shows as `needs-installer` and is
//! retried slowly; a refused PIN is remembered and never entered again until it changes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use board::modem::at::{AtError, Urc};
use board::modem::device::{BringUpError, Modem, ModemSettings};
use board::modem::pdu::{self, DeliveryStatus, Incoming, SubmitOptions};
use board::serial::SerialStream;
use md5::{Digest, Md5};
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::dispatch::{Dispatch, Failure, Route};
use super::queue::{self, SmsRow};
use crate::clock::now_ms;
use crate::config::{ModemConfig, SmsConfig};
use crate::link::LinkState;
use crate::link::{CheckStep, Links};
use crate::store::Appender;

const LINK: &str = "modem";

/// Recovery steps taken, for the status page and the logs.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct RecoveryCounts {
    pub resyncs: u64,
    pub radio_cycles: u64,
    pub reopens: u64,
    pub power_cycles: u64,
}

pub(crate) struct SmsWorker {
    pub modem: ModemConfig,
    pub sms: SmsConfig,
    pub db_path: PathBuf,
    pub appender: Appender,
    pub links: Links,
    pub wake: Arc<Notify>,
    pub shutdown: CancellationToken,
    /// The board's power key or reset line of the modem, if it has one.
    pub power: Option<board::power::PowerLine>,
}

/// Why a serving session ended.
/// Why the modem's link went down.
#[derive(Debug, thiserror::Error)]
enum ModemDown {
    #[error("unresponsive: {0}")]
    Unresponsive(AtError),
    #[error(transparent)]
    BringUp(#[from] BringUpError),
}

impl crate::link::LinkError for ModemDown {
    fn needs_installer(&self) -> bool {
        matches!(self, ModemDown::BringUp(e) if e.needs_installer())
    }
}

/// The modem as a link: the recovery ladder (re-open the port, then power-cycle it) climbs
/// while the modem stays silent.
struct ModemLink {
    worker: SmsWorker,
    conn: Connection,
    counts: RecoveryCounts,
    /// Bring-ups in a row that failed with the modem silent (not a SIM problem).
    silent_opens: u32,
}

impl crate::link::Link for ModemLink {
    type Error = ModemDown;

    fn name(&self) -> String {
        LINK.to_owned()
    }

    async fn connected(&mut self) -> Result<(), ModemDown> {
        match self
            .worker
            .session(&mut self.conn, &mut self.counts)
            .await?
        {
            Ended::Shutdown => Ok(()),
            Ended::Unresponsive(e) => Err(ModemDown::Unresponsive(e)),
        }
    }

    async fn lost(&mut self, error: &ModemDown) -> crate::link::Retry {
        use crate::link::{LinkError, Retry};
        match error {
            ModemDown::Unresponsive(_) => {
                self.counts.reopens += 1;
                self.silent_opens = 1;
                tracing::warn!(
                    reopens = self.counts.reopens,
                    "modem unresponsive: re-opening the port"
                );
            }
            ModemDown::BringUp(e) if !error.needs_installer() && self.silent_opens >= 1 => {
                self.silent_opens += 1;
                if self.worker.power_cycle(&mut self.counts, e).await {
                    self.silent_opens = 0;
                    return Retry::Now;
                }
            }
            ModemDown::BringUp(_) => self.silent_opens = u32::from(!error.needs_installer()),
        }
        Retry::AfterBackoff
    }
}

enum Ended {
    Shutdown,
    /// The modem stopped answering: climb the ladder.
    Unresponsive(AtError),
}

/// Parts of a concatenated incoming text, waiting for the rest.
struct Pending {
    since: i64,
    sent_at: i64,
    parts: HashMap<u8, String>,
    total: u8,
}

struct Session<'a> {
    worker: &'a SmsWorker,
    dispatch: Dispatch<'a>,
    modem: Modem<SerialStream>,
    incoming: HashMap<(String, u16), Pending>,
}

/// The box's modem as a route for the queue.
struct ModemRoute<'a>(&'a mut Modem<SerialStream>);

impl Route for ModemRoute<'_> {
    async fn send(
        &mut self,
        row: &SmsRow,
        options: &SubmitOptions,
    ) -> Result<Vec<String>, Failure> {
        match self.0.send_text(&row.destination, &row.text, options).await {
            Ok(refs) => Ok(refs.iter().map(u8::to_string).collect()),
            Err(e) => {
                let partly = if e.references.is_empty() {
                    ""
                } else {
                    " (some parts had left: they may arrive twice)"
                };
                let code = match &e.error {
                    AtError::Cms { code, .. } | AtError::Cme { code, .. } => Some(i64::from(*code)),
                    _ => None,
                };
                let route_broken = matches!(
                    e.error,
                    AtError::Timeout { .. }
                        | AtError::Closed
                        | AtError::Io(_)
                        | AtError::NoPrompt(_)
                        | AtError::Unconfirmed(_)
                );
                Err(Failure {
                    class: e.error.class(),
                    code,
                    text: format!("{}{partly}", e.error),
                    route_broken,
                })
            }
        }
    }
}

fn modem_settings(modem: &ModemConfig) -> ModemSettings {
    ModemSettings {
        pin: modem.pin.as_ref().map(|p| p.expose().to_owned()),
        smsc: modem.smsc.clone(),
        register_within: Duration::from_secs(modem.register_within_s.unwrap_or(120)),
        send_within: Duration::from_secs(modem.send_within_s.unwrap_or(60)),
        ..ModemSettings::default()
    }
}

/// The configured PIN's fingerprint, and whether it may be entered: not if the SIM refused
/// this very PIN before (then only a changed PIN is tried).
fn pin_permission(conn: &Connection, modem: &ModemConfig) -> (Option<String>, bool) {
    let pin_hash = modem
        .pin
        .as_ref()
        .map(|p| hex(&Md5::digest(p.expose().as_bytes())));
    let refused = meta(conn, "modem.pin_refused");
    let may = pin_hash.is_some() && refused != pin_hash;
    (pin_hash, may)
}

/// `pbxgw check --connect`: opens the port and brings the modem up as the gateway would
/// (the same PIN rule, and a refusal is remembered the same way).
pub async fn probe(modem: &ModemConfig, db_path: &std::path::Path) -> CheckStep {
    let conn = match crate::store::side_connection(db_path) {
        Ok(conn) => conn,
        Err(e) => return CheckStep::failed(e),
    };
    let port =
        match board::serial::open(&modem.port, modem.baud) {
            Ok(port) => port,
            Err(e) => return CheckStep::fails(
                format!("cannot open {}: {e}", modem.port.display()),
                "Is the modem plugged in, the port right, and pbxgw stopped (it holds the port)?",
            ),
        };
    let mut m = Modem::new(port, modem_settings(modem));
    let (pin_hash, may_enter_pin) = pin_permission(&conn, modem);
    match m.bring_up(may_enter_pin).await {
        Ok(info) => CheckStep::Works(format!(
            "SIM ready, registered to {}{}, {} dBm, SMS centre {}",
            info.operator.as_deref().unwrap_or("a network"),
            if info.roaming { " (roaming)" } else { "" },
            info.signal_dbm.map_or("?".into(), |d| d.to_string()),
            info.smsc.as_deref().unwrap_or("?")
        )),
        Err(e) => {
            if let (BringUpError::PinRejected, Some(h)) = (&e, &pin_hash) {
                set_meta(&conn, "modem.pin_refused", h);
            }
            CheckStep::failed(e)
        }
    }
}

impl SmsWorker {
    fn settings(&self) -> ModemSettings {
        modem_settings(&self.modem)
    }

    pub async fn run(self) {
        let conn = match crate::store::side_connection(&self.db_path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "SMS worker cannot open the database");
                self.links.set(LINK, LinkState::Down, Some(e.to_string()));
                return;
            }
        };
        match queue::requeue_interrupted(&conn, now_ms()) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                texts = n,
                "texts interrupted while sending are queued again (they may arrive twice)"
            ),
            Err(e) => tracing::error!(error = %e, "cannot requeue interrupted texts"),
        }
        let (links, shutdown) = (self.links.clone(), self.shutdown.clone());
        let link = ModemLink {
            worker: self,
            conn,
            counts: RecoveryCounts::default(),
            silent_opens: 0,
        };
        let policy = crate::link::Policy {
            // A modem that just re-enumerated needs a moment before its port answers.
            base: Duration::from_secs(2),
            ..crate::link::Policy::SIM
        };
        crate::link::supervise(link, &links, policy, &shutdown).await
    }

    /// The ladder's last step: presses the modem's power key or reset line. False when the
    /// board has none (or it failed), so the port is simply retried.
    async fn power_cycle(&mut self, counts: &mut RecoveryCounts, error: &BringUpError) -> bool {
        let Some(power) = &mut self.power else {
            if counts.reopens <= 1 {
                tracing::warn!(error = %error, "modem still silent after re-opening its port, and this board profile has no modem power line");
            }
            return false;
        };
        counts.power_cycles += 1;
        tracing::warn!(error = %error, power_cycles = counts.power_cycles, "modem still silent after re-opening its port: power-cycling it");
        self.links.set(
            LINK,
            LinkState::Connecting,
            Some("power-cycling the modem".into()),
        );
        let cycled = tokio::select! {
            r = power.cycle() => r,
            _ = self.shutdown.cancelled() => return false,
        };
        match cycled {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "modem power line not driven");
                false
            }
        }
    }

    /// Opens the port, brings the modem up and serves until it fails.
    async fn session(
        &self,
        conn: &mut Connection,
        counts: &mut RecoveryCounts,
    ) -> Result<Ended, BringUpError> {
        let port = board::serial::open(&self.modem.port, self.modem.baud).map_err(AtError::Io)?;
        let mut modem = Modem::new(port, self.settings());
        let (pin_hash, may_enter_pin) = pin_permission(conn, &self.modem);
        let info = match modem.bring_up(may_enter_pin).await {
            Ok(info) => info,
            Err(BringUpError::PinRejected) => {
                if let Some(h) = &pin_hash {
                    set_meta(conn, "modem.pin_refused", h);
                }
                return Err(BringUpError::PinRejected);
            }
            Err(e) => return Err(e),
        };
        tracing::info!(operator = ?info.operator, signal_dbm = ?info.signal_dbm, model = ?info.model, "modem ready");
        self.links.set(
            LINK,
            LinkState::Up,
            Some(format!(
                "{}, {} dBm",
                info.operator.as_deref().unwrap_or("unknown operator"),
                info.signal_dbm.map_or("?".into(), |d| d.to_string())
            )),
        );
        let mut session = Session {
            worker: self,
            dispatch: Dispatch {
                conn,
                sms: &self.sms,
                appender: &self.appender,
            },
            modem,
            incoming: HashMap::new(),
        };
        loop {
            let error = match session.serve().await {
                Ended::Shutdown => return Ok(Ended::Shutdown),
                Ended::Unresponsive(e) => e,
            };
            counts.resyncs += 1;
            tracing::warn!(error = %error, resyncs = counts.resyncs, "modem stopped answering: resync");
            if session.modem.resync().await.is_ok() {
                continue;
            }
            counts.radio_cycles += 1;
            tracing::warn!(
                radio_cycles = counts.radio_cycles,
                "resync failed: radio off and on"
            );
            let cycled = session.modem.radio_cycle().await.is_ok();
            if cycled && session.modem.bring_up(may_enter_pin).await.is_ok() {
                continue;
            }
            return Ok(Ended::Unresponsive(error));
        }
    }
}

impl Session<'_> {
    /// Sends what is due and listens to the modem until it fails or shutdown.
    async fn serve(&mut self) -> Ended {
        let mut signal_check = tokio::time::interval(Duration::from_secs(60));
        signal_check.tick().await;
        loop {
            if let Err(f) = self
                .dispatch
                .send_due(&mut ModemRoute(&mut self.modem))
                .await
            {
                return Ended::Unresponsive(AtError::Other {
                    command: "AT+CMGS".into(),
                    result: f.text,
                });
            }
            let wait = self.dispatch.until_next_due();
            let urcs = tokio::select! {
                r = self.modem.urcs(wait) => r,
                _ = self.worker.wake.notified() => Ok(Vec::new()),
                _ = signal_check.tick() => match self.modem.signal_dbm().await {
                    Some(_) => Ok(Vec::new()),
                    None => Err(AtError::Timeout { command: "AT+CSQ".into(), after: Duration::from_secs(5) }),
                },
                _ = self.worker.shutdown.cancelled() => return Ended::Shutdown,
            };
            match urcs {
                Ok(urcs) => {
                    for urc in urcs {
                        if let Err(e) = self.on_urc(urc).await {
                            return Ended::Unresponsive(e);
                        }
                    }
                }
                Err(e) => return Ended::Unresponsive(e),
            }
            self.flush_stale_incoming().await;
        }
    }

    async fn on_urc(&mut self, urc: Urc) -> Result<(), AtError> {
        match urc {
            Urc::StatusReport { pdu } | Urc::Deliver { pdu } => {
                if let Ok(incoming) = pdu::decode(&pdu) {
                    self.on_incoming(incoming).await;
                }
            }
            Urc::NewMessage { index, .. } | Urc::StatusReportStored { index, .. } => {
                if let Some(incoming) = self.modem.read_stored(index).await? {
                    self.on_incoming(incoming).await;
                }
                self.modem.delete_stored(index).await?;
            }
            Urc::Registration { stat } if stat != 1 && stat != 5 => {
                self.worker.links.set(
                    LINK,
                    LinkState::Connecting,
                    Some(format!("registration lost (stat {stat})")),
                );
            }
            Urc::Registration { .. } => {
                self.worker
                    .links
                    .set(LINK, LinkState::Up, Some("registered".into()))
            }
            Urc::Ring | Urc::Other(_) => {}
        }
        Ok(())
    }

    async fn on_incoming(&mut self, incoming: Incoming) {
        let now = now_ms();
        match incoming {
            Incoming::StatusReport(r) => {
                let failed = match r.status {
                    DeliveryStatus::Pending(_) => return,
                    DeliveryStatus::Delivered => None,
                    DeliveryStatus::Failed(st) => Some((
                        i64::from(st),
                        format!("the network gave up delivering it (TP-ST {st:#04x})"),
                    )),
                };
                let reference = r.reference.to_string();
                self.dispatch
                    .report(&reference, Some(r.recipient.as_str()), failed)
                    .await;
            }
            Incoming::Deliver(d) => {
                let sent_at = d.timestamp.unix_ms();
                match d.concat {
                    None => self.dispatch.received(d.from, d.text, sent_at).await,
                    Some(c) => {
                        let key = (d.from.clone(), c.reference);
                        let p = self.incoming.entry(key.clone()).or_insert_with(|| Pending {
                            since: now,
                            sent_at,
                            parts: HashMap::new(),
                            total: c.total,
                        });
                        p.parts.insert(c.seq, d.text);
                        if p.parts.len() >= usize::from(p.total) {
                            if let Some(p) = self.incoming.remove(&key) {
                                self.dispatch.received(key.0, joined(&p), p.sent_at).await;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Texts whose other parts never came are passed on as they are after ten minutes.
    async fn flush_stale_incoming(&mut self) {
        let now = now_ms();
        let stale: Vec<(String, u16)> = self
            .incoming
            .iter()
            .filter(|(_, p)| now - p.since > 600_000)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some(p) = self.incoming.remove(&key) {
                self.dispatch.received(key.0, joined(&p), p.sent_at).await;
            }
        }
    }
}

fn joined(p: &Pending) -> String {
    (1..=p.total)
        .map(|i| p.parts.get(&i).map_or("[...]", String::as_str))
        .collect()
}

fn meta(conn: &Connection, key: &str) -> Option<String> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .ok()
        .flatten()
}

fn set_meta(conn: &Connection, key: &str, value: &str) {
    let _ = conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
