//! The configuration file (`/etc/pbxgw/pbxgw.toml` by default).
//!
//! Every key is checked at start: unknown keys are errors (a typo must not silently fall back
//! to a default), and each problem names the key, the bad value and the fix. Any secret can be
//! given inline (`password = "..."`), from an environment variable (`password_env = "VAR"`) or
//! from a file (`password_file = "/run/secrets/x"`); secrets are held in [`Secret`], whose
//! `Debug` and `Display` never show the value.

mod pbx_keys;

use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_PATH: &str = "/etc/pbxgw/pbxgw.toml";

/// A secret value. It is never printed: `Debug`/`Display` show `***`. In the file it is a
/// string, or digits (a PIN written as a number is the digits it is).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Digits(u64),
        }
        match Written::deserialize(d) {
            Ok(Written::Text(s)) => Ok(Secret(s)),
            Ok(Written::Digits(n)) => Ok(Secret(n.to_string())),
            // The default message of an untagged enum names no value; say what is expected.
            Err(_) => Err(serde::de::Error::custom(
                "a secret is a quoted string (or the digits of a PIN)",
            )),
        }
    }
}

/// True when a PostgreSQL URL turns TLS off explicitly (`sslmode=disable`). Without it the
/// sink requires TLS, whatever libpq's default `prefer` would do.
pub fn postgres_tls_disabled(url: &str) -> bool {
    url.split(['?', '&', ' '])
        .any(|part| part.trim().eq_ignore_ascii_case("sslmode=disable"))
}

/// Key names whose values are secrets, as written in the file (`url` covers the PostgreSQL
/// and webhook URLs, which carry credentials).
const SECRET_KEYS: [&str; 6] = ["pin", "secret", "password", "token", "url", "key"];

/// A TOML error as shown to the installer: line, column, the key and what is wrong, never the
/// offending line itself. When the lines it spans set a secret, even the parser's message
/// (which may quote the value) is replaced.
fn parse_error_message(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let boundary = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(span.start);
    let end = boundary(span.end.max(start));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    let spanned = &text[line_start..line_end];
    let key = spanned
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['))
        .map(|k| format!(" (key `{k}`)"))
        .unwrap_or_default();
    let lower = spanned.to_ascii_lowercase();
    if SECRET_KEYS.iter().any(|k| lower.contains(k)) {
        format!(
            "line {line_no}, column {column}{key}: this line holds a secret and is not valid; \
             its value is not shown. Write the secret as a quoted string, or use KEY_file"
        )
    } else {
        format!("line {line_no}, column {column}{key}: {}", e.message())
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for handing to a protocol. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub gateway: GatewayConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub pbx: Vec<PbxConfig>,
    #[serde(default)]
    pub uplink: UplinkConfig,
    /// The box's GSM modem; absent: no SMS through a modem.
    pub modem: Option<ModemConfig>,
    #[serde(default)]
    pub sms: SmsConfig,
    #[serde(default)]
    pub commands: CommandsConfig,
    #[serde(default)]
    pub numbers: NumbersConfig,
    #[serde(default)]
    pub contacts: ContactsConfig,
    #[serde(default)]
    pub board: BoardConfig,
    /// The local HTTP API; absent: not served.
    pub api: Option<ApiConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Where to listen (default `127.0.0.1:8080`; the LAN address to reach it from others).
    #[serde(default = "default_api_bind")]
    pub bind: std::net::SocketAddr,
    /// The bearer token every request but `/health` must carry.
    pub token: Option<Secret>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

fn default_api_bind() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// The box: which LEDs it has, and its watchdog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoardConfig {
    /// A built-in profile (`console`, `generic-sysfs`, `rpi4`) or a profile file.
    pub profile: String,
    /// Where sysfs LED-class devices are.
    pub leds_root: PathBuf,
    /// The kernel watchdog device to kick, if any (systemd's is used whenever the service
    /// runs with `WatchdogSec=`).
    pub watchdog_device: Option<PathBuf>,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig {
            profile: "console".into(),
            leds_root: PathBuf::from("/sys/class/leds"),
            watchdog_device: None,
        }
    }
}

/// The contact directory (numbers are matched with the `[sms]` numbering plan).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContactsConfig {
    /// Copy the central `pbxgw_contacts` table every this many seconds (needs
    /// `[uplink.postgres]`); absent: no sync.
    pub central_sync_s: Option<u64>,
}

/// Who `sms.send` and `call.originate` may reach (`crate::numbers::NumberPolicy`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumbersConfig {
    /// E.164 prefixes allowed (default: the box's own country, `+<sms.country_code>`).
    pub allow: Option<Vec<String>>,
    /// E.164 prefixes refused even when allowed (default: the country's premium-rate ranges).
    pub deny: Option<Vec<String>>,
    /// Most digits of a number (E.164 has at most 15).
    pub max_digits: usize,
}

impl Default for NumbersConfig {
    fn default() -> Self {
        NumbersConfig {
            allow: None,
            deny: None,
            max_digits: 15,
        }
    }
}

