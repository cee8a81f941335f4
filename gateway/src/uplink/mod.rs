//! Uplink sinks. Each sink drains the durable log from its own cursor, sends in order, and
//! moves its cursor only after the far side acknowledged (MQTT PUBACK, PostgreSQL COMMIT).
//! Delivery is at-least-once; every message carries `(gateway_id, seq)` for deduplication.

pub mod json;
pub mod mqtt;
pub mod postgres;
pub mod tls;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::health::Links;
use crate::store::{Appender, AsyncReader};

/// The names of the sinks the configuration enables; they hold back retention.
pub fn configured_sinks(config: &Config) -> Vec<String> {
    let mut sinks = Vec::new();
    if config.uplink.mqtt.is_some() {
        sinks.push(mqtt::SINK.to_owned());
    }
    if config.uplink.postgres.is_some() {
        sinks.push(postgres::SINK.to_owned());
    }
    sinks
}

/// What every sink gets from the runtime.
#[derive(Clone)]
pub struct SinkContext {
    pub gateway_id: String,
    pub reader: AsyncReader,
    pub appender: Appender,
    /// The last committed seq; changes wake a sink that has caught up.
    pub committed: watch::Receiver<u64>,
    pub links: Links,
    pub sinks: Vec<String>,
    pub shutdown: CancellationToken,
}

impl SinkContext {
    /// The status report as of now (store statistics are read on the blocking pool).
    pub async fn status(&self) -> Result<crate::health::StatusReport, crate::store::StoreError> {
        let sinks = self.sinks.clone();
        let stats = self.reader.call(move |r| r.stats(&sinks)).await?;
        Ok(crate::health::StatusReport::new(
            &self.gateway_id,
            self.links.snapshot(),
            &stats,
        ))
    }

    /// Sleeps, or returns false at once when shutdown starts.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}
