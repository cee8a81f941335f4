//! The PBX's own GSM module as an SMS route, for sites whose box has no modem (spec
//! p.30-37, checked against a real IPU session in `gsm_session_anon.txt`).
//!
//! * Its own connection: `LOGI Gnnn <SIM PIN>` (a LOGA connection cannot send SMS).
//! * One `SMSS` at a time: the module is busy until `SMSA C <order>` (accepted by the SMS
//!   centre) or `SMSA R <error>` (rejected). A send is done when every part is accepted; the
//!   delivery report (`SMSR`) may come hours later and arrives as a [`GsmEvent`].
//! * `NA 4` (module busy): retry after a few seconds. `NA 23` (GSM path faulty or starting):
//!   not again before 30 s. `NA 22`: too long. Other refusals are final.
//! * Long texts go as multipart (`M<ref>,<i>,<n> C1|C2`): 153 GSM-alphabet characters or 67
//!   with national characters per part, one reference per message.
//! * Every `SMSR` and `SMSG` is acknowledged with `SOK`; until then the module re-sends it on
//!   every login. A re-sent one (same kind, index and content as the last) is dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::codec::{Message, NaCode};
use super::session::{Connection, CtipError, CtipSettings};
use crate::config::Secret;
use crate::link::LinkState;
use crate::link::Links;

const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How long the SMS centre may take to accept a part.
const ACCEPT_WITHIN: Duration = Duration::from_secs(90);
const BUSY_RETRY: Duration = Duration::from_secs(3);
const FAULTY_RETRY: Duration = Duration::from_secs(30);
const MAX_RETRIES: u32 = 10;
/// TP-VP 167 = 24 hours validity.
const VALIDITY: u8 = 167;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GsmEvent {
    Delivered {
        order_id: String,
        dest: Option<String>,
    },
    NotDelivered {
        order_id: String,
        error: String,
        dest: Option<String>,
    },
    Received {
        from: String,
        sent_at: String,
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GsmError {
    #[error("the PBX's GSM module is not logged in")]
    NotConnected,
    #[error("the PBX refused the SMS: NA {} ({})", .0.map_or(0, |c| c.0), .0.map_or("no code", |c| c.meaning()))]
    Refused(Option<NaCode>),
    #[error("the SMS centre rejected part {part}: error {error}")]
    Rejected { part: usize, error: String },
    #[error("the GSM module stayed busy or faulty; gave up after {0} attempts")]
    Busy(u32),
    #[error("no answer from the PBX in time")]
    Timeout,
    #[error("invalid SMS: {0}")]
    Invalid(&'static str),
}

impl GsmError {
    /// Worth another try later (the queue's retry policy decides when).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GsmError::NotConnected | GsmError::Busy(_) | GsmError::Timeout
        )
    }
}

pub struct SmsRequest {
    pub dest: String,
    pub text: String,
    /// The SMS centre's order id of every part.
    pub reply: oneshot::Sender<Result<Vec<String>, GsmError>>,
}

/// The handle the SMS queue uses.
#[derive(Clone)]
pub struct GsmRoute {
    tx: mpsc::Sender<SmsRequest>,
}

impl GsmRoute {
    pub fn channel() -> (GsmRoute, mpsc::Receiver<SmsRequest>) {
        let (tx, rx) = mpsc::channel(64);
        (GsmRoute { tx }, rx)
    }

    /// Sends one SMS; resolves when the SMS centre accepted every part.
    pub async fn send(&self, dest: &str, text: &str) -> Result<Vec<String>, GsmError> {
        if dest.is_empty()
            || dest.len() > 20
            || !dest
                .trim_start_matches('+')
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return Err(GsmError::Invalid(
                "destination: digits with an optional leading +",
            ));
        }
        if text.is_empty() {
            return Err(GsmError::Invalid("empty text"));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(SmsRequest {
                dest: dest.to_owned(),
                text: text.to_owned(),
                reply,
            })
            .await
            .map_err(|_| GsmError::NotConnected)?;
        rx.await.map_err(|_| GsmError::NotConnected)?
    }
}

/// Characters of the GSM 03.38 default alphabet and its extension table.
fn is_gsm7(c: char) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENDED: &str = "^{}\\[~]|€\u{c}";
    BASIC.contains(c) || EXTENDED.contains(c)
}