impl Config {
    /// The number policy these keys describe.
    pub fn number_policy(&self) -> crate::numbers::NumberPolicy {
        let defaults = crate::numbers::NumberPolicy::for_country(&self.sms.country_code);
        crate::numbers::NumberPolicy {
            allow: self.numbers.allow.clone().unwrap_or(defaults.allow),
            deny: self.numbers.deny.clone().unwrap_or(defaults.deny),
            max_digits: self.numbers.max_digits,
        }
    }
}

/// Remote commands (MQTT `cmd/{name}`). `ping` and `status` are always answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// The commands central may run: `sms.send`, `call.originate`, `call.hangup`,
    /// `call.transfer`, `queue.pause`, `contacts.upsert`, `contacts.delete`. None by default.
    pub allow: Vec<String>,
    pub rate_per_minute: u32,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        CommandsConfig {
            allow: Vec::new(),
            rate_per_minute: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModemConfig {
    /// The serial port, e.g. `/dev/ttyUSB2` or `/dev/ttymxc1`.
    pub port: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
    pub pin: Option<Secret>,
    pub pin_env: Option<String>,
    pub pin_file: Option<PathBuf>,
    /// The SMS centre, set when the modem has lost its own (`+48...`).
    pub smsc: Option<String>,
    /// How long to wait for network registration (default 120).
    pub register_within_s: Option<u64>,
    /// How long the network may take to accept one part (default 60).
    pub send_within_s: Option<u64>,
}

fn default_baud() -> u32 {
    115_200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Country calling code for numbers without one (`48`).
    pub country_code: String,
    /// A prefix the PBX puts before outside numbers (`0`), stripped first.
    pub outside_line_prefix: Option<String>,
    /// The national trunk prefix (default by country: `0` in DE/UK, `1` in the US, none in
    /// PL).
    pub trunk_prefix: Option<String>,
    /// Shorter numbers are internal extensions: never texted.
    pub min_national_digits: usize,
    /// At most this many texts per minute, all destinations together.
    pub rate_per_minute: u32,
    /// At most this many texts per destination per hour.
    pub per_destination_per_hour: u32,
    /// A rule texts the same number again only after this many seconds.
    pub cooldown_s: u64,
    /// Transient failures are retried this many times in all.
    pub max_attempts: u32,
    /// A text that is exactly this word (any case) puts its sender on the do-not-text list.
    pub opt_out_keyword: Option<String>,
    pub delivery_reports: bool,
    pub validity_h: u32,
    #[serde(rename = "rule")]
    pub rules: Vec<SmsRule>,
}

impl SmsConfig {
    /// The numbering plan these keys describe (also used to match contacts).
    pub fn plan(&self) -> crate::numbers::NumberPlan {
        crate::numbers::NumberPlan {
            country_code: self.country_code.clone(),
            outside_line_prefix: self.outside_line_prefix.clone(),
            trunk_prefix: self
                .trunk_prefix
                .clone()
                .or_else(|| crate::numbers::default_trunk_prefix(&self.country_code)),
            min_national_digits: self.min_national_digits,
        }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            country_code: "48".into(),
            outside_line_prefix: None,
            trunk_prefix: None,
            min_national_digits: 9,
            rate_per_minute: 10,
            per_destination_per_hour: 5,
            cooldown_s: 3600,
            max_attempts: 5,
            opt_out_keyword: Some("STOP".into()),
            delivery_reports: true,
            validity_h: 24,
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleTrigger {
    /// The caller chose `digit` in the IVR.
    IvrDigit,
    /// An inbound call nobody answered (no answer, busy, abandoned).
    MissedCall,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsRule {
    /// Part of the dedupe key and the logs (default `rule<N>`).
    pub name: Option<String>,
    pub on: RuleTrigger,
    pub digit: Option<String>,
    /// Only calls to (or answered at) this number.
    pub extension: Option<String>,
    /// `{caller}`, `{extension}`, `{date}`, `{time}` are filled in.
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub id: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/pbxgw")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync on every commit: a power cut loses nothing that was accepted.
    Full,
    /// fsync at WAL checkpoints: a power cut can lose the last accepted batches.
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub max_size_mb: u64,
    pub history_days: u32,
    pub sync: SyncMode,
    /// Group commit: at most this many events per transaction.
    pub batch_max: usize,
    /// Group commit: wait at most this long for more events before committing.
    pub batch_wait_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_size_mb: 512,
            history_days: 30,
            sync: SyncMode::Full,
            batch_max: 1000,
            batch_wait_ms: 2,
        }
    }
}

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
    pub pin_env: Option<String>,
    pub pin_file: Option<PathBuf>,
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
    pub gsm_pin_env: Option<String>,
    pub gsm_pin_file: Option<PathBuf>,
    // ami
    pub username: Option<String>,
    pub secret: Option<Secret>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
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
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
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
    fn validate(
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    pub mqtt: Option<MqttConfig>,
    pub postgres: Option<PostgresConfig>,
    pub webhook: Option<WebhookConfig>,
}

/// A CRM's HTTP endpoint: each selected event is POSTed as JSON (the MQTT event payload).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://crm.example.net/pbx-events` (or `http://` on a trusted LAN). A secret: it may
    /// carry credentials, so it is never shown whole (`url_env`, `url_file` keep it out of
    /// the file).
    pub url: Option<Secret>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<Secret>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Event kinds to send; `call.*` style prefixes allowed (default: `call.ringing`,
    /// `call.answered`, `call.ended`, the screen-pop set).
    pub kinds: Option<Vec<String>>,
    /// A CA for a private CRM certificate (else the system's).
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_s: u64,
}

fn default_webhook_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    pub host: String,
    pub port: Option<u16>,
    /// Required when a password is set, unless `tls = false` is written (then a warning).
    pub tls: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Messages per second while draining a backlog; 0 = as fast as the broker takes them.
    #[serde(default = "default_replay_rate")]
    pub replay_rate: u32,
    #[serde(default = "default_keepalive_s")]
    pub keepalive_s: u64,
    /// Publishes awaiting PUBACK at once.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: u16,
    /// Seconds between status refreshes when nothing changes.
    #[serde(default = "default_status_interval_s")]
    pub status_interval_s: u64,
}

impl MqttConfig {
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.tls() { 8883 } else { 1883 })
    }

    pub fn tls(&self) -> bool {
        self.tls.unwrap_or(false)
    }
}

