//! MQTT uplink. One task owns the rumqttc event loop; QoS 1; the cursor moves only when the
//! PUBACK of a message arrives.
//!
//! Matching PUBACKs to events: rumqttc assigns packet ids as it takes requests, in order, and
//! reports each with `Outgoing::Publish(pkid)`. This task is the only one publishing, so the
//! n-th `Outgoing::Publish` belongs to the n-th request it queued. Every (re)connect uses a
//! fresh event loop, so rumqttc never retransmits an old session's messages behind our back;
//! we resend from the cursor instead.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ClientError, ConnectReturnCode, ConnectionError, Event, EventLoop, LastWill,
    MqttOptions, Outgoing, Packet, Publish, QoS, TlsConfiguration, Transport,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::json::{call_json, event_json};
use super::SinkContext;
use crate::calls::EventBody;
use crate::commands::Origin;
use crate::config::MqttConfig;
use crate::health::StatusReport;
use crate::link::{CheckStep, LinkState};
use crate::store::{StoreError, StoredEvent};
use crate::tls::{client_config, TlsError};

pub(crate) const SINK: &str = "mqtt";
pub(crate) const LINK: &str = "uplink:mqtt";
/// How many events one read from the log brings.
const READ_BATCH: usize = 512;
/// Up to this many new events are read on the sink's own thread (a few rows from the page
/// cache: quicker than the hop to the blocking pool and back).
const SHORT_READ: u64 = 32;
/// Largest MQTT packet sent or taken (Mosquitto's default is far larger; small brokers and
/// bridges cap lower).
pub(crate) const MAX_PACKET: usize = 256 * 1024;
/// Largest event payload: the packet less room for the topic and headers. A larger event
/// goes out as its envelope with `"truncated":true` (see `json::fit`).
pub(crate) const MAX_PAYLOAD: usize = MAX_PACKET - 4 * 1024;
/// Cursor moves are handed to the store at most this often while messages are in flight.
const STORE_ACK_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub(crate) enum MqttError {
    #[error("broker connection: {0}")]
    Connection(Box<ConnectionError>),
    #[error("MQTT client: {0}")]
    Client(#[from] ClientError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("no CONNACK from the broker within {0:?}")]
    ConnectTimeout(Duration),
}

impl From<ConnectionError> for MqttError {
    fn from(e: ConnectionError) -> Self {
        MqttError::Connection(Box::new(e))
    }
}

impl crate::link::LinkError for MqttError {
    /// Failures only the installer can fix (credentials, TLS), shown as such on the LED.
    fn needs_installer(&self) -> bool {
        matches!(
            self,
            MqttError::Connection(e) if matches!(**e,
                ConnectionError::ConnectionRefused(
                    ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
                ) | ConnectionError::Tls(_))
        )
    }
}

/// Topic names under `{prefix}/{gw}/`.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    base: String,
}

impl Topics {
    pub fn new(prefix: &str, gw: &str) -> Topics {
        Topics {
            base: format!("{prefix}/{gw}"),
        }
    }
    pub fn event(&self, kind: &str) -> String {
        format!("{}/event/{kind}", self.base)
    }
    pub fn call(&self, call_id: &str) -> String {
        format!("{}/call/{}", self.base, topic_level(call_id))
    }
    /// An agent's latest state, retained so a new subscriber sees the panel at once.
    pub fn agent(&self, agent: &str) -> String {
        format!("{}/agent/{}", self.base, topic_level(agent))
    }
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }
    pub fn commands(&self) -> String {
        format!("{}/cmd/+", self.base)
    }
    fn command_name<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic.strip_prefix(&self.base)?.strip_prefix("/cmd/")
    }
    pub(crate) fn command_result(&self, request_id: &str) -> String {
        format!("{}/cmd-result/{}", self.base, topic_level(request_id))
    }
}

