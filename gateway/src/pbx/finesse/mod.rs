//! Agents from Cisco Finesse: a contact centre on Cisco UCCE/UCCX keeps its agents' states in
//! Finesse, not in the PBX. `[[finesse]]` polls one team's `Team` document (REST API, basic
//! auth with a supervisor's credentials) every `poll_every_s` and hands each to the
//! correlation stage (`calls/finesse.rs`), which turns each change of a user's state into the
//! same `agent.state` event the AMI and ARI connectors emit. The link `finesse:NAME` shows up,
//! connecting, refused (401: needs the installer) or unreachable like any link; each poll's
//! round trip feeds its quality chart.
//!
//! There is no capture of a real Finesse here: the documents are the ones Cisco's developer
//! guide publishes, served by the tests' fake Finesse.

pub mod team;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::PbxEvent;
use crate::config::Secret;
use crate::link::{LinkState, Links};
use team::{parse_team, Team, TeamError};

/// Most `[[finesse]]` blocks (one per team a box watches).
pub const MAX_FINESSE: usize = 8;
/// Largest answer read: a team of [`team::MAX_USERS`] is about 500 kB.
const MAX_BODY: usize = 1024 * 1024;

/// `[[finesse]]`: one Finesse team to watch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinesseConfig {
    /// Shown as the link `finesse:NAME` and as the events' `pbx`.
    pub name: String,
    /// `https://finesse.example.com:8445` (Finesse's REST port; `http://` only in a lab).
    pub url: String,
    /// A supervisor of the team (an agent may read only itself).
    pub username: String,
    pub password: Option<Secret>,
    /// The team's id (`/finesse/api/Team/{team}`).
    pub team: String,
    #[serde(default = "default_poll_every_s")]
    pub poll_every_s: u64,
    /// The CA of Finesse's certificate when it is not one the system trusts.
    pub ca_file: Option<PathBuf>,
}

fn default_poll_every_s() -> u64 {
    5
}

impl FinesseConfig {
    pub(crate) fn validate(&self, s: &mut crate::config::Section<'_>) {
        let web = self.url.starts_with("https://") || self.url.starts_with("http://");
        if !web || self.url.contains(char::is_whitespace) {
            let fix = "use Finesse's address, e.g. \"https://finesse.example.com:8445\"";
            s.problem("url", &format!("{:?}", self.url), fix);
        }
        s.required("password", self.password.is_some(), "finesse");
        if self.username.trim().is_empty() {
            s.problem("username", &"\"\"", "name a supervisor of the team");
        }
        if self.team.is_empty() || !self.team.bytes().all(|b| b.is_ascii_alphanumeric()) {
            let fix = "use the team's id as Finesse shows it, e.g. \"34\"";
            s.problem("team", &format!("{:?}", self.team), fix);
        }
        s.range("poll_every_s", self.poll_every_s, 1..=300, "seconds");
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinesseError {
    #[error(
        "Finesse refused the user name or password (401): check [[finesse]] username/password"
    )]
    Unauthorized,
    #[error("Finesse has no team {0} for this user (404): check [[finesse]] team")]
    NoTeam(String),
    #[error("Finesse answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("no answer from Finesse within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach Finesse: {0}")]
    Request(String),
    #[error("Finesse's team document: {0}")]
    Team(#[from] TeamError),
}

impl FinesseError {
    /// What only the installer can fix (credentials, team id): shown as such, retried slowly.
    fn needs_installer(&self) -> bool {
        matches!(self, FinesseError::Unauthorized | FinesseError::NoTeam(_))
    }
}

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// Reads one team's document.
#[derive(Clone)]
pub struct FinesseClient {
    team_url: String,
    team: String,
    authorization: String,
    client: HttpsClient,
    timeout: Duration,
}

impl FinesseClient {
    pub fn new(config: &FinesseConfig, tls: rustls::ClientConfig, timeout: Duration) -> Self {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let password = config.password.as_ref().map(Secret::expose).unwrap_or("");
        let credentials = format!("{}:{password}", config.username);
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        FinesseClient {
            team_url: format!(
                "{}/finesse/api/Team/{}",
                config.url.trim_end_matches('/'),
                config.team
            ),
            team: config.team.clone(),
            authorization: format!("Basic {encoded}"),
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        }
    }

    /// The team with its users' states now.
    pub async fn team(&self) -> Result<Team, FinesseError> {
        let request = axum::http::Request::builder()
            .uri(&self.team_url)
            .header("authorization", &self.authorization)
            .header("accept", "application/xml")
            .header("user-agent", concat!("pbxgw/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::new()))
            .map_err(|e| FinesseError::Request(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| FinesseError::Timeout(self.timeout))?
            // hyper's message names no credentials; the URL holds none.
            .map_err(|e| FinesseError::Request(e.to_string()))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY).collect();
        let body = tokio::time::timeout(self.timeout, body)
            .await
            .map_err(|_| FinesseError::Timeout(self.timeout))?
            .map_err(|e| FinesseError::Request(e.to_string()))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        match status {
            200 => Ok(parse_team(&text)?),
            401 | 403 => Err(FinesseError::Unauthorized),
            404 => Err(FinesseError::NoTeam(self.team.clone())),
            _ => Err(FinesseError::Refused {
                status,
                message: team::api_error(&text).unwrap_or_else(|| "no error document".into()),
            }),
        }
    }
}

/// Polls until shutdown (or until the correlation stage is gone), handing each team read to
/// `events`. Errors set the link's state and are retried with backoff (slowly for what needs
/// the installer); the states already sent stay as they were.
pub async fn run(
    config: FinesseConfig,
    client: FinesseClient,
    links: Links,
    events: mpsc::Sender<PbxEvent<Team>>,
    shutdown: CancellationToken,
) {
    let link = format!("finesse:{}", config.name);
    let every = Duration::from_secs(config.poll_every_s);
    // A panel a minute stale at worst once Finesse is back.
    let cap = every.max(Duration::from_secs(60));
    let mut backoff = crate::backoff::Backoff::new(every, cap);
    links.set(&link, LinkState::Connecting, None);
    loop {
        let asked = Instant::now();
        let wait = match client.team().await {
            Ok(team) => {
                links
                    .quality
                    .record(&link, Some(asked.elapsed()), crate::clock::now_ms());
                let detail = format!("team {}: {} agents", team.name, team.users.len());
                links.set(&link, LinkState::Up, Some(detail));
                backoff.reset();
                let read = PbxEvent::Message {
                    ts_ms: crate::clock::now_ms(),
                    raw: String::new(),
                    message: team,
                };
                if events.send(read).await.is_err() {
                    return;
                }
                every
            }
            Err(e) => {
                links.quality.record(&link, None, crate::clock::now_ms());
                let state = if e.needs_installer() {
                    LinkState::NeedsInstaller
                } else {
                    LinkState::Down
                };
                links.set(&link, state, Some(e.to_string()));
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
