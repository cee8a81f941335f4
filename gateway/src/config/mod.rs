//! The configuration file (`/etc/pbxgw/pbxgw.toml` by default).
//!
//! Every key is checked at start: unknown keys are errors (a typo must not silently fall back
//! to a default), and each problem names the key, the bad value and the fix. Any secret can be
//! given inline (`password = "..."`), from an environment variable (`password_env = "VAR"`) or
//! from a file (`password_file = "/run/secrets/x"`); secrets are held in [`Secret`], whose
//! `Debug` and `Display` never show the value.

mod parse_error;
mod pbx;
mod pbx_keys;
mod secret;
mod section;
mod uplink;
mod validate;

pub(crate) use pbx::{AmiConfig, AriConfig, CtipConfig};
pub use pbx::{PbxConfig, PbxKind};
pub use secret::Secret;
pub(crate) use section::Section;
pub(crate) use uplink::{MqttConfig, PostgresConfig, UplinkConfig, WebhookConfig};

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub(crate) const DEFAULT_PATH: &str = "/etc/pbxgw/pbxgw.toml";

/// True when a PostgreSQL URL turns TLS off explicitly (`sslmode=disable`). Without it the
/// sink requires TLS, whatever libpq's default `prefer` would do.
pub(crate) fn postgres_tls_disabled(url: &str) -> bool {
    url.split(['?', '&', ' '])
        .any(|part| part.trim().eq_ignore_ascii_case("sslmode=disable"))
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
    /// Servers the site depends on, whose TCP connect time is charted beside the links'.
    #[serde(default)]
    pub monitor: Vec<MonitorConfig>,
    /// Cisco Finesse teams whose agents' states feed the panel.
    #[serde(default)]
    pub finesse: Vec<crate::pbx::finesse::FinesseConfig>,
    /// The file this was read from (`config.reload` reads it again); `None` when built from
    /// text.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[[monitor]]`: a server to watch (a TCP connect every minute; ICMP needs privileges the
/// hardened service does not have).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Shown as `monitor:<name>`.
    pub name: String,
    /// `host:port`, e.g. `crm.example.com:443`.
    pub target: String,
}

/// Most `[[monitor]]` targets: each costs a connection a minute and a chart.
pub const MAX_MONITORS: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Where to listen (default `127.0.0.1:8080`; the LAN address to reach it from others).
    #[serde(default = "default_api_bind")]
    pub bind: std::net::SocketAddr,
    /// The bearer token every request but `/health` must carry.
    pub token: Option<Secret>,
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
    /// `call.transfer`, `record.start`, `record.stop`, `queue.pause`, `contacts.upsert`,
    /// `contacts.delete`, `operators.upsert`, `operators.delete`, `config.reload`. None by default.
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
    /// Only calls to, rung at or answered at this number.
    pub extension: Option<String>,
    /// `{caller}`, `{extension}`, `{date}`, `{time}` are filled in.
    pub text: String,
    /// Text only numbers the numbering plan shows to be mobiles (PL, DE, UK): a landline
    /// cannot receive the text.
    #[serde(default)]
    pub mobile_only: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub id: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `auto`: events stored while the clock is not known to be right are flagged
    /// `clock_unsynced`; `trusted`: never.
    #[serde(default)]
    pub clock: crate::clock::ClockTrust,
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
    /// Group commit: after the events already waiting, wait at most this long for more
    /// before committing. 0 (the default): commit as soon as the writer is idle; what
    /// arrives during a commit's sync goes into the next one.
    pub batch_wait_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_size_mb: 512,
            history_days: 30,
            sync: SyncMode::Full,
            batch_max: 1000,
            batch_wait_ms: 0,
        }
    }
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
    /// The I/O error is part of the message, not a `source`: shown once, not twice in a
    /// chain.
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
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
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        let mut config = Config::from_toml(&text, path)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: parse_error::parse_error_message(text, &e),
        };
        let mut doc = toml::de::DeTable::parse(text).map_err(parse_error)?;
        let mut problems = pbx_keys::refuse_foreign_keys(doc.get_mut(), text);
        problems.extend(secret::read_secret_sources(doc.get_mut(), text));
        problems.extend(pbx_keys::tag_kinds(doc.get_mut(), text));
        let config = match Config::deserialize(toml::de::Deserializer::from(doc)) {
            Ok(config) => config,
            // What the first passes found (a block without a kind) is what typing trips on.
            Err(_) if !problems.is_empty() => {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    problems,
                })
            }
            Err(e) => return Err(parse_error(e)),
        };
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
        warnings.extend(self.ivr_rules_that_cannot_fire());
        let country = &self.sms.country_code;
        for (i, rule) in self.sms.rules.iter().enumerate() {
            if rule.mobile_only && !crate::numbers::tells_mobiles(country) {
                warnings.push(format!(
                    "sms.rule[{i}] has mobile_only, but numbers of country {country} do not show whether they are mobiles: this rule texts nobody"
                ));
            }
        }
        warnings
    }

    /// An `ivr_digit` rule no PBX can trigger: CTIP carries no digits, only the extension a call
    /// rang, which `ivr_map` turns into a digit; with only CTIP PBXs, a rule whose digit (at
    /// its extension) no `ivr_map` gives never fires.
    fn ivr_rules_that_cannot_fire(&self) -> Vec<String> {
        if self.pbx.iter().any(|p| p.as_ctip().is_none()) || self.pbx.is_empty() {
            return Vec::new(); // AMI and ARI see the caller's real digits.
        }
        let maps: Vec<(&str, &str)> = self
            .pbx
            .iter()
            .filter_map(PbxConfig::as_ctip)
            .flat_map(|c| &c.ivr_map)
            .map(|(ext, digit)| (ext.trim_end_matches('_'), digit.as_str()))
            .collect();
        let mut warnings = Vec::new();
        for (i, rule) in self.sms.rules.iter().enumerate() {
            let (RuleTrigger::IvrDigit, Some(digit)) = (rule.on, rule.digit.as_deref()) else {
                continue;
            };
            let fires = maps.iter().any(|(ext, given)| {
                given.contains(digit) && rule.extension.as_deref().is_none_or(|want| want == *ext)
            });
            if fires {
                continue;
            }
            let name = rule
                .name
                .clone()
                .unwrap_or_else(|| format!("rule{}", i + 1));
            let (at, fix_ext) = match rule.extension.as_deref() {
                Some(ext) => (format!(" at extension {ext}"), ext.to_owned()),
                None => (String::new(), "<the IVR's extension>".to_owned()),
            };
            warnings.push(format!(
                "sms rule {name} (on = \"ivr_digit\", digit {digit}{at}) can never fire: CTIP \
                 learns IVR digits only from ivr_map, and no [[pbx]] ivr_map gives digit \
                 {digit}{at}; add ivr_map = {{ \"{fix_ext}\" = \"{digit}\" }} to the CTIP block"
            ));
        }
        warnings
    }

    pub fn db_path(&self) -> PathBuf {
        self.gateway.data_dir.join("pbxgw.db")
    }
}

/// A commented template an installer can start from (`pbxgw config-template`).
pub(crate) const TEMPLATE: &str = include_str!("../../pbxgw.example.toml");

#[cfg(test)]
mod template_coverage;
#[cfg(test)]
mod tests;
