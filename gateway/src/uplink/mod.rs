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
use crate::link::Links;
use crate::store::{Appender, AsyncReader};

/// The names of the sinks the configuration enables; they hold back retention.
pub(crate) fn configured_sinks(config: &Config) -> Vec<String> {
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
        ctx.links.set(link, crate::link::LinkState::Up, None);
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

/// One connection of a sink: connect, send from `acked` on, advance `acked` as the far side
/// acknowledges. Returns `Ok` only when shutdown was requested.
pub(crate) trait Session {
    type Error: crate::link::LinkError;
    async fn session(&self, acked: &mut u64) -> Result<(), Self::Error>;
}

/// A sink as a link: its sessions, and how far the far side has acknowledged.
struct SinkLink<S> {
    session: S,
    acked: u64,
    link: String,
}

impl<S: Session> crate::link::Link for SinkLink<S> {
    type Error = S::Error;

    fn name(&self) -> String {
        self.link.clone()
    }

    async fn connected(&mut self) -> Result<(), S::Error> {
        self.session.session(&mut self.acked).await
    }

    async fn lost(&mut self, _error: &S::Error) -> crate::link::Retry {
        tracing::info!(link = %self.link, acked = self.acked, "uplink will resume after its last acknowledged event");
        crate::link::Retry::AfterBackoff
    }
}

/// Runs a sink until shutdown: resumes from its stored cursor, and reconnects after any
/// failure under the link supervisor.
pub(crate) async fn supervise<S: Session>(ctx: &SinkContext, sink: &str, link: &str, s: S) {
    let sink_name = sink.to_owned();
    let acked = match ctx.reader.call(move |r| r.cursor(&sink_name)).await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::error!(sink, error = %e, "sink cannot read its cursor; not starting");
            ctx.links
                .set(link, crate::link::LinkState::Down, Some(e.to_string()));
            return;
        }
    };
    let sink = SinkLink {
        session: s,
        acked,
        link: link.to_owned(),
    };
    crate::link::supervise(sink, &ctx.links, crate::link::Policy::UPLINK, &ctx.shutdown).await
}
