//! The webhook sink: a CRM's HTTP endpoint gets each selected event as a JSON POST (the same
//! payload as MQTT `event/{kind}`), in order, from the durable log with its own cursor, like
//! the other sinks. The screen-pop case: `call.ringing` opens the customer's card.
//!
//! * 2xx: delivered, the cursor moves.
//! * 4xx other than 408/429: the CRM refuses this event for good; it is counted
//!   (`webhook.refused` on the status page), logged, and passed so one bad event cannot
//!   block the log.
//! * 408, 429, 5xx, timeouts, connection errors: retried with backoff, nothing is skipped.
//!
//! A CRM that stalls cannot stall the sink: connecting has [`CONNECT_TIMEOUT`], the whole
//! exchange (request, headers and body of the answer) has `timeout_s`, and at most
//! [`MAX_RESPONSE`] bytes of an answer are read. The URL may carry credentials (userinfo, a
//! token in the path), so it is a secret: errors, logs and the status show [`redact_url`].

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::json::event_json;
use super::SinkContext;
use crate::config::{Secret, WebhookConfig};
use crate::link::LinkError;
use crate::link::LinkState;
use crate::store::{StoreError, StoredEvent};
use crate::tls::{client_config, TlsError};

pub(crate) const SINK: &str = "webhook";
/// Time to open the TCP connection to the CRM.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of a CRM's answer read (the body is not used; it is read for reuse of the
/// connection, and a larger one just closes it).
pub(crate) const MAX_RESPONSE: usize = 64 * 1024;
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

impl LinkError for WebhookError {
    fn needs_installer(&self) -> bool {
        matches!(self, WebhookError::Unauthorized(..) | WebhookError::Tls(_))
    }
}

pub(crate) struct WebhookSink {
    config: WebhookConfig,
    url: Secret,
    client: HttpsClient,
    kinds: Vec<String>,
    ctx: SinkContext,
}

impl WebhookSink {
    pub fn new(config: WebhookConfig, ctx: SinkContext) -> Result<WebhookSink, WebhookError> {
        let tls = client_config(config.ca_file.as_deref(), None)?;
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        let kinds = config.kinds.clone().unwrap_or_else(|| {
            ["call.ringing", "call.answered", "call.ended"]
                .map(String::from)
                .to_vec()
        });
        let url = config.url.clone().unwrap_or_else(|| Secret::new(""));
        Ok(WebhookSink {
            config,
            url,
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
        let url = redact_url(self.url.expose());
        let limit = Duration::from_secs(self.config.timeout_s);
        match tokio::time::timeout(limit, self.exchange(event)).await {
            Err(_) => Err(WebhookError::Timeout(url, limit)),
            Ok(Err(e)) => Err(WebhookError::Request(url, e)),
            Ok(Ok(status)) => match status {
                200..=299 => Ok(true),
                401 | 403 => Err(WebhookError::Unauthorized(url, status)),
                408 | 429 | 500..=599 => Err(WebhookError::Status(url, status)),
                _ => Ok(false),
            },
        }
    }

    /// The request and the whole answer (at most [`MAX_RESPONSE`] of its body); the status.
    async fn exchange(&self, event: &StoredEvent) -> Result<u16, String> {
        let body = event_json(&self.ctx.gateway_id, event, false).to_string();
        let mut request = axum::http::Request::post(self.url.expose())
            .header("content-type", "application/json")
            .header("user-agent", concat!("pbxgw/", env!("CARGO_PKG_VERSION")));
        if let Some(token) = &self.config.token {
            request = request.header("authorization", format!("Bearer {}", token.expose()));
        }
        let request = request
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| {
            // hyper's message names no URL, but its source chain may: keep only the kind.
            if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "the connection failed".to_owned()
            }
        })?;
        let status = response.status().as_u16();
        // Read the answer out so the connection can be reused; one too large is dropped.
        let _ = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await;
        Ok(status)
    }
}

/// The URL as it may be shown: scheme, host and port; no userinfo, path or query (they may
/// carry credentials).
pub(crate) fn redact_url(url: &str) -> String {
    match url.parse::<axum::http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            let host = uri.host().unwrap_or("?");
            let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = match uri.path_and_query().map(|p| p.as_str()) {
                None | Some("/") | Some("") => "",
                Some(_) => "/…",
            };
            format!("{scheme}://{host}{port}{rest}")
        }
        Err(_) => "(the configured URL)".to_owned(),
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
                if !self.wanted(&event.kind) {
                    *acked = event.seq;
                    continue;
                }
                // A stop does not wait for a slow CRM: the event is not acknowledged and is
                // posted again after the restart.
                let delivered = tokio::select! {
                    posted = self.post(event) => posted?,
                    _ = self.ctx.shutdown.cancelled() => break,
                };
                if !delivered {
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
