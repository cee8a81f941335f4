//! `record.start` `{"channel","file"?,"pbx"?}` and `record.stop` `{"channel","file"?,"pbx"?}`:
//! recording a live call on demand. AMI runs MixMonitor (the file lands in Asterisk's monitor
//! directory) and StopMixMonitor; ARI records the channel (it must be in a Stasis application)
//! and stops the live recording by the name `record.start` answered. A Slican records by its
//! own rules and answers `unsupported`.

use serde::Deserialize;

use super::request::Request;
use super::{refuse, Commands, Refusal};
use crate::pbx::control::{CallControl, Done};

#[derive(Deserialize)]
pub(super) struct Record {
    pbx: Option<String>,
    channel: String,
    /// The recording's name (default: made from the channel and the time).
    file: Option<String>,
}

impl Request for Record {
    const SHAPE: &'static str =
        r#"{"channel": "PJSIP/201-0000001a", "file"?: "name", "pbx"?: "name"}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("channel", &self.channel)]
    }
}

/// `pbxgw-PJSIP-201-0000001a-1795316989123`: the channel's letters and digits, and the time.
fn default_name(channel: &str, now_ms: i64) -> String {
    let safe: String = channel
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("pbxgw-{safe}-{now_ms}")
}

/// A name given for a recording: a plain file name the PBX keeps in its recordings folder,
/// never a path (`../`) or a hidden file.
fn checked_name(name: &str) -> Result<&str, Refusal> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain && !name.starts_with('.') && (1..=128).contains(&name.len()) {
        Ok(name)
    } else {
        Err(refuse(
            "bad_request",
            format!(
                "file {name:?}: up to 128 letters, digits, '-', '_' or '.', not starting with '.'"
            ),
        ))
    }
}

impl Commands {
    pub(super) async fn record_start(&self, r: Record) -> Result<Done, Refusal> {
        let name = match &r.file {
            Some(file) => checked_name(file)?.to_owned(),
            None => default_name(&r.channel, crate::clock::now_ms()),
        };
        let pbx = self.pbx(r.pbx.as_deref())?;
        Ok(pbx.record(&r.channel, &name).await?)
    }

    pub(super) async fn record_stop(&self, r: Record) -> Result<Done, Refusal> {
        let name = r.file.as_deref().map(checked_name).transpose()?;
        let pbx = self.pbx(r.pbx.as_deref())?;
        Ok(pbx.stop_recording(&r.channel, name).await?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_default_name_is_safe_as_a_file_name() {
        assert_eq!(
            super::default_name("PJSIP/201-0000001a", 1_795_316_989_123),
            "pbxgw-PJSIP-201-0000001a-1795316989123"
        );
        assert_eq!(super::default_name("../../etc", 1), "pbxgw-------etc-1");
    }

    #[test]
    fn a_given_name_is_a_file_name_not_a_path() {
        assert!(super::checked_name("sales-2026-12-03_1.wav").is_ok());
        for bad in ["../../etc/passwd", "/tmp/x", ".hidden", "", "a b", "ż"] {
            let refused = super::checked_name(bad).unwrap_err();
            assert_eq!(refused.code, "bad_request", "{bad}");
        }
        assert!(super::checked_name(&"a".repeat(129)).is_err());
    }
}
