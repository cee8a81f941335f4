//! Tests of the AMI correlator against the real capture (compiled only under #[cfg(test)]).
//! Asterisk's own `Cdr` events in the capture are the oracle.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::calls::AgentState;
use crate::pbx::ami::codec::{Decoded, Decoder};

/// When the capture's first channel was born (its Uniqueid epoch), in Unix ms.
const CAPTURE_T0: i64 = 1_795_316_989_000;

/// Every message of the capture, stamped with the arrival time of the read that completed
/// it (the real TCP chunking from `chunks.jsonl`).
pub(crate) fn capture() -> Vec<(i64, Message)> {
    let raw = crate::fixtures::fixture_bytes("asterisk/ami_session.raw");
    let chunks = crate::fixtures::fixture("asterisk/ami_session.chunks.jsonl");
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    for line in chunks.lines() {
        let c: serde_json::Value = serde_json::from_str(line).expect("chunk line");
        if c["dir"] != "rx" {
            continue;
        }
        let (off, len) = (
            c["off"].as_u64().expect("off"),
            c["len"].as_u64().expect("len"),
        );
        let ts = CAPTURE_T0 + (c["t"].as_f64().expect("t") * 1000.0) as i64;
        decoder.push(&raw[off as usize..(off + len) as usize]);
        while let Some(d) = decoder.next_decoded() {
            if let Decoded::Message(m) = d {
                out.push((ts, m));
            }
        }
    }
    out
}

fn replay(correlator: &mut AmiCorrelator, messages: &[(i64, Message)]) -> Vec<CallEvent> {
    let mut events = Vec::new();
    for (ts, m) in messages {
        events.extend(correlator.tick(*ts));
        events.extend(correlator.on_message(*ts, "", m));
    }
    events
}

fn records(events: &[CallEvent]) -> BTreeMap<String, CallRecord> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CallEnded(r) => Some((r.call_id.clone(), r.as_ref().clone())),
            _ => None,
        })
        .collect()
}

fn replayed() -> (Vec<CallEvent>, BTreeMap<String, CallRecord>) {
    let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("pbx"));
    let events = replay(&mut c, &capture());
    assert_eq!(c.open_calls(), 0, "every call of the capture ends");
    let r = records(&events);
    (events, r)
}

/// CDR time (`2026-11-22 03:09:49`, UTC) in Unix seconds.
fn cdr_time(s: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(s, format).ok()?;
    Some(t.assume_utc().unix_timestamp())
}

/// `Local/206@ext-00000010;1` and `;2` are one leg.
fn local_pair(channel: &str) -> &str {
    channel.trim_end_matches(";1").trim_end_matches(";2")
}

/// What Asterisk's CDRs say about one call (one birth Linkedid).
#[derive(Debug, Default)]
struct Oracle {
    flow: String,
    callers: Vec<String>,
    callees: Vec<String>,
    answered: bool,
    /// From the first answered A-B pair (both parties answered) to the end of the last.
    billsec: i64,
}

