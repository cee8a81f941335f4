//! Uplink sinks. Each sink drains the durable log from its own cursor, sends in order, and
//! moves its cursor only after the far side acknowledged (MQTT PUBACK, PostgreSQL COMMIT).
//! Delivery is at-least-once; every message carries `(gateway_id, seq)` for deduplication.

pub mod json;
pub mod mqtt;
pub mod postgres;
pub mod webhook;

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
    if config.uplink.webhook.is_some() {
        sinks.push(webhook::SINK.to_owned());
    }
    sinks
}

/// The next events after `after` (at most `limit`), waiting for new ones when the sink has
/// caught up. `None` when shutdown starts.
pub(crate) async fn next_batch(
    ctx: &SinkContext,
    after: u64,
    limit: usize,
    committed: &mut watch::Receiver<u64>,
    link: &str,
) -> Result<Option<Vec<crate::store::StoredEvent>>, crate::store::StoreError> {
    loop {
        let batch = ctx
            .reader
            .call(move |r| r.events_after(after, limit))
            .await?;
        if !batch.is_empty() {
            return Ok(Some(batch));
        }
        ctx.links.set(link, crate::calls::LinkState::Up, None);
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(None),
            changed = committed.changed() => {
                if changed.is_err() {
                    ctx.shutdown.cancelled().await;
                    return Ok(None);
                }
            }
        }
    }
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
    /// Remote commands beyond `ping` and `status`; `None`: refused as unsupported.
    pub commands: Option<std::sync::Arc<crate::commands::Commands>>,
}

impl SinkContext {
    /// The status report as of now (store statistics are read on the blocking pool).
    pub async fn status(&self) -> Result<crate::health::StatusReport, crate::store::StoreError> {
        let sinks = self.sinks.clone();
        let stats = self.reader.call(move |r| r.stats(&sinks)).await?;
        Ok(crate::health::StatusReport::new(
            &self.gateway_id,
            self.links.snapshot(),
            self.links.counters(),
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

/// A failure of one sink connection.
pub(crate) trait SinkError: std::fmt::Display {
    /// True for failures only the installer can fix (credentials, TLS, grants): shown as
    /// "needs installer" rather than "down".
    fn needs_installer(&self) -> bool;
}

/// One connection of a sink: connect, send from `acked` on, advance `acked` as the far side
/// acknowledges. Returns `Ok` only when shutdown was requested.
pub(crate) trait Session {
    type Error: SinkError;
    async fn session(&self, acked: &mut u64) -> Result<(), Self::Error>;
}

/// Runs a sink until shutdown: resumes from its stored cursor, and after any failure shows
/// the link's state and reconnects with capped, jittered backoff (reset after a connection
/// that lasted).
pub(crate) async fn supervise<S: Session>(ctx: &SinkContext, sink: &str, link: &str, s: S) {
    use crate::calls::LinkState;
    use std::time::{Duration, Instant};
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    let sink_name = sink.to_owned();
    let mut acked = match ctx.reader.call(move |r| r.cursor(&sink_name)).await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::error!(sink, error = %e, "sink cannot read its cursor; not starting");
            ctx.links.set(link, LinkState::Down, Some(e.to_string()));
            return;
        }
    };
    loop {
        ctx.links.set(link, LinkState::Connecting, None);
        let started = Instant::now();
        match s.session(&mut acked).await {
            Ok(()) => return,
            Err(e) => {
                let state = if e.needs_installer() {
                    LinkState::NeedsInstaller
                } else {
                    LinkState::Down
                };
                tracing::warn!(sink, error = %e, acked, "uplink failed; will reconnect");
                ctx.links.set(link, state, Some(e.to_string()));
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff.reset();
        }
        if !ctx.sleep(backoff.next_delay()).await {
            return;
        }
    }
}
