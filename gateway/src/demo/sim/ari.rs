//! A fake Asterisk ARI on a loopback port: the WebSocket `/ari/events` (basic auth checked on
//! the upgrade, 401 otherwise) replays a real capture (`ari_events.jsonl`, what a Stasis
//! application sees, or `ari_all_events.jsonl`, the whole PBX) paced by its own timestamps at
//! any speed, and can close the connection after some frames and go on from
//! there on the next one, as a link loss would look. REST answers come from the captured
//! exchanges `ari_rest.jsonl` (in their order for a repeated request); `GET /channels` lists
//! the channels the replay has announced and not yet destroyed; anything else about a
//! channel that is not live is Asterisk's 404. A prompt played to a live channel under a
//! playback id the capture does not know is played at once: `PlaybackStarted` and
//! `PlaybackFinished` go out on the open WebSocket.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::rebase::Rebase;
use base64::Engine;
use futures_util::SinkExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message as Frame;

#[derive(Debug, Clone)]
pub struct AriSimOptions {
    pub username: String,
    pub password: String,
    /// The capture replayed, under the fixtures folder.
    pub capture: &'static str,
    /// Capture seconds per real second; 0 sends as fast as the socket takes it.
    pub speed: f64,
    /// Close the first WebSocket after this many frames (the next one goes on from there).
    pub drop_after: Option<usize>,
    /// Frames sent on the first WebSocket before the replay (a hostile or broken peer).
    pub first_frames: Vec<String>,
    /// A text message of this many bytes, in four fragments, sent on the first WebSocket
    /// before the replay.
    pub huge_message: Option<usize>,
    /// Replay the capture over and over, each round with fresh ids and today's times
    /// (`Rebase`), the first one included; REST requests about a round's channels are
    /// answered as the capture answered the captured ones.
    pub repeat: bool,
}

impl AriSimOptions {
    pub fn new(username: &str, password: &str) -> AriSimOptions {
        AriSimOptions {
            username: username.into(),
            password: password.into(),
            capture: "asterisk/ari_events.jsonl",
            speed: 0.0,
            drop_after: None,
            first_frames: Vec::new(),
            huge_message: None,
            repeat: false,
        }
    }
}

/// What the fake Asterisk saw and did.
#[derive(Debug, Default)]
pub struct AriSimLog {
    pub ws_connects: usize,
    pub refused: usize,
    /// Every REST request: (method, path with query).
    pub requests: Vec<(String, String)>,
    /// Frames sent over all connections.
    pub sent: usize,
    pub replay_done: bool,
}

struct State {
    options: AriSimOptions,
    frames: Vec<(i64, String)>,
    /// Captured answers by (method, path), in capture order.
    rest: HashMap<(String, String), VecDeque<(u16, String)>>,
    /// Channel snapshots announced and not destroyed, by id.
    live: BTreeMap<String, serde_json::Value>,
    /// Bridges announced and not destroyed, with their members as last announced.
    bridges: BTreeMap<String, serde_json::Value>,
    next_frame: usize,
    /// Frames the REST side made happen, sent before the next replayed one.
    pushed: VecDeque<String>,
    /// This round's rewrite (`repeat` only).
    rebase: Option<Rebase>,
    /// Capture milliseconds before this round (earlier rounds and the pauses between them).
    offset_ms: i64,
}

/// Capture milliseconds between one round's last frame and the next round's first.
const ROUND_PAUSE_MS: i64 = 4_000;

impl State {
    fn new(options: AriSimOptions) -> State {
        let frames = captured_frames(options.capture);
        let mut state = State {
            options,
            frames,
            rest: captured_rest(),
            live: BTreeMap::new(),
            bridges: BTreeMap::new(),
            next_frame: 0,
            pushed: VecDeque::new(),
            rebase: None,
            offset_ms: 0,
        };
        if state.options.repeat {
            state.start_round();
        }
        state
    }

    /// Starts the next round (the first when none ran yet).
    fn start_round(&mut self) {
        let first_ts = self.frames.first().map_or(0, |f| f.0);
        let previous = self.rebase;
        if previous.is_some() {
            let last_ts = self.frames.last().map_or(0, |f| f.0);
            self.offset_ms += last_ts - first_ts + ROUND_PAUSE_MS;
        }
        let number = previous.map_or(0, |r| r.round + 1);
        let now_s = crate::clock::now_ms() / 1000;
        self.rebase = Some(Rebase::starting_now(
            first_ts / 1000,
            now_s,
            number,
            previous,
        ));
        self.next_frame = 0;
        // Channels the capture ends with still up belong to the round before; a GET /channels
        // listing them forever would grow with every round.
        self.live.clear();
        self.bridges.clear();
    }