/// Groups the capture's CDRs by the Linkedid their channel was born with. For each group:
/// the caller is the `Source` of the entry leg's first CDR; the callee the `Destination` of
/// a CDR of the entry leg or of the first-born channel (Asterisk rewrites the destination of
/// a transferred leg's CDRs); answered when a CDR with a `DestinationChannel` is ANSWERED;
/// billsec runs from the first moment both parties of such a pair had answered to the end
/// of the last one. A Linkedid whose channel Asterisk later re-linked into an older one (an
/// agent leg the application originated, a parked call's retriever) was a helper of that
/// call, not a call of its own.
fn oracle(messages: &[(i64, Message)]) -> BTreeMap<String, Oracle> {
    let mut birth = HashMap::new();
    let mut entry: HashMap<String, String> = HashMap::new();
    let mut first: HashMap<String, String> = HashMap::new();
    for (_, m) in messages {
        if m.event() != Some("Newchannel") || m.get("Channel").unwrap_or("").starts_with("Outgoing")
        {
            continue;
        }
        let (uid, lid) = (
            m.get("Uniqueid").unwrap().to_owned(),
            m.get("Linkedid").unwrap().to_owned(),
        );
        birth.insert(uid.clone(), lid.clone());
        first.entry(lid.clone()).or_insert(uid.clone());
        if m.get("ChannelState") == Some("4") {
            entry.entry(lid).or_insert(uid);
        }
    }
    let helpers: std::collections::HashSet<&String> = messages
        .iter()
        .filter_map(|(_, m)| {
            let born_in = birth.get(m.get("Uniqueid")?)?;
            let now_in = m.get("Linkedid")?;
            (now_in != born_in && first.contains_key(now_in)).then_some(born_in)
        })
        .collect();
    let cdrs: Vec<&Message> = messages
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.event() == Some("Cdr"))
        .collect();
    // When a channel itself answered: its earliest CDR answer, either half of a Local pair.
    let mut own_answer: HashMap<&str, i64> = HashMap::new();
    for c in &cdrs {
        if let (Some(ch), Some(t)) = (c.get("Channel"), c.get("AnswerTime").and_then(cdr_time)) {
            let e = own_answer.entry(local_pair(ch)).or_insert(t);
            *e = (*e).min(t);
        }
    }
    let mut out: BTreeMap<String, Oracle> = BTreeMap::new();
    let mut spans: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for c in &cdrs {
        let uid = c.get("UniqueID").unwrap();
        let lid = birth[uid].clone();
        if helpers.contains(&lid) {
            continue;
        }
        let o = out.entry(lid.clone()).or_default();
        let entry_uid = entry.get(&lid).unwrap_or(&first[&lid]);
        if uid == entry_uid {
            o.callers.push(c.get("Source").unwrap().to_owned());
            o.callees.push(c.get("Destination").unwrap().to_owned());
        }
        if *uid == first[&lid] {
            o.callees.push(c.get("Destination").unwrap().to_owned());
            o.flow = c.get("Destination").unwrap().to_owned();
        }
        let dest = c.get("DestinationChannel").unwrap_or("");
        if !dest.is_empty() && c.get("Disposition") == Some("ANSWERED") {
            o.answered = true;
            let answer = cdr_time(c.get("AnswerTime").unwrap()).unwrap();
            let start = own_answer
                .get(local_pair(dest))
                .map_or(answer, |b| answer.max(*b));
            spans
                .entry(lid)
                .or_default()
                .push((start, cdr_time(c.get("EndTime").unwrap()).unwrap()));
        }
    }
    for (lid, s) in spans {
        let first = s.iter().map(|p| p.0).min().unwrap();
        let last = s.iter().map(|p| p.1).max().unwrap();
        out.get_mut(&lid).unwrap().billsec = last - first;
    }
    out
}

