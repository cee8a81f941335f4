//! A `[[pbx]]` block of `kind = "ari"`: an Asterisk REST Interface application, and its
//! built-in Stasis IVR (`[pbx.ivr]`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{Secret, Section};

/// The keys of an ARI block besides `name` and `kind`; a key of another kind is refused by
/// name before the block is read.
pub(crate) const CONFIG_KEYS: &[&str] = &[
    "url",
    "username",
    "password",
    "password_env",
    "password_file",
    "password_credential",
    "app",
    "subscribe_all",
    "continue_unhandled",
    "ca_file",
    "ivr",
    "inbound_contexts",
    "originate_channel",
    "originate_context",
    "recording_url_base",
    "recording_dir",
    "probe_after_s",
    "resync_every_s",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AriConfig {
    pub name: String,
    /// `http://host:8088` or `https://...` (a copied `.../ari` path is accepted).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub app: Option<String>,
    /// Events of every channel, not only those in the application (`subscribeAll`).
    pub subscribe_all: bool,
    /// Channels that enter the application for anything but the built-in IVR go on in the
    /// dialplan at once, instead of waiting there forever.
    pub continue_unhandled: bool,
    /// The CA of an `https` ARI URL (absent: the system's).
    pub ca_file: Option<PathBuf>,
    pub ivr: Option<IvrConfig>,
    /// Dialplan contexts where outside calls arrive (inbound direction).
    pub inbound_contexts: Option<Vec<String>>,
    /// Click-to-call: the agent's phone as a dial string, `{extension}` replaced.
    pub originate_channel: String,
    /// Click-to-call: the context the customer's number is dialled in.
    pub originate_context: String,
    /// Where central opens recordings over HTTP(S): records get `recording_url`.
    pub recording_url_base: Option<String>,
    /// Where the PBX writes recordings; the link is the file's path below it.
    pub recording_dir: String,
    /// Ping the WebSocket this often.
    pub probe_after_s: u64,
    /// List the channels and bridges this often to confirm open calls.
    pub resync_every_s: u64,
}

impl Default for AriConfig {
    fn default() -> Self {
        let originate = crate::pbx::asterisk::OriginateSettings::default();
        AriConfig {
            name: String::new(),
            url: String::new(),
            username: None,
            password: None,
            app: None,
            subscribe_all: false,
            continue_unhandled: true,
            ca_file: None,
            ivr: None,
            inbound_contexts: None,
            originate_channel: originate.channel,
            originate_context: originate.context,
            recording_url_base: None,
            recording_dir: "/var/spool/asterisk/recording".into(),
            probe_after_s: 30,
            resync_every_s: 300,
        }
    }
}

impl AriConfig {
    pub(crate) fn validate(&self, s: &mut Section<'_>) {
        if let Err(fix) = super::base_url(&self.url) {
            let shown = if self.url.contains('@') {
                "(not shown)"
            } else {
                &self.url
            };
            s.problem("url", &format!("{shown:?}"), &fix);
        }
        s.required("username", self.username.is_some(), "ari");
        s.required("password", self.password.is_some(), "ari");
        s.required("app", self.app.is_some(), "ari");
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
        if let Some(ivr) = &self.ivr {
            ivr.validate(&mut s.nested("ivr"));
        }
    }
}

/// The built-in Stasis IVR of an ARI PBX, for a site without an IVR of its own: a call the
/// dialplan sends to `Stasis(app,ARG)` is answered, hears `prompt`, and after one DTMF digit
/// (or `timeout_s` of silence after the prompt) goes on at `context,extension,priority` with
/// the digit in the channel variable `variable`. The digit lands in the call record, so the
/// `ivr_digit` SMS rules fire on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IvrConfig {
    /// The first Stasis() argument that selects the IVR.
    pub arg: String,
    /// What to play, as ARI media: `sound:welcome`, `recording:menu`, `digits:123`...
    pub prompt: String,
    pub context: String,
    pub extension: String,
    pub priority: u32,
    /// The channel variable that carries the digit on.
    pub variable: String,
    /// Seconds to wait for the digit once the prompt has finished.
    pub timeout_s: u64,
}

impl Default for IvrConfig {
    fn default() -> Self {
        IvrConfig {
            arg: "ivr".into(),
            prompt: String::new(),
            context: String::new(),
            extension: String::new(),
            priority: 1,
            variable: "IVR_DIGIT".into(),
            timeout_s: 5,
        }
    }
}

impl IvrConfig {
    fn validate(&self, s: &mut Section<'_>) {
        const MEDIA: [&str; 6] = [
            "sound:",
            "recording:",
            "digits:",
            "number:",
            "characters:",
            "tone:",
        ];
        if !MEDIA.iter().any(|m| self.prompt.starts_with(m)) {
            s.problem(
                "prompt",
                &self.prompt,
                "use ARI media such as \"sound:welcome\" or \"recording:menu\"",
            );
        }
        for (k, v) in [("context", &self.context), ("extension", &self.extension)] {
            if v.is_empty() {
                s.problem(k, &"\"\"", "name where the call goes on in the dialplan");
            }
        }
        let variable_ok = !self.variable.is_empty()
            && self
                .variable
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !variable_ok {
            s.problem(
                "variable",
                &self.variable,
                "use a channel variable name such as IVR_DIGIT",
            );
        }
        s.range("timeout_s", self.timeout_s, 1..=60, "seconds");
    }
}