    /// The next frame as this round sends it, with its capture time on the replay's clock.
    fn next(&mut self) -> Option<(i64, String)> {
        if self.next_frame >= self.frames.len() && self.options.repeat {
            self.start_round();
        }
        let (ts, frame) = self.frames.get(self.next_frame)?;
        let frame = match &self.rebase {
            Some(r) => r.apply_str(frame),
            None => frame.clone(),
        };
        let ts = ts + self.offset_ms;
        self.next_frame += 1;
        track_live(&mut self.live, &mut self.bridges, &frame);
        Some((ts, frame))
    }
}

pub struct AriSim {
    port: u16,
    pub log: Arc<Mutex<AriSimLog>>,
}

impl AriSim {
    /// Listens on a free loopback port.
    pub async fn start(options: AriSimOptions) -> std::io::Result<AriSim> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State::new(options)));
        let log = Arc::new(Mutex::new(AriSimLog::default()));
        let (s, l) = (state.clone(), log.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, s.clone(), l.clone()));
            }
        });
        Ok(AriSim { port, log })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn captured_frames(capture: &str) -> Vec<(i64, String)> {
    crate::fixtures::fixture(capture)
        .lines()
        .map(|line| {
            let ts = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| {
                    v["timestamp"]
                        .as_str()
                        .and_then(crate::pbx::ari::model::timestamp_ms)
                })
                .unwrap_or(0);
            (ts, line.to_owned())
        })
        .collect()
}

fn captured_rest() -> HashMap<(String, String), VecDeque<(u16, String)>> {
    let mut rest: HashMap<(String, String), VecDeque<(u16, String)>> = HashMap::new();
    for line in crate::fixtures::fixture("asterisk/ari_rest.jsonl").lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let key = (
            v["request"]["method"].as_str().unwrap_or("").to_owned(),
            v["request"]["path"].as_str().unwrap_or("").to_owned(),
        );
        let answer = (
            v["response"]["status"].as_u64().unwrap_or(500) as u16,
            v["response"]["body"].as_str().unwrap_or("").to_owned(),
        );
        rest.entry(key).or_default().push_back(answer);
    }
    rest
}

fn authorized(state: &Mutex<State>, header: Option<&str>) -> bool {
    let Ok(s) = state.lock() else {
        return false;
    };
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", s.options.username, s.options.password))
    );
    header == Some(want.as_str())
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>, log: Arc<Mutex<AriSimLog>>) {
    let mut head = [0u8; 32];
    let n = stream.peek(&mut head).await.unwrap_or(0);
    if head[..n].starts_with(b"GET /ari/events") {
        events(stream, state, log).await;
    } else {
        rest(stream, state, log).await;
    }
}

async fn events(stream: TcpStream, state: Arc<Mutex<State>>, log: Arc<Mutex<AriSimLog>>) {
    // The callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let header = request
            .headers()
            .get("authorization")
            .and_then(|h| h.to_str().ok());
        if authorized(&state, header) {
            return Ok(response);
        }
        let mut refused = ErrorResponse::new(Some("Authentication required".into()));
        *refused.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
        Err(refused)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        if let Ok(mut l) = log.lock() {
            l.refused += 1;
        }
        return;
    };
    let first = {
        let Ok(mut l) = log.lock() else { return };
        l.ws_connects += 1;
        l.ws_connects == 1
    };
    let (speed, drop_after, first_frames, huge) = match state.lock() {
        Ok(s) => (
            s.options.speed,
            s.options.drop_after.filter(|_| first),
            s.options.first_frames.clone(),
            s.options.huge_message,
        ),
        Err(_) => return,
    };
    if first && hostile_prelude(&mut ws, first_frames, huge).await.is_err() {
        return;
    }
    let mut sent_here = 0usize;
    // Frames go out on the capture's schedule from this connection's first one, so small
    // delays do not add up over a long replay.
    let mut origin: Option<(tokio::time::Instant, i64)> = None;
    loop {
        if drop_after.is_some_and(|n| sent_here >= n) {
            let _ = ws.close(None).await;
            return;
        }
        let next = match state.lock() {
            Ok(mut s) => s.next(),
            Err(_) => return,
        };
        let Some((ts, frame)) = next else {
            break;
        };
        let (started, first_ts) = *origin.get_or_insert((tokio::time::Instant::now(), ts));
        let gap = if speed > 0.0 {
            let due =
                started + Duration::from_millis(((ts - first_ts).max(0) as f64 / speed) as u64);
            due.saturating_duration_since(tokio::time::Instant::now())
        } else {
            Duration::ZERO
        };
        if pause(&mut ws, &state, gap).await.is_err() {
            return;
        }
        if ws.send(Frame::text(frame)).await.is_err() {
            return;
        }
        sent_here += 1;
        if let Ok(mut l) = log.lock() {
            l.sent += 1;
        }
    }
    if let Ok(mut s) = state.lock() {
        s.live.clear();
        s.bridges.clear();
    }
    if let Ok(mut l) = log.lock() {
        l.replay_done = true;
    }
    // Stay connected (answering pings, sending what REST requests make happen) until the
    // gateway leaves.
    use futures_util::StreamExt;
    loop {
        tokio::select! {
            frame = ws.next() => if !matches!(frame, Some(Ok(_))) { return },
            _ = tokio::time::sleep(PUSH_EVERY) => {}
        }
        if pause(&mut ws, &state, Duration::ZERO).await.is_err() {
            return;
        }
    }
}

