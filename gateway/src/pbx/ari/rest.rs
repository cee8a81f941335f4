//! The ARI REST client: every request with basic auth and a deadline; Asterisk's refusals as
//! typed errors carrying its status and message (404 the channel is gone, 409 the channel is
//! not in a state for that, ...). The control actions the gateway offers are methods here.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::model::{Bridge, Channel, LiveRecording, Playback};
use crate::config::Secret;

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AriError {
    #[error("ARI {0}: no answer within {1:?}")]
    Timeout(String, Duration),
    #[error("ARI {0}: {1}")]
    Request(String, String),
    #[error("ARI refused the user name or password (401): check [[pbx]] username/password")]
    Unauthorized,
    #[error("ARI {what}: {status} {message}")]
    Refused {
        what: String,
        status: u16,
        /// Asterisk's `{"message": ...}`.
        message: String,
    },
    #[error("ARI {0}: unexpected answer: {1}")]
    Decode(String, String),
    #[error("ARI: {0}")]
    Invalid(String),
}

impl AriError {
    /// 404: the channel, bridge or recording no longer exists.
    pub fn is_gone(&self) -> bool {
        matches!(self, AriError::Refused { status: 404, .. })
    }
}

/// How to reach the ARI of one Asterisk.
#[derive(Clone)]
pub struct AriRest {
    /// `http://host:8088` (no trailing slash).
    base: String,
    authorization: String,
    client: HttpsClient,
    timeout: Duration,
}

/// Everything but RFC 3986's unreserved characters is escaped in a path segment or value.
/// Largest REST answer read: `GET /channels` of a thousand live channels is about 1.5 MB. A
/// larger answer fails that request (a typed error), it is never buffered whole.
pub(crate) const MAX_BODY: usize = 4 * 1024 * 1024;

const VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query or path value.
fn enc(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, VALUE).to_string()
}

