//! One ARI session: the WebSocket `/ari/events?app=NAME` (basic auth on the upgrade, `wss`
//! with rustls for `https` URLs), a WebSocket ping every `ping_every` whose pong must come
//! back within `ANSWER_WITHIN` (the round trip goes on record for link quality), and after
//! every connect and every `resync_every` the live channels and bridges (`GET /channels`,
//! `GET /bridges`) handed to the correlator. A dropped link is retried with capped jittered backoff; a refused password
//! is `needs-installer` and retried at most once a minute. The password never leaves the
//! `Authorization` header.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message as Frame};
use tokio_util::sync::CancellationToken;

use super::model::{decode, AriEvent, Decoded};
use super::rest::{AriError, AriRest};
use crate::link::Links;
use crate::link::{CheckStep, LinkState};
use crate::pbx::PbxEvent;

const ANSWER_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub(crate) struct AriSettings {
    pub name: String,
    /// `http://host:8088` or `https://...`.
    pub url: String,
    pub app: String,
    pub subscribe_all: bool,
    /// Send channels the application does not handle on in the dialplan.
    pub continue_unhandled: bool,
    pub ping_every: Duration,
    pub resync_every: Duration,
}

impl AriSettings {
    /// A checked block's settings (`pbxgw check` refuses a bad URL and out-of-range times).
    pub fn from_config(pbx: &super::config::AriConfig) -> AriSettings {
        AriSettings {
            name: pbx.name.clone(),
            url: super::base_url(&pbx.url).unwrap_or_else(|_| pbx.url.clone()),
            app: pbx.app.clone().unwrap_or_default(),
            subscribe_all: pbx.subscribe_all,
            continue_unhandled: pbx.continue_unhandled,
            ping_every: Duration::from_secs(pbx.probe_after_s),
            resync_every: Duration::from_secs(pbx.resync_every_s),
        }
    }

    /// `ws://host:port/ari/events?app=...`.
    fn events_url(&self) -> String {
        let base = self.url.trim_end_matches('/');
        let ws = match base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", base.trim_start_matches("http://")),
        };
        format!(
            "{ws}/ari/events?app={}&subscribeAll={}",
            percent_encoding::utf8_percent_encode(&self.app, percent_encoding::NON_ALPHANUMERIC),
            self.subscribe_all
        )
    }
}