const PUSH_EVERY: Duration = Duration::from_millis(20);

/// What a hostile peer sends before the replay: extra frames, then one huge fragmented
/// message.
async fn hostile_prelude(
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
    frames: Vec<String>,
    huge: Option<usize>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as RawFrame;
    for frame in frames {
        ws.send(Frame::text(frame)).await?;
    }
    if let Some(size) = huge {
        let part = size / 4;
        for i in 0..4 {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let payload = vec![b'x'; part];
            ws.send(Frame::Frame(RawFrame::message(payload, opcode, i == 3)))
                .await?;
        }
    }
    Ok(())
}

/// Waits `gap`, sending the frames REST requests made happen as they come and answering
/// pings.
async fn pause(
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
    state: &Mutex<State>,
    gap: Duration,
) -> Result<(), ()> {
    let until = tokio::time::Instant::now() + gap;
    loop {
        let pushed: Vec<String> = match state.lock() {
            Ok(mut s) => s.pushed.drain(..).collect(),
            Err(_) => return Err(()),
        };
        for frame in pushed {
            ws.send(Frame::text(frame)).await.map_err(drop)?;
        }
        let now = tokio::time::Instant::now();
        if now >= until {
            return Ok(());
        }
        // Reading while waiting answers the gateway's pings, as Asterisk does mid-stream.
        use futures_util::StreamExt;
        tokio::select! {
            frame = ws.next() => if !matches!(frame, Some(Ok(_))) { return Err(()) },
            _ = tokio::time::sleep_until(until.min(now + PUSH_EVERY)) => {}
        }
    }
}

/// The playback id and media of `/ari/channels/ID/play/PLAYBACK?media=M`.
fn playback_of(path: &str) -> (String, String) {
    let decode = |v: &str| {
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    };
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let playback = route.rsplit('/').next().unwrap_or("");
    let media = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("media="))
        .unwrap_or("");
    (decode(playback), decode(media))
}

/// A prompt played at once: the two events Asterisk would send about it.
fn played(channel: &str, playback: &str, media: &str) -> [String; 2] {
    let now = crate::timefmt::rfc3339_ms(crate::clock::now_ms());
    ["PlaybackStarted", "PlaybackFinished"].map(|kind| {
        serde_json::json!({
            "type": kind,
            "timestamp": now,
            "playback": {
                "id": playback,
                "media_uri": media,
                "target_uri": format!("channel:{channel}"),
                "state": if kind == "PlaybackStarted" { "playing" } else { "done" },
            },
            "application": "gwapp",
        })
        .to_string()
    })
}

/// A new channel for an originate not in the capture, named after its endpoint.
fn originated(path: &str) -> String {
    let endpoint = path
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("endpoint="))
        .map(|e| {
            percent_encoding::percent_decode_str(e)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    serde_json::json!({
        "id": format!("sim-{:08x}", fastrand::u32(..)),
        "name": format!("{endpoint}-00000001"),
        "state": "Down",
        "caller": {"name": "", "number": ""},
        "connected": {"name": "", "number": ""},
        "dialplan": {"context": "", "exten": "", "priority": 1, "app_name": "", "app_data": ""},
        "creationtime": "",
    })
    .to_string()
}

/// Keeps the channels and bridges a frame announces, drops the destroyed ones.
fn track_live(
    live: &mut BTreeMap<String, serde_json::Value>,
    bridges: &mut BTreeMap<String, serde_json::Value>,
    frame: &str,
) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(frame) else {
        return;
    };
    if let Some(id) = v["bridge_from"]["id"].as_str() {
        bridges.remove(id);
    }
    if let Some(id) = v["bridge"]["id"].as_str() {
        if v["type"] == "BridgeDestroyed" {
            bridges.remove(id);
        } else {
            bridges.insert(id.to_owned(), v["bridge"].clone());
        }
    }
    let Some(id) = v["channel"]["id"].as_str() else {
        return;
    };
    if v["type"] == "ChannelDestroyed" {
        live.remove(id);
    } else {
        live.insert(id.to_owned(), v["channel"].clone());
    }
}