impl AriRest {
    pub fn new(
        base: &str,
        username: &str,
        password: &Secret,
        tls: rustls::ClientConfig,
        timeout: Duration,
    ) -> AriRest {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let credentials = format!("{username}:{}", password.expose());
        AriRest {
            base: base.trim_end_matches('/').to_owned(),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ),
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        }
    }

    /// The `Authorization` header value (for the WebSocket upgrade).
    pub(crate) fn authorization(&self) -> &str {
        &self.authorization
    }

    /// One request to `/ari{path}`; the body of a 2xx answer.
    pub async fn call(&self, method: &str, path: &str) -> Result<Bytes, AriError> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}/ari{path}", self.base))
            .header("authorization", &self.authorization)
            .header("user-agent", concat!("pbxgw/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::new()))
            .map_err(|e| AriError::Invalid(e.to_string()))?;
        let response = match tokio::time::timeout(self.timeout, self.client.request(request)).await
        {
            Err(_) => return Err(AriError::Timeout(what, self.timeout)),
            Ok(Err(e)) => return Err(AriError::Request(what, e.to_string())),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY).collect();
        let body = tokio::time::timeout(self.timeout, body)
            .await
            .map_err(|_| AriError::Timeout(what.clone(), self.timeout))?
            .map_err(|e| AriError::Request(what.clone(), e.to_string()))?
            .to_bytes();
        match status {
            200..=299 => Ok(body),
            401 => Err(AriError::Unauthorized),
            _ => {
                #[derive(serde::Deserialize)]
                struct Message {
                    message: String,
                }
                let message = serde_json::from_slice::<Message>(&body)
                    .map(|m| m.message)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
                Err(AriError::Refused {
                    what,
                    status,
                    message,
                })
            }
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
    ) -> Result<T, AriError> {
        let body = self.call(method, path).await?;
        serde_json::from_slice(&body)
            .map_err(|e| AriError::Decode(format!("{method} {path}"), e.to_string()))
    }

    /// The live channels (`GET /channels`): the resync picture.
    pub async fn channels(&self) -> Result<Vec<Channel>, AriError> {
        self.json("GET", "/channels").await
    }

    pub async fn bridges(&self) -> Result<Vec<Bridge>, AriError> {
        self.json("GET", "/bridges").await
    }

    pub async fn answer(&self, channel: &str) -> Result<(), AriError> {
        self.call("POST", &format!("/channels/{}/answer", enc(channel)))
            .await
            .map(drop)
    }

    pub async fn hangup(&self, channel: &str) -> Result<(), AriError> {
        self.call("DELETE", &format!("/channels/{}", enc(channel)))
            .await
            .map(drop)
    }

    /// Click-to-call: rings `endpoint` (`PJSIP/201`), then sends it to `extension` in
    /// `context`, showing `caller_id`.
    pub async fn originate(
        &self,
        endpoint: &str,
        extension: &str,
        context: &str,
        caller_id: Option<&str>,
    ) -> Result<Channel, AriError> {
        let mut path = format!(
            "/channels?endpoint={}&extension={}&context={}&priority=1",
            enc(endpoint),
            enc(extension),
            enc(context)
        );
        if let Some(id) = caller_id {
            path += &format!("&callerId={}", enc(id));
        }
        self.json("POST", &path).await
    }

    pub async fn bridge_create(&self, kind: &str, name: &str) -> Result<Bridge, AriError> {
        self.json(
            "POST",
            &format!("/bridges?type={}&name={}", enc(kind), enc(name)),
        )
        .await
    }

    /// Plays `media` (`sound:welcome`) to a channel.
    pub async fn play(&self, channel: &str, media: &str) -> Result<Playback, AriError> {
        let path = format!("/channels/{}/play?media={}", enc(channel), enc(media));
        self.json("POST", &path).await
    }

    /// Plays `media` to a channel under a playback id of our choosing, so that its
    /// `PlaybackFinished` can be recognised and the playback stopped.
    pub(crate) async fn play_as(
        &self,
        channel: &str,
        playback: &str,
        media: &str,
    ) -> Result<(), AriError> {
        let path = format!(
            "/channels/{}/play/{}?media={}",
            enc(channel),
            enc(playback),
            enc(media)
        );
        self.call("POST", &path).await.map(drop)
    }

    pub(crate) async fn stop_playback(&self, playback: &str) -> Result<(), AriError> {
        self.call("DELETE", &format!("/playbacks/{}", enc(playback)))
            .await
            .map(drop)
    }

    /// Records a channel or a bridge (`target` = `channel:<id>` or `bridge:<id>`).
    pub async fn record(
        &self,
        target: &str,
        name: &str,
        format: &str,
    ) -> Result<LiveRecording, AriError> {
        let (kind, id) = match target.split_once(':') {
            Some(("channel", id)) => ("channels", id),
            Some(("bridge", id)) => ("bridges", id),
            _ => {
                return Err(AriError::Invalid(format!(
                    "record target {target:?}: use channel:<id> or bridge:<id>"
                )))
            }
        };
        let path = format!(
            "/{kind}/{}/record?name={}&format={}&ifExists=overwrite",
            enc(id),
            enc(name),
            enc(format)
        );
        self.json("POST", &path).await
    }

    /// Stops the live recording `name` (the file is kept).
    pub(crate) async fn stop_recording(&self, name: &str) -> Result<(), AriError> {
        let path = format!("/recordings/live/{}/stop", enc(name));
        self.call("POST", &path).await.map(drop)
    }

    /// Leaves the application and goes on at the next priority of the dialplan.
    pub(crate) async fn continue_next(&self, channel: &str) -> Result<(), AriError> {
        let path = format!("/channels/{}/continue", enc(channel));
        self.call("POST", &path).await.map(drop)
    }

    /// Leaves the application and goes on in the dialplan.
    pub(crate) async fn continue_in_dialplan(
        &self,
        channel: &str,
        context: &str,
        extension: &str,
        priority: u32,
    ) -> Result<(), AriError> {
        let path = format!(
            "/channels/{}/continue?context={}&extension={}&priority={priority}",
            enc(channel),
            enc(context),
            enc(extension)
        );
        self.call("POST", &path).await.map(drop)
    }

    pub(crate) async fn set_variable(
        &self,
        channel: &str,
        variable: &str,
        value: &str,
    ) -> Result<(), AriError> {
        let path = format!(
            "/channels/{}/variable?variable={}&value={}",
            enc(channel),
            enc(variable),
            enc(value)
        );
        self.call("POST", &path).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::enc;

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(enc("Local/201@ext"), "Local%2F201%40ext");
        assert_eq!(enc("GW <999>"), "GW%20%3C999%3E");
        assert_eq!(enc("1795316996.19"), "1795316996.19");
    }
}