/// Makes a value safe as one topic level (no separators or wildcards).
fn topic_level(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Which event a queued publish belongs to, so its PUBACK can move the cursor.
#[derive(Debug, Clone, Copy)]
enum Tag {
    Event(u64),
    /// The status message, published at this instant: its PUBACK measures the round trip.
    Status(Instant),
    Other,
}

/// Messages sent and not yet acknowledged, per seq (a `call.ended` sends two).
#[derive(Debug, Default)]
struct AckWindow {
    outstanding: BTreeMap<u64, u32>,
    messages: usize,
    last_sent: u64,
}

impl AckWindow {
    fn new(acked: u64) -> AckWindow {
        AckWindow {
            last_sent: acked,
            ..Default::default()
        }
    }
    fn sent(&mut self, seq: u64) {
        *self.outstanding.entry(seq).or_default() += 1;
        self.messages += 1;
        self.last_sent = self.last_sent.max(seq);
    }
    fn acked_one(&mut self, seq: u64) {
        if let Some(n) = self.outstanding.get_mut(&seq) {
            *n -= 1;
            self.messages -= 1;
            if *n == 0 {
                self.outstanding.remove(&seq);
            }
        }
    }
    /// Everything up to this seq has been acknowledged.
    fn acked(&self) -> u64 {
        self.outstanding
            .keys()
            .next()
            .map_or(self.last_sent, |s| s - 1)
    }
}

/// Spaces out historical messages to `replay_rate` per second.
struct Pacer {
    interval: Option<Duration>,
    next: Instant,
}

impl Pacer {
    fn new(rate: u32) -> Pacer {
        Pacer {
            interval: (rate > 0).then(|| Duration::from_secs(1) / rate),
            next: Instant::now(),
        }
    }
    /// `Err(when)` if the next historical message must wait until `when`.
    fn take(&mut self) -> Result<(), Instant> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        let now = Instant::now();
        if self.next > now {
            return Err(self.next);
        }
        // Allow at most a tenth of a second of catch-up burst.
        let floor = now.checked_sub(Duration::from_millis(100)).unwrap_or(now);
        self.next = self.next.max(floor) + interval;
        Ok(())
    }
}

pub(crate) struct MqttSink {
    config: MqttConfig,
    ctx: SinkContext,
    topics: Topics,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Answers of commands run off the event loop, to publish on `cmd-result/`.
    answers: (
        mpsc::Sender<Answer>,
        tokio::sync::Mutex<mpsc::Receiver<Answer>>,
    ),
}

/// A command's `request_id` and its JSON answer.
type Answer = (String, Value);

/// `ping`/`status` answered on the event loop: at most this many a minute, the rest dropped
/// and counted (`commands:dropped`), so a flood cannot fill the client's request queue.
const LOCAL_ANSWERS_PER_MINUTE: usize = 120;

/// One connection's bookkeeping.
struct Session {
    client: AsyncClient,
    local_answers: crate::commands::MinuteWindow,
    window: AckWindow,
    queued: VecDeque<Tag>,
    by_pkid: HashMap<u16, Tag>,
    buffer: VecDeque<StoredEvent>,
    read_upto: u64,
    /// Events up to this seq were already in the log at connect: they are a backlog.
    backlog_head: u64,
    pacer: Pacer,
    stored_ack: u64,
    last_store_ack: Instant,
}

impl Session {
    /// Queues one QoS 1 message of event `seq`; its PUBACK will count toward that event.
    fn publish_part(
        &mut self,
        topic: String,
        payload: String,
        seq: u64,
        retain: bool,
    ) -> Result<(), MqttError> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)?;
        self.queued.push_back(Tag::Event(seq));
        self.window.sent(seq);
        Ok(())
    }
}

