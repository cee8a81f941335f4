//! A fake Cisco Finesse: the REST API's `Team` document behind basic auth, as Cisco's
//! developer guide shows it (no capture of a real Finesse exists here). The test edits the
//! users' states, and can stop the server (connections refused) and start it again on the
//! same port.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;

/// The guide's team (id 34): Charles 1001001 logged out, Jack 1001002 not ready (Lunch
/// Break), Zofia 1001003 talking.
pub const GUIDE_TEAM: &str = include_str!("../../fixtures/finesse/team.xml");

#[derive(Default)]
struct Shared {
    team: String,
    requests: u64,
}

pub struct FakeFinesse {
    port: u16,
    user: String,
    password: String,
    shared: Arc<Mutex<Shared>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

const ERROR_401: &str = "<ApiErrors><ApiError><ErrorType>Authorization Failure</ErrorType>\
     <ErrorData>sup</ErrorData><ErrorMessage>Invalid Authorization</ErrorMessage></ApiError></ApiErrors>";

impl FakeFinesse {
    /// Serves team 34 on a free loopback port to `user`/`password`.
    pub async fn start(user: &str, password: &str) -> FakeFinesse {
        let mut fake = FakeFinesse {
            port: 0,
            user: user.into(),
            password: password.into(),
            shared: Arc::new(Mutex::new(Shared {
                team: GUIDE_TEAM.into(),
                requests: 0,
            })),
            server: None,
        };
        fake.serve().await;
        fake
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.shared.lock().unwrap().requests
    }

    /// Replaces `from` in the team document with `to` (a user's state, a reason).
    pub fn edit(&self, from: &str, to: &str) {
        let mut shared = self.shared.lock().unwrap();
        assert!(shared.team.contains(from), "the team has no {from:?}");
        shared.team = shared.team.replacen(from, to, 1);
    }

    /// Stops answering: the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Answers again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        // The aborted server's listener closes as its task is dropped.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        self.serve().await;
    }

    async fn serve(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("a loopback port for the fake Finesse");
        self.port = listener.local_addr().unwrap().port();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.user, self.password))
        );
        let shared = self.shared.clone();
        let app = Router::new()
            .route(
                "/finesse/api/Team/{id}",
                get(
                    move |headers: HeaderMap,
                          Path(id): Path<String>,
                          State(shared): State<Arc<Mutex<Shared>>>| {
                        let expected = expected.clone();
                        async move { team(&headers, &id, &expected, &shared) }
                    },
                ),
            )
            .with_state(shared);
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }
}

impl Drop for FakeFinesse {
    fn drop(&mut self) {
        self.stop();
    }
}

fn team(headers: &HeaderMap, id: &str, expected: &str, shared: &Mutex<Shared>) -> Response {
    let mut shared = shared.lock().unwrap();
    shared.requests += 1;
    let xml = |status: StatusCode, body: String| {
        (status, [("content-type", "application/xml")], body).into_response()
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected) {
        return xml(StatusCode::UNAUTHORIZED, ERROR_401.into());
    }
    if id != "34" {
        return xml(StatusCode::NOT_FOUND, String::new());
    }
    xml(StatusCode::OK, shared.team.clone())
}
