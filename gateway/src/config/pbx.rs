//! `[[pbx]]`: one block per PBX link, and the built-in Stasis IVR of an ARI one.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AmiAuth {
    Md5,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PbxKind {
    Ctip,
    Ami,
    Ari,
}

impl PbxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PbxKind::Ctip => "ctip",
            PbxKind::Ami => "ami",
            PbxKind::Ari => "ari",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbxConfig {
    pub name: String,
    pub kind: PbxKind,
    pub host: Option<String>,
    pub port: Option<u16>,
    // ctip
    pub pin: Option<Secret>,
    /// The PBX's code page for text (852 = IBM852, Polish; the default).
    pub codepage: Option<u16>,
    /// Probe a silent link after this many seconds (default 60).
    pub probe_after_s: Option<u64>,
    /// Extension -> IVR digit: a call reaching the extension chose that digit.
    #[serde(default)]
    pub ivr_map: std::collections::BTreeMap<String, String>,
    /// The PBX's GSM module (`G001`): the SMS route when the box has no `[modem]`.
    pub gsm_module: Option<String>,
    /// The GSM module's SIM PIN (its own `LOGI` login).
    pub gsm_pin: Option<Secret>,
    // ami
    pub username: Option<String>,
    pub secret: Option<Secret>,
    /// `md5` (challenge; the secret never crosses the LAN, the default) or `plain`.
    pub auth: Option<AmiAuth>,
    /// The login's `Events:` filter: `on` (the default) or classes such as
    /// `call,agent,dtmf,system,user` to drop dialplan noise (VarSet/Newexten).
    pub events: Option<String>,
    /// Dialplan contexts where outside calls arrive (inbound direction).
    pub inbound_contexts: Option<Vec<String>>,
    /// Channel-name prefixes of trunks, e.g. `PJSIP/provider`.
    #[serde(default)]
    pub trunks: Vec<String>,
    /// Click-to-call: the agent's phone as a dial string, `{extension}` replaced.
    pub originate_channel: Option<String>,
    /// Click-to-call: the context the customer's number is dialled in.
    pub originate_context: Option<String>,
    /// List the live channels this often to confirm open calls (default 300).
    pub resync_every_s: Option<u64>,
    // ari
    pub url: Option<String>,
    pub password: Option<Secret>,
    pub app: Option<String>,
    /// Events of every channel, not only those in the application (`subscribeAll`).
    pub subscribe_all: Option<bool>,
    /// Channels that enter the application for anything but the built-in IVR go on in the
    /// dialplan at once (default true), instead of waiting there forever.
    pub continue_unhandled: Option<bool>,
    /// The CA of an `https` ARI URL (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// The built-in Stasis IVR (`[pbx.ivr]`).
    pub ivr: Option<IvrConfig>,
}

impl IvrConfig {
    pub(super) fn validate(
        &self,
        key: &dyn Fn(&str) -> String,
        problem: &mut dyn FnMut(&str, &dyn fmt::Display, &str),
    ) {
        const MEDIA: [&str; 6] = [
            "sound:",
            "recording:",
            "digits:",
            "number:",
            "characters:",
            "tone:",
        ];
        if !MEDIA.iter().any(|m| self.prompt.starts_with(m)) {
            problem(
                &key("prompt"),
                &self.prompt,
                "use ARI media such as \"sound:welcome\" or \"recording:menu\"",
            );
        }
        for (k, v) in [("context", &self.context), ("extension", &self.extension)] {
            if v.is_empty() {
                problem(
                    &key(k),
                    &"\"\"",
                    "name where the call goes on in the dialplan",
                );
            }
        }
        if let Some(v) = &self.variable {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                problem(
                    &key("variable"),
                    v,
                    "use a channel variable name such as IVR_DIGIT",
                );
            }
        }
        if let Some(t) = self.timeout_s.filter(|t| !(1..=60).contains(t)) {
            problem(&key("timeout_s"), &t, "use 1 to 60 seconds");
        }
    }
}

/// The built-in Stasis IVR of an ARI PBX, for a site without an IVR of its own: a call the
/// dialplan sends to `Stasis(app,ARG)` is answered, hears `prompt`, and after one DTMF digit
/// (or `timeout_s` of silence after the prompt) goes on at `context,extension,priority` with
/// the digit in the channel variable `variable`. The digit lands in the call record, so the
/// `ivr_digit` SMS rules fire on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IvrConfig {
    /// The first Stasis() argument that selects the IVR (default `ivr`).
    pub arg: Option<String>,
    /// What to play, as ARI media: `sound:welcome`, `recording:menu`, `digits:123`...
    pub prompt: String,
    pub context: String,
    pub extension: String,
    /// Default 1.
    pub priority: Option<u32>,
    /// Default `IVR_DIGIT`.
    pub variable: Option<String>,
    /// Seconds to wait for the digit once the prompt has finished (default 5).
    pub timeout_s: Option<u64>,
}

impl PbxConfig {
    /// The TCP port, or the protocol's standard one.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(match self.kind {
            PbxKind::Ctip => 5524,
            PbxKind::Ami => 5038,
            PbxKind::Ari => 8088,
        })
    }
}
