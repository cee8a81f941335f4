//! The AMI session: banner check, `Login` (plain secret, or MD5 over a `Challenge`), an
//! `Events:` filter at login, actions matched to their responses by `ActionID` (list actions
//! collect their item events until `EventList: Complete`), and a `Ping` keep-alive. The
//! secret is only ever written to the socket, or hashed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::codec::{encode_action, BadHeader, Decoded, Decoder, Message};
use crate::config::Secret;

/// How long Asterisk may take to answer an action.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(10);

pub use super::config::AmiAuth as AuthType;

/// What an action's sender gets back.
pub(crate) type Reply = oneshot::Sender<Result<ActionResult, AmiError>>;

#[derive(Debug, Clone)]
pub struct AmiSettings {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub secret: Secret,
    pub auth: AuthType,
    /// The `Events:` header of the login: `on`, `off`, or event classes such as
    /// `call,agent,system,user` (dialplan noise such as VarSet/Newexten is class `dialplan`).
    pub events: String,
    /// Ping this often; a Ping unanswered by the next one drops the link.
    pub ping_every: Duration,
    /// List the live channels this often (and after every login).
    pub resync_every: Duration,
    /// How long Asterisk may take to answer an action.
    pub answer_within: Duration,
    pub originate: crate::pbx::asterisk::OriginateSettings,
}