fn default_topic_prefix() -> String {
    "pbxgw/v1".into()
}
fn default_replay_rate() -> u32 {
    2000
}
fn default_keepalive_s() -> u64 {
    30
}
fn default_max_inflight() -> u16 {
    100
}
fn default_status_interval_s() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgresql://user:password@host:port/db?sslmode=...` — a secret, since it may carry
    /// the password.
    pub url: Option<Secret>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_pg_batch")]
    pub batch_size: usize,
}

fn default_pg_batch() -> usize {
    1000
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub value: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.key, self.value, self.fix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path} has {} problem(s):\n{}", problems.len(), list(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .enumerate()
        .map(|(i, p)| format!("  {}. {p}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads, parses, resolves secrets and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: parse_error_message(text, &e),
        })?;
        let mut problems = pbx_keys::foreign_keys(text, &config.pbx);
        config.resolve_secrets(&mut problems);
        config.validate(&mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }

    /// Settings that are allowed but weaken the box, for `pbxgw check` and the log at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(p) = &self.uplink.postgres {
            if p.url
                .as_ref()
                .is_some_and(|u| postgres_tls_disabled(u.expose()))
            {
                warnings.push(
                    "uplink.postgres.url says sslmode=disable: events and the password cross the network in the clear"
                        .to_owned(),
                );
            }
        }
        if let Some(m) = &self.uplink.mqtt {
            if m.password.is_some() && m.tls == Some(false) {
                warnings.push(
                    "uplink.mqtt has tls = false with a password: it crosses the network in the clear"
                        .to_owned(),
                );
            }
        }
        warnings
    }

    pub fn db_path(&self) -> PathBuf {
        self.gateway.data_dir.join("pbxgw.db")
    }

    fn resolve_secrets(&mut self, problems: &mut Vec<Problem>) {
        for (i, pbx) in self.pbx.iter_mut().enumerate() {
            let at = format!("pbx[{i}]");
            resolve_secret(
                &at,
                "pin",
                &mut pbx.pin,
                &pbx.pin_env,
                &pbx.pin_file,
                problems,
            );
            resolve_secret(
                &at,
                "gsm_pin",
                &mut pbx.gsm_pin,
                &pbx.gsm_pin_env,
                &pbx.gsm_pin_file,
                problems,
            );
            resolve_secret(
                &at,
                "secret",
                &mut pbx.secret,
                &pbx.secret_env,
                &pbx.secret_file,
                problems,
            );
            resolve_secret(
                &at,
                "password",
                &mut pbx.password,
                &pbx.password_env,
                &pbx.password_file,
                problems,
            );
        }
        if let Some(m) = &mut self.uplink.mqtt {
            resolve_secret(
                "uplink.mqtt",
                "password",
                &mut m.password,
                &m.password_env,
                &m.password_file,
                problems,
            );
        }
        if let Some(w) = &mut self.uplink.webhook {
            resolve_secret(
                "uplink.webhook",
                "url",
                &mut w.url,
                &w.url_env,
                &w.url_file,
                problems,
            );
            resolve_secret(
                "uplink.webhook",
                "token",
                &mut w.token,
                &w.token_env,
                &w.token_file,
                problems,
            );
        }
        if let Some(a) = &mut self.api {
            resolve_secret(
                "api",
                "token",
                &mut a.token,
                &a.token_env,
                &a.token_file,
                problems,
            );
        }
        if let Some(m) = &mut self.modem {
            resolve_secret(
                "modem",
                "pin",
                &mut m.pin,
                &m.pin_env,
                &m.pin_file,
                problems,
            );
        }
        if let Some(p) = &mut self.uplink.postgres {
            resolve_secret(
                "uplink.postgres",
                "url",
                &mut p.url,
                &p.url_env,
                &p.url_file,
                problems,
            );
        }
    }

    /// Every duration key has an allowed range, so a value from the file can never
    /// overflow a clock or a timer, and nothing is silently clamped.
    fn validate_ranges(&self, problem: &mut dyn FnMut(&str, &dyn fmt::Display, &str)) {
        let mut check = |key: &str, value: Option<u64>, range: RangeInclusive<u64>, unit: &str| {
            if let Some(v) = value.filter(|v| !range.contains(v)) {
                let fix = format!("use {} to {} {unit}", range.start(), range.end());
                problem(key, &v, &fix);
            }
        };
        const DAY: u64 = 86_400;
        check(
            "contacts.central_sync_s",
            self.contacts.central_sync_s,
            60..=7 * DAY,
            "seconds",
        );
        check(
            "sms.cooldown_s",
            Some(self.sms.cooldown_s),
            0..=30 * DAY,
            "seconds",
        );
        check(
            "sms.validity_h",
            Some(self.sms.validity_h.into()),
            1..=24 * 7,
            "hours",
        );
        check(
            "store.history_days",
            Some(self.store.history_days.into()),
            1..=3_650,
            "days",
        );
        check(
            "store.batch_wait_ms",
            Some(self.store.batch_wait_ms),
            0..=1_000,
            "ms",
        );
        if let Some(m) = &self.modem {
            check(
                "modem.register_within_s",
                m.register_within_s,
                1..=3_600,
                "seconds",
            );
            check("modem.send_within_s", m.send_within_s, 1..=3_600, "seconds");
        }
        for (i, pbx) in self.pbx.iter().enumerate() {
            let key = |k: &str| format!("pbx[{i}].{k}");
            check(
                &key("probe_after_s"),
                pbx.probe_after_s,
                1..=3_600,
                "seconds",
            );
            check(
                &key("resync_every_s"),
                pbx.resync_every_s,
                10..=DAY,
                "seconds",
            );
        }
        if let Some(w) = &self.uplink.webhook {
            check(
                "uplink.webhook.timeout_s",
                Some(w.timeout_s),
                1..=300,
                "seconds",
            );
        }
        if let Some(m) = &self.uplink.mqtt {
            check(
                "uplink.mqtt.keepalive_s",
                Some(m.keepalive_s),
                5..=3_600,
                "seconds",
            );
            let status = Some(m.status_interval_s);
            check(
                "uplink.mqtt.status_interval_s",
                status,
                1..=3_600,
                "seconds",
            );
        }
    }

    fn validate(&self, problems: &mut Vec<Problem>) {
        let mut problem = |key: &str, value: &dyn fmt::Display, fix: &str| {
            problems.push(Problem {
                key: key.into(),
                value: value.to_string(),
                fix: fix.into(),
            })
        };
        for (i, rule) in self.sms.rules.iter().enumerate() {
            let key = format!("sms.rule[{i}]");
            if rule.on == RuleTrigger::IvrDigit && rule.digit.is_none() {
                problem(
                    &format!("{key}.digit"),
                    &"(missing)",
                    "an ivr_digit rule needs digit = \"1\"",
                );
            }
            if rule.text.trim().is_empty() {
                problem(&format!("{key}.text"), &"\"\"", "write the text to send");
            }
            if let Some(bad) = crate::sms::rules::unknown_placeholder(&rule.text) {
                problem(
                    &format!("{key}.text"),
                    &bad,
                    "use {caller}, {extension}, {date} or {time}",
                );
            }
        }
        if self.contacts.central_sync_s.is_some() && self.uplink.postgres.is_none() {
            problem(
                "contacts.central_sync_s",
                &self.contacts.central_sync_s.unwrap_or_default(),
                "the sync reads PostgreSQL: add [uplink.postgres] or remove this key",
            );
        }
        self.validate_ranges(&mut problem);
        if let Some(w) = &self.uplink.webhook {
            let url = w.url.as_ref().map_or("", |u| u.expose());
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.parse::<axum::http::Uri>().is_err() {
                // The URL may carry credentials: never echo it.
                problem(
                    "uplink.webhook.url",
                    &"(not shown)",
                    "set url, url_env or url_file to an http:// or https:// URL",
                );
            }
        }
        let weak_token = |a: &ApiConfig| a.token.as_ref().is_none_or(|t| t.expose().len() < 16);
        if self.api.as_ref().is_some_and(weak_token) {
            problem(
                "api.token",
                &"(missing or shorter than 16 characters)",
                "set token_file to a file holding a long random token (e.g. openssl rand -hex 24)",
            );
        }
        if let Err(e) = board::profile::Profile::load(&self.board.profile) {
            problem("board.profile", &self.board.profile, &e.to_string());
        }
        for (i, name) in self.commands.allow.iter().enumerate() {
            if !crate::commands::KNOWN.contains(&name.as_str()) {
                problem(
                    &format!("commands.allow[{i}]"),
                    name,
                    &format!("use one of {}", crate::commands::KNOWN.join(", ")),
                );
            }
        }
        if !self.sms.country_code.chars().all(|c| c.is_ascii_digit())
            || self.sms.country_code.is_empty()
        {
            problem(
                "sms.country_code",
                &self.sms.country_code,
                "digits only, e.g. \"48\"",
            );
        }
        let lists = [("allow", &self.numbers.allow), ("deny", &self.numbers.deny)];
        for (key, list) in lists {
            for (i, prefix) in list.iter().flatten().enumerate() {
                let digits = prefix.strip_prefix('+').unwrap_or("");
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    problem(
                        &format!("numbers.{key}[{i}]"),
                        &format!("{prefix:?}"),
                        "use an E.164 prefix such as \"+48\" or \"+48700\"",
                    );
                }
            }
        }
        if !is_topic_safe_id(&self.gateway.id) {
            problem(
                "gateway.id",
                &format!("{:?}", self.gateway.id),
                "use 1-64 letters, digits, '-' or '_' (it is part of every MQTT topic)",
            );
        }
        if self.store.max_size_mb < 4 {
            problem(
                "store.max_size_mb",
                &self.store.max_size_mb,
                "use at least 4 (MB)",
            );
        }
        if self.store.history_days == 0 {
            problem(
                "store.history_days",
                &0,
                "use at least 1 (days of acknowledged events kept for the status page)",
            );
        }
        if self.store.batch_max == 0 || self.store.batch_max > 100_000 {
            problem(
                "store.batch_max",
                &self.store.batch_max,
                "use 1..100000 events per transaction",
            );
        }
        if self.store.batch_wait_ms > 1000 {
            problem(
                "store.batch_wait_ms",
                &self.store.batch_wait_ms,
                "use 0..1000 ms",
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, pbx) in self.pbx.iter().enumerate() {
            let key = |k: &str| format!("pbx[{i}].{k}");
            if !is_topic_safe_id(&pbx.name) {
                problem(
                    &key("name"),
                    &format!("{:?}", pbx.name),
                    "use 1-64 letters, digits, '-' or '_'",
                );
            } else if !names.insert(pbx.name.as_str()) {
                problem(
                    &key("name"),
                    &format!("{:?}", pbx.name),
                    "every [[pbx]] needs its own name",
                );
            }
            if pbx.port == Some(0) {
                problem(&key("port"), &0, "use the PBX's TCP port (1..65535)");
            }
            match pbx.kind {
                PbxKind::Ctip | PbxKind::Ami => {
                    if pbx.host.as_deref().is_none_or(str::is_empty) {
                        problem(
                            &key("host"),
                            &"(missing)",
                            "set the PBX's IP address or host name",
                        );
                    }
                }
                PbxKind::Ari => {
                    let url = pbx.url.as_deref().unwrap_or("");
                    if let Err(fix) = crate::pbx::ari::base_url(url) {
                        let shown = if url.contains('@') {
                            "(not shown)"
                        } else {
                            url
                        };
                        problem(&key("url"), &format!("{shown:?}"), &fix);
                    }
                }
            }
            let needs =
                |k: &str, present: bool, problem: &mut dyn FnMut(&str, &dyn fmt::Display, &str)| {
                    if !present {
                        problem(
                            &key(k),
                            &"(missing)",
                            &format!(
                                "required for kind = \"{}\"; set {k}, {k}_env or {k}_file",
                                pbx.kind.as_str()
                            ),
                        );
                    }
                };
            if let Some(cp) = pbx.codepage {
                if crate::pbx::ctip::codec::CodePage::by_number(cp).is_none() {
                    problem(
                        &key("codepage"),
                        &cp,
                        "use a single-byte OEM code page such as 852 (Polish) or 437",
                    );
                }
            }
            for (ext, digit) in &pbx.ivr_map {
                if ext.is_empty()
                    || digit.is_empty()
                    || !digit
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
                {
                    problem(
                        &key("ivr_map"),
                        &format!("{ext:?} = {digit:?}"),
                        "map an extension to the digit(s) that lead there, e.g. \"999\" = \"9\"",
                    );
                }
            }
            match pbx.kind {
                PbxKind::Ctip => {
                    needs("pin", pbx.pin.is_some(), &mut problem);
                    if pbx.gsm_module.is_some() {
                        needs("gsm_pin", pbx.gsm_pin.is_some(), &mut problem);
                    }
                }
                PbxKind::Ami => {
                    needs("username", pbx.username.is_some(), &mut problem);
                    needs("secret", pbx.secret.is_some(), &mut problem);
                    if let Some(ch) = &pbx.originate_channel {
                        if !ch.contains("{extension}") {
                            problem(
                                &key("originate_channel"),
                                ch,
                                "use a dial string with {extension}, e.g. \"PJSIP/{extension}\"",
                            );
                        }
                    }
                }
                PbxKind::Ari => {
                    needs("username", pbx.username.is_some(), &mut problem);
                    needs("password", pbx.password.is_some(), &mut problem);
                    needs("app", pbx.app.is_some(), &mut problem);
                }
            }
            if let Some(ivr) = &pbx.ivr {
                ivr.validate(&|k| key(&format!("ivr.{k}")), &mut problem);
            }
        }
        if let Some(m) = &self.uplink.mqtt {
            if m.host.is_empty() {
                problem("uplink.mqtt.host", &"\"\"", "set the broker's host name");
            }
            if m.port == Some(0) {
                problem(
                    "uplink.mqtt.port",
                    &0,
                    "use 1..65535 (1883, or 8883 with TLS)",
                );
            }
            if m.topic_prefix.is_empty()
                || m.topic_prefix.ends_with('/')
                || m.topic_prefix.contains(['+', '#'])
            {
                problem(
                    "uplink.mqtt.topic_prefix",
                    &format!("{:?}", m.topic_prefix),
                    "use a topic without wildcards and without a trailing '/', e.g. \"pbxgw/v1\"",
                );
            }
            if m.max_inflight == 0 {
                problem("uplink.mqtt.max_inflight", &0, "use 1..65535");
            }
            if m.client_cert.is_some() != m.client_key.is_some() {
                problem(
                    "uplink.mqtt.client_cert",
                    &"(only one of client_cert/client_key set)",
                    "set both client_cert and client_key, or neither",
                );
            }
            if m.password.is_some() && m.tls.is_none() {
                problem(
                    "uplink.mqtt.tls",
                    &"(not set)",
                    "a password is set: set tls = true, or write tls = false to send it in the clear on a trusted LAN",
                );
            }
            if !m.tls() && (m.ca_file.is_some() || m.client_cert.is_some()) {
                problem(
                    "uplink.mqtt.tls",
                    &false,
                    "set tls = true, or remove ca_file/client_cert/client_key",
                );
            }
            for (k, file) in [
                ("ca_file", &m.ca_file),
                ("client_cert", &m.client_cert),
                ("client_key", &m.client_key),
            ] {
                if let Some(f) = file {
                    if !f.is_file() {
                        problem(
                            &format!("uplink.mqtt.{k}"),
                            &f.display(),
                            "no such file; give the path of a PEM file",
                        );
                    }
                }
            }
        }
        if let Some(p) = &self.uplink.postgres {
            match &p.url {
                None => problem(
                    "uplink.postgres.url",
                    &"(missing)",
                    "set url, url_env or url_file, e.g. postgresql://pbxgw@db.example/pbx",
                ),
                Some(url) => {
                    if url.expose().parse::<tokio_postgres::Config>().is_err() {
                        // The URL may carry a password: never echo it.
                        problem(
                            "uplink.postgres.url",
                            &"(hidden)",
                            "not a valid PostgreSQL URL; use postgresql://USER[:PASSWORD]@HOST[:PORT]/DB",
                        );
                    }
                }
            }
            if p.batch_size == 0 || p.batch_size > 50_000 {
                problem(
                    "uplink.postgres.batch_size",
                    &p.batch_size,
                    "use 1..50000 rows per transaction",
                );
            }
        }
    }
}

