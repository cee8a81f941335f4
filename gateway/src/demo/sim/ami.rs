//! A fake Asterisk Manager on a loopback port: the real banner, Login with a plain secret or
//! an MD5 challenge (refusing as Asterisk does, then closing), Ping, list actions
//! (CoreShowChannels from the channels it has announced, QueueStatus), Command with repeated
//! Output lines, and the control actions. It can replay the real capture with its real TCP
//! chunking, at any speed, and drop the connection mid-call then resume further on, as a
//! link loss would look.

use super::rebase::{first_epoch, Rebase};
use super::Locked;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::pbx::ami::codec::{Decoded, Decoder, Message};
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Default)]
pub struct AmiSimLog {
    /// Every action received, with its headers.
    pub actions: Vec<Message>,
    pub logins_ok: usize,
    pub logins_refused: usize,
    /// Connections dropped by the replay plan.
    pub drops: usize,
    /// The replay reached the end of the capture.
    pub replay_done: bool,
}

/// How the fake Asterisk behaves beyond the basics.
#[derive(Debug, Clone, Default)]
pub struct AmiSimBehaviour {
    /// Messages (raw text, CRLF-terminated, ending with an empty line) sent after login.
    pub events_after_login: Vec<String>,
    /// Never answer Ping (a half-open link).
    pub ignore_ping: bool,
    /// Actions (lower case) never answered.
    pub ignore_actions: Vec<String>,
    /// Replay the real capture after login.
    pub replay: Option<ReplayPlan>,
}

#[derive(Debug, Clone, Default)]
pub struct ReplayPlan {
    /// Capture seconds per real second; 0 sends as fast as the socket takes it.
    pub speed: f64,
    /// Close the connection when the capture reaches this second...
    pub drop_at_s: Option<f64>,
    /// ...and continue from this second on the next login (what happened between is lost).
    pub resume_at_s: Option<f64>,
    /// Replay the capture over and over, each round with fresh call ids and today's times
    /// (`Rebase`), the first one included.
    pub repeat: bool,
}

/// The capture `fixtures/asterisk/ami_session.raw` with the reads it arrived in.
pub struct Capture {
    raw: Vec<u8>,
    /// (seconds since connect, offset, length) of every received chunk after the login answer.
    chunks: Vec<(f64, usize, usize)>,
}

/// Where the capture's events start: after the banner and the login response.
const AFTER_LOGIN: usize = 195;

impl Capture {
    pub fn load() -> Capture {
        let raw = crate::fixtures::fixture_bytes("asterisk/ami_session.raw");
        let chunks = crate::fixtures::fixture("asterisk/ami_session.chunks.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|c| c["dir"] == "rx")
            .filter_map(|c| {
                let off = c["off"].as_u64()? as usize;
                Some((c["t"].as_f64()?, off, c["len"].as_u64()? as usize))
            })
            .filter(|(_, off, _)| *off >= AFTER_LOGIN)
            .collect();
        Capture { raw, chunks }
    }

    /// The chunks as Asterisk's TCP reads delivered them.
    pub fn chunks(&self) -> impl Iterator<Item = (f64, &[u8])> {
        self.chunks
            .iter()
            .map(|(t, off, len)| (*t, &self.raw[*off..off + len]))
    }
}

/// The channels a stream of events leaves up, as `CoreShowChannels` lists them.
pub(crate) struct LiveChannels {
    decoder: Decoder,
    channels: BTreeMap<String, Vec<(String, String)>>,
}

impl Default for LiveChannels {
    fn default() -> Self {
        LiveChannels {
            decoder: Decoder::without_banner(),
            channels: BTreeMap::new(),
        }
    }
}

impl LiveChannels {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
        while let Some(d) = self.decoder.next_decoded() {
            if let Decoded::Message(m) = d {
                self.update(&m);
            }
        }
    }

    /// At a message boundary: an answer can go out without splitting an event.
    pub(crate) fn at_boundary(&self) -> bool {
        self.decoder.pending_bytes() == 0
    }

    pub(crate) fn has_channel(&self, name: &str) -> bool {
        self.channels
            .values()
            .any(|h| h.iter().any(|(k, v)| k == "Channel" && v == name))
    }

