//! The webhook sink: a CRM's HTTP endpoint gets each selected event as a JSON POST (the same
//! payload as MQTT `event/{kind}`), in order, from the durable log with its own cursor, like
//! the other sinks. The screen-pop case: `call.ringing` opens the customer's card.
//!
//! * 2xx: delivered, the cursor moves.
//! * 4xx other than 408/429: the CRM refuses this event for good; it is counted
//!   (`webhook.refused` on the status page), logged, and passed so one bad event cannot
//!   block the log.
//! * 408, 429, 5xx, timeouts, connection errors: retried with backoff, nothing is skipped.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::json::event_json;
use super::tls::{client_config, TlsError};
use super::{SinkContext, SinkError};
use crate::calls::LinkState;
use crate::config::WebhookConfig;
use crate::store::{StoreError, StoredEvent};

pub const SINK: &str = "webhook";
const LINK: &str = "uplink:webhook";

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<bytes::Bytes>,
>;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("webhook TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("{0} answered HTTP {1}; will retry")]
    Status(String, u16),
    #[error("{0} refused the credentials (HTTP {1}); check [uplink.webhook] token")]
    Unauthorized(String, u16),
    #[error("{0}: {1}")]
    Request(String, String),
    #[error("{0}: no answer within {1:?}")]
    Timeout(String, Duration),
}

impl SinkError for WebhookError {
    fn needs_installer(&self) -> bool {
        matches!(self, WebhookError::Unauthorized(..) | WebhookError::Tls(_))
    }
}

pub struct WebhookSink {
    config: WebhookConfig,
    client: HttpsClient,
    kinds: Vec<String>,
    ctx: SinkContext,
}

impl WebhookSink {
    pub fn new(config: WebhookConfig, ctx: SinkContext) -> Result<WebhookSink, WebhookError> {
        let tls = client_config(config.ca_file.as_deref(), None)?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        let kinds = config.kinds.clone().unwrap_or_else(|| {
            ["call.ringing", "call.answered", "call.ended"]
                .map(String::from)
                .to_vec()
        });
        Ok(WebhookSink {
            config,
            client,
            kinds,
            ctx,
        })
    }

    pub async fn run(self) {
        let ctx = self.ctx.clone();
        super::supervise(&ctx, SINK, LINK, self).await;
    }

    fn wanted(&self, kind: &str) -> bool {
        self.kinds.iter().any(|k| match k.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => k == kind,
        })
    }

    /// POSTs one event; `Ok(false)` when the CRM refused it for good.
    async fn post(&self, event: &StoredEvent) -> Result<bool, WebhookError> {
        let body = event_json(&self.ctx.gateway_id, event, false).to_string();
        let mut request = axum::http::Request::post(&self.config.url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("pbxgw/", env!("CARGO_PKG_VERSION")));
        if let Some(token) = &self.config.token {
            request = request.header("authorization", format!("Bearer {}", token.expose()));
        }
        let url = self.config.url.clone();
        let request = request
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| WebhookError::Request(url.clone(), e.to_string()))?;
        let limit = Duration::from_secs(self.config.timeout_s.max(1));
        let response = match tokio::time::timeout(limit, self.client.request(request)).await {
            Err(_) => return Err(WebhookError::Timeout(url, limit)),
            Ok(Err(e)) => return Err(WebhookError::Request(url, e.to_string())),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        // Read the answer out so the connection can be reused.
        let _ = response.into_body().collect().await;
        match status {
            200..=299 => Ok(true),
            401 | 403 => Err(WebhookError::Unauthorized(url, status)),
            408 | 429 | 500..=599 => Err(WebhookError::Status(url, status)),
            _ => Ok(false),
        }
    }
}

impl super::Session for WebhookSink {
    type Error = WebhookError;

    async fn session(&self, acked: &mut u64) -> Result<(), WebhookError> {
        let mut committed = self.ctx.committed.clone();
        loop {
            let next = super::next_batch(&self.ctx, *acked, 200, &mut committed, LINK).await?;
            let Some(batch) = next else {
                return Ok(());
            };
            for event in &batch {
                if self.wanted(&event.kind) && !self.post(event).await? {
                    self.ctx.links.count("webhook.refused");
                    tracing::warn!(seq = event.seq, kind = %event.kind, "the webhook refused an event; passed over");
                }
                *acked = event.seq;
                if self.ctx.shutdown.is_cancelled() {
                    break;
                }
            }
            self.ctx.links.set(LINK, LinkState::Up, None);
            self.ctx
                .appender
                .ack(SINK, *acked)
                .await
                .map_err(|_| StoreError::Closed)?;
            if self.ctx.shutdown.is_cancelled() {
                return Ok(());
            }
        }
    }
}