fn is_topic_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Fills `value` from `<name>_env` or `<name>_file` when given; exactly one source is allowed.
fn resolve_secret(
    section: &str,
    name: &str,
    value: &mut Option<Secret>,
    env: &Option<String>,
    file: &Option<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    let sources = value.is_some() as u8 + env.is_some() as u8 + file.is_some() as u8;
    if sources > 1 {
        problems.push(Problem {
            key: format!("{section}.{name}"),
            value: "(set more than once)".into(),
            fix: format!("use only one of {name}, {name}_env, {name}_file"),
        });
        return;
    }
    if let Some(var) = env {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => *value = Some(Secret(v)),
            _ => problems.push(Problem {
                key: format!("{section}.{name}_env"),
                value: format!("{var:?}"),
                fix: format!("the environment variable {var} is not set or empty; export it"),
            }),
        }
    }
    if let Some(path) = file {
        match std::fs::read_to_string(path) {
            Ok(v) if !v.trim_end_matches(['\r', '\n']).is_empty() => {
                *value = Some(Secret(v.trim_end_matches(['\r', '\n']).to_owned()))
            }
            Ok(_) => problems.push(Problem {
                key: format!("{section}.{name}_file"),
                value: path.display().to_string(),
                fix: "the file is empty; put the secret in it".into(),
            }),
            Err(e) => problems.push(Problem {
                key: format!("{section}.{name}_file"),
                value: path.display().to_string(),
                fix: format!("cannot read it ({e}); check the path and permissions"),
            }),
        }
    }
}