impl AmiSettings {
    /// A checked block's settings (`pbxgw check` refuses a missing login and out-of-range times).
    pub fn from_config(pbx: &super::config::AmiConfig) -> AmiSettings {
        AmiSettings {
            name: pbx.name.clone(),
            host: pbx.host.clone(),
            port: pbx.port,
            username: pbx.username.clone().unwrap_or_default(),
            secret: pbx.secret.clone().unwrap_or_else(|| Secret::new("")),
            auth: pbx.auth,
            events: pbx.events.clone(),
            ping_every: Duration::from_secs(pbx.probe_after_s),
            resync_every: Duration::from_secs(pbx.resync_every_s),
            answer_within: ANSWER_WITHIN,
            originate: crate::pbx::asterisk::OriginateSettings::new(
                &pbx.originate_channel,
                &pbx.originate_context,
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0:?} is not an Asterisk Manager banner; check host and port (AMI is usually 5038)")]
    NotAmi(String),
    #[error("Asterisk refused the login: {0}; check username and secret in manager.conf")]
    LoginRefused(String),
    #[error("no answer to {0} within {1:?}")]
    NoAnswer(String, Duration),
    #[error("Asterisk closed the connection")]
    Closed,
    #[error("the AMI link is not up")]
    NotConnected,
    #[error(transparent)]
    BadHeader(#[from] BadHeader),
    #[error("the answer to {0} listed more than {MAX_LIST_ITEMS} items; the list was dropped")]
    ListTooLong(String),
}

/// Most items one list action (`CoreShowChannels`, `QueueStatus`...) may bring: far more
/// than a box's PBX has channels. A longer list is dropped whole and the action fails, so a
/// resync never acts on a list cut short.
pub(crate) const MAX_LIST_ITEMS: usize = 20_000;

impl crate::link::LinkError for AmiError {
    fn needs_installer(&self) -> bool {
        matches!(self, AmiError::LoginRefused(_) | AmiError::NotAmi(_))
    }
}

/// What an action got back: its response, and for list actions the item events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub response: Message,
    pub items: Vec<Message>,
    /// When the answer was complete (round-trip times).
    pub received: Instant,
}

impl ActionResult {
    pub fn is_success(&self) -> bool {
        self.response
            .response()
            .is_some_and(|r| r.eq_ignore_ascii_case("success") || r.eq_ignore_ascii_case("goodbye"))
    }

    /// Asterisk's own `Message:` (the reason of an error).
    pub fn message(&self) -> &str {
        self.response.get("Message").unwrap_or("")
    }
}

struct Pending {
    sent: Instant,
    response: Option<Message>,
    items: Vec<Message>,
    /// Items past [`MAX_LIST_ITEMS`] came: the answer is an error.
    overflowed: bool,
    reply: Option<Reply>,
}

/// A logged-in AMI connection.
pub struct Connection {
    stream: TcpStream,
    decoder: Decoder,
    next_id: u64,
    prefix: String,
    pending: HashMap<String, Pending>,
    answer_within: Duration,
    pub banner: String,
}

impl Connection {
    pub async fn open(s: &AmiSettings) -> Result<Connection, AmiError> {
        let stream = crate::pbx::connect(&s.host, s.port, Duration::from_secs(5))
            .await
            .map_err(|(addr, source)| AmiError::Connect { addr, source })?;
        let mut c = Connection {
            stream,
            decoder: Decoder::new(),
            next_id: 0,
            prefix: format!("pbxgw-{:08x}", fastrand::u32(..)),
            pending: HashMap::new(),
            answer_within: s.answer_within,
            banner: String::new(),
        };
        c.banner = match tokio::time::timeout(Duration::from_secs(5), c.read()).await {
            Ok(Ok(Decoded::Banner(b))) if b.starts_with("Asterisk Call Manager/") => b,
            Ok(Ok(Decoded::Banner(b))) => return Err(AmiError::NotAmi(b)),
            Ok(Ok(_)) => return Err(AmiError::NotAmi("(no banner)".into())),
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(AmiError::NoAnswer(
                    "the banner".into(),
                    Duration::from_secs(5),
                ))
            }
        };
        c.login(s).await?;
        Ok(c)
    }

    async fn login(&mut self, s: &AmiSettings) -> Result<(), AmiError> {
        let result = match s.auth {
            AuthType::Plain => {
                self.call(
                    "Login",
                    &[
                        ("Username", &s.username),
                        ("Secret", s.secret.expose()),
                        ("Events", &s.events),
                    ],
                )
                .await?
            }
            AuthType::Md5 => {
                let challenge = self.call("Challenge", &[("AuthType", "MD5")]).await?;
                let Some(challenge) = challenge
                    .response
                    .get("Challenge")
                    .filter(|_| challenge.is_success())
                else {
                    return Err(AmiError::LoginRefused(format!(
                        "no MD5 challenge ({})",
                        challenge.message()
                    )));
                };
                let key = hex(&Md5::digest(
                    format!("{challenge}{}", s.secret.expose()).as_bytes(),
                ));
                self.call(
                    "Login",
                    &[
                        ("AuthType", "MD5"),
                        ("Username", &s.username),
                        ("Key", &key),
                        ("Events", &s.events),
                    ],
                )
                .await?
            }
        };
        if result.is_success() {
            Ok(())
        } else {
            Err(AmiError::LoginRefused(result.message().to_owned()))
        }
    }

    /// Sends an action and waits for its result, handing any event that arrives meanwhile
    /// to nobody: for use before the session's event loop runs (login, checks).
    pub async fn call(
        &mut self,
        action: &str,
        headers: &[(&str, &str)],
    ) -> Result<ActionResult, AmiError> {
        let (reply, mut rx) = oneshot::channel();
        let id = self.send(action, headers, reply).await?;
        let deadline = Instant::now() + self.answer_within;
        loop {
            if let Ok(result) = rx.try_recv() {
                return result;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.next_event()).await {
                Err(_) => {
                    self.pending.remove(&id);
                    return Err(AmiError::NoAnswer(action.to_owned(), self.answer_within));
                }
                Ok(r) => {
                    r?;
                }
            }
        }
    }

    /// Sends an action; its result goes to `reply`. Returns the ActionID.
    pub async fn send(
        &mut self,
        action: &str,
        headers: &[(&str, &str)],
        reply: Reply,
    ) -> Result<String, AmiError> {
        self.next_id += 1;
        let id = format!("{}-{}", self.prefix, self.next_id);
        let wire = encode_action(action, &id, headers)?;
        tracing::debug!(action, id, "AMI action");
        self.stream.write_all(wire.as_bytes()).await?;
        self.pending.insert(
            id.clone(),
            Pending {
                sent: Instant::now(),
                response: None,
                items: Vec::new(),
                overflowed: false,
                reply: Some(reply),
            },
        );
        Ok(id)
    }

    /// Fails actions that waited past the answer time with [`AmiError::NoAnswer`]. Returns
    /// how many there were.
    pub(crate) fn expire(&mut self) -> usize {
        let limit = self.answer_within;
        let late: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.sent.elapsed() >= limit)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &late {
            if let Some(reply) = self.pending.remove(id).and_then(|mut p| p.reply.take()) {
                let _ = reply.send(Err(AmiError::NoAnswer(format!("action {id}"), limit)));
            }
        }
        late.len()
    }

