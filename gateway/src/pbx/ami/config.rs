//! A `[[pbx]]` block of `kind = "ami"`: an Asterisk Manager Interface login.

use serde::Deserialize;

use crate::config::{Secret, Section};

/// The keys of an AMI block besides `name` and `kind`; a key of another kind
/// is refused by name before the block is read.
pub(crate) const CONFIG_KEYS: &[&str] = &[
    "host",
    "port",
    "username",
    "secret",
    "secret_env",
    "secret_file",
    "secret_credential",
    "auth",
    "events",
    "inbound_contexts",
    "trunks",
    "originate_channel",
    "originate_context",
    "recording_url_base",
    "recording_dir",
    "probe_after_s",
    "resync_every_s",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AmiAuth {
    /// Challenge: the secret never crosses the LAN.
    Md5,
    Plain,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmiConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub secret: Option<Secret>,
    pub auth: AmiAuth,
    /// The login's `Events:` filter: `on` or classes such as `call,agent,dtmf,system,user`
    /// to drop dialplan noise (VarSet/Newexten).
    pub events: String,
    /// Dialplan contexts where outside calls arrive (inbound direction).
    pub inbound_contexts: Option<Vec<String>>,
    /// Channel-name prefixes of trunks, e.g. `PJSIP/provider`.
    pub trunks: Vec<String>,
    /// Click-to-call: the agent's phone as a dial string, `{extension}` replaced.
    pub originate_channel: String,
    /// Click-to-call: the context the customer's number is dialled in.
    pub originate_context: String,
    /// Where central opens recordings over HTTP(S): records get `recording_url`.
    pub recording_url_base: Option<String>,
    /// Where the PBX writes recordings; the link is the file's path below it.
    pub recording_dir: String,
    /// Ping this often; a ping unanswered by the next one drops the link.
    pub probe_after_s: u64,
    /// List the live channels this often to confirm open calls.
    pub resync_every_s: u64,
}

impl Default for AmiConfig {
    fn default() -> Self {
        let originate = crate::pbx::asterisk::OriginateSettings::default();
        AmiConfig {
            name: String::new(),
            host: String::new(),
            port: 5038,
            username: None,
            secret: None,
            auth: AmiAuth::Md5,
            events: "on".into(),
            inbound_contexts: None,
            trunks: Vec::new(),
            originate_channel: originate.channel,
            originate_context: originate.context,
            recording_url_base: None,
            recording_dir: "/var/spool/asterisk/monitor".into(),
            probe_after_s: 60,
            resync_every_s: 300,
        }
    }
}

impl AmiConfig {
    pub(crate) fn validate(&self, s: &mut Section<'_>) {
        s.address(&self.host, self.port);
        s.required("username", self.username.is_some(), "ami");
        s.required("secret", self.secret.is_some(), "ami");
        s.range("probe_after_s", self.probe_after_s, 1..=3_600, "seconds");
        s.range(
            "resync_every_s",
            self.resync_every_s,
            10..=86_400,
            "seconds",
        );
        crate::pbx::asterisk::validate_originate(&self.originate_channel, s);
        crate::pbx::asterisk::validate_recording_links(
            self.recording_url_base.as_deref(),
            &self.recording_dir,
            s,
        );
    }
}