    fn update(&mut self, m: &Message) {
        let Some(uid) = m.get("Uniqueid") else {
            return;
        };
        match m.event() {
            Some("Newchannel") => {
                let keep = [
                    "Channel",
                    "ChannelState",
                    "ChannelStateDesc",
                    "CallerIDNum",
                    "CallerIDName",
                    "Context",
                    "Exten",
                    "Uniqueid",
                    "Linkedid",
                ];
                let mut h: Vec<(String, String)> = m
                    .headers
                    .iter()
                    .filter(|(k, _)| keep.contains(&k.as_str()))
                    .cloned()
                    .collect();
                h.push(("BridgeId".into(), String::new()));
                h.push(("Duration".into(), "00:00:01".into()));
                self.channels.insert(uid.to_owned(), h);
            }
            Some("Hangup") => {
                self.channels.remove(uid);
            }
            Some(event) => {
                let Some(h) = self.channels.get_mut(uid) else {
                    return;
                };
                let (key, value) = match event {
                    "NewCallerid" => ("CallerIDNum", m.get("CallerIDNum")),
                    "Newstate" => ("ChannelStateDesc", m.get("ChannelStateDesc")),
                    "BridgeEnter" => ("BridgeId", m.get("BridgeUniqueid")),
                    "BridgeLeave" => ("BridgeId", Some("")),
                    _ => return,
                };
                if let (Some(slot), Some(v)) = (h.iter_mut().find(|(k, _)| k == key), value) {
                    slot.1 = v.to_owned();
                }
            }
            None => {}
        }
    }

    /// The answer to `CoreShowChannels` with this ActionID.
    pub fn list(&self, id: &str) -> String {
        let mut s = reply(
            id,
            &[
                ("Response", "Success"),
                ("EventList", "start"),
                ("Message", "Channels will follow"),
            ],
        );
        for h in self.channels.values() {
            s.push_str(&format!("Event: CoreShowChannel\r\nActionID: {id}\r\n"));
            for (k, v) in h {
                s.push_str(&format!("{k}: {v}\r\n"));
            }
            s.push_str("\r\n");
        }
        s + &format!(
            "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: {}\r\n\r\n",
            self.channels.len()
        )
    }
}

/// The replay's position, shared by the connections of one sim.
struct Replay {
    capture: Capture,
    plan: ReplayPlan,
    next: usize,
    dropped: bool,
    /// This round's rewrite and the capture as it sends it (`repeat` only).
    round: Option<(Rebase, Vec<u8>)>,
    /// Capture seconds before this round (earlier rounds and the pauses between them).
    offset_s: f64,
}

/// Capture seconds between one round's last chunk and the next round's first.
const ROUND_PAUSE_S: f64 = 4.0;

impl Replay {
    fn new(capture: Capture, plan: ReplayPlan) -> Replay {
        let mut r = Replay {
            capture,
            plan,
            next: 0,
            dropped: false,
            round: None,
            offset_s: 0.0,
        };
        if r.plan.repeat {
            r.start_round();
        }
        r
    }

    /// The bytes this round sends.
    fn bytes(&self) -> &[u8] {
        match &self.round {
            Some((_, raw)) => raw,
            None => &self.capture.raw,
        }
    }

    /// Rewrites the capture for the next round and starts it from its first chunk.
    fn start_round(&mut self) {
        let captured = first_epoch(&self.capture.raw).unwrap_or(0);
        let previous = self.round.as_ref().map(|(r, _)| *r);
        let number = previous.map_or(0, |r| r.round + 1);
        let rebase =
            Rebase::starting_now(captured, crate::clock::now_ms() / 1000, number, previous);
        if previous.is_some() {
            let last = self.capture.chunks.last().map_or(0.0, |c| c.0);
            self.offset_s += last + ROUND_PAUSE_S;
        }
        self.round = Some((rebase, rebase.apply(&self.capture.raw)));
        self.next = 0;
    }
}

pub struct AmiSim {
    port: u16,
    pub log: Arc<Mutex<AmiSimLog>>,
    task: tokio::task::JoinHandle<()>,
}

const CHALLENGE: &str = "840415273";

struct Shared {
    user: String,
    secret: String,
    log: Arc<Mutex<AmiSimLog>>,
    behaviour: AmiSimBehaviour,
    replay: Mutex<Option<Replay>>,
    live: Mutex<LiveChannels>,
}

impl AmiSim {
    pub async fn start(username: &str, secret: &str) -> std::io::Result<AmiSim> {
        AmiSim::start_with(username, secret, AmiSimBehaviour::default()).await
    }

