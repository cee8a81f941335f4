//! Remote commands (MQTT `cmd/{name}`, and the local API): `sms.send`, `call.originate`,
//! `call.hangup`, `call.transfer`, `record.start`, `record.stop`, `queue.pause`,
//! `contacts.upsert`, `contacts.delete`, `operators.upsert`, `operators.delete`,
//! `config.reload`. Each is
//! validated, allowed only when listed in `[commands] allow`, rate-limited (`rate_per_minute`
//! for MQTT and the local API each, so a flood on one does not starve the other), run at most
//! [`MAX_IN_FLIGHT`] at once, and run exactly once per `request_id`: the id is claimed in
//! SQLite before the command runs ([`claims`]), so a copy arriving at the same time, later or
//! after a restart gets the first run's answer. Answers are typed:
//! `{"request_id","ok":true,"result":{...}}` or `{"request_id","ok":false,"error":{"code","message"}}`.
//!
//! Error codes: `bad_request` (missing or invalid field), `not_allowed` (not in the allow
//! list), `not_allowed_number` (the `[numbers]` policy refuses it, naming the rule),
//! `rate_limited`, `busy` (too many in flight), `in_progress` (a copy with this id is
//! running), `interrupted` (the gateway stopped while it ran), `unsupported` (no PBX can do
//! it), `unknown_pbx`, `not_connected`, `refused` (the PBX or the queue said no, with its
//! reason), `timeout`, `invalid_number`, `opted_out`, `invalid_config` (a reload found the
//! file broken, naming every problem), `internal`.

mod call_hangup;
mod call_originate;
mod call_record;
mod call_transfer;
pub(crate) mod claims;
mod config_reload;
mod contacts;
mod contacts_delete;
mod contacts_upsert;
mod operators;
mod queue_pause;
mod request;
mod sms_send;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use request::{parse, result};

use crate::config::{CommandsConfig, SmsConfig};
use crate::pbx::control::ControlFailure;
use crate::pbx::{PbxControl, PbxControls};

/// The names this gateway knows (besides `ping` and `status`, always allowed).
pub(crate) const KNOWN: [&str; 12] = [
    "sms.send",
    "config.reload",
    "call.originate",
    "call.hangup",
    "call.transfer",
    "record.start",
    "record.stop",
    "queue.pause",
    "contacts.upsert",
    "contacts.delete",
    "operators.upsert",
    "operators.delete",
];

/// Commands running at once (each may wait seconds for a PBX); more are refused `busy`.
pub(crate) const MAX_IN_FLIGHT: usize = 8;

/// Admissions of the last minute, for a rate limit.
#[derive(Debug, Default)]
pub(crate) struct MinuteWindow(VecDeque<Instant>);

impl MinuteWindow {
    /// Admits one more unless `limit` were admitted in the last minute.
    pub(crate) fn admit(&mut self, limit: usize) -> bool {
        let now = Instant::now();
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.0.pop_front();
        }
        if self.0.len() >= limit {
            return false;
        }
        self.0.push_back(now);
        true
    }
}

/// The `busy` answer to a command refused because [`MAX_IN_FLIGHT`] run; `None` without a
/// usable `request_id`.
pub(crate) fn busy_answer(payload: &[u8]) -> Option<(String, Value)> {
    let body: Value = serde_json::from_slice(payload).ok()?;
    let request_id = body.get("request_id")?.as_str()?.to_owned();
    let refusal = refuse(
        "busy",
        format!("{MAX_IN_FLIGHT} commands are running; try again"),
    );
    let answer = answer_json(&request_id, Err(refusal));
    Some((request_id, answer))
}

/// Where a command came from: each has its own rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Mqtt,
    Api,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Mqtt => "mqtt",
            Origin::Api => "api",
        }
    }
}

/// A typed refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Where `sms.send` queues its text.
pub struct SmsTarget {
    pub db_path: std::path::PathBuf,
    pub config: SmsConfig,
    pub wake: Arc<tokio::sync::Notify>,
}