/// A commented template an installer can start from (`pbxgw config-template`).
pub const TEMPLATE: &str = include_str!("../pbxgw.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    /// The problems of a configuration that must not load.
    fn problems(text: &str) -> Vec<Problem> {
        match load(text) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    use std::collections::BTreeMap;

    #[test]
    fn template_is_valid() {
        let c = load(TEMPLATE).expect("template must load");
        assert_eq!(c.gateway.id, "site-01");
    }

    #[test]
    fn unknown_key_is_an_error_that_names_it() {
        let e = load("[gateway]\nid = \"a\"\nidd = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("idd"), "{e}");
    }

    #[test]
    fn problems_name_key_value_and_fix() {
        let problems = problems(
            "[gateway]\nid = \"bad/id\"\n[store]\nmax_size_mb = 1\n[[pbx]]\nname = \"p\"\nkind = \"ami\"\nhost = \"h\"\n",
        );
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "gateway.id",
                "store.max_size_mb",
                "pbx[0].username",
                "pbx[0].secret"
            ]
        );
        assert!(problems[0].value.contains("bad/id"));
        assert!(problems[0].fix.contains("MQTT topic"));
    }

    #[test]
    fn the_built_in_ivr_is_checked() {
        let problems = problems(
            "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n[pbx.ivr]\nprompt = \"welcome\"\ncontext = \"\"\nextension = \"queue\"\nvariable = \"IVR DIGIT\"\ntimeout_s = 0\n",
        );
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "pbx[0].ivr (line 9)",
                "pbx[0].ivr.prompt",
                "pbx[0].ivr.context",
                "pbx[0].ivr.variable",
                "pbx[0].ivr.timeout_s"
            ]
        );
        assert!(problems[0].fix.contains("kind = \"ari\""));
        assert!(problems[1].fix.contains("sound:welcome"));
    }

    #[test]
    fn secret_from_env_and_file_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "hunter2\n").unwrap();
        std::env::set_var("PBXGW_TEST_SECRET", "s3cr3t");
        let c = load(&format!(
            "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\nsecret_env = \"PBXGW_TEST_SECRET\"\n[uplink.mqtt]\nhost = \"b\"\ntls = false\nusername = \"u\"\npassword_file = {:?}\n",
            f
        ))
        .unwrap();
        assert_eq!(c.pbx[0].secret.as_ref().unwrap().expose(), "s3cr3t");
        let mqtt = c.uplink.mqtt.as_ref().unwrap();
        assert_eq!(mqtt.password.as_ref().unwrap().expose(), "hunter2");
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t") && !debug.contains("hunter2"));
    }

    #[test]
    fn missing_env_secret_is_named() {
        let e =
            load("[gateway]\nid = \"a\"\n[uplink.postgres]\nurl_env = \"PBXGW_NOPE_NOT_SET\"\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("uplink.postgres.url_env"), "{e}");
        assert!(e.contains("PBXGW_NOPE_NOT_SET"), "{e}");
    }

    #[test]
    fn bad_postgres_url_is_not_echoed() {
        let e = load("[gateway]\nid = \"a\"\n[uplink.postgres]\nurl = \"postgresql://u:topsecret@h:notaport/db\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("uplink.postgres.url"), "{e}");
        assert!(!e.contains("topsecret"), "{e}");
    }

    const AMI: &str = "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\n";

    #[test]
    fn a_config_error_on_a_secret_names_line_and_key_but_never_the_value() {
        let cases = [
            format!("{AMI}secret = 98765431x\n"),
            format!("{AMI}secret = \"hunter2-unterminated\n"),
            format!("{AMI}[pbx.ivr]\nprompt = {{ secret = \"hunter2inline\", x = }}\n"),
            "[gateway]\nid = \"a\"\n[modem]\nport = \"/dev/x\"\npin = 98765431.5\n".into(),
        ];
        for text in cases {
            let e = load(&text).unwrap_err().to_string();
            for secret in ["98765431", "hunter2"] {
                assert!(!e.contains(secret), "{secret} echoed in: {e}");
            }
            assert!(e.contains("line "), "{e}");
        }
        let e = load(&format!("{AMI}secret = 98765431x\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 8") && e.contains("key `secret`"), "{e}");
    }

    /// A block of one kind carrying keys of the others (a copied block) is refused, each key
    /// by name and line, and a secret among them is never shown.
    #[test]
    fn keys_of_another_pbx_kind_are_refused_by_name_and_line() {
        let text = format!(
            "{AMI}secret = \"s\"\npin = \"98765431\"\ncodepage = 852\nivr_map = {{ \"999\" = \"9\" }}\ngsm_module = \"G001\"\napp = \"gw\"\nurl = \"http://h:8088\"\n"
        );
        let problems = problems(&text);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "pbx[0].app (line 13)",
                "pbx[0].codepage (line 10)",
                "pbx[0].gsm_module (line 12)",
                "pbx[0].ivr_map (line 11)",
                "pbx[0].pin (line 9)",
                "pbx[0].url (line 14)",
            ]
        );
        assert!(problems[4].fix.contains("kind = \"ctip\"") && problems[4].fix.contains("\"ami\""));
        assert!(
            problems[0].fix.contains("kind = \"ari\""),
            "{}",
            problems[0].fix
        );
        let all = load(&text).unwrap_err().to_string();
        assert!(!all.contains("98765431"), "{all}");
        // Each kind's own keys pass.
        load(&format!(
            "{AMI}secret = \"s\"\ninbound_contexts = [\"in\"]\nresync_every_s = 60\n"
        ))
        .unwrap();
        load("[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ari\"\nurl = \"http://h:8088\"\nusername = \"u\"\npassword = \"p\"\napp = \"gw\"\nsubscribe_all = true\ninbound_contexts = [\"in\"]\n").unwrap();
    }

    #[test]
    fn a_numeric_pin_is_the_digits_it_is() {
        let c = load("[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ctip\"\nhost = \"h\"\npin = 98765431\n")
            .expect("a PIN written as a number loads");
        assert_eq!(c.pbx[0].pin.as_ref().map(Secret::expose), Some("98765431"));
    }

    #[test]
    fn every_duration_has_a_range_and_the_overflowing_one_is_refused() {
        let problems = problems(&format!(
            "{AMI}secret = \"s\"\nprobe_after_s = 18446744073709551615\nresync_every_s = 1\n\
             [uplink.mqtt]\nhost = \"b\"\nkeepalive_s = 0\n[sms]\ncooldown_s = 18446744073709551615\n"
        ));
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "sms.cooldown_s",
                "pbx[0].probe_after_s",
                "pbx[0].resync_every_s",
                "uplink.mqtt.keepalive_s"
            ]
        );
        assert_eq!(problems[1].fix, "use 1 to 3600 seconds");
    }

    #[test]
    fn a_password_without_tls_must_be_written_as_such_and_is_warned_about() {
        let mqtt = "[gateway]\nid = \"a\"\n[uplink.mqtt]\nhost = \"b\"\nusername = \"u\"\npassword = \"p\"\n";
        let problems = problems(mqtt);
        assert_eq!(problems[0].key, "uplink.mqtt.tls");
        let c = load(&format!("{mqtt}tls = false\n")).unwrap();
        assert_eq!(c.warnings().len(), 1, "{:?}", c.warnings());
        assert!(load(&format!("{mqtt}tls = true\n"))
            .unwrap()
            .warnings()
            .is_empty());
    }

    #[test]
    fn postgres_requires_tls_unless_the_url_turns_it_off() {
        assert!(postgres_tls_disabled("postgresql://u@h/db?sslmode=disable"));
        assert!(postgres_tls_disabled("host=h sslmode=disable user=u"));
        assert!(!postgres_tls_disabled("postgresql://u@h/db"));
        assert!(!postgres_tls_disabled("postgresql://u@h/db?sslmode=prefer"));
        let c = load("[gateway]\nid = \"a\"\n[uplink.postgres]\nurl = \"postgresql://u:pw@h/db?sslmode=disable\"\n").unwrap();
        let warnings = c.warnings();
        assert!(warnings[0].contains("sslmode=disable") && !warnings[0].contains("pw"));
    }

    /// Structure-aware: the file's sections with values of every TOML type and size in
    /// every duration, size and name key; the result is a config or an error, never a
    /// panic, and a config's durations fit a clock.
    mod shaped {
        use super::*;
        use proptest::prelude::*;

        const KEYS: [(&str, &str); 20] = [
            ("store", "max_size_mb"),
            ("store", "history_days"),
            ("store", "batch_max"),
            ("store", "batch_wait_ms"),
            ("pbx", "probe_after_s"),
            ("pbx", "resync_every_s"),
            ("pbx", "codepage"),
            ("pbx", "port"),
            ("pbx", "pin"),
            ("sms", "country_code"),
            ("sms", "cooldown_s"),
            ("sms", "validity_h"),
            ("sms", "min_national_digits"),
            ("sms", "trunk_prefix"),
            ("numbers", "max_digits"),
            ("numbers", "allow"),
            ("commands", "rate_per_minute"),
            ("uplink.mqtt", "keepalive_s"),
            ("uplink.mqtt", "status_interval_s"),
            ("uplink.mqtt", "max_inflight"),
        ];

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                Just("9223372036854775807".to_owned()),
                Just("0".to_owned()),
                Just("-1".to_owned()),
                Just("1e308".to_owned()),
                Just("nan".to_owned()),
                "[ąę0-9a-z]{0,12}".prop_map(|t| format!("{t:?}")),
                Just("[]".to_owned()),
                Just("[\"+48\", 1]".to_owned()),
                Just("{ a = 1 }".to_owned()),
                Just("true".to_owned()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::mutate::cases()))]

            #[test]
            fn any_value_in_any_key_is_a_config_or_an_error(
                fields in proptest::collection::vec((proptest::sample::select(&KEYS[..]), value()), 0..6)
            ) {
                let mut sections: BTreeMap<&str, Vec<String>> = BTreeMap::new();
                for ((section, key), v) in fields {
                    sections.entry(section).or_default().push(format!("{key} = {v}"));
                }
                let mut text = "[gateway]\nid = \"f\"\n".to_owned();
                for (section, lines) in &sections {
                    let mut seen = std::collections::HashSet::new();
                    let lines: Vec<_> = lines
                        .iter()
                        .filter(|l| seen.insert(l.split(' ').next().unwrap_or("").to_owned()))
                        .collect();
                    match *section {
                        "pbx" => text += "[[pbx]]\nname = \"p\"\nkind = \"ctip\"\nhost = \"h\"\n",
                        "uplink.mqtt" => text += "[uplink.mqtt]\nhost = \"b\"\n",
                        other => text += &format!("[{other}]\n"),
                    }
                    for l in lines {
                        text += &format!("{l}\n");
                    }
                }
                if let Ok(c) = load(&text) {
                    let _ = (c.warnings(), c.number_policy(), c.sms.plan());
                    for pbx in &c.pbx {
                        let s = crate::pbx::ctip::session::CtipSettings::from_config(pbx);
                        prop_assert!(std::time::Instant::now().checked_add(s.probe_after).is_some());
                        let a = crate::pbx::ami::session::AmiSettings::from_config(pbx);
                        prop_assert!(std::time::Instant::now().checked_add(a.resync_every).is_some());
                    }
                }
            }
        }
    }
}