    /// The next message that is not part of an action's answer (an event), or `None` when
    /// the message completed or fed an action.
    pub async fn next_event(&mut self) -> Result<Option<Message>, AmiError> {
        loop {
            match self.read().await? {
                Decoded::Message(m) => return Ok(self.route(m)),
                Decoded::Banner(_) => continue,
                Decoded::Oversized(n) => {
                    tracing::warn!(bytes = n, "oversized AMI message dropped");
                    return Ok(None);
                }
            }
        }
    }

    /// Responses and list items go to their action; everything else is an event.
    fn route(&mut self, m: Message) -> Option<Message> {
        let Some(id) = m.action_id().map(str::to_owned) else {
            return Some(m);
        };
        let Some(p) = self.pending.get_mut(&id) else {
            return Some(m);
        };
        let list = |m: &Message| m.get("EventList").map(str::to_ascii_lowercase);
        if m.response().is_some() {
            let starts_list = list(&m).as_deref() == Some("start");
            p.response = Some(m);
            if starts_list {
                return None;
            }
        } else if list(&m).as_deref() == Some("complete") {
            // The list's closing event.
        } else {
            if p.items.len() < MAX_LIST_ITEMS {
                p.items.push(m);
            } else {
                p.overflowed = true;
            }
            return None;
        }
        if let Some(mut done) = self.pending.remove(&id) {
            if let (Some(reply), Some(response)) = (done.reply.take(), done.response.take()) {
                let answer = if done.overflowed {
                    let action = response.get("ActionID").unwrap_or("a list action");
                    Err(AmiError::ListTooLong(action.to_owned()))
                } else {
                    Ok(ActionResult {
                        response,
                        items: done.items,
                        received: Instant::now(),
                    })
                };
                let _ = reply.send(answer);
            }
        }
        None
    }

