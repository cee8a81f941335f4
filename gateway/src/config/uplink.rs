//! `[uplink.*]`: the central side (MQTT, PostgreSQL, a CRM's webhook).

use std::path::PathBuf;

use serde::Deserialize;

use super::Secret;

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
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<Secret>,
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
    pub(crate) fn port_or_default(&self) -> u16 {
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
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_pg_batch")]
    pub batch_size: usize,
}

fn default_pg_batch() -> usize {
    1000
}