/// Largest WebSocket message (and frame) taken from Asterisk: a real event is a few KB, a
/// `ChannelVarset` with a long value a few tens. A larger one ends the connection (counted
/// as `pbx:NAME:oversized`); the reconnect resyncs from the REST lists.
pub(crate) const MAX_WS_MESSAGE: usize = 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum AriSessionError {
    #[error("ARI WebSocket {url}: {message}")]
    Connect { url: String, message: String },
    #[error("ARI refused the user name or password (401): check [[pbx]] username/password")]
    Unauthorized,
    #[error("ARI WebSocket upgrade refused with {0} (is the app name right and ARI enabled in http.conf/ari.conf?)")]
    Upgrade(u16),
    #[error("ARI TLS: {0}")]
    Tls(String),
    #[error("ARI WebSocket closed by Asterisk")]
    Closed,
    #[error("ARI WebSocket: {0}")]
    WebSocket(String),
    #[error("ARI did not answer a ping within {0:?}")]
    NoPong(Duration),
    #[error(transparent)]
    Rest(#[from] AriError),
    #[error("stopping")]
    Shutdown,
}

impl crate::link::LinkError for AriSessionError {
    fn needs_installer(&self) -> bool {
        matches!(
            self,
            AriSessionError::Unauthorized
                | AriSessionError::Upgrade(_)
                | AriSessionError::Tls(_)
                | AriSessionError::Rest(AriError::Unauthorized)
        )
    }
}

pub(crate) struct AriSession {
    pub settings: AriSettings,
    pub rest: AriRest,
    pub tls: rustls::ClientConfig,
    pub links: Links,
    pub events: mpsc::Sender<PbxEvent<AriEvent>>,
    /// The built-in IVR, when configured: it sees the events too.
    pub ivr: Option<super::ivr::Ivr>,
    pub shutdown: CancellationToken,
}

type Stream = tokio_util::either::Either<
    tokio::net::TcpStream,
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
>;
type WebSocket = tokio_tungstenite::WebSocketStream<Stream>;

impl crate::link::Link for AriSession {
    type Error = AriSessionError;

    fn name(&self) -> String {
        self.link()
    }

    async fn connected(&mut self) -> Result<(), AriSessionError> {
        match self.serve_one().await {
            AriSessionError::Shutdown => Ok(()),
            e => Err(e),
        }
    }

    async fn lost(&mut self, error: &AriSessionError) -> crate::link::Retry {
        crate::pbx::tell_lost(&self.events, error).await
    }
}

impl AriSession {
    fn link(&self) -> String {
        format!("pbx:{}", self.settings.name)
    }

    /// Runs until shutdown, reconnecting after every failure.
    pub async fn run(self) {
        let (links, shutdown) = (self.links.clone(), self.shutdown.clone());
        crate::link::supervise(self, &links, crate::link::Policy::PBX, &shutdown).await
    }

    /// One connection; returns why it ended.
    async fn serve_one(&self) -> AriSessionError {
        let mut ws = match open(&self.settings, &self.rest, &self.tls).await {
            Ok(ws) => ws,
            Err(e) => return e,
        };
        tracing::info!(pbx = %self.settings.name, app = %self.settings.app, "ARI connected");
        self.links.set(
            &self.link(),
            LinkState::Up,
            Some(format!("Stasis application {}", self.settings.app)),
        );
        if self.events.send(PbxEvent::Up).await.is_err() {
            return AriSessionError::Shutdown;
        }
        let error = self.serve(&mut ws).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        error
    }

    async fn serve(&self, ws: &mut WebSocket) -> AriSessionError {
        if let Err(e) = self.resync().await {
            return e;
        }
        let mut ping = tokio::time::interval(self.settings.ping_every);
        ping.tick().await;
        let mut resync = tokio::time::interval(self.settings.resync_every);
        resync.tick().await;
        let mut awaiting: Option<Instant> = None;
        loop {
            tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Frame::Text(text))) => {
                        if let Err(e) = self.on_frame(text.as_str()).await {
                            return e;
                        }
                    }
                    Some(Ok(Frame::Pong(_))) => {
                        if let Some(sent) = awaiting.take() {
                            self.links.quality.record(&self.link(), Some(sent.elapsed()), crate::clock::now_ms());
                        }
                    }
                    Some(Ok(Frame::Close(_))) | None => return AriSessionError::Closed,
                    Some(Ok(_)) => {}
                    Some(Err(tungstenite::Error::Capacity(e))) => {
                        self.links.count(&format!("{}:oversized", self.link()));
                        return AriSessionError::WebSocket(format!("{e}; reconnecting"));
                    }
                    Some(Err(e)) => return AriSessionError::WebSocket(e.to_string()),
                },
                _ = ping.tick() => {
                    if awaiting.is_some_and(|sent| sent.elapsed() >= ANSWER_WITHIN) {
                        self.links.quality.record(&self.link(), None, crate::clock::now_ms());
                        return AriSessionError::NoPong(ANSWER_WITHIN);
                    }
                    if awaiting.is_none() {
                        if let Err(e) = ws.send(Frame::Ping(Vec::new().into())).await {
                            return AriSessionError::WebSocket(e.to_string());
                        }
                        awaiting = Some(Instant::now());
                    }
                }
                _ = resync.tick() => {
                    if let Err(e) = self.resync().await {
                        return e;
                    }
                }
                _ = self.shutdown.cancelled() => return AriSessionError::Shutdown,
            }
        }
    }

    /// A channel entering pbxgw's application for anything but the built-in IVR goes on in
    /// the dialplan (the gateway only listens), off the event path.
    fn continue_if_unhandled(&self, event: &AriEvent) {
        let AriEvent::StasisStart { args, channel, .. } = event else {
            return;
        };
        if !self.settings.continue_unhandled || self.ivr.as_ref().is_some_and(|i| i.takes(args)) {
            return;
        }
        let (rest, links, link, id) = (
            self.rest.clone(),
            self.links.clone(),
            self.link(),
            channel.id.clone(),
        );
        tokio::spawn(async move {
            match rest.continue_next(&id).await {
                Ok(()) => links.count(&format!("{link}:continued")),
                Err(e) => {
                    tracing::warn!(channel = id, error = %e, "cannot send a channel on in the dialplan")
                }
            }
        });
    }

    async fn on_frame(&self, text: &str) -> Result<(), AriSessionError> {
        let event = match decode(text) {
            Ok(Decoded::Event(e)) => e,
            Ok(Decoded::Unknown { kind }) => {
                // One counter for every unknown type: a peer choosing the names must not
                // choose how many counters we keep.
                tracing::debug!(pbx = %self.settings.name, kind, "unknown ARI event ignored");
                self.links.count(&format!("{}:unknown", self.link()));
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(pbx = %self.settings.name, error = %e, "ARI frame not understood");
                self.links.count(&format!("{}:malformed", self.link()));
                return Ok(());
            }
        };
        if let Some(ivr) = &self.ivr {
            ivr.offer(&event);
        }
        self.continue_if_unhandled(&event);
        // Stamped on arrival like every connector's events: one clock (the box's) for all
        // records, link losses and reaping, whatever the PBX's clock says.
        let ts_ms = crate::clock::now_ms();
        let message = PbxEvent::Message {
            ts_ms,
            raw: text.to_owned(),
            message: *event,
        };
        self.events
            .send(message)
            .await
            .map_err(|_| AriSessionError::Shutdown)
    }

    /// `GET /channels` and `GET /bridges` as the correlator's live picture: each channel as
    /// a state snapshot, each bridge with its members.
    async fn resync(&self) -> Result<(), AriSessionError> {
        let asked_ms = crate::clock::now_ms();
        let channels = self.rest.channels().await?;
        let bridges = self.rest.bridges().await?;
        let ts_ms = crate::clock::now_ms();
        let timestamp = crate::timefmt::rfc3339_ms(ts_ms);
        let channels = channels
            .into_iter()
            .map(|channel| AriEvent::ChannelStateChange {
                timestamp: timestamp.clone(),
                channel,
            });
        let bridges = bridges.into_iter().map(|bridge| AriEvent::BridgeCreated {
            timestamp: timestamp.clone(),
            bridge,
        });
        let items = channels.chain(bridges).collect();
        self.events
            .send(PbxEvent::Resync {
                asked_ms,
                ts_ms,
                items,
            })
            .await
            .map_err(|_| AriSessionError::Shutdown)
    }
}