    async fn read(&mut self) -> Result<Decoded, AmiError> {
        crate::pbx::read_item(&mut self.stream, &mut self.decoder)
            .await?
            .ok_or(AmiError::Closed)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The running connector: connects, logs in, hands every event on, lists the live channels
/// and queue members after every login and every `resync_every`, pings every `ping_every`
/// and drops a link whose Ping goes unanswered, runs control actions, and reconnects with
/// capped jittered backoff (a refused login no more often than once a minute).
pub struct AmiSession {
    pub settings: AmiSettings,
    pub links: crate::link::Links,
    pub events: tokio::sync::mpsc::Sender<crate::pbx::PbxEvent<Message>>,
    pub control: tokio::sync::mpsc::Receiver<super::control::ControlRequest>,
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// A resync in flight: the channel list and the queue members, asked at `asked_ms`.
struct Resync {
    asked_ms: i64,
    channels: Answer,
    members: Answer,
}

/// An action's answer, awaited without blocking the event loop.
enum Answer {
    Waiting(oneshot::Receiver<Result<ActionResult, AmiError>>),
    Got(Result<ActionResult, AmiError>),
}

impl Answer {
    fn poll(&mut self) -> bool {
        if let Answer::Waiting(rx) = self {
            match rx.try_recv() {
                Ok(result) => *self = Answer::Got(result),
                Err(oneshot::error::TryRecvError::Empty) => return false,
                Err(oneshot::error::TryRecvError::Closed) => {
                    *self = Answer::Got(Err(AmiError::Closed))
                }
            }
        }
        true
    }

    fn take(self) -> Result<ActionResult, AmiError> {
        match self {
            Answer::Got(result) => result,
            Answer::Waiting(_) => Err(AmiError::Closed),
        }
    }
}

impl AmiSession {
    fn link(&self) -> String {
        format!("pbx:{}", self.settings.name)
    }

    /// Runs until shutdown, reconnecting after every failure.
    pub async fn run(self) {
        let (links, shutdown) = (self.links.clone(), self.shutdown.clone());
        crate::link::supervise(self, &links, crate::link::Policy::PBX, &shutdown).await
    }
}

impl crate::link::Link for AmiSession {
    type Error = AmiError;

    fn name(&self) -> String {
        self.link()
    }

    async fn connected(&mut self) -> Result<(), AmiError> {
        Err(self.serve().await)
    }

    async fn lost(&mut self, error: &AmiError) -> crate::link::Retry {
        crate::pbx::tell_lost(&self.events, error).await
    }

    /// Control requests are answered "not connected" while the link is down.
    async fn while_down(&mut self, until: tokio::time::Instant) {
        crate::link::refuse_until(&mut self.control, until, |req| {
            let _ = req
                .reply
                .send(Err(super::control::ControlError::NotConnected));
        })
        .await
    }
}

impl AmiSession {
    /// One connection; returns why it ended.
    async fn serve(&mut self) -> AmiError {
        let mut c = match Connection::open(&self.settings).await {
            Ok(c) => c,
            Err(e) => return e,
        };
        tracing::info!(pbx = %self.settings.name, banner = %c.banner, "AMI logged in");
        self.links.set(
            &self.link(),
            crate::link::LinkState::Up,
            Some(c.banner.clone()),
        );
        let _ = self.events.send(crate::pbx::PbxEvent::Up).await;
        let mut ping = tokio::time::interval(self.settings.ping_every);
        ping.tick().await;
        let mut resync_timer = tokio::time::interval(self.settings.resync_every);
        let mut pong: Option<(Instant, oneshot::Receiver<Result<ActionResult, AmiError>>)> = None;
        let mut resync: Option<Resync> = None;
        let mut expire = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                event = c.next_event() => match event {
                    Ok(Some(message)) => {
                        let raw = message.to_raw();
                        let event = crate::pbx::PbxEvent::Message { ts_ms: crate::clock::now_ms(), raw, message };
                        if self.events.send(event).await.is_err() {
                            return AmiError::Closed;
                        }
                    }
                    Ok(None) => {
                        if let Some(e) = self.resync_done(&mut resync).await {
                            return e;
                        }
                    }
                    Err(e) => return e,
                },
                _ = resync_timer.tick(), if resync.is_none() => {
                    match ask_resync(&mut c).await {
                        Ok(r) => resync = Some(r),
                        Err(e) => return e,
                    }
                }
                Some(req) = self.control.recv() => {
                    if let Err(e) = super::control::submit(&mut c, req, &self.settings).await {
                        return e;
                    }
                }
                _ = expire.tick() => {
                    if c.expire() > 0 {
                        if let Some(e) = self.resync_done(&mut resync).await {
                            return e;
                        }
                    }
                }
                _ = ping.tick() => {
                    if let Some((sent, rx)) = &mut pong {
                        let Ok(Ok(answer)) = rx.try_recv() else {
                            self.links.quality.record(&self.link(), None, crate::clock::now_ms());
                            return AmiError::NoAnswer("Ping".into(), sent.elapsed());
                        };
                        let rtt = answer.received.saturating_duration_since(*sent);
                        self.links.quality.record(&self.link(), Some(rtt), crate::clock::now_ms());
                    }
                    let (reply, rx) = oneshot::channel();
                    if let Err(e) = c.send("Ping", &[], reply).await {
                        return e;
                    }
                    pong = Some((Instant::now(), rx));
                }
            }
        }
    }

    /// When both lists of a resync are in, hands them to the correlator. A failed list
    /// action fails the link (the picture would be wrong otherwise).
    async fn resync_done(&self, resync: &mut Option<Resync>) -> Option<AmiError> {
        let r = resync.as_mut()?;
        if !(r.channels.poll() & r.members.poll()) {
            return None;
        }
        let Resync {
            asked_ms,
            channels,
            members,
        } = resync.take()?;
        let mut items = match channels.take() {
            Ok(list) => list.items,
            Err(e) => return Some(e),
        };
        // A PBX without app_queue answers QueueStatus with an error: no members to show.
        items.extend(members.take().map(|l| l.items).unwrap_or_default());
        let event = crate::pbx::PbxEvent::Resync {
            asked_ms,
            ts_ms: crate::clock::now_ms(),
            items,
        };
        self.events
            .send(event)
            .await
            .err()
            .map(|_| AmiError::Closed)
    }
}

async fn ask_resync(c: &mut Connection) -> Result<Resync, AmiError> {
    let asked_ms = crate::clock::now_ms();
    let (reply, channels) = oneshot::channel();
    c.send("CoreShowChannels", &[], reply).await?;
    let (reply, members) = oneshot::channel();
    c.send("QueueStatus", &[], reply).await?;
    Ok(Resync {
        asked_ms,
        channels: Answer::Waiting(channels),
        members: Answer::Waiting(members),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_key_is_lowercase_hex_of_challenge_then_secret() {
        use md5::{Digest, Md5};
        // md5("123456789secret")
        assert_eq!(super::hex(&Md5::digest(b"123456789secret")).len(), 32);
        assert_eq!(
            super::hex(&Md5::digest(b"")),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }
}