/// How typed numbers are read, and who may be texted or called.
#[derive(Debug, Clone)]
pub struct Reach {
    pub plan: crate::numbers::NumberPlan,
    pub policy: crate::numbers::NumberPolicy,
}

impl Reach {
    /// A number from a command as E.164, if the policy allows it.
    fn check(&self, number: &str) -> Result<String, Refusal> {
        let e164 = crate::numbers::typed(number, &self.plan)
            .map_err(|e| refuse("invalid_number", e.to_string()))?;
        self.policy
            .check(&e164)
            .map_err(|e| refuse("not_allowed_number", e.to_string()))?;
        Ok(e164)
    }
}

pub use config_reload::{Live, ReloadTarget};

impl Commands {
    /// `config.reload` reads `target.path` and replaces `target.rules`.
    pub fn with_reload(mut self, target: ReloadTarget) -> Commands {
        self.reload = Some(target);
        self
    }

    fn reach(&self) -> Reach {
        match self.reach.read() {
            Ok(reach) => reach.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_reach(&self, reach: Reach) {
        match self.reach.write() {
            Ok(mut current) => *current = reach,
            Err(poisoned) => *poisoned.into_inner() = reach,
        }
    }
}

/// Where `contacts.*` edit the directory.
pub struct ContactsTarget {
    pub db_path: std::path::PathBuf,
    pub plan: crate::numbers::NumberPlan,
}

pub struct Commands {
    config: CommandsConfig,
    sms: Option<SmsTarget>,
    contacts: Option<ContactsTarget>,
    pbxs: PbxControls,
    /// Replaced whole by a reload.
    reach: std::sync::RwLock<Reach>,
    /// Where `config.reload` reads the file and what it changes; `None`: not from a file.
    reload: Option<ReloadTarget>,
    /// Admission times of the last minute, per origin.
    recent: Mutex<HashMap<&'static str, MinuteWindow>>,
    claims: claims::Claims,
    in_flight: Arc<tokio::sync::Semaphore>,
    /// How each command ended, by (command, `ok` or the refusal's code), for /metrics.
    outcomes: std::sync::Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
}

impl Commands {
    pub fn new(
        config: CommandsConfig,
        db_path: std::path::PathBuf,
        sms: Option<SmsTarget>,
        contacts: Option<ContactsTarget>,
        pbxs: PbxControls,
        reach: Reach,
    ) -> Commands {
        Commands {
            config,
            sms,
            contacts,
            pbxs,
            reach: std::sync::RwLock::new(reach),
            reload: None,
            recent: Mutex::new(HashMap::new()),
            claims: claims::Claims::open(db_path),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            outcomes: Default::default(),
        }
    }

    /// How many commands ended how: ((command, `ok` | refusal code | `repeated`), count).
    /// A name the gateway does not know counts as `other`, so a peer cannot grow the table.
    pub fn outcomes(&self) -> Vec<((&'static str, &'static str), u64)> {
        match self.outcomes.lock() {
            Ok(o) => o.iter().map(|(k, v)| (*k, *v)).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn note_outcome(&self, name: &str, outcome: &'static str) {
        let name = KNOWN
            .iter()
            .copied()
            .find(|k| *k == name)
            .unwrap_or("other");
        if let Ok(mut o) = self.outcomes.lock() {
            *o.entry((name, outcome)).or_default() += 1;
        }
    }

    /// A slot to run one command; `None` when [`MAX_IN_FLIGHT`] are running (the caller
    /// refuses it as `busy`, or drops it on a flood).
    pub(crate) fn try_begin(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.in_flight.clone().try_acquire_owned().ok()
    }

    /// Runs command `name` with its JSON `payload`; `None` when there is no usable
    /// `request_id` to answer on.
    pub async fn run(&self, origin: Origin, name: &str, payload: &[u8]) -> Option<(String, Value)> {
        let body: Value = serde_json::from_slice(payload).ok()?;
        let request_id = body.get("request_id")?.as_str()?.to_owned();
        if request_id.is_empty() || request_id.len() > 128 {
            return None;
        }
        let refused = match self.admit(origin, name) {
            // Not claimed: the same request may run once it is allowed.
            Err(r) => r,
            Ok(()) => match self.claims.claim(&request_id, name, origin.as_str()).await {
                Ok(claims::Claim::Answered(before)) => {
                    self.note_outcome(name, "repeated");
                    return Some((request_id, before));
                }
                Ok(claims::Claim::Running) => {
                    self.note_outcome(name, "repeated");
                    let answer = claims::running_answer(&request_id);
                    return Some((request_id, answer));
                }
                Ok(claims::Claim::New) => {
                    let result = self.execute(name, &request_id, &body).await;
                    self.note_outcome(name, result.as_ref().map_or_else(|r| r.code, |_| "ok"));
                    let answer = answer_json(&request_id, result);
                    if let Err(e) = self.claims.answer(&request_id, &answer).await {
                        tracing::warn!(error = %e, request_id, "command answer not recorded");
                    }
                    return Some((request_id, answer));
                }
                Err(e) => refuse("internal", e.to_string()),
            },
        };
        self.note_outcome(name, refused.code);
        let answer = answer_json(&request_id, Err(refused));
        Some((request_id, answer))
    }

    fn admit(&self, origin: Origin, name: &str) -> Result<(), Refusal> {
        if !KNOWN.contains(&name) {
            return Err(refuse(
                "unsupported",
                format!("command {name:?} is not supported by this gateway"),
            ));
        }
        if !self.config.allow.iter().any(|a| a == name) {
            return Err(refuse(
                "not_allowed",
                format!("command {name:?} is not enabled on this gateway ([commands] allow)"),
            ));
        }
        let mut recent = self.recent.lock().map_err(|_| refuse("internal", "lock"))?;
        let window = recent.entry(origin.as_str()).or_default();
        if !window.admit(self.config.rate_per_minute as usize) {
            return Err(refuse(
                "rate_limited",
                format!(
                    "at most {} commands per minute from {}",
                    self.config.rate_per_minute,
                    origin.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Reads the body as the command's typed request and runs it.
    async fn execute(&self, name: &str, request_id: &str, body: &Value) -> Result<Value, Refusal> {
        match name {
            "sms.send" => result(self.sms_send(request_id, parse(body)?)?),
            "contacts.upsert" => result(self.contacts_upsert(parse(body)?).await?),
            "contacts.delete" => result(self.contacts_delete(parse(body)?).await?),
            "operators.upsert" => result(self.operators_upsert(parse(body)?).await?),
            "operators.delete" => result(self.operators_delete(parse(body)?).await?),
            "call.originate" => result(self.originate(parse(body)?).await?),
            "call.hangup" => result(self.hangup(parse(body)?).await?),
            "call.transfer" => result(self.transfer(parse(body)?).await?),
            "config.reload" => result(self.config_reload(parse(body)?).await?),
            "record.start" => result(self.record_start(parse(body)?).await?),
            "record.stop" => result(self.record_stop(parse(body)?).await?),
            "queue.pause" => result(self.queue_pause(parse(body)?).await?),
            _ => Err(refuse("unsupported", format!("command {name:?}"))),
        }
    }

    /// The PBX a command names (`"pbx"`), or the only one there is.
    fn pbx(&self, name: Option<&str>) -> Result<&PbxControl, Refusal> {
        if let Some(name) = name {
            return self
                .pbxs
                .get(name)
                .ok_or_else(|| refuse("unknown_pbx", format!("no PBX named {name:?}")));
        }
        let mut all = self.pbxs.values();
        match (all.next(), all.next()) {
            (Some(only), None) => Ok(only),
            (None, _) => Err(refuse(
                "unsupported",
                "this gateway has no PBX that takes commands",
            )),
            _ => Err(refuse("bad_request", "several PBXs: name one with \"pbx\"")),
        }
    }
}

/// What the PBX's failure is to the client.
impl From<ControlFailure> for Refusal {
    fn from(f: ControlFailure) -> Refusal {
        let code = match &f {
            ControlFailure::Refused(_) => "refused",
            ControlFailure::Timeout => "timeout",
            ControlFailure::NotConnected(_) => "not_connected",
            ControlFailure::Invalid(_) => "bad_request",
            ControlFailure::Unsupported(_) => "unsupported",
            ControlFailure::Internal(_) => "internal",
        };
        refuse(code, f.to_string())
    }
}

fn answer_json(request_id: &str, outcome: Result<Value, Refusal>) -> Value {
    match outcome {
        Ok(result) => json!({ "request_id": request_id, "ok": true, "result": result }),
        Err(r) => json!({
            "request_id": request_id,
            "ok": false,
            "error": { "code": r.code, "message": r.message }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pbx::ami::control::{AmiAction, AmiControl, ControlRequest, Done};

    fn commands_with(
        dir: &std::path::Path,
        allow: &[&str],
        rate: u32,
        ami: HashMap<String, AmiControl>,
    ) -> Commands {
        let pbxs = ami
            .into_iter()
            .map(|(name, c)| (name, PbxControl::Ami(c)))
            .collect();
        let config = CommandsConfig {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            rate_per_minute: rate,
        };
        let db = crate::store::migrated_db(dir);
        Commands::new(config, db, None, None, pbxs, reach())
    }

    fn reach() -> Reach {
        let plan = crate::config::SmsConfig::default().plan();
        Reach {
            plan,
            policy: crate::numbers::NumberPolicy::for_country("48"),
        }
    }

    fn code(v: &Value) -> String {
        v["error"]["code"].as_str().unwrap_or("").to_owned()
    }

    /// A CTIP PBX (nothing answers its control channel: nothing here reaches it).
    fn with_ctip(dir: &std::path::Path) -> Commands {
        let (control, _requests) = crate::pbx::ctip::control::CtipControl::channel();
        let pbxs = PbxControls::from([("slican".to_owned(), PbxControl::Ctip(control))]);
        let config = CommandsConfig {
            allow: KNOWN.iter().map(|s| s.to_string()).collect(),
            rate_per_minute: 100,
        };
        Commands::new(
            config,
            crate::store::migrated_db(dir),
            None,
            None,
            pbxs,
            reach(),
        )
    }

    #[tokio::test]
    async fn a_body_of_another_shape_is_refused_naming_the_shape_and_each_kind_says_what_it_cannot()
    {
        let dir = tempfile::tempdir().unwrap();
        let c = with_ctip(dir.path());
        let answer = |name: &'static str, body: &'static str| {
            let c = &c;
            async move { c.run(Origin::Api, name, body.as_bytes()).await.unwrap().1 }
        };
        let a = answer(
            "call.originate",
            r#"{"request_id":"1","extension":201,"number":"601234567"}"#,
        )
        .await;
        assert_eq!(code(&a), "bad_request", "{a}");
        let message = a["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(r#""extension": "201""#), "{message}");
        let a = answer(
            "call.originate",
            r#"{"request_id":"2","extension":"","number":"601234567"}"#,
        )
        .await;
        assert_eq!(
            a["error"]["message"],
            "\"extension\" is missing or not a string"
        );
        // A Slican hangs up an extension; a channel is Asterisk's word.
        let a = answer(
            "call.hangup",
            r#"{"request_id":"3","channel":"PJSIP/201-1"}"#,
        )
        .await;
        assert_eq!(
            a["error"]["message"],
            "\"extension\" is missing or not a string"
        );
        let a = answer(
            "call.transfer",
            r#"{"request_id":"4","channel":"c","exten":"205"}"#,
        )
        .await;
        assert_eq!(code(&a), "unsupported", "{a}");
        assert!(a["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("AMI"));
        let a = answer(
            "call.transfer",
            r#"{"request_id":"5","channel":"c","exten":"205","kind":"x"}"#,
        )
        .await;
        assert_eq!(code(&a), "bad_request", "{a}");
        let a = answer(
            "queue.pause",
            r#"{"request_id":"6","interface":"PJSIP/201"}"#,
        )
        .await;
        assert_eq!(code(&a), "unsupported", "{a}");
        let a = answer(
            "call.hangup",
            r#"{"request_id":"7","extension":"201","pbx":"other"}"#,
        )
        .await;
        assert_eq!(code(&a), "unknown_pbx", "{a}");
    }

    #[tokio::test]
    async fn refusals_are_typed_and_answers_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let c = commands_with(dir.path(), &["call.hangup"], 2, HashMap::new());
        let run = |id: &str| {
            let payload = format!("{{\"request_id\":\"{id}\"}}");
            let c = &c;
            async move {
                c.run(Origin::Mqtt, "call.hangup", payload.as_bytes())
                    .await
                    .unwrap()
                    .1
            }
        };
        let (_, a) = c
            .run(Origin::Mqtt, "sms.send", br#"{"request_id":"1"}"#)
            .await
            .unwrap();
        assert_eq!(code(&a), "not_allowed");
        let (_, a) = c
            .run(Origin::Mqtt, "reboot", br#"{"request_id":"2"}"#)
            .await
            .unwrap();
        assert_eq!(code(&a), "unsupported");
        assert_eq!(code(&run("3").await), "unsupported", "no PBX");
        assert_eq!(code(&run("4").await), "unsupported");
        assert_eq!(code(&run("5").await), "rate_limited");
        // The local API has a rate limit of its own.
        let (_, a) = c
            .run(Origin::Api, "call.hangup", br#"{"request_id":"6"}"#)
            .await
            .unwrap();
        assert_eq!(
            code(&a),
            "unsupported",
            "not rate-limited by the MQTT flood"
        );
        // The same request id gets the same answer.
        let (_, again) = c
            .run(Origin::Api, "call.hangup", br#"{"request_id":"3"}"#)
            .await
            .unwrap();
        assert_eq!(code(&again), "unsupported");
        assert!(c
            .run(Origin::Mqtt, "call.hangup", b"not json")
            .await
            .is_none());
        assert!(c
            .run(Origin::Mqtt, "call.hangup", br#"{"request_id":""}"#)
            .await
            .is_none());
    }

    /// A fake Asterisk: answers each control request after `delay`, counting originates.
    fn slow_pbx(delay: Duration) -> (AmiControl, Arc<Mutex<usize>>) {
        let (control, mut requests) = AmiControl::channel(Duration::from_secs(5));
        let originated = Arc::new(Mutex::new(0));
        let count = originated.clone();
        tokio::spawn(async move {
            while let Some(ControlRequest { action, reply }) = requests.recv().await {
                if matches!(action, AmiAction::Originate { .. }) {
                    *count.lock().unwrap() += 1;
                }
                tokio::time::sleep(delay).await;
                let _ = reply.send(Ok(Done {
                    message: "Originate successfully queued".into(),
                }));
            }
        });
        (control, originated)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_copies_of_a_command_arriving_together_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let (pbx, originated) = slow_pbx(Duration::from_millis(300));
        let ami = HashMap::from([("asterisk".to_owned(), pbx)]);
        let c = commands_with(dir.path(), &["call.originate"], 30, ami);
        let payload = br#"{"request_id":"dup-1","extension":"101","number":"+48221234567"}"#;
        let (a, b) = tokio::join!(
            c.run(Origin::Mqtt, "call.originate", payload),
            c.run(Origin::Mqtt, "call.originate", payload)
        );
        let answers = [a.unwrap().1, b.unwrap().1];
        assert_eq!(
            *originated.lock().unwrap(),
            1,
            "one call placed: {answers:?}"
        );
        assert!(answers.iter().any(|a| a["ok"] == true));
        assert!(
            answers.iter().any(|a| code(a) == "in_progress"),
            "{answers:?}"
        );
        // Later copies get the first answer.
        let (_, later) = c.run(Origin::Api, "call.originate", payload).await.unwrap();
        assert_eq!(later["ok"], true);
        assert_eq!(*originated.lock().unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_id_holds_across_a_restart_and_an_interrupted_one_is_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let payload = br#"{"request_id":"r-1","extension":"101","number":"+48221234567"}"#;
        let with_pbx = || {
            let (pbx, originated) = slow_pbx(Duration::ZERO);
            let ami = HashMap::from([("asterisk".to_owned(), pbx)]);
            (
                commands_with(dir.path(), &["call.originate"], 30, ami),
                originated,
            )
        };
        let ok = |answer: Option<(String, Value)>| answer.is_some_and(|(_, a)| a["ok"] == true);
        {
            let (c, _) = with_pbx();
            assert!(ok(c.run(Origin::Mqtt, "call.originate", payload).await));
            // A command that was claimed when the gateway stopped.
            c.claims
                .claim("r-2", "call.originate", "mqtt")
                .await
                .unwrap();
        }
        let (c, originated) = with_pbx();
        assert!(ok(c.run(Origin::Mqtt, "call.originate", payload).await));
        let interrupted = br#"{"request_id":"r-2","extension":"101","number":"+48221234567"}"#;
        let (_, a) = c
            .run(Origin::Mqtt, "call.originate", interrupted)
            .await
            .unwrap();
        assert_eq!(code(&a), "interrupted");
        assert_eq!(*originated.lock().unwrap(), 0, "nothing ran twice");
    }

    /// Structure-aware: every command with every field present, absent or of another type
    /// and content, from MQTT and the API; each gets a typed answer, none panics.
    mod shaped {
        use super::*;
        use crate::mutate::{cases, weird_json};
        use proptest::prelude::*;

        const FIELDS: [&str; 14] = [
            "to",
            "text",
            "extension",
            "number",
            "channel",
            "exten",
            "context",
            "kind",
            "paused",
            "interface",
            "queue",
            "pbx",
            "name",
            "company",
        ];

        fn body() -> impl Strategy<Value = serde_json::Map<String, Value>> {
            proptest::collection::vec((proptest::sample::select(&FIELDS[..]), weird_json()), 0..10)
                .prop_map(|fields| fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(cases() / 4))]

            #[test]
            fn any_payload_of_any_command_gets_a_typed_answer(
                name in proptest::sample::select(&["sms.send", "call.originate", "call.hangup",
                    "call.transfer", "record.start", "record.stop", "queue.pause", "config.reload",
                    "contacts.upsert", "contacts.delete", "operators.upsert", "operators.delete",
                    "ping", "status", "x"][..]),
                mut body in body(),
                id in "[a-z0-9-]{1,12}",
                api in any::<bool>(),
            ) {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let dir = tempfile::tempdir().unwrap();
                let (pbx, _) = rt.block_on(async { slow_pbx(Duration::ZERO) });
                let ami = HashMap::from([("asterisk".to_owned(), pbx)]);
                let c = commands_with(dir.path(), &KNOWN, 1_000, ami);
                body.insert("request_id".into(), Value::String(id));
                let payload = Value::Object(body).to_string();
                let origin = if api { Origin::Api } else { Origin::Mqtt };
                let answer = rt.block_on(c.run(origin, name, payload.as_bytes()));
                let (_, answer) = answer.expect("a request id: an answer");
                prop_assert!(answer["ok"].is_boolean(), "{answer}");
                if answer["ok"] == false {
                    prop_assert!(answer["error"]["code"].is_string(), "{answer}");
                }
            }
        }
    }
}
