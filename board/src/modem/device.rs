//! The modem as a device: bring-up (sync, errors verbose, SIM, registration, signal,
//! operator, SMSC, PDU mode, where new texts and delivery reports go), sending a text in
//! parts, reading and deleting stored texts, and the recovery steps.
//!
//! The SIM PIN is entered at most once per bring-up, and only when the caller allows it: a
//! PIN the SIM refused is never retried automatically (three refusals lock the SIM with its
//! PUK and strand the box). The PIN never appears in an error or a log line.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::at::{AtChannel, AtError, Urc};
use super::pdu::{self, Incoming, SubmitOptions};

#[derive(Debug, Clone)]
pub struct ModemSettings {
    pub pin: Option<String>,
    /// The SMS centre to set when the modem has lost its own.
    pub smsc: Option<String>,
    /// Deadline of an ordinary command.
    pub command_within: Duration,
    /// How long to wait for network registration.
    pub register_within: Duration,
    /// How long the network may take to accept one part.
    pub send_within: Duration,
}

impl Default for ModemSettings {
    fn default() -> Self {
        ModemSettings {
            pin: None,
            smsc: None,
            command_within: Duration::from_secs(5),
            register_within: Duration::from_secs(120),
            send_within: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Home,
    Roaming,
}

/// What the bring-up found, for the status page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModemInfo {
    pub model: Option<String>,
    pub imei: Option<String>,
    pub operator: Option<String>,
    pub signal_dbm: Option<i32>,
    pub smsc: Option<String>,
    pub roaming: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BringUpError {
    #[error("the modem does not answer AT")]
    Silent,
    #[error("no SIM card in the modem")]
    NoSim,
    #[error("the SIM needs its PIN; set [modem] pin")]
    PinNeeded,
    #[error("the SIM refused the configured PIN; it is not tried again (a PUK lock would strand the box): correct [modem] pin")]
    PinRejected,
    #[error("the SIM is locked with its PUK; unlock it in a phone")]
    PukLocked,
    #[error("the network denied registration (SIM barred or not provisioned)")]
    RegistrationDenied,
    #[error("not registered to a network within {0:?}: check the antenna and coverage")]
    NotRegistered(Duration),
    #[error("the modem has no SMS centre number; set [modem] smsc")]
    NoSmsc,
    #[error(transparent)]
    At(#[from] AtError),
}

impl BringUpError {
    /// Only a person can fix it (LED and status say so; no automatic retry helps).
    pub fn needs_installer(&self) -> bool {
        matches!(
            self,
            BringUpError::NoSim
                | BringUpError::PinNeeded
                | BringUpError::PinRejected
                | BringUpError::PukLocked
                | BringUpError::RegistrationDenied
                | BringUpError::NoSmsc
        )
    }
}

/// A text was partly or not at all accepted.
#[derive(Debug, thiserror::Error)]
#[error("part {} of the text: {error}", .references.len() + 1)]
pub struct SendError {
    /// References of the parts the network accepted before the failure.
    pub references: Vec<u8>,
    pub error: AtError,
}

pub struct Modem<S> {
    pub at: AtChannel<S>,
    settings: ModemSettings,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Modem<S> {
    pub fn new(io: S, settings: ModemSettings) -> Modem<S> {
        Modem {
            at: AtChannel::new(io),
            settings,
        }
    }

    async fn cmd(&mut self, command: &str) -> Result<Vec<String>, AtError> {
        self.at.command(command, self.settings.command_within).await
    }

    /// Gets the modem answering `AT` again: leaves text entry (ESC), forgets half-read
    /// input, tries three times.
    pub async fn resync(&mut self) -> Result<(), BringUpError> {
        for _ in 0..3 {
            self.at.escape().await?;
            self.at.discard_input();
            match self.at.command("AT", Duration::from_secs(1)).await {
                Ok(_) => return Ok(()),
                Err(AtError::Io(e)) => return Err(AtError::Io(e).into()),
                Err(AtError::Closed) => return Err(AtError::Closed.into()),
                Err(_) => continue,
            }
        }
        Err(BringUpError::Silent)
    }

    /// Brings the modem to "ready to send": see the module doc. `may_enter_pin` is false
    /// once a configured PIN has been refused.
    pub async fn bring_up(&mut self, may_enter_pin: bool) -> Result<ModemInfo, BringUpError> {
        self.resync().await?;
        self.cmd("ATE0").await?;
        self.cmd("AT+CMEE=1").await?;
        let mut info = ModemInfo {
            model: self.first_line("AT+CGMM").await,
            imei: self.first_line("AT+CGSN").await,
            ..ModemInfo::default()
        };
        self.unlock_sim(may_enter_pin).await?;
        info.roaming = self.wait_registered().await? == Registration::Roaming;
        info.signal_dbm = self.signal_dbm().await;
        info.operator = self.operator().await;
        self.cmd("AT+CMGF=0").await?;
        info.smsc = Some(self.ensure_smsc().await?);
        // New texts stored with +CMTI; delivery reports routed with +CDS.
        self.cmd("AT+CNMI=2,1,0,1,0").await?;
        Ok(info)
    }

    async fn first_line(&mut self, command: &str) -> Option<String> {
        self.cmd(command).await.ok()?.into_iter().next()
    }

    async fn unlock_sim(&mut self, may_enter_pin: bool) -> Result<(), BringUpError> {
        let state = match self.cmd("AT+CPIN?").await {
            Ok(lines) => lines.into_iter().next().unwrap_or_default(),
            Err(AtError::Cme { code: 10 | 13, .. }) => return Err(BringUpError::NoSim),
            Err(e) => return Err(e.into()),
        };
        let state = state.trim_start_matches("+CPIN:").trim();
        match state {
            "READY" => Ok(()),
            "SIM PIN" => {
                let Some(pin) = self.settings.pin.clone().filter(|_| may_enter_pin) else {
                    return Err(if self.settings.pin.is_some() {
                        BringUpError::PinRejected
                    } else {
                        BringUpError::PinNeeded
                    });
                };
                // Any failure counts as a refusal: the attempt may have been counted.
                let entered = self
                    .at
                    .command(&format!("AT+CPIN=\"{pin}\""), Duration::from_secs(10))
                    .await;
                if entered.is_err() {
                    return Err(BringUpError::PinRejected);
                }
                // The SIM takes a moment to come up after its PIN.
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(())
            }
            "SIM PUK" | "SIM PUK2" => Err(BringUpError::PukLocked),
            other => Err(AtError::Other {
                command: "AT+CPIN?".into(),
                result: other.to_owned(),
            }
            .into()),
        }
    }

    /// Polls `+CREG?` (and `+CEREG?` for LTE-only modems) until registered; URCs in between
    /// are kept for the caller.
    async fn wait_registered(&mut self) -> Result<Registration, BringUpError> {
        let deadline = tokio::time::Instant::now() + self.settings.register_within;
        loop {
            let mut stats = Vec::new();
            for command in ["AT+CREG?", "AT+CEREG?"] {
                if let Ok(lines) = self.cmd(command).await {
                    stats.extend(lines.iter().filter_map(|l| registration_stat(l)));
                }
            }
            if stats.contains(&1) {
                return Ok(Registration::Home);
            }
            if stats.contains(&5) {
                return Ok(Registration::Roaming);
            }
            if !stats.is_empty() && stats.iter().all(|s| *s == 3) {
                return Err(BringUpError::RegistrationDenied);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BringUpError::NotRegistered(self.settings.register_within));
            }
            self.at.wait_for_urcs(Duration::from_secs(1)).await?;
        }
    }

    pub async fn signal_dbm(&mut self) -> Option<i32> {
        let line = self.cmd("AT+CSQ").await.ok()?.into_iter().next()?;
        let rssi: i32 = line
            .trim_start_matches("+CSQ:")
            .split(',')
            .next()?
            .trim()
            .parse()
            .ok()?;
        (rssi <= 31).then_some(-113 + 2 * rssi)
    }

    async fn operator(&mut self) -> Option<String> {
        let line = self.cmd("AT+COPS?").await.ok()?.into_iter().next()?;
        let name = line.split('"').nth(1)?;
        Some(name.to_owned())
    }

    /// The modem's SMSC, set from the settings when it has lost it.
    async fn ensure_smsc(&mut self) -> Result<String, BringUpError> {
        let line = self
            .cmd("AT+CSCA?")
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        let current = line.split('"').nth(1).unwrap_or_default().to_owned();
        if !current.is_empty() {
            return Ok(current);
        }
        let Some(smsc) = self.settings.smsc.clone() else {
            return Err(BringUpError::NoSmsc);
        };
        let kind = if smsc.starts_with('+') { 145 } else { 129 };
        self.cmd(&format!("AT+CSCA=\"{smsc}\",{kind}")).await?;
        Ok(smsc)
    }

    /// Sends a text in as many parts as it needs; returns each part's message reference.
    pub async fn send_text(
        &mut self,
        to: &str,
        text: &str,
        options: &SubmitOptions,
    ) -> Result<Vec<u8>, SendError> {
        let parts = pdu::encode_submit(to, text, options).map_err(|e| SendError {
            references: vec![],
            error: AtError::Other {
                command: "PDU".into(),
                result: e.to_string(),
            },
        })?;
        let mut references = Vec::new();
        for part in parts {
            let sent = self
                .at
                .send_pdu(
                    part.tpdu_len,
                    &part.hex,
                    Duration::from_secs(10),
                    self.settings.send_within,
                )
                .await;
            match sent {
                Ok(mr) => references.push(mr),
                Err(error) => return Err(SendError { references, error }),
            }
        }
        Ok(references)
    }

    /// Reads the stored message at `index` (after `+CMTI` / `+CDSI`).
    pub async fn read_stored(&mut self, index: u32) -> Result<Option<Incoming>, AtError> {
        let lines = self.cmd(&format!("AT+CMGR={index}")).await?;
        let pdu = lines.iter().find(|l| !l.starts_with("+CMGR:"));
        Ok(pdu.and_then(|p| pdu::decode(p).ok()))
    }

    pub async fn delete_stored(&mut self, index: u32) -> Result<(), AtError> {
        self.cmd(&format!("AT+CMGD={index}")).await.map(|_| ())
    }

    /// Radio off and on: the step after a failed resync.
    pub async fn radio_cycle(&mut self) -> Result<(), AtError> {
        self.at
            .command("AT+CFUN=0", Duration::from_secs(15))
            .await?;
        self.at
            .command("AT+CFUN=1", Duration::from_secs(30))
            .await
            .map(|_| ())
    }

    /// URCs that arrived so far, and any that arrive within `within`.
    pub async fn urcs(&mut self, within: Duration) -> Result<Vec<Urc>, AtError> {
        self.at.poll_urcs(within).await
    }
}

/// `+CREG: 0,5` / `+CEREG: 2,1,"00C3",...` -> the stat field.
fn registration_stat(line: &str) -> Option<u8> {
    let v = line.split_once(':')?.1;
    v.split(',').nth(1)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn registration_answers() {
        assert_eq!(super::registration_stat("+CREG: 0,5"), Some(5));
        assert_eq!(
            super::registration_stat("+CEREG: 2,1,\"00C3\",\"0012AB\",7"),
            Some(1)
        );
        assert_eq!(super::registration_stat("+CREG: 2"), None);
        assert_eq!(super::registration_stat("garbage"), None);
    }
}