/// Connection options: client id, keep-alive, the Last Will on the status topic,
/// credentials, TLS.
fn options(
    config: &MqttConfig,
    topics: &Topics,
    gateway_id: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> MqttOptions {
    let client_id = config
        .client_id
        .clone()
        .unwrap_or_else(|| format!("pbxgw-{gateway_id}"));
    let mut o = MqttOptions::new(client_id, &config.host, config.port_or_default());
    o.set_keep_alive(Duration::from_secs(config.keepalive_s.max(5)))
        .set_clean_session(true)
        .set_inflight(config.max_inflight)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_last_will(LastWill::new(
            topics.status(),
            StatusReport::offline_json(gateway_id),
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(user) = &config.username {
        let password = config
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        o.set_credentials(user, password);
    }
    if let Some(tls) = tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    }
    o
}

fn tls_config(config: &MqttConfig) -> Result<Option<Arc<rustls::ClientConfig>>, TlsError> {
    if !config.tls() {
        return Ok(None);
    }
    let client_auth = config
        .client_cert
        .as_deref()
        .zip(config.client_key.as_deref());
    Ok(Some(Arc::new(client_config(
        config.ca_file.as_deref(),
        client_auth,
    )?)))
}

/// `pbxgw check --connect`: connects (with a client id of its own, so a running gateway is
/// not thrown off) and publishes one QoS 1 test message on `{prefix}/{gw}/check`, waiting for
/// the broker's PUBACK.
pub async fn probe(config: &MqttConfig, gateway_id: &str) -> CheckStep {
    let topics = Topics::new(&config.topic_prefix, gateway_id);
    let tls = match tls_config(config) {
        Ok(tls) => tls,
        Err(e) => return CheckStep::failed(e),
    };
    let mut o = options(config, &topics, gateway_id, tls);
    o.set_client_id(format!("pbxgw-check-{gateway_id}"));
    // The check must not leave an "offline" status behind.
    o.set_last_will(LastWill::new(
        format!("{}/check", topics.status().trim_end_matches("/status")),
        "",
        QoS::AtMostOnce,
        false,
    ));
    let (client, mut eventloop) = AsyncClient::new(o, 10);
    let at = format!("{}:{}", config.host, config.port_or_default());
    let run = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let topic = format!("{}/check", topics.status().trim_end_matches("/status"));
                    client
                        .try_publish(topic, QoS::AtLeastOnce, false, r#"{"check":true}"#)
                        .map_err(|e| e.to_string())?;
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    let result = match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(r) => r,
        Err(_) => Err("no answer within 10 s".to_owned()),
    };
    let _ = client.try_disconnect();
    match result {
        Ok(()) => CheckStep::Works(format!(
            "connected to {at}, a test publish was acknowledged"
        )),
        Err(e) => CheckStep::fails(
            format!("{e} ({at})"),
            "Check host, port, tls, username and password",
        ),
    }
}

impl MqttSink {
    pub fn new(config: MqttConfig, ctx: SinkContext) -> Result<MqttSink, TlsError> {
        let tls = tls_config(&config)?;
        let topics = Topics::new(&config.topic_prefix, &ctx.gateway_id);
        let (tx, rx) = mpsc::channel(64);
        Ok(MqttSink {
            config,
            ctx,
            topics,
            tls,
            answers: (tx, tokio::sync::Mutex::new(rx)),
        })
    }

    fn options(&self) -> MqttOptions {
        options(
            &self.config,
            &self.topics,
            &self.ctx.gateway_id,
            self.tls.clone(),
        )
    }

    /// Runs until shutdown: connect, drain, and on any failure reconnect with backoff.
    pub async fn run(self) {
        let ctx = self.ctx.clone();
        super::supervise(&ctx, SINK, LINK, self).await;
    }

    async fn connect(&self, eventloop: &mut EventLoop) -> Result<(), MqttError> {
        let limit = Duration::from_secs(30);
        let wait = async {
            loop {
                if let Event::Incoming(Packet::ConnAck(_)) = eventloop.poll().await? {
                    return Ok::<(), MqttError>(());
                }
            }
        };
        tokio::select! {
            r = tokio::time::timeout(limit, wait) => r.map_err(|_| MqttError::ConnectTimeout(limit))?,
            // Shutdown while connecting: nothing to flush.
            _ = self.ctx.shutdown.cancelled() => Ok(()),
        }
    }

    /// One connection. `Ok` means shutdown was requested; `acked` tracks the broker's acks.
    async fn connection(&self, acked: &mut u64) -> Result<(), MqttError> {
        let cap = usize::from(self.config.max_inflight) * 2 + 64;
        let (client, mut eventloop) = AsyncClient::new(self.options(), cap);
        // Live events go out one small packet at a time: Nagle's algorithm would hold each
        // until the previous one's TCP ACK.
        let mut network = eventloop.network_options();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        self.connect(&mut eventloop).await?;
        if self.ctx.shutdown.is_cancelled() {
            return Ok(());
        }
        let mut s = Session {
            client,
            local_answers: Default::default(),
            window: AckWindow::new(*acked),
            queued: VecDeque::new(),
            by_pkid: HashMap::new(),
            buffer: VecDeque::new(),
            read_upto: *acked,
            backlog_head: *self.ctx.committed.borrow(),
            pacer: Pacer::new(self.config.replay_rate),
            stored_ack: *acked,
            last_store_ack: Instant::now(),
        };
        s.client
            .try_subscribe(self.topics.commands(), QoS::AtLeastOnce)?;
        self.publish_status(&mut s).await?;
        let mut committed = self.ctx.committed.clone();
        let mut links = self.ctx.links.subscribe();
        let mut answers = self.answers.1.lock().await;
        let mut status_tick =
            tokio::time::interval(Duration::from_secs(self.config.status_interval_s.max(1)));
        status_tick.tick().await;
        let result = loop {
            let pace_until = match self.fill(&mut s).await {
                Ok(p) => p,
                Err(e) => break Err(e),
            };
            let caught_up = s.buffer.is_empty() && s.read_upto >= *committed.borrow();
            self.show_progress(&s);
            tokio::select! {
                _ = self.ctx.shutdown.cancelled() => {
                    self.goodbye(&mut s, &mut eventloop).await;
                    break Ok(());
                }
                event = eventloop.poll() => {
                    if let Err(e) = self.on_event(&mut s, event?) {
                        break Err(e);
                    }
                }
                changed = committed.changed(), if caught_up => {
                    if changed.is_err() {
                        // The writer stopped: shutdown is under way.
                        self.ctx.shutdown.cancelled().await;
                    }
                }
                _ = tokio::time::sleep_until(pace_until.unwrap_or_else(Instant::now).into()), if pace_until.is_some() => {}
                Some((request_id, answer)) = answers.recv() => {
                    self.publish_answer(&mut s, &request_id, &answer);
                }
                _ = status_tick.tick() => self.publish_status(&mut s).await?,
                _ = links.changed() => self.publish_status(&mut s).await?,
            }
            *acked = s.window.acked();
            self.store_ack(&mut s, false).await;
        };
        *acked = s.window.acked();
        self.store_ack(&mut s, true).await;
        result
    }

    fn show_progress(&self, s: &Session) {
        let draining = s.read_upto < s.backlog_head
            || !s.buffer.is_empty() && s.buffer[0].seq <= s.backlog_head;
        if draining {
            self.ctx.links.set(
                LINK,
                LinkState::Connecting,
                Some(format!("draining backlog up to seq {}", s.backlog_head)),
            );
        } else {
            self.ctx.links.set(LINK, LinkState::Up, None);
        }
    }

    /// Publishes from the log while the in-flight window has room. Returns when the next
    /// historical message is due, if pacing holds it back.
    async fn fill(&self, s: &mut Session) -> Result<Option<Instant>, MqttError> {
        let max = usize::from(self.config.max_inflight);
        while s.window.messages < max {
            if s.buffer.is_empty() {
                if s.read_upto >= *self.ctx.committed.borrow() {
                    return Ok(None);
                }
                let after = s.read_upto;
                let read = move |r: &crate::store::StoreReader| r.events_after(after, READ_BATCH);
                let reader = &self.ctx.reader;
                let new = self.ctx.committed.borrow().saturating_sub(after);
                let batch = if new <= SHORT_READ {
                    reader.call_short(read).await?
                } else {
                    reader.call(read).await?
                };
                match batch.last() {
                    Some(last) => s.read_upto = last.seq,
                    None => return Ok(None),
                }
                s.buffer.extend(batch);
            }
            let Some(event) = s.buffer.front() else {
                return Ok(None);
            };
            let historical = event.seq <= s.backlog_head;
            if historical {
                if let Err(when) = s.pacer.take() {
                    return Ok(Some(when));
                }
            }
            let (seq, event_topic) = (event.seq, self.topics.event(&event.kind));
            let payload = self.fit(event_json(&self.ctx.gateway_id, event, historical));
            // A second message of the same event: the final record on `call/{id}`, or the
            // agent's state retained on `agent/{id}`.
            let second = match (&event.body, &event.call_id) {
                (Ok(EventBody::CallEnded(record)), Some(call_id)) => Some((
                    self.topics.call(call_id),
                    self.fit(call_json(&self.ctx.gateway_id, seq, record)),
                    false,
                )),
                (Ok(EventBody::AgentState(a)), _) => {
                    Some((self.topics.agent(&a.agent), payload.clone(), true))
                }
                _ => None,
            };
            s.publish_part(event_topic, payload, seq, false)?;
            if let Some((topic, payload, retain)) = second {
                s.publish_part(topic, payload, seq, retain)?;
            }
            s.buffer.pop_front();
        }
        Ok(None)
    }

    /// The payload as sent: cut to its envelope past [`MAX_PAYLOAD`] (counted).
    fn fit(&self, payload: serde_json::Value) -> String {
        let (text, truncated) = super::json::fit(payload, MAX_PAYLOAD);
        if truncated {
            self.ctx.links.count("uplink:mqtt:truncated");
        }
        text
    }

    fn on_event(&self, s: &mut Session, event: Event) -> Result<(), MqttError> {
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(tag) = s.queued.pop_front() {
                    s.by_pkid.insert(pkid, tag);
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => match s.by_pkid.remove(&ack.pkid) {
                Some(Tag::Event(seq)) => s.window.acked_one(seq),
                Some(Tag::Status(sent)) => {
                    let rtt = Some(sent.elapsed());
                    self.ctx
                        .links
                        .quality
                        .record(LINK, rtt, crate::clock::now_ms());
                }
                _ => {}
            },
            Event::Incoming(Packet::Publish(publish)) => self.on_command(s, &publish)?,
            _ => {}
        }
        Ok(())
    }

    fn on_command(&self, s: &mut Session, publish: &Publish) -> Result<(), MqttError> {
        let Some(name) = self.topics.command_name(&publish.topic) else {
            return Ok(());
        };
        if let (false, Some(commands)) = (matches!(name, "ping" | "status"), &self.ctx.commands) {
            let Some(slot) = commands.try_begin() else {
                // A flood: refuse what fits in the answer queue, drop the rest; the event
                // uplink never waits for commands.
                let busy = crate::commands::busy_answer(&publish.payload);
                if busy.is_none_or(|answer| self.answers.0.try_send(answer).is_err()) {
                    self.ctx.links.count("commands:dropped");
                }
                return Ok(());
            };
            // Acting on a PBX or the queue takes a while: off the event loop, answered later.
            let (commands, name, payload) =
                (commands.clone(), name.to_owned(), publish.payload.clone());
            let answers = self.answers.0.clone();
            tokio::spawn(async move {
                let _slot = slot;
                match commands.run(Origin::Mqtt, &name, &payload).await {
                    Some(answer) => {
                        let _ = answers.send(answer).await;
                    }
                    None => tracing::warn!(
                        command = name,
                        "command without a usable request_id ignored"
                    ),
                }
            });
            return Ok(());
        }
        if !s.local_answers.admit(LOCAL_ANSWERS_PER_MINUTE) {
            self.ctx.links.count("commands:dropped");
            return Ok(());
        }
        if name == "status" {
            // The report reads the store: off the event loop, answered when ready.
            let (ctx, payload, answers) = (
                self.ctx.clone(),
                publish.payload.clone(),
                self.answers.0.clone(),
            );
            tokio::spawn(async move {
                let status = match ctx.status().await {
                    Ok(report) => serde_json::to_value(&report).ok(),
                    Err(e) => {
                        tracing::warn!(error = %e, "status for a command not read");
                        None
                    }
                };
                if let Some(answer) = answer_command("status", &payload, status) {
                    let _ = answers.send(answer).await;
                }
            });
            return Ok(());
        }
        let Some((request_id, result)) = answer_command(name, &publish.payload, None) else {
            tracing::warn!(
                command = name,
                "command without a usable request_id ignored"
            );
            return Ok(());
        };
        self.publish_answer(s, &request_id, &result);
        Ok(())
    }

    /// Queues a command's answer. A full request queue drops it (counted): answers never
    /// tear the event uplink down.
    fn publish_answer(&self, s: &mut Session, request_id: &str, answer: &Value) {
        let topic = self.topics.command_result(request_id);
        match s
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, answer.to_string())
        {
            Ok(()) => s.queued.push_back(Tag::Other),
            Err(e) => {
                tracing::debug!(error = %e, "command answer dropped");
                self.ctx.links.count("commands:dropped");
            }
        }
    }

    async fn publish_status(&self, s: &mut Session) -> Result<(), MqttError> {
        let status = self.ctx.status().await?;
        let payload = serde_json::to_string(&status).unwrap_or_default();
        s.client
            .try_publish(self.topics.status(), QoS::AtLeastOnce, true, payload)?;
        s.queued.push_back(Tag::Status(Instant::now()));
        Ok(())
    }

    async fn store_ack(&self, s: &mut Session, force: bool) {
        let acked = s.window.acked();
        if acked <= s.stored_ack {
            return;
        }
        let due = force || s.window.messages == 0 || s.last_store_ack.elapsed() >= STORE_ACK_EVERY;
        if due && self.ctx.appender.ack(SINK, acked).await.is_ok() {
            s.stored_ack = acked;
            s.last_store_ack = Instant::now();
        }
    }

    /// Clean stop: wait briefly for outstanding PUBACKs, mark the gateway offline, disconnect.
    async fn goodbye(&self, s: &mut Session, eventloop: &mut EventLoop) {
        let offline = StatusReport::offline_json(&self.ctx.gateway_id);
        let _ = s
            .client
            .try_publish(self.topics.status(), QoS::AtLeastOnce, true, offline);
        s.queued.push_back(Tag::Other);
        let _ = s.client.try_disconnect();
        let drain = async {
            while let Ok(event) = eventloop.poll().await {
                if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
                let _ = self.on_event(s, event);
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), drain).await;
    }
}

impl super::Session for MqttSink {
    type Error = MqttError;

    async fn session(&self, acked: &mut u64) -> Result<(), MqttError> {
        self.connection(acked).await
    }
}

/// Answers the commands the uplink answers itself: `ping`, and `status` with the report
/// `status` holds (`None`: it could not be read). Anything else reaching here is refused with
/// a typed error, never silently dropped. `None` when there is no usable `request_id` to
/// answer on.
pub(crate) fn answer_command(
    name: &str,
    payload: &[u8],
    status: Option<Value>,
) -> Option<(String, Value)> {
    let body: Value = serde_json::from_slice(payload).ok()?;
    let request_id = body.get("request_id")?.as_str()?;
    if request_id.is_empty() || request_id.len() > 128 {
        return None;
    }
    let result = match name {
        "ping" => json!({ "request_id": request_id, "ok": true, "result": { "pong": true } }),
        "status" => match status {
            Some(status) => json!({ "request_id": request_id, "ok": true, "result": status }),
            None => json!({
                "request_id": request_id,
                "ok": false,
                "error": { "code": "unavailable", "message": "the status could not be read from the store" }
            }),
        },
        other => json!({
            "request_id": request_id,
            "ok": false,
            "error": { "code": "unsupported", "message": format!("command {other:?} is not supported by this gateway") }
        }),
    };
    Some((request_id.to_owned(), result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_window_moves_only_over_contiguous_acks() {
        let mut w = AckWindow::new(10);
        for seq in 11..=14 {
            w.sent(seq);
        }
        w.sent(14); // call.ended: two messages
        w.acked_one(12);
        assert_eq!(w.acked(), 10);
        w.acked_one(11);
        assert_eq!(w.acked(), 12);
        w.acked_one(14);
        assert_eq!(w.acked(), 12);
        w.acked_one(13);
        assert_eq!(w.acked(), 13);
        w.acked_one(14);
        assert_eq!(w.acked(), 14);
        assert_eq!(w.messages, 0);
    }

    #[test]
    fn topics_are_built_under_prefix_and_gateway() {
        let t = Topics::new("pbxgw/v1", "gw1");
        assert_eq!(t.event("call.ended"), "pbxgw/v1/gw1/event/call.ended");
        assert_eq!(t.call("a/b+c"), "pbxgw/v1/gw1/call/a_b_c");
        assert_eq!(t.agent("PJSIP/201"), "pbxgw/v1/gw1/agent/PJSIP_201");
        assert_eq!(t.command_name("pbxgw/v1/gw1/cmd/ping"), Some("ping"));
        assert_eq!(t.command_name("pbxgw/v1/gw2/cmd/ping"), None);
    }

    #[test]
    fn commands_are_answered_or_refused_by_type() {
        let (id, r) = answer_command("ping", br#"{"request_id":"r1"}"#, None).unwrap();
        assert_eq!(id, "r1");
        assert_eq!(r["ok"], true);
        let (_, r) = answer_command("sms.send", br#"{"request_id":"r2"}"#, None).unwrap();
        assert_eq!(r["error"]["code"], "unsupported");
        assert!(answer_command("ping", b"not json", None).is_none());
        let (_, r) =
            answer_command("status", br#"{"request_id":"r3"}"#, Some(json!({"gw":"g"}))).unwrap();
        assert_eq!(
            (r["ok"].clone(), r["result"]["gw"].clone()),
            (json!(true), json!("g"))
        );
        let (_, r) = answer_command("status", br#"{"request_id":"r4"}"#, None).unwrap();
        assert_eq!(r["error"]["code"], "unavailable");
        assert!(answer_command("ping", br#"{"request_id":5}"#, None).is_none());
    }

    #[test]
    fn pacer_spaces_messages() {
        let mut p = Pacer::new(10);
        assert!(p.take().is_ok());
        let mut held = 0;
        for _ in 0..5 {
            if p.take().is_err() {
                held += 1;
            }
        }
        assert!(held >= 3, "only {held} held back");
        assert!(Pacer::new(0).take().is_ok());
    }
}