/// The events WebSocket, upgraded with basic auth (`wss` through rustls for `https`).
async fn open(
    settings: &AriSettings,
    rest: &AriRest,
    tls: &rustls::ClientConfig,
) -> Result<WebSocket, AriSessionError> {
    use tungstenite::client::IntoClientRequest;
    let url = settings.events_url();
    let fail = |message: String| AriSessionError::Connect {
        url: url.split('?').next().unwrap_or(&url).to_owned(),
        message,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| fail(e.to_string()))?;
    let auth = rest
        .authorization()
        .parse()
        .map_err(|_| fail("the credentials are not a valid header".into()))?;
    request.headers_mut().insert("authorization", auth);
    let uri = request.uri().clone();
    let host = uri.host().unwrap_or_default().to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let tcp = crate::pbx::connect(&host, port, ANSWER_WITHIN)
        .await
        .map_err(|(addr, e)| fail(format!("{addr}: {e}")))?;
    let stream = if uri.scheme_str() == Some("wss") {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| AriSessionError::Tls(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls.clone()))
            .connect(name, tcp)
            .await
            .map_err(|e| AriSessionError::Tls(e.to_string()))?;
        Stream::Right(tls)
    } else {
        Stream::Left(tcp)
    };
    let limits = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE));
    let handshake = tokio_tungstenite::client_async_with_config(request, stream, Some(limits));
    match tokio::time::timeout(ANSWER_WITHIN, handshake).await {
        Err(_) => Err(fail(format!("no upgrade within {ANSWER_WITHIN:?}"))),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(response))) => match response.status().as_u16() {
            401 => Err(AriSessionError::Unauthorized),
            status => Err(AriSessionError::Upgrade(status)),
        },
        Ok(Err(e)) => Err(fail(e.to_string())),
    }
}

/// `pbxgw check --connect` for ARI: the credentials (`GET /asterisk/info`), the events
/// WebSocket for the application, and the live channels; or what to fix.
pub async fn probe(pbx: &super::config::AriConfig) -> CheckStep {
    let settings = AriSettings::from_config(pbx);
    let tls = match crate::tls::client_config_or_plain(pbx.ca_file.as_deref()) {
        Ok(tls) => tls,
        Err(e) => return CheckStep::failed(e),
    };
    let password = pbx
        .password
        .clone()
        .unwrap_or_else(|| crate::config::Secret::new(""));
    let username = pbx.username.as_deref().unwrap_or_default();
    let rest = AriRest::new(
        &settings.url,
        username,
        &password,
        tls.clone(),
        ANSWER_WITHIN,
    );
    let fix = |e: &dyn std::fmt::Display| match e.to_string() {
        m if m.contains("401") => {
            let fix = format!("The [{username}] user of ari.conf needs this password");
            CheckStep::fails(m, fix)
        }
        m => CheckStep::fails(
            m,
            format!(
                "Check url ({}) and enabled = yes in http.conf and ari.conf",
                settings.url
            ),
        ),
    };
    let info = match rest.call("GET", "/asterisk/info").await {
        Ok(info) => info,
        Err(e) => return fix(&e),
    };
    let version = serde_json::from_slice::<serde_json::Value>(&info)
        .ok()
        .and_then(|v| v["system"]["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "version unknown".into());
    match open(&settings, &rest, &tls).await {
        Ok(mut ws) => {
            let _ = ws.close(None).await;
        }
        Err(e) => return fix(&e),
    }
    match rest.channels().await {
        Ok(channels) => CheckStep::Works(format!(
            "reachable at {}, logged in (Asterisk {version}), events of application {} flowing, {} channels up",
            settings.url,
            settings.app,
            channels.len()
        )),
        Err(e) => fix(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_url_follows_the_base_url() {
        let mut s = AriSettings {
            name: "a".into(),
            url: "http://192.0.2.10:8088/".into(),
            app: "gw app".into(),
            subscribe_all: false,
            continue_unhandled: true,
            ping_every: Duration::from_secs(1),
            resync_every: Duration::from_secs(1),
        };
        assert_eq!(
            s.events_url(),
            "ws://192.0.2.10:8088/ari/events?app=gw%20app&subscribeAll=false"
        );
        s.url = "https://pbx.example.net".into();
        s.subscribe_all = true;
        assert_eq!(
            s.events_url(),
            "wss://pbx.example.net/ari/events?app=gw%20app&subscribeAll=true"
        );
    }
}