#[test]
fn every_call_agrees_with_asterisks_cdrs() {
    let messages = capture();
    let (_, records) = replayed();
    let oracle = oracle(&messages);
    let mut wrong = Vec::new();
    for (lid, o) in &oracle {
        let Some(r) = records.get(&format!("pbx-{lid}")) else {
            wrong.push(format!("{lid} ({}): no call record", o.flow));
            continue;
        };
        let mut check = |what: &str, ok: bool, got: String, want: String| {
            if !ok {
                wrong.push(format!(
                    "{lid} ({}): {what}: gateway {got}, CDR {want}",
                    o.flow
                ));
            }
        };
        let caller = r.caller.clone().unwrap_or_default();
        check(
            "caller",
            o.callers.first() == Some(&caller),
            caller,
            format!("{:?}", o.callers),
        );
        let callee = r.callee.clone().unwrap_or_default();
        check(
            "callee",
            o.callees.contains(&callee),
            callee,
            format!("{:?}", o.callees),
        );
        check(
            "answered",
            r.answered_at.is_some() == o.answered,
            format!("{:?}", r.answered_at),
            o.answered.to_string(),
        );
        // A conference caller left alone after the other party hung up is still in a call
        // (the gateway bills it to the end); Asterisk's CDR pair ends when the other leaves.
        let alone_in_conference = o.flow == "conf";
        let billsec_ok = (r.billsec_s - o.billsec).abs() <= 1
            || (alone_in_conference && r.billsec_s >= o.billsec && r.billsec_s <= r.duration_s);
        if o.answered {
            check(
                "billsec",
                billsec_ok,
                r.billsec_s.to_string(),
                o.billsec.to_string(),
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(
        records.len(),
        oracle.len(),
        "one record per Linkedid with CDRs"
    );
}

/// The records by flow (the dialled name in the capture's `inbound` context), read by hand
/// against the capture's README and events.
#[test]
fn each_flow_ends_as_it_happened() {
    let (_, records) = replayed();
    let flow = |name: &str| -> Vec<&CallRecord> {
        records
            .values()
            .filter(|r| r.callee.as_deref() == Some(name) && r.direction == Direction::Inbound)
            .collect()
    };
    let dispositions =
        |name: &str| -> Vec<Disposition> { flow(name).iter().map(|r| r.disposition).collect() };
    use Disposition::*;
    assert_eq!(dispositions("busy"), [Busy, Busy]);
    assert_eq!(dispositions("noanswer"), [NoAnswer, NoAnswer]);
    assert_eq!(dispositions("fail"), [Failed, Failed]);
    assert_eq!(dispositions("abandon"), [Abandoned, Abandoned]);
    assert!(flow("abandon")
        .iter()
        .all(|r| r.queue.as_deref() == Some("overflow")));
    for r in flow("queue") {
        assert_eq!(
            (r.disposition, r.queue.as_deref()),
            (Answered, Some("sales")),
            "{r:?}"
        );
        assert!(
            r.agent.as_deref().is_some_and(|a| a.starts_with("30")),
            "{r:?}"
        );
    }
    // IVR: digit 9 says goodbye (the PBX alone), digit 1 goes to the sales queue.
    let ivr: Vec<(Option<&str>, Disposition)> = flow("ivr")
        .iter()
        .map(|r| (r.ivr_digits.as_deref(), r.disposition))
        .collect();
    assert_eq!(
        ivr,
        [
            (Some("9"), PbxOnly),
            (Some("1"), Answered),
            (Some("9"), PbxOnly)
        ]
    );
    for r in flow("blindxfer") {
        let t = &r.transfers;
        assert_eq!(t.len(), 1, "{r:?}");
        assert_eq!(
            (t[0].kind, t[0].from.as_deref(), t[0].to.as_deref()),
            (TransferKind::Blind, Some("202"), Some("205"))
        );
        assert_eq!(r.extension.as_deref(), Some("202"));
    }
    for r in flow("atxfer") {
        let t = &r.transfers;
        assert_eq!(
            (t[0].kind, t[0].from.as_deref(), t[0].to.as_deref()),
            (TransferKind::Attended, Some("204"), Some("220"))
        );
        assert_eq!(
            r.holds, 1,
            "the transferer held the caller while consulting"
        );
    }
    for r in flow("record") {
        let uid_of_entry = r
            .call_id
            .trim_start_matches("pbx-")
            .split('.')
            .next()
            .unwrap()
            .to_owned();
        let file = r.recording.as_deref().unwrap_or_default();
        assert!(
            file.starts_with("/var/spool/asterisk/record/") && file.contains(&uid_of_entry),
            "{r:?}"
        );
    }
    assert!(flow("answer")
        .iter()
        .all(|r| r.recording.as_deref().is_some_and(|f| f.ends_with(".wav"))));
    assert!(flow("redirect")
        .iter()
        .all(|r| r.queue.as_deref() == Some("support") && r.disposition == Answered));
    assert!(flow("stasis")
        .iter()
        .all(|r| r.ivr_digits.as_deref() == Some("12") && r.disposition == Answered));
    // Parking: one call retrieved by the operator at 701, one timed out in the lot.
    let park: Vec<(Disposition, Option<&str>)> = flow("park")
        .iter()
        .map(|r| (r.disposition, r.extension.as_deref()))
        .collect();
    assert_eq!(park, [(Answered, Some("701")), (PbxOnly, None)]);
    assert_eq!(
        dispositions("conf"),
        [Answered, PbxOnly],
        "the first in the conference talks to the second"
    );
    for r in records.values() {
        assert!(
            r.started_at <= r.answered_at.unwrap_or(r.ended_at)
                && r.answered_at.unwrap_or(r.ended_at) <= r.ended_at,
            "{r:?}"
        );
        assert!(r.hangup_cause.is_some(), "{r:?}");
    }
}

/// Every call's events start with `call.started` and end with `call.ended`, and nothing
/// follows the end.
#[test]
fn each_call_is_announced_first_and_ended_last() {
    let (events, records) = replayed();
    let mut seen: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &events {
        if let Some(id) = e.call_id.as_deref() {
            seen.entry(id).or_default().push(e.kind());
        }
    }
    assert_eq!(seen.len(), records.len());
    for (id, kinds) in seen {
        assert_eq!(kinds.first(), Some(&"call.started"), "{id}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&"call.ended"), "{id}: {kinds:?}");
        assert_eq!(
            kinds.iter().filter(|k| **k == "call.ended").count(),
            1,
            "{id}"
        );
    }
}

/// Queue members become a supervisor's panel: the paused agent, ringing, talking, wrap-up.
#[test]
fn queue_members_become_agent_states() {
    let (events, _) = replayed();
    let states = |agent: &str| -> Vec<AgentState> {
        events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::AgentState(s) if s.agent == agent => Some(s.state),
                _ => None,
            })
            .collect()
    };
    let a302 = states("302");
    assert!(a302.contains(&AgentState::Paused), "{a302:?}");
    assert!(
        a302.windows(2)
            .any(|w| w == [AgentState::Ringing, AgentState::Talking]),
        "{a302:?}"
    );
    assert!(
        a302.windows(2).all(|w| w[0] != w[1]),
        "only changes are sent: {a302:?}"
    );
    let a301 = states("301");
    assert!(
        a301.windows(2)
            .any(|w| w == [AgentState::Talking, AgentState::WrapUp]),
        "{a301:?}"
    );
    // The dynamic member 306 was removed (while talking), then added again.
    let a306 = states("306");
    assert!(
        a306.windows(2)
            .any(|w| w == [AgentState::Talking, AgentState::Unavailable]),
        "{a306:?}"
    );
    assert_eq!(a306.last(), Some(&AgentState::Ready), "{a306:?}");
    // Device states of Local channels are not people.
    assert!(states("ivr").is_empty() && states("ari").is_empty());
}

/// What `CoreShowChannels` would list after `messages`: the channels still up, as items.
fn live_channels(messages: &[(i64, Message)]) -> Vec<Message> {
    let mut live: BTreeMap<String, Message> = BTreeMap::new();
    for (_, m) in messages {
        match (m.event(), m.get("Uniqueid")) {
            (Some("Newchannel"), Some(uid)) => {
                let mut item = m.clone();
                item.headers
                    .retain(|(k, _)| k != "Event" && k != "Privilege");
                item.headers
                    .insert(0, ("Event".into(), "CoreShowChannel".into()));
                item.headers.push(("Duration".into(), "00:00:01".into()));
                live.insert(uid.to_owned(), item);
            }
            (Some("Hangup"), Some(uid)) => {
                live.remove(uid);
            }
            (Some(event), Some(uid)) => {
                let Some(item) = live.get_mut(uid) else {
                    continue;
                };
                let mut set = |key: &str, value: Option<&str>| {
                    if let (Some(v), Some(h)) =
                        (value, item.headers.iter_mut().find(|(k, _)| k == key))
                    {
                        h.1 = v.to_owned();
                    }
                };
                match event {
                    "NewCallerid" => set("CallerIDNum", m.get("CallerIDNum")),
                    "Newstate" => set("ChannelStateDesc", m.get("ChannelStateDesc")),
                    "BridgeEnter" => item.headers.push((
                        "BridgeId".into(),
                        m.get("BridgeUniqueid").unwrap_or("").into(),
                    )),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    live.into_values().collect()
}

/// The link drops mid-capture for 10 s: calls that ended meanwhile are closed at the loss,
/// calls still up continue under the same id, calls born meanwhile are adopted.
#[test]
fn resync_after_link_loss_closes_ended_calls_and_keeps_live_ones() {
    let messages = capture();
    let lost = messages
        .iter()
        .position(|(ts, _)| *ts >= CAPTURE_T0 + 25_000)
        .unwrap();
    let back = messages
        .iter()
        .position(|(ts, _)| *ts >= CAPTURE_T0 + 35_000)
        .unwrap();
    let (lost_ts, back_ts) = (messages[lost].0, messages[back].0);
    let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("pbx"));
    let mut events = replay(&mut c, &messages[..lost]);
    c.link_lost(lost_ts);
    let listed = live_channels(&messages[..back]);
    events.extend(c.resync(back_ts, back_ts, &listed));
    events.extend(replay(&mut c, &messages[back..]));
    assert_eq!(c.open_calls(), 0);
    let records = records(&events);
    let (_, full) = replayed();
    let mut closed_at_loss = 0;
    for r in records.values() {
        if r.hangup_cause.as_deref() == Some("ended during link loss") {
            closed_at_loss += 1;
            assert_eq!(r.ended_at, lost_ts, "{r:?}");
            assert!(
                full[&r.call_id].ended_at > lost_ts && full[&r.call_id].ended_at < back_ts,
                "{r:?}"
            );
        } else {
            assert_eq!(r.ended_at, full[&r.call_id].ended_at, "{r:?}");
            assert_eq!(r.caller, full[&r.call_id].caller, "{r:?}");
        }
    }
    let ended_in_gap = full
        .values()
        .filter(|r| r.started_at < lost_ts && r.ended_at > lost_ts && r.ended_at < back_ts)
        .count();
    assert!(ended_in_gap >= 2);
    assert_eq!(
        closed_at_loss, ended_in_gap,
        "calls known before the loss that ended in the gap"
    );
    let spanning = full
        .values()
        .filter(|r| r.started_at < lost_ts && r.ended_at > back_ts)
        .count();
    assert!(spanning >= 3, "calls up across the gap: {spanning}");
    // A call that began and ended while the link was down was never visible over AMI.
    let unseen = full
        .values()
        .filter(|r| r.started_at >= lost_ts && r.ended_at < back_ts)
        .count();
    assert_eq!(
        records.len(),
        full.len() - unseen,
        "no visible call lost, none doubled"
    );
    let mut started: HashMap<&str, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.kind() == "call.started") {
        *started.entry(e.call_id.as_deref().unwrap()).or_default() += 1;
    }
    assert!(
        started.values().all(|n| *n == 1),
        "a call continues under the same id"
    );
}

#[test]
fn calls_nobody_confirms_are_reaped() {
    let messages = capture();
    let first_answer = messages
        .iter()
        .position(|(_, m)| m.event() == Some("BridgeEnter"))
        .unwrap();
    let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("pbx"));
    replay(&mut c, &messages[..first_answer]);
    let open = c.open_calls();
    assert!(open > 0);
    let t = messages[first_answer].0;
    assert!(c
        .tick(messages[0].0 + 3_599_000)
        .iter()
        .all(|e| e.kind() != "call.ended"));
    let reaped = c.tick(t + 3_601_000);
    assert_eq!(
        reaped.iter().filter(|e| e.kind() == "call.ended").count(),
        open
    );
    assert_eq!(c.open_calls(), 0);
    assert_eq!(c.reaped, open as u64);
}

#[test]
fn channel_names_give_extensions() {
    assert_eq!(extension_of("Local/205@ext-00000022;1"), "205");
    assert_eq!(extension_of("PJSIP/201-0000001a"), "201");
    assert_eq!(extension_of("PJSIP/my-trunk-0000001a"), "my-trunk");
    assert_eq!(extension_of("Local/301@agents/n"), "301");
    assert_eq!(extension_of("PJSIP/201"), "201");
    assert_eq!(extension_of(""), "");
    assert_eq!(parse_hms("01:02:03"), Some(3723));
    assert_eq!(parse_hms("x"), None);
}

fn msg(headers: &[(&str, &str)]) -> Message {
    Message {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn new_channel(
    uid: &str,
    linked: &str,
    name: &str,
    state: &str,
    context: &str,
    exten: &str,
    cid: &str,
) -> Message {
    msg(&[
        ("Event", "Newchannel"),
        ("Channel", name),
        ("ChannelState", state),
        ("CallerIDNum", cid),
        ("Context", context),
        ("Exten", exten),
        ("Uniqueid", uid),
        ("Linkedid", linked),
    ])
}

/// A two-channel call: `a` (entry) dials `b`, `b` answers, both hang up.
fn two_party_call(
    a: &str,
    a_context: &str,
    a_exten: &str,
    caller: &str,
    b: &str,
) -> Vec<(i64, Message)> {
    let t = 1_000_000;
    vec![
        (
            t,
            new_channel("1.1", "1.1", a, "4", a_context, a_exten, caller),
        ),
        (
            t + 10,
            new_channel("1.2", "1.1", b, "0", "from-internal", a_exten, ""),
        ),
        (
            t + 20,
            msg(&[
                ("Event", "DialBegin"),
                ("Uniqueid", "1.1"),
                ("Channel", a),
                ("DestChannel", b),
                ("DestUniqueid", "1.2"),
            ]),
        ),
        (
            t + 3_000,
            msg(&[
                ("Event", "DialEnd"),
                ("Uniqueid", "1.1"),
                ("DestChannel", b),
                ("DialStatus", "ANSWER"),
            ]),
        ),
        (
            t + 3_010,
            msg(&[
                ("Event", "BridgeEnter"),
                ("Uniqueid", "1.2"),
                ("BridgeUniqueid", "br"),
                ("BridgeTechnology", "simple_bridge"),
            ]),
        ),
        (
            t + 3_020,
            msg(&[
                ("Event", "BridgeEnter"),
                ("Uniqueid", "1.1"),
                ("BridgeUniqueid", "br"),
                ("BridgeTechnology", "simple_bridge"),
            ]),
        ),
        (
            t + 63_020,
            msg(&[
                ("Event", "Hangup"),
                ("Uniqueid", "1.2"),
                ("Cause", "16"),
                ("Cause-txt", "Normal Clearing"),
            ]),
        ),
        (
            t + 63_030,
            msg(&[
                ("Event", "Hangup"),
                ("Uniqueid", "1.1"),
                ("Cause", "16"),
                ("Cause-txt", "Normal Clearing"),
            ]),
        ),
    ]
}

fn one_record(config: AmiCorrelatorConfig, messages: &[(i64, Message)]) -> CallRecord {
    let mut c = AmiCorrelator::new(config);
    let records = records(&replay(&mut c, messages));
    assert_eq!(records.len(), 1, "{records:?}");
    records.into_values().next().unwrap()
}

/// Recordings a dialplan makes without MixMonitor's events: the older `Monitor()` (its file
/// is `basename.format`, and it records from that moment), and a file name left in
/// `CDR(userfield)`, which a userfield that is not a file name does not touch.
#[test]
fn monitor_and_the_cdr_userfield_name_the_recording() {
    let newexten = |app: &'static str, data: &'static str| {
        msg(&[
            ("Event", "Newexten"),
            ("Uniqueid", "1.1"),
            ("Application", app),
            ("AppData", data),
        ])
    };
    let call_with = |steps: Vec<Message>| {
        let mut call = two_party_call(
            "PJSIP/201-00000001",
            "from-internal",
            "202",
            "201",
            "PJSIP/202-00000002",
        );
        for (i, step) in steps.into_iter().enumerate() {
            call.insert(3 + i, (1_003_015 + i as i64, step));
        }
        let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("pbx"));
        replay(&mut c, &call)
    };

    let events = call_with(vec![newexten(
        "Monitor",
        "wav49,/var/spool/asterisk/monitor/q/201-202,m",
    )]);
    let record = records(&events).into_values().next().unwrap();
    assert_eq!(
        record.recording.as_deref(),
        Some("/var/spool/asterisk/monitor/q/201-202.WAV")
    );
    let started: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CallRecording(r) => Some((r.file.clone(), r.active)),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [("/var/spool/asterisk/monitor/q/201-202.WAV".to_owned(), true)]
    );

    let events = call_with(vec![
        newexten("Set", "CDR(userfield)=2026/12/03/out-201-202.wav"),
        newexten("Set", "CDR(userfield)=VIP customer"),
        newexten("Set", "CDR(accountcode)=x.wav"),
    ]);
    let record = records(&events).into_values().next().unwrap();
    assert_eq!(
        record.recording.as_deref(),
        Some("2026/12/03/out-201-202.wav")
    );

    let record = records(&call_with(vec![newexten("Monitor", "wav")]))
        .into_values()
        .next()
        .unwrap();
    assert_eq!(
        record.recording, None,
        "Monitor() naming no file: nothing to link"
    );
}

/// Direction from the configured rules: an entry on a trunk or in an inbound context is
/// inbound; a phone dialling a trunk is outbound; phone to phone is internal.
#[test]
fn direction_follows_trunk_and_context_rules() {
    let mut config = AmiCorrelatorConfig::new("pbx");
    config.trunk_prefixes = vec!["PJSIP/provider".into()];
    let inbound = two_party_call(
        "PJSIP/provider-00000001",
        "from-pstn",
        "221234567",
        "+48601000000",
        "PJSIP/201-00000002",
    );
    let r = one_record(config.clone(), &inbound);
    assert_eq!(
        (r.direction, r.caller.as_deref(), r.callee.as_deref()),
        (Direction::Inbound, Some("+48601000000"), Some("221234567"))
    );
    assert_eq!(
        (r.extension.as_deref(), r.disposition, r.billsec_s),
        (Some("201"), Disposition::Answered, 60)
    );
    let outbound = two_party_call(
        "PJSIP/201-00000001",
        "from-internal",
        "0601000000",
        "201",
        "PJSIP/provider-00000002",
    );
    let r = one_record(config.clone(), &outbound);
    assert_eq!(
        (r.direction, r.caller.as_deref(), r.callee.as_deref()),
        (Direction::Outbound, Some("201"), Some("0601000000"))
    );
    let internal = two_party_call(
        "PJSIP/201-00000001",
        "from-internal",
        "202",
        "201",
        "PJSIP/202-00000002",
    );
    assert_eq!(one_record(config, &internal).direction, Direction::Internal);
}

/// A phone's device state and an extension hint are presence too; Local channels are not.
#[test]
fn device_states_and_hints_become_agent_states() {
    let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("pbx"));
    let mut states = Vec::new();
    for m in [
        msg(&[
            ("Event", "DeviceStateChange"),
            ("Device", "PJSIP/201"),
            ("State", "RINGING"),
        ]),
        msg(&[
            ("Event", "DeviceStateChange"),
            ("Device", "PJSIP/201"),
            ("State", "RINGING"),
        ]),
        msg(&[
            ("Event", "DeviceStateChange"),
            ("Device", "PJSIP/201"),
            ("State", "INUSE"),
        ]),
        msg(&[
            ("Event", "DeviceStateChange"),
            ("Device", "Local/201@ext"),
            ("State", "NOT_INUSE"),
        ]),
        msg(&[
            ("Event", "ExtensionStatus"),
            ("Exten", "202"),
            ("Status", "4"),
        ]),
        msg(&[
            ("Event", "ExtensionStatus"),
            ("Exten", "202"),
            ("Status", "0"),
        ]),
        msg(&[
            ("Event", "QueueMemberPause"),
            ("Interface", "PJSIP/203"),
            ("Status", "1"),
            ("Paused", "1"),
        ]),
    ] {
        for e in c.on_message(0, "", &m) {
            if let EventBody::AgentState(s) = e.body {
                states.push((s.agent, s.state));
            }
        }
    }
    use AgentState::*;
    let want: Vec<(String, AgentState)> = [
        ("201", Ringing),
        ("201", Talking),
        ("202", Unavailable),
        ("202", Ready),
        ("203", Paused),
    ]
    .into_iter()
    .map(|(a, s)| (a.to_owned(), s))
    .collect();
    assert_eq!(states, want);
}

/// Events about channels never seen (the call began before we connected) change nothing
/// and do not panic; headers missing or odd are tolerated.
#[test]
fn events_for_unknown_channels_and_odd_headers_are_harmless() {
    let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("pbx"));
    for m in [
        msg(&[("Event", "Hangup"), ("Uniqueid", "9.9"), ("Cause", "x")]),
        msg(&[("Event", "BridgeEnter"), ("Uniqueid", "9.9")]),
        msg(&[("Event", "DialEnd")]),
        msg(&[("Event", "Newchannel"), ("Channel", "PJSIP/1-00000001")]),
        msg(&[("Event", "AttendedTransfer"), ("Result", "Success")]),
        msg(&[("Response", "Success")]),
    ] {
        assert!(c.on_message(0, "", &m).is_empty());
    }
    assert_eq!(c.open_calls(), 0);
}

#[test]
#[ignore = "prints the records for reading"]
fn print_records() {
    let (_, records) = replayed();
    for r in records.values() {
        println!("{r:?}");
    }
}

/// Structure-aware: the capture's messages, with header values replaced by text no capture
/// holds, headers dropped or doubled, and lines split or joined the way a broken peer would,
/// go from the wire through the decoder, the correlator and a resync without a panic.
mod shaped {
    use super::*;
    use crate::mutate::{cases, weird_text};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Edit {
        Keep,
        Value(String),
        Drop,
        Double,
        NoColon,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            12 => Just(Edit::Keep),
            4 => weird_text().prop_map(Edit::Value),
            1 => Just(Edit::Drop),
            1 => Just(Edit::Double),
            1 => Just(Edit::NoColon),
        ]
    }

    fn wire(messages: &[(i64, Message)], edits: &[Edit]) -> Vec<u8> {
        let mut edits = edits.iter().cycle();
        let mut out = b"Asterisk Call Manager/11.0.0\r\n".to_vec();
        for (_, m) in messages {
            for (k, v) in &m.headers {
                let line = match edits.next().unwrap_or(&Edit::Keep) {
                    Edit::Keep => format!("{k}: {v}\r\n"),
                    Edit::Value(new) => format!("{k}: {new}\r\n"),
                    Edit::Drop => String::new(),
                    Edit::Double => format!("{k}: {v}\r\n{k}: {v}{v}\r\n"),
                    Edit::NoColon => format!("{k}{v}\r\n"),
                };
                out.extend_from_slice(line.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases() / 10))]

        #[test]
        fn shaped_messages_never_panic_from_wire_to_call(
            start in 0usize..400,
            count in 1usize..120,
            edits in proptest::collection::vec(edit(), 1..200),
            chunk in 1usize..600,
        ) {
            let messages: Vec<_> = capture().into_iter().skip(start).take(count).collect();
            let bytes = wire(&messages, &edits);
            let mut decoder = Decoder::new();
            let mut correlator = AmiCorrelator::new(AmiCorrelatorConfig::new("fuzz"));
            let mut live = Vec::new();
            for (i, piece) in bytes.chunks(chunk).enumerate() {
                decoder.push(piece);
                while let Some(d) = decoder.next_decoded() {
                    if let Decoded::Message(m) = d {
                        let ts = CAPTURE_T0 + i as i64;
                        let _ = correlator.tick(ts);
                        let _ = correlator.on_message(ts, &m.to_raw(), &m);
                        live.push(m);
                    }
                }
            }
            let _ = correlator.resync(CAPTURE_T0, CAPTURE_T0 + 1, &live);
            correlator.link_lost(CAPTURE_T0 + 2);
            let _ = correlator.tick(CAPTURE_T0 + 86_400_000);
        }
    }
}