    /// Listens on a free loopback port.
    pub async fn start_with(
        username: &str,
        secret: &str,
        behaviour: AmiSimBehaviour,
    ) -> std::io::Result<AmiSim> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let log = Arc::new(Mutex::new(AmiSimLog::default()));
        let replay = behaviour
            .replay
            .clone()
            .map(|plan| Replay::new(Capture::load(), plan));
        let shared = Arc::new(Shared {
            user: username.to_owned(),
            secret: secret.to_owned(),
            log: log.clone(),
            behaviour,
            replay: Mutex::new(replay),
            live: Mutex::new(LiveChannels::default()),
        });
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        Ok(AmiSim { port, log, task })
    }

    /// A fake Asterisk that replays the real capture after login, as `plan` says.
    pub async fn replaying(
        username: &str,
        secret: &str,
        plan: ReplayPlan,
    ) -> std::io::Result<AmiSim> {
        let behaviour = AmiSimBehaviour {
            replay: Some(plan),
            ..Default::default()
        };
        AmiSim::start_with(username, secret, behaviour).await
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for AmiSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply(id: &str, lines: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in lines {
        s.push_str(&format!("{k}: {v}\r\n"));
        if *k == "Response" {
            s.push_str(&format!("ActionID: {id}\r\n"));
        }
    }
    s.push_str("\r\n");
    s
}

/// What the replay does next on this connection.
enum Step {
    Send(Vec<u8>, Duration),
    Drop,
    Idle,
}

impl Shared {
    fn next_step(&self, started: std::time::Instant, from_t: f64) -> Step {
        let mut guard = self.replay.locked();
        let Some(r) = guard.as_mut() else {
            return Step::Idle;
        };
        if r.next >= r.capture.chunks.len() && r.plan.repeat {
            r.start_round();
        }
        let Some(&(t, off, len)) = r.capture.chunks.get(r.next) else {
            self.log.locked().replay_done = true;
            return Step::Idle;
        };
        let t = t + r.offset_s;
        if !r.dropped && r.plan.drop_at_s.is_some_and(|d| t >= d) {
            r.dropped = true;
            // What happens while the link is down is never seen, but it does happen.
            let resume = r.plan.resume_at_s.unwrap_or(t);
            let mut live = self.live.locked();
            while let Some(&(t, off, len)) = r.capture.chunks.get(r.next) {
                if t >= resume && live.at_boundary() {
                    break;
                }
                live.feed(&r.bytes()[off..off + len]);
                r.next += 1;
            }
            self.log.locked().drops += 1;
            return Step::Drop;
        }
        r.next += 1;
        let due = if r.plan.speed > 0.0 {
            Duration::from_secs_f64(((t - from_t) / r.plan.speed).max(0.0))
                .saturating_sub(started.elapsed())
        } else {
            Duration::ZERO
        };
        Step::Send(r.bytes()[off..off + len].to_vec(), due)
    }

    /// The capture second the next chunk was sent at (where this connection's clock starts).
    fn replay_position(&self) -> f64 {
        let guard = self.replay.locked();
        guard
            .as_ref()
            .and_then(|r| r.capture.chunks.get(r.next).map(|c| c.0 + r.offset_s))
            .unwrap_or(0.0)
    }

    fn answer(&self, m: &Message, logged_in: &mut bool) -> Option<String> {
        let id = m.action_id().unwrap_or("").to_owned();
        let action = m.get("Action").unwrap_or("").to_ascii_lowercase();
        if self.behaviour.ignore_actions.contains(&action) {
            return Some(String::new());
        }
        let has = |key: &str| {
            let live = self.live.locked();
            m.get(key).is_some_and(|c| live.has_channel(c))
        };
        let ok = |msg: &str| reply(&id, &[("Response", "Success"), ("Message", msg)]);
        let error = |msg: &str| reply(&id, &[("Response", "Error"), ("Message", msg)]);
        let out = match action.as_str() {
            "challenge" => reply(&id, &[("Response", "Success"), ("Challenge", CHALLENGE)]),
            "login" => {
                let md5_key = hex(&Md5::digest(format!("{CHALLENGE}{}", self.secret).as_bytes()));
                let accepted = m.get("Username") == Some(self.user.as_str())
                    && (m.get("Secret") == Some(self.secret.as_str())
                        || m.get("Key") == Some(md5_key.as_str()));
                let mut log = self.log.locked();
                if !accepted {
                    log.logins_refused += 1;
                    return None; // Asterisk answers, then closes.
                }
                *logged_in = true;
                log.logins_ok += 1;
                let after = self.behaviour.events_after_login.concat();
                self.live.locked().feed(after.as_bytes());
                ok("Authentication accepted")
                    + "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
                    + &after
            }
            _ if !*logged_in => error("Permission denied"),
            "ping" if self.behaviour.ignore_ping => String::new(),
            "ping" => reply(&id, &[("Response", "Success"), ("Ping", "Pong"), ("Timestamp", "1795316989.000000")]),
            "coreshowchannels" => self.live.locked().list(&id),
            "queuestatus" => {
                reply(&id, &[("Response", "Success"), ("EventList", "start"), ("Message", "Queue status will follow")])
                    + &format!("Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")
            }
            "command" => reply(&id, &[("Response", "Success"), ("Message", "Command output follows"), ("Output", "Name/username  Host"), ("Output", "2 sip peers")]),
            "originate" => ok("Originate successfully queued"),
            "queuepause" => ok("Interface paused successfully"),
            "hangup" | "redirect" | "atxfer" | "mixmonitor" | "stopmixmonitor" => {
                if has("Channel") {
                    ok("Success")
                } else {
                    error("No such channel")
                }
            }
            _ => error("Invalid/unknown command"),
        };
        Some(out)
    }
}

async fn serve(mut socket: tokio::net::TcpStream, shared: Arc<Shared>) {
    if socket
        .write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut decoder = Decoder::without_banner();
    let mut buf = [0u8; 4096];
    let mut logged_in = false;
    // Answers wait here while the replay is in the middle of an event.
    let mut held = String::new();
    let mut clock: Option<(std::time::Instant, f64)> = None;
    loop {
        let step = match clock {
            Some((started, from_t)) => shared.next_step(started, from_t),
            None => Step::Idle,
        };
        let (chunk, due) = match step {
            Step::Send(bytes, due) => (Some(bytes), due),
            Step::Drop => return,
            Step::Idle => (None, Duration::from_secs(3600)),
        };
        tokio::select! {
            read = socket.read(&mut buf) => {
                if chunk.is_some() {
                    // Not sent yet: put it back.
                    unsend(&shared);
                }
                let Ok(n) = read else { return };
                if n == 0 {
                    return;
                }
                decoder.push(&buf[..n]);
                while let Some(Decoded::Message(m)) = decoder.next_decoded() {
                    shared.log.locked().actions.push(m.clone());
                    let Some(out) = shared.answer(&m, &mut logged_in) else {
                        let refused = reply(m.action_id().unwrap_or(""), &[("Response", "Error"), ("Message", "Authentication failed")]);
                        let _ = socket.write_all(refused.as_bytes()).await;
                        return;
                    };
                    held.push_str(&out);
                    if logged_in && clock.is_none() {
                        clock = Some((std::time::Instant::now(), shared.replay_position()));
                    }
                }
            }
            _ = tokio::time::sleep(due), if chunk.is_some() => {
                if let Some(bytes) = chunk {
                    shared.live.locked().feed(&bytes);
                    if socket.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !held.is_empty() && shared.live.locked().at_boundary() {
            if socket.write_all(held.as_bytes()).await.is_err() {
                return;
            }
            held.clear();
        }
    }
}

fn unsend(shared: &Shared) {
    if let Some(r) = shared.replay.locked().as_mut() {
        r.next -= 1;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniqueids(bytes: &[u8]) -> std::collections::BTreeSet<String> {
        String::from_utf8_lossy(bytes)
            .lines()
            .filter_map(|l| l.strip_prefix("Uniqueid: "))
            .filter(|id| id.contains('.'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_repeated_replay_sends_each_round_with_ids_of_its_own_and_later_times() {
        let plan = ReplayPlan {
            repeat: true,
            ..Default::default()
        };
        let mut r = Replay::new(Capture::load(), plan);
        let first = r.bytes().to_vec();
        assert_eq!(first.len(), r.capture.raw.len(), "offsets stay valid");
        let last_t = r.capture.chunks.last().map_or(0.0, |c| c.0);
        r.next = r.capture.chunks.len();
        r.start_round();
        let second = r.bytes().to_vec();
        assert_eq!(r.next, 0);
        assert!(
            r.offset_s > last_t,
            "the second round comes after the first"
        );
        let (a, b) = (uniqueids(&first), uniqueids(&second));
        assert!(!a.is_empty());
        assert_eq!(a.len(), b.len());
        assert!(
            a.is_disjoint(&b),
            "fresh ids every round: {:?}",
            a.intersection(&b).take(5).collect::<Vec<_>>()
        );
        let today = crate::clock::now_ms() / 1000;
        let epoch = super::super::rebase::first_epoch(&first).unwrap_or(0);
        assert!(
            (epoch - today).abs() < 60,
            "the first round starts now: {epoch}"
        );
    }
}