/// The coding flag and the parts of a text (spec p.32: 160/70 single, 153/67 multipart).
pub fn plan(text: &str) -> (u8, Vec<String>) {
    let gsm = text.chars().all(is_gsm7);
    let (single, multi, coding) = if gsm { (160, 153, 1) } else { (70, 67, 2) };
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= single {
        return (coding, vec![text.to_owned()]);
    }
    (
        coding,
        chars.chunks(multi).map(|c| c.iter().collect()).collect(),
    )
}

/// The text as SMSS carries it: a line end becomes `\n`, a backslash `\\`.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.replace("\r\n", "\n").chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

pub struct GsmSession {
    pub link: CtipSettings,
    pub module: String,
    pub sim_pin: Secret,
    pub links: Links,
    pub requests: mpsc::Receiver<SmsRequest>,
    pub events: mpsc::Sender<GsmEvent>,
    pub shutdown: CancellationToken,
}

/// What an OK / NA / ERROR answers.
enum Expect {
    Smss,
    Sok,
    Probe,
}

struct Sending {
    request: SmsRequest,
    coding: u8,
    parts: Vec<String>,
    reference: u8,
    part: usize,
    order_ids: Vec<String>,
    /// Waiting for SMSA since; `None` while the SMSS itself awaits its OK or a retry.
    accepting_since: Option<Instant>,
    retry_at: Option<Instant>,
    attempts: u32,
}

#[derive(Default)]
struct ConnState {
    expect: VecDeque<(Instant, Expect)>,
    sending: Option<Sending>,
    queue: VecDeque<SmsRequest>,
    last_report: Option<(String, String, String)>,
    /// Incoming multipart SMS being put together.
    partial: Reassembly,
}

/// The module's link, with the multipart reference that runs on across logins.
struct GsmLink {
    session: GsmSession,
    reference: u8,
}

impl crate::link::Link for GsmLink {
    type Error = CtipError;

    fn name(&self) -> String {
        self.session.link_name()
    }

    async fn connected(&mut self) -> Result<(), CtipError> {
        let ended = self.session.serve(&mut self.reference).await;
        Err(ended.err().unwrap_or(CtipError::Closed))
    }

    /// Texts asked for while the module is logged out fail at once ("not connected"), so
    /// the SMS queue can hold them.
    async fn while_down(&mut self, until: tokio::time::Instant) {
        crate::link::refuse_until(&mut self.session.requests, until, |req| {
            let _ = req.reply.send(Err(GsmError::NotConnected));
        })
        .await
    }
}

impl GsmSession {
    fn link_name(&self) -> String {
        format!("pbx:{}:{}", self.link.name, self.module)
    }

    /// Runs until shutdown, logging in again after every failure.
    pub async fn run(self) {
        let (links, shutdown) = (self.links.clone(), self.shutdown.clone());
        let link = GsmLink {
            session: self,
            reference: fastrand::u8(..),
        };
        crate::link::supervise(link, &links, crate::link::Policy::SIM, &shutdown).await
    }

