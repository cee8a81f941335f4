//! `GET /api/stream`: what the status page shows live, pushed as server-sent events instead
//! of polled. A `snapshot` event (status, live calls, agents, quality samples new since the
//! last one, the last committed seq) goes out at once, then whenever an event was committed or
//! a link changed (a burst coalesced into one, at most twice a second), and every 15 s
//! otherwise (running times and the minute's quality samples). The journal and the report
//! stay requests: the page asks for them when the seq moved.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::{watch, OwnedSemaphorePermit};

use super::{agents_json, error, live_json, status_json, Api};

/// Streams open at once: a few supervisors' pages. Past it: 503.
pub(crate) const MAX_STREAMS: usize = 8;
/// A snapshot at least this often.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// After a change, wait this long for the rest of its burst.
const COALESCE: Duration = Duration::from_millis(500);

#[derive(serde::Deserialize)]
pub(super) struct StreamQuery {
    /// The agents' counts cover calls since then (the page's midnight).
    since_ms: Option<i64>,
}

struct Streaming {
    api: Arc<Api>,
    since: i64,
    committed: watch::Receiver<u64>,
    links: watch::Receiver<std::collections::BTreeMap<String, crate::link::LinkStatus>>,
    /// Per link, the time of the newest quality sample already sent.
    quality_sent: HashMap<String, i64>,
    first: bool,
    _slot: OwnedSemaphorePermit,
}

pub(super) async fn stream(State(api): State<Arc<Api>>, Query(q): Query<StreamQuery>) -> Response {
    let Ok(slot) = api.streams.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            &format!("at most {MAX_STREAMS} event streams at once"),
        );
    };
    let state = Streaming {
        since: q
            .since_ms
            .unwrap_or_else(|| crate::clock::now_ms() - 86_400_000),
        committed: api.ctx.committed.clone(),
        links: api.ctx.links.subscribe(),
        quality_sent: HashMap::new(),
        first: true,
        _slot: slot,
        api,
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        let frame = s.next().await?;
        Some((Ok::<_, Infallible>(frame), s))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(events),
    )
        .into_response()
}

impl Streaming {
    /// The next frame; `None` ends the stream (shutdown).
    async fn next(&mut self) -> Option<Bytes> {
        if !self.first {
            let shutdown = self.api.ctx.shutdown.clone();
            tokio::select! {
                _ = self.committed.changed() => tokio::time::sleep(COALESCE).await,
                _ = self.links.changed() => tokio::time::sleep(COALESCE).await,
                _ = tokio::time::sleep(HEARTBEAT) => {}
                _ = shutdown.cancelled() => return None,
            }
            self.committed.borrow_and_update();
            self.links.borrow_and_update();
        }
        self.first = false;
        Some(match self.snapshot().await {
            Ok(snapshot) => frame("snapshot", &snapshot),
            Err(e) => frame("error", &json!({ "message": e })),
        })
    }

    async fn snapshot(&mut self) -> Result<Value, String> {
        let api = &self.api;
        let seq = *api.ctx.committed.borrow();
        let status = status_json(api).await.map_err(|e| e.to_string())?;
        let live = live_json(api).await.map_err(|e| e.to_string())?;
        let agents = agents_json(api, self.since).await?;
        Ok(json!({
            "seq": seq, "status": status, "live": live, "agents": agents,
            "quality": self.new_quality(),
        }))
    }

    /// Each link's quality now, and its samples newer than the last snapshot's (all of the
    /// last 24 h in the first).
    fn new_quality(&mut self) -> Value {
        let history = self.api.ctx.links.quality.history();
        let mut now = serde_json::Map::new();
        let mut added = serde_json::Map::new();
        for (link, samples) in history {
            let Some(last) = samples.last() else { continue };
            now.insert(link.clone(), json!(last.quality));
            let after = self.quality_sent.get(&link).copied().unwrap_or(i64::MIN);
            let new: Vec<_> = samples.iter().filter(|s| s.at_ms > after).collect();
            self.quality_sent.insert(link.clone(), last.at_ms);
            added.insert(link, json!(new));
        }
        json!({ "now": now, "added": added })
    }
}

fn frame(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}