/// A listed channel's `Duration` is the PBX's word for its age; one past a week, below zero
/// or too large to count in milliseconds (what the property test found) is taken as "new".
#[test]
fn a_listed_channel_with_an_absurd_age_is_adopted_as_new() {
    let listing_ts = CAPTURE_T0;
    for (n, duration) in [
        "9000000000000000",
        "99999999999999999:00:00",
        "-01:00:00",
        "200:00:00",
        "00:01:30",
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("pbx"));
        let uid = format!("1700000000.{n}");
        let headers = [
            ("Event", "CoreShowChannel"),
            ("Channel", "PJSIP/201-00000001"),
            ("Uniqueid", uid.as_str()),
            ("Linkedid", uid.as_str()),
            ("CallerIDNum", "201"),
            ("Exten", "202"),
            ("Context", "internal"),
            ("ChannelStateDesc", "Ring"),
            ("Duration", duration),
        ];
        let m = Message {
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let events = c.resync(listing_ts, listing_ts, &[m]);
        let started = events
            .iter()
            .find_map(|e| match &e.body {
                EventBody::CallStarted(_) => Some(e.ts_ms),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{duration}: adopted"));
        let expected = if duration == "00:01:30" {
            listing_ts - 90_000
        } else {
            listing_ts
        };
        assert_eq!(started, expected, "{duration}");
    }
}

/// Per phone over the whole capture, counted by hand from its `DialBegin`/`DialEnd` pairs
/// (a dial's destination, and whether that dial ended `ANSWER`): calls that rang it, answered
/// there, and missed (nobody answered the call: the two noanswer calls at 211, the two busy
/// ones at 210, the two callers who abandoned the overflow queue at 390). 303 is the sales
/// queue member who rang three times while a colleague answered: offered, never missed.
/// The blind transfer to 205 rang 208 (the dialplan's 205 dials `Local/208@ext`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_calls_count_for_every_phone_they_rang() {
    let (events, records) = replayed();
    let blind: Vec<Vec<(&str, bool)>> = records
        .values()
        .filter(|r| r.callee.as_deref() == Some("blindxfer"))
        .map(|r| {
            r.rang
                .iter()
                .map(|o| (o.extension.as_str(), o.answered))
                .collect()
        })
        .collect();
    assert_eq!(blind, vec![vec![("202", true), ("208", true)]; 2]);
    let counts = crate::store::test_support::agent_counts_of(events).await;
    #[rustfmt::skip]
    let expected = [
        ("202", 2, 2, 0), ("203", 2, 2, 0), ("204", 2, 2, 0), ("205", 1, 1, 0),
        ("206", 2, 2, 0), ("207", 3, 3, 0), ("208", 2, 2, 0), ("210", 2, 0, 2),
        ("211", 2, 0, 2), ("212", 1, 0, 0), ("301", 3, 3, 0), ("302", 2, 2, 0),
        ("303", 3, 0, 0), ("304", 2, 1, 0), ("306", 1, 1, 0), ("390", 2, 0, 2),
    ]
    .map(|(who, calls, answered, missed)| (who.to_owned(), calls, answered, missed));
    assert_eq!(counts, expected);
}