    /// One login; returns why it ended.
    async fn serve(&mut self, reference: &mut u8) -> Result<(), CtipError> {
        let mut c = Connection::open_gsm(&self.link, &self.module, &self.sim_pin).await?;
        tracing::info!(pbx = %self.link.name, module = %self.module, login = %c.identity.login, "GSM module logged in");
        self.links.set(&self.link_name(), LinkState::Up, None);
        let mut st = ConnState::default();
        let mut last_heard = Instant::now();
        let result = loop {
            if let Err(e) = self.advance(&mut c, &mut st, reference).await {
                break Err(e);
            }
            let wake = self.next_wake(&st, last_heard);
            tokio::select! {
                frame = c.next_message() => {
                    last_heard = Instant::now();
                    match frame {
                        Ok(Some((_, Some(message)))) => {
                            if let Err(e) = self.on_message(&mut c, &mut st, message).await {
                                break Err(e);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => break Err(e),
                    }
                }
                Some(req) = self.requests.recv() => st.queue.push_back(req),
                _ = tokio::time::sleep_until(wake.into()) => {
                    if st.expect.front().is_some_and(|(at, _)| at.elapsed() >= ANSWER_WITHIN) {
                        break Err(CtipError::Silent);
                    }
                    if let Some(s) = &st.sending {
                        if s.accepting_since.is_some_and(|at| at.elapsed() >= ACCEPT_WITHIN) {
                            let s = st.sending.take().expect("checked above"); // ok: is_some just tested
                            let _ = s.request.reply.send(Err(GsmError::Timeout));
                        }
                    }
                    if st.expect.is_empty() && last_heard.elapsed() >= self.link.probe_after {
                        if let Err(e) = c.send("WHO").await {
                            break Err(e);
                        }
                        st.expect.push_back((Instant::now(), Expect::Probe));
                        last_heard = Instant::now();
                    }
                }
            }
        };
        // Whatever was in flight cannot be confirmed on this connection.
        if let Some(s) = st.sending.take() {
            let _ = s.request.reply.send(Err(GsmError::NotConnected));
        }
        for r in st.queue.drain(..) {
            let _ = r.reply.send(Err(GsmError::NotConnected));
        }
        result
    }

    fn next_wake(&self, st: &ConnState, last_heard: Instant) -> Instant {
        let mut wake = last_heard + self.link.probe_after;
        if let Some((at, _)) = st.expect.front() {
            wake = wake.min(*at + ANSWER_WITHIN);
        }
        if let Some(s) = &st.sending {
            if let Some(at) = s.retry_at {
                wake = wake.min(at);
            }
            if let Some(at) = s.accepting_since {
                wake = wake.min(at + ACCEPT_WITHIN);
            }
        }
        wake
    }

    /// Starts the next request, or sends the next part / a due retry.
    async fn advance(
        &self,
        c: &mut Connection,
        st: &mut ConnState,
        reference: &mut u8,
    ) -> Result<(), CtipError> {
        if st.sending.is_none() {
            let Some(request) = st.queue.pop_front() else {
                return Ok(());
            };
            let (coding, parts) = plan(&request.text);
            *reference = reference.wrapping_add(1);
            st.sending = Some(Sending {
                request,
                coding,
                parts,
                reference: *reference,
                part: 0,
                order_ids: Vec::new(),
                accepting_since: None,
                retry_at: Some(Instant::now()),
                attempts: 0,
            });
        }
        let Some(s) = st.sending.as_mut() else {
            return Ok(());
        };
        if s.retry_at.is_none_or(|at| at > Instant::now()) {
            return Ok(());
        }
        s.retry_at = None;
        s.attempts += 1;
        let text = escape(&s.parts[s.part]);
        let multipart = if s.parts.len() > 1 {
            format!(
                "M{},{},{} C{} ",
                s.reference,
                s.part + 1,
                s.parts.len(),
                s.coding
            )
        } else {
            String::new()
        };
        let line = format!(
            "SMSS {} {} {multipart}N {VALIDITY} {text}",
            self.module, s.request.dest
        );
        c.send(&line).await?;
        st.expect.push_back((Instant::now(), Expect::Smss));
        Ok(())
    }

    async fn on_message(
        &self,
        c: &mut Connection,
        st: &mut ConnState,
        message: Message,
    ) -> Result<(), CtipError> {
        match message {
            Message::Ok { .. } | Message::Na { .. } | Message::Error => {
                let expected = st.expect.pop_front().map(|(_, e)| e);
                if let Some(Expect::Smss) = expected {
                    self.smss_answered(st, &message);
                }
            }
            Message::Smsa {
                module,
                accepted,
                value,
            } if module == self.module => self.smsa(st, accepted, value),
            Message::Smsr {
                module,
                delivered,
                index,
                order_id,
                error,
                dest,
            } if module == self.module => {
                self.acknowledge(c, st, &index).await?;
                let key = (
                    "SMSR".to_owned(),
                    index,
                    format!("{delivered}{order_id}{error:?}"),
                );
                if st.last_report.as_ref() != Some(&key) {
                    st.last_report = Some(key);
                    let event = match error {
                        None if delivered => GsmEvent::Delivered { order_id, dest },
                        error => GsmEvent::NotDelivered {
                            order_id,
                            error: error.unwrap_or_default(),
                            dest,
                        },
                    };
                    let _ = self.events.send(event).await;
                }
            }
            Message::Smsg {
                module,
                index,
                from,
                parts,
                sent_at,
                text,
                ..
            } if module == self.module => {
                self.acknowledge(c, st, &index).await?;
                let key = (
                    "SMSG".to_owned(),
                    index,
                    format!("{from}{parts}{sent_at}{text}"),
                );
                if st.last_report.as_ref() == Some(&key) {
                    return Ok(());
                }
                st.last_report = Some(key);
                for whole in st
                    .partial
                    .add(&from, &parts, &sent_at, text, Instant::now())
                {
                    let _ = self
                        .events
                        .send(GsmEvent::Received {
                            from: whole.from,
                            sent_at: whole.sent_at,
                            text: unescape(&whole.text),
                        })
                        .await;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn acknowledge(
        &self,
        c: &mut Connection,
        st: &mut ConnState,
        index: &str,
    ) -> Result<(), CtipError> {
        c.send(&format!("SOK {} {index}", self.module)).await?;
        st.expect.push_back((Instant::now(), Expect::Sok));
        Ok(())
    }

    fn smss_answered(&self, st: &mut ConnState, answer: &Message) {
        let Some(s) = st.sending.as_mut() else { return };
        let retry_after = match answer {
            Message::Ok { .. } => {
                s.accepting_since = Some(Instant::now());
                return;
            }
            Message::Na {
                code: Some(NaCode(4)),
            } => BUSY_RETRY,
            Message::Na {
                code: Some(NaCode(23)),
            } => FAULTY_RETRY,
            Message::Na { code } => return self.fail(st, GsmError::Refused(*code)),
            _ => return self.fail(st, GsmError::Refused(None)),
        };
        if s.attempts >= MAX_RETRIES {
            let attempts = s.attempts;
            return self.fail(st, GsmError::Busy(attempts));
        }
        s.retry_at = Some(Instant::now() + retry_after);
    }

    fn smsa(&self, st: &mut ConnState, accepted: bool, value: String) {
        let Some(s) = st.sending.as_mut() else {
            tracing::debug!("SMSA with no SMS in flight");
            return;
        };
        if !accepted {
            let part = s.part + 1;
            return self.fail(st, GsmError::Rejected { part, error: value });
        }
        s.order_ids.push(value);
        s.part += 1;
        s.accepting_since = None;
        s.attempts = 0;
        if s.part < s.parts.len() {
            s.retry_at = Some(Instant::now());
        } else if let Some(done) = st.sending.take() {
            let _ = done.request.reply.send(Ok(done.order_ids));
        }
    }

    fn fail(&self, st: &mut ConnState, error: GsmError) {
        if let Some(s) = st.sending.take() {
            let _ = s.request.reply.send(Err(error));
        }
    }
}

/// Most parts of one text (the concatenation header counts in one byte).
pub(crate) const MAX_PARTS: usize = 255;
/// Most texts being put together at once; past it the oldest is given up.
pub(crate) const MAX_PENDING: usize = 32;
/// How long the parts of one text may take to arrive; then it is given up.
pub(crate) const PART_WAIT: Duration = Duration::from_secs(600);

/// A text as it reaches the gateway: whole, or given up with `[…]` where parts are missing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Whole {
    from: String,
    sent_at: String,
    text: String,
}

struct Pending {
    total: usize,
    parts: BTreeMap<usize, String>,
    sent_at: String,
    since: Instant,
}

/// Incoming multipart texts being put together, bounded in count, parts and time: a part
/// that never comes costs nothing after [`PART_WAIT`] (the text goes on with a gap marked).
#[derive(Default)]
struct Reassembly {
    pending: HashMap<(String, String), Pending>,
}

impl Reassembly {
    /// Adds a part (`parts` is the SMSG field `ref,part,total`); returns the texts that are
    /// now whole or given up.
    fn add(
        &mut self,
        from: &str,
        parts: &str,
        sent_at: &str,
        text: String,
        now: Instant,
    ) -> Vec<Whole> {
        let mut out = self.expire(now);
        let mut f = parts.split(',').map(|p| p.parse::<usize>().ok());
        let single = Whole {
            from: from.to_owned(),
            sent_at: sent_at.to_owned(),
            text: text.clone(),
        };
        let (Some(Some(reference)), Some(Some(part)), Some(Some(total))) =
            (f.next(), f.next(), f.next())
        else {
            out.push(single);
            return out;
        };
        if total <= 1 || total > MAX_PARTS || part == 0 || part > total {
            out.push(single);
            return out;
        }
        let key = (from.to_owned(), reference.to_string());
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.since)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                out.extend(self.give_up(&k));
            }
        }
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            total,
            parts: BTreeMap::new(),
            sent_at: sent_at.to_owned(),
            since: now,
        });
        entry.parts.insert(part, text);
        if entry.parts.len() >= entry.total {
            out.extend(self.give_up(&key));
        }
        out
    }