async fn rest(stream: TcpStream, state: Arc<Mutex<State>>, log: Arc<Mutex<AriSimLog>>) {
    use hyper::body::Incoming;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let (state, log) = (state.clone(), log.clone());
        async move {
            let (status, body) = answer(&state, &log, &request);
            let response = hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(body)));
            response.map_err(|e| e.to_string())
        }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

fn answer<B>(
    state: &Mutex<State>,
    log: &Mutex<AriSimLog>,
    request: &hyper::Request<B>,
) -> (u16, String) {
    let method = request.method().as_str().to_owned();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if let Ok(mut l) = log.lock() {
        l.requests.push((method.clone(), path.clone()));
    }
    let header = request
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok());
    if !authorized(state, header) {
        return (401, r#"{"message":"Authentication required"}"#.into());
    }
    let Ok(mut s) = state.lock() else {
        return (500, String::new());
    };
    if method == "GET" && path == "/ari/channels" {
        let live: Vec<&serde_json::Value> = s.live.values().collect();
        return (200, serde_json::to_string(&live).unwrap_or_default());
    }
    if method == "GET" && path == "/ari/bridges" {
        let live: Vec<&serde_json::Value> = s.bridges.values().collect();
        return (200, serde_json::to_string(&live).unwrap_or_default());
    }
    // Captured answers in their order; a GET keeps giving its last one (it changes nothing).
    let rebase = s.rebase;
    let captured_path = rebase.map_or_else(|| path.clone(), |r| r.undo(&path));
    if let Some(answers) = s.rest.get_mut(&(method.clone(), captured_path)) {
        let last = answers.len() == 1 && method == "GET";
        if let Some((status, body)) = if last {
            answers.front().cloned()
        } else {
            answers.pop_front()
        } {
            return (status, rebase.map_or(body.clone(), |r| r.apply_str(&body)));
        }
    }
    if method == "POST" && path.starts_with("/ari/channels?") {
        return (200, originated(&path));
    }
    let channel = path
        .strip_prefix("/ari/channels/")
        .map(|rest| rest.split(['/', '?']).next().unwrap_or(""));
    match channel {
        Some(id) if !s.live.contains_key(id) => (404, r#"{"message":"Channel not found"}"#.into()),
        Some(id) if method == "POST" && path.contains("/play/") => {
            let (playback, media) = playback_of(&path);
            let frames = played(id, &playback, &media);
            s.pushed.extend(frames);
            (201, String::new())
        }
        _ if method == "POST" || method == "DELETE" => (204, String::new()),
        _ => (404, r#"{"message":"Resource not found"}"#.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel_ids(frames: &[(i64, String)]) -> std::collections::BTreeSet<String> {
        frames
            .iter()
            .filter_map(|(_, f)| serde_json::from_str::<serde_json::Value>(f).ok())
            .filter_map(|v| v["channel"]["id"].as_str().map(str::to_owned))
            .collect()
    }

    #[test]
    fn a_repeated_replay_has_fresh_ids_later_times_and_answers_rest_as_captured() {
        let mut s = State::new(AriSimOptions {
            repeat: true,
            ..AriSimOptions::new("gw", "pw")
        });
        let n = s.frames.len();
        let first: Vec<(i64, String)> = (0..n).filter_map(|_| s.next()).collect();
        let second: Vec<(i64, String)> = (0..n).filter_map(|_| s.next()).collect();
        assert_eq!((first.len(), second.len()), (n, n));
        let (a, b) = (channel_ids(&first), channel_ids(&second));
        assert!(!a.is_empty() && a.is_disjoint(&b), "{a:?} {b:?}");
        let last_first = first.iter().map(|f| f.0).max().unwrap_or(0);
        assert!(
            second.iter().all(|f| f.0 > last_first),
            "paced after the first round"
        );
        // A channel of this round, asked about by its id, maps to the captured request.
        let id = b.iter().next().cloned().unwrap_or_default();
        let rebase = s.rebase.unwrap_or_default();
        let captured = rebase.undo(&format!("/ari/channels/{id}/answer"));
        assert!(
            a.iter().all(|x| !captured.contains(x.as_str()))
                && captured.starts_with("/ari/channels/17"),
            "{captured}"
        );
        assert!(
            s.live.keys().all(|k| b.contains(k) && !a.contains(k)),
            "channels still up carry this round's ids: {:?}",
            s.live.keys().collect::<Vec<_>>()
        );
    }
}