    /// Gives up the texts whose parts took longer than [`PART_WAIT`].
    fn expire(&mut self, now: Instant) -> Vec<Whole> {
        let late: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.since) > PART_WAIT)
            .map(|(k, _)| k.clone())
            .collect();
        late.iter().flat_map(|k| self.give_up(k)).collect()
    }

    /// The text of `key` as far as it came, gaps marked.
    fn give_up(&mut self, key: &(String, String)) -> Option<Whole> {
        let p = self.pending.remove(key)?;
        let text = (1..=p.total)
            .map(|i| p.parts.get(&i).map_or("[…]", String::as_str))
            .collect();
        Some(Whole {
            from: key.0.clone(),
            sent_at: p.sent_at,
            text,
        })
    }
}

/// The inverse of [`escape`].
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_single_and_multipart_in_the_right_coding() {
        assert_eq!(plan("Hello"), (1, vec!["Hello".to_owned()]));
        assert_eq!(plan(&"a".repeat(160)).1.len(), 1);
        let (coding, parts) = plan(&"a".repeat(161));
        assert_eq!((coding, parts.len(), parts[0].chars().count()), (1, 2, 153));
        assert_eq!(plan("Zażółć").0, 2);
        assert_eq!(plan(&"ż".repeat(70)).1.len(), 1);
        let (coding, parts) = plan(&"ż".repeat(71));
        assert_eq!((coding, parts.len(), parts[0].chars().count()), (2, 2, 67));
        assert_eq!(plan("cost 5€ [x]").0, 1, "the extension table is GSM 7-bit");
    }

    #[test]
    fn escapes_line_ends_and_backslashes_both_ways() {
        let text = "line 1\r\nline 2\\end\nx";
        assert_eq!(escape(text), "line 1\\nline 2\\\\end\\nx");
        assert_eq!(unescape(&escape(text)), "line 1\nline 2\\end\nx");
    }

    #[test]
    fn partial_texts_are_bounded_in_parts_count_and_time() {
        let mut r = Reassembly::default();
        let t0 = Instant::now();
        // A part numbered past any real text passes through as it is.
        let out = r.add("+48601", "7,1,1000000", "t", "a".into(), t0);
        assert_eq!(out.len(), 1);
        assert!(r
            .add("+48601", "7,1,2", "t", "first ".into(), t0)
            .is_empty());
        // Many senders each leaving a text unfinished: the oldest are given up, gap marked.
        let mut given_up = Vec::new();
        for i in 0..MAX_PENDING + 5 {
            given_up.extend(r.add(
                &format!("+48{i}"),
                "1,1,3",
                "t",
                "x".into(),
                t0 + Duration::from_millis(i as u64 + 1),
            ));
        }
        assert_eq!(r.pending.len(), MAX_PENDING);
        assert_eq!(
            given_up[0],
            Whole {
                from: "+48601".into(),
                sent_at: "t".into(),
                text: "first […]".into()
            }
        );
        assert_eq!(given_up.len(), 6);
        // Nothing waits longer than PART_WAIT.
        let late = r.add(
            "+48999",
            "2,1,1",
            "t",
            "y".into(),
            t0 + PART_WAIT + Duration::from_secs(1),
        );
        assert_eq!(late.len(), MAX_PENDING + 1);
        assert!(r.pending.is_empty());
    }
}
