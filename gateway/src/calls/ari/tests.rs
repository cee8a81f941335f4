use super::*;
use crate::calls::{CallRecord, Direction, Disposition, EventBody};
use crate::pbx::ari::model::{decode, timestamp_ms, Decoded};

/// The application's capture through the correlator, each event at its own Asterisk time.
fn replay() -> (AriCorrelator, Vec<CallEvent>) {
    replay_capture(
        AriCorrelatorConfig::new("asterisk"),
        "asterisk/ari_events.jsonl",
    )
}

fn replay_capture(config: AriCorrelatorConfig, capture: &str) -> (AriCorrelator, Vec<CallEvent>) {
    let mut c = AriCorrelator::new(config);
    let mut events = Vec::new();
    for line in crate::fixtures::fixture(capture).lines() {
        let e = match decode(line) {
            Ok(Decoded::Event(e)) => e,
            Ok(Decoded::Unknown { .. }) => continue,
            Err(e) => panic!("{e}: {line}"),
        };
        let ts = timestamp_ms(e.timestamp()).unwrap();
        events.extend(c.tick(ts));
        events.extend(c.on_message(ts, line, &e));
    }
    (c, events)
}

fn records(events: &[CallEvent]) -> Vec<CallRecord> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CallEnded(r) => Some((**r).clone()),
            _ => None,
        })
        .collect()
}

/// The four Stasis calls of the capture: the application answers, plays a prompt, bridges the
/// customer with an agent it originates (`Local/ari@agents`), the customer presses 1 and 2;
/// one call is recorded.
#[test]
fn stasis_calls_become_records_answered_by_the_agent() {
    let (c, events) = replay();
    assert_eq!(c.open_calls(), 0, "every call ended");
    let all = records(&events);
    let customers: Vec<&CallRecord> = all
        .iter()
        .filter(|r| r.callee.as_deref() == Some("stasis"))
        .collect();
    let callers: Vec<&str> = customers
        .iter()
        .filter_map(|r| r.caller.as_deref())
        .collect();
    assert_eq!(
        callers,
        [
            "+48229709457",
            "+48225666799",
            "+48224160583",
            "+48224142496"
        ]
    );
    for r in &customers {
        assert_eq!(r.direction, Direction::Inbound);
        assert_eq!(r.disposition, Disposition::Answered, "{r:?}");
        assert_eq!(r.extension.as_deref(), Some("ari"));
        let pbx = r.pbx_answered_at.unwrap() - r.started_at;
        let person = r.answered_at.unwrap() - r.started_at;
        assert!(pbx < 100 && (2_400..2_700).contains(&person), "{r:?}");
        assert_eq!(r.ivr_digits.as_deref(), Some("12"));
    }
    assert_eq!(
        customers[2].recording.as_deref(),
        Some("gw-rec-14682-3.wav")
    );
    assert!(customers.iter().filter(|r| r.recording.is_some()).count() == 1);
    assert_eq!(customers[1].billsec_s, 24, "the customer who hung up last");
    // The agent legs the application originated: records of their own, handled by the PBX
    // (as AMI sees them); the originate to 201 likewise.
    let agents = all
        .iter()
        .filter(|r| r.callee.as_deref() == Some("ari"))
        .count();
    assert_eq!(agents, 4);
    let originate = all
        .iter()
        .find(|r| r.callee.as_deref() == Some("201"))
        .expect("the originate to 201");
    assert_eq!(originate.disposition, Disposition::PbxOnly);
    assert_eq!(all.len(), 9);
}

#[test]
fn call_events_come_in_order() {
    let (_, events) = replay();
    let id = "asterisk-1795317036.115";
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e.call_id.as_deref() == Some(id))
        .map(|e| e.kind())
        .collect();
    assert_eq!(
        kinds,
        [
            "call.started",
            "call.answered",
            "call.answered",
            "call.recording",
            "call.dtmf",
            "call.dtmf",
            "call.recording",
            "call.ended"
        ]
    );
    assert!(events
        .iter()
        .all(|e| e.source == Source::Ari && e.pbx == "asterisk"));
}

/// The link drops in the middle of the capture: after the reconnect the live channels are
/// listed; calls whose channels vanished end (dated at the loss), live ones go on.
#[test]
fn a_resync_ends_vanished_calls_and_keeps_live_ones() {
    let mut c = AriCorrelator::new(AriCorrelatorConfig::new("asterisk"));
    let lines: Vec<&str> = crate::fixtures::fixture("asterisk/ari_events.jsonl")
        .leak()
        .lines()
        .collect();
    let mut last = None;
    // Up to the second customer's DTMF: calls 2 (customer and agent leg) are open.
    for line in &lines[..120] {
        let Ok(Decoded::Event(e)) = decode(line) else {
            panic!()
        };
        let ts = timestamp_ms(e.timestamp()).unwrap();
        c.on_message(ts, line, &e);
        last = Some((ts, e));
    }
    let open = c.open_calls();
    assert!(open >= 1, "calls are open mid-capture");
    let (ts, _) = last.unwrap();
    c.link_lost(ts + 10);
    // Asterisk still has one leg of one open call.
    let survivor = c.app().a_leg_in_a_call().unwrap();
    let live: Vec<AriEvent> = lines
        .iter()
        .filter_map(|l| match decode(l) {
            Ok(Decoded::Event(e)) => Some(*e),
            _ => None,
        })
        .filter(|e| e.channel().is_some_and(|ch| ch.id == survivor.0))
        .take(1)
        .collect();
    let ended = records(&c.resync(ts + 5_000, ts + 5_100, &live));
    assert_eq!(ended.len(), open - 1, "{ended:?}");
    for r in &ended {
        assert_eq!(r.ended_at, ts + 10, "dated at the loss");
        assert_eq!(r.hangup_cause.as_deref(), Some("ended during link loss"));
    }
    assert_eq!(c.open_calls(), 1);
    assert!(c.app().has_call(&survivor.1));
    // Nothing stays open forever.
    let reaped = records(&c.tick(ts + 2 * 3_600_000));
    assert_eq!(reaped.len(), 1);
    assert_eq!(c.open_calls(), 0);
}

/// Structure-aware: the capture's frames with JSON leaves replaced by values of other types
/// and contents (non-ASCII, empty, huge numbers, null, objects), through the model, the
/// correlator and a resync without a panic.
mod shaped {
    use super::*;
    use crate::mutate::{cases, json_picks, mutate_json};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases() / 10))]

        #[test]
        fn shaped_frames_never_panic_from_wire_to_call(
            start in 0usize..200,
            count in 1usize..60,
            picks in json_picks(),
        ) {
            let capture = crate::fixtures::fixture("asterisk/ari_events.jsonl");
            let mut picks = picks.into_iter().cycle();
            let mut correlator = AriCorrelator::new(AriCorrelatorConfig::new("fuzz"));
            let mut live = Vec::new();
            for (i, line) in capture.lines().skip(start).take(count).enumerate() {
                let Ok(mut frame) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                mutate_json(&mut frame, &mut picks);
                let text = frame.to_string();
                if let Ok(Decoded::Event(e)) = decode(&text) {
                    let ts = i as i64 * 1_000;
                    let _ = correlator.tick(ts);
                    let _ = correlator.on_message(ts, &text, &e);
                    live.push(*e);
                }
            }
            let _ = correlator.resync(0, 1, &live);
            correlator.link_lost(2);
            let _ = correlator.tick(86_400_000);
        }
    }
}

#[test]
fn phones_device_and_endpoint_states_are_agents_and_pseudo_devices_are_not() {
    let mut c = AriCorrelator::new(AriCorrelatorConfig::new("asterisk"));
    let frame = |device: &str, state: &str| {
        format!(
            r#"{{"type":"DeviceStateChanged","application":"pbxgw","timestamp":"2026-12-02T00:01:47.091+0000","device_state":{{"name":"{device}","state":"{state}"}},"asterisk_id":"02:fc:00:00:00:01"}}"#
        )
    };
    let endpoint = |resource: &str, state: &str| {
        format!(
            r#"{{"type":"EndpointStateChange","application":"pbxgw","timestamp":"2026-12-02T00:01:48.000+0000","endpoint":{{"technology":"PJSIP","resource":"{resource}","state":"{state}","channel_ids":[]}}}}"#
        )
    };
    let frames = [
        endpoint("201", "online"),
        frame("PJSIP/201", "NOT_INUSE"),
        frame("PJSIP/201", "RINGING"),
        frame("PJSIP/201", "INUSE"),
        frame("PJSIP/201", "INUSE"),
        frame("Local/201@ext", "INUSE"),
        frame("Queue:support_avail", "INUSE"),
        frame("PJSIP/202", "UNAVAILABLE"),
        endpoint("202", "offline"),
        frame("PJSIP/201", "NOT_INUSE"),
    ];
    let mut states = Vec::new();
    for text in &frames {
        let Ok(Decoded::Event(e)) = decode(text) else {
            panic!("{text}");
        };
        for ev in c.on_message(1, text, &e) {
            if let EventBody::AgentState(a) = ev.body {
                states.push((a.agent, a.state));
            }
        }
    }
    use crate::calls::AgentState::*;
    assert_eq!(
        states,
        [
            ("201".to_owned(), Ready),
            ("201".to_owned(), Ringing),
            ("201".to_owned(), Talking),
            ("202".to_owned(), Unavailable),
            ("201".to_owned(), Ready),
        ]
    );
    // The subscribe-all capture's devices are all Local/ and Queue: pseudo-devices.
    let mut c = AriCorrelator::new(AriCorrelatorConfig::new("asterisk"));
    let capture = crate::fixtures::fixture("asterisk/ari_all_events.jsonl");
    let agents = capture
        .lines()
        .filter_map(|l| match decode(l) {
            Ok(Decoded::Event(e)) => Some(c.on_message(1, l, &e)),
            _ => None,
        })
        .flatten()
        .filter_map(|e| match e.body {
            EventBody::AgentState(a) => Some(a.agent),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(agents, Vec::<String>::new());
}

/// One line of `ari_all_expected_calls.jsonl`: a call as Asterisk's CDRs tell it.
#[derive(Debug, serde::Deserialize)]
struct ExpectedCall {
    linkedid: String,
    flow: String,
    channel_ids: Vec<String>,
    caller: String,
    answered: bool,
    pbx_only: bool,
    billsec_s: Option<f64>,
}

fn expected_calls() -> Vec<ExpectedCall> {
    crate::fixtures::fixture("asterisk/ari_all_expected_calls.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How a record disagrees with the CDRs' account of its call (empty: it agrees).
fn disagreement(r: &CallRecord, want: &ExpectedCall) -> Vec<String> {
    let mut wrong = Vec::new();
    if r.caller.as_deref() != Some(want.caller.as_str()) {
        wrong.push(format!("caller {:?}, CDR {}", r.caller, want.caller));
    }
    let answered = r.disposition == Disposition::Answered;
    if !want.pbx_only && answered != want.answered {
        wrong.push(format!(
            "{} ({:?}), CDR answered={}",
            r.disposition.as_str(),
            r.hangup_cause,
            want.answered
        ));
    }
    if let (true, Some(billsec)) = (want.answered, want.billsec_s) {
        if (r.billsec_s as f64 - billsec).abs() > 1.0 {
            wrong.push(format!("billsec {} s, CDR {billsec} s", r.billsec_s));
        }
    }
    wrong
}

/// Every record of a replay against the CDRs: each call exactly one record, no record for
/// anything else, caller, answered and talk time agreeing. Returns the disagreements.
fn compare_with_cdrs(records: &[CallRecord], pbx: &str) -> Vec<String> {
    let expected = expected_calls();
    let root = |r: &CallRecord| r.call_id.trim_start_matches(&format!("{pbx}-")).to_owned();
    let mut problems = Vec::new();
    for want in &expected {
        let mine: Vec<&CallRecord> = records
            .iter()
            .filter(|r| want.channel_ids.contains(&root(r)))
            .collect();
        match mine.as_slice() {
            [r] => {
                for wrong in disagreement(r, want) {
                    problems.push(format!("{} ({}): {wrong}", want.linkedid, want.flow));
                }
            }
            _ => problems.push(format!(
                "{} ({}): {} records {:?}",
                want.linkedid,
                want.flow,
                mine.len(),
                mine.iter().map(|r| &r.call_id).collect::<Vec<_>>()
            )),
        }
    }
    for r in records {
        if !expected.iter().any(|w| w.channel_ids.contains(&root(r))) {
            problems.push(format!("a record for no call: {r:?}"));
        }
    }
    problems
}

fn whole_pbx() -> AriCorrelatorConfig {
    let mut config = AriCorrelatorConfig::new("asterisk");
    config.subscribe_all = true;
    config
}

/// The subscribe-all capture (40 calls of every flow on a live Asterisk 22) through the
/// whole-PBX correlator, checked against Asterisk's own CDRs of the same minutes.
#[test]
fn whole_pbx_records_agree_with_asterisks_cdrs() {
    let (c, events) = replay_capture(whole_pbx(), "asterisk/ari_all_events.jsonl");
    let records = records(&events);
    let problems = compare_with_cdrs(&records, "asterisk");
    for p in &problems {
        println!("{p}");
    }
    assert!(problems.is_empty(), "{} disagreements", problems.len());
    assert_eq!(records.len(), 40);
    assert_eq!(c.open_calls(), 0, "every call ended");
}
/// The AMI stream of the same minutes (`ari_all_ami_events.jsonl`: one JSON object per
/// event, the headers as keys, `_t` the arrival time in epoch seconds).
fn ami_of_the_same_minutes() -> Vec<(i64, crate::pbx::ami::codec::Message)> {
    let text = crate::fixtures::fixture("asterisk/ari_all_ami_events.jsonl");
    let mut messages = Vec::new();
    for line in text.lines() {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let ts = (map["_t"].as_f64().unwrap() * 1000.0) as i64;
        let mut headers = Vec::new();
        for (key, value) in map.into_iter().filter(|(k, _)| k != "_t") {
            let values = match value {
                serde_json::Value::Array(items) => items,
                one => vec![one],
            };
            for v in values {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                headers.push((key.clone(), text));
            }
        }
        messages.push((ts, crate::pbx::ami::codec::Message { headers }));
    }
    messages
}

fn ami_records() -> Vec<CallRecord> {
    use crate::calls::ami::{AmiCorrelator, AmiCorrelatorConfig};
    let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("asterisk"));
    let mut events = Vec::new();
    for (ts, m) in ami_of_the_same_minutes() {
        events.extend(c.tick(ts));
        events.extend(c.on_message(ts, "", &m));
    }
    records(&events)
}

/// The AMI correlator on the AMI stream of the same minutes meets the same bar.
#[test]
fn ami_of_the_same_minutes_agrees_with_asterisks_cdrs() {
    let records = ami_records();
    let problems = compare_with_cdrs(&records, "asterisk");
    for p in &problems {
        println!("{p}");
    }
    assert!(problems.is_empty(), "{} disagreements", problems.len());
}

/// What a supervisor reads of one call, whichever connector watched it.
fn summary(r: &CallRecord) -> String {
    let transfers: Vec<String> = r
        .transfers
        .iter()
        .map(|t| format!("{:?} {:?}->{:?}", t.kind, t.from, t.to))
        .collect();
    format!(
        "caller {:?} callee {:?} {} ext {:?} agent {:?} queue {:?} transfers {transfers:?}",
        r.caller,
        r.callee,
        r.disposition.as_str(),
        r.extension,
        r.agent,
        r.queue,
    )
}

/// ARI with `subscribe_all` and AMI give the same record for each call.
#[test]
fn ari_and_ami_give_the_same_record_for_each_call() {
    let (_, events) = replay_capture(whole_pbx(), "asterisk/ari_all_events.jsonl");
    let ari = records(&events);
    let ami = ami_records();
    let mut differ = Vec::new();
    for want in expected_calls() {
        let of = |records: &[CallRecord]| {
            records
                .iter()
                .find(|r| r.call_id == format!("asterisk-{}", want.linkedid))
                .cloned()
        };
        let (Some(a), Some(m)) = (of(&ari), of(&ami)) else {
            differ.push(format!("{}: missing on one side", want.linkedid));
            continue;
        };
        if summary(&a) != summary(&m) || (a.billsec_s - m.billsec_s).abs() > 1 {
            differ.push(format!(
                "{} ({}):\n  ARI {} billsec {}\n  AMI {} billsec {}",
                want.linkedid,
                want.flow,
                summary(&a),
                a.billsec_s,
                summary(&m),
                m.billsec_s
            ));
        }
    }
    for d in &differ {
        println!("{d}");
    }
    assert!(differ.is_empty(), "{} calls differ", differ.len());
}

/// What `GET /channels` and `GET /bridges` would answer after the capture's first `upto`
/// frames: each live channel's latest snapshot, each bridge with its members.
fn snapshot(frames: &[AriEvent]) -> Vec<AriEvent> {
    use std::collections::BTreeMap;
    let mut channels: BTreeMap<String, crate::pbx::ari::model::Channel> = BTreeMap::new();
    let mut bridges: BTreeMap<String, crate::pbx::ari::model::Bridge> = BTreeMap::new();
    for e in frames {
        match e {
            AriEvent::ChannelDestroyed { channel, .. } => {
                channels.remove(&channel.id);
            }
            AriEvent::BridgeCreated { bridge, .. } => {
                bridges.insert(bridge.id.clone(), bridge.clone());
            }
            AriEvent::BridgeDestroyed { bridge, .. } => {
                bridges.remove(&bridge.id);
            }
            AriEvent::ChannelEnteredBridge { bridge, .. }
            | AriEvent::ChannelLeftBridge { bridge, .. }
            | AriEvent::BridgeMerged { bridge, .. } => {
                bridges.insert(bridge.id.clone(), bridge.clone());
            }
            _ => {}
        }
        if let Some(c) = e.channel() {
            if !matches!(e, AriEvent::ChannelDestroyed { .. }) {
                channels.insert(c.id.clone(), c.clone());
            }
        }
    }
    let timestamp = String::from("2026-12-02T00:00:00.000+0000");
    channels
        .into_values()
        .map(|channel| AriEvent::ChannelStateChange {
            timestamp: timestamp.clone(),
            channel,
        })
        .chain(bridges.into_values().map(|bridge| AriEvent::BridgeCreated {
            timestamp: timestamp.clone(),
            bridge,
        }))
        .collect()
}

/// The WebSocket drops 30 s into the subscribe-all capture and comes back 10 s later with
/// the live channels and bridges: calls up across the gap go on as one record each under the
/// id they had, calls that ended in the gap are closed as ended during link loss (dated at
/// the loss), and nothing gets a record that is not a call.
#[test]
fn whole_pbx_resync_keeps_calls_across_a_gap() {
    let frames: Vec<(i64, String, AriEvent)> =
        crate::fixtures::fixture("asterisk/ari_all_events.jsonl")
            .lines()
            .filter_map(|l| match decode(l) {
                Ok(Decoded::Event(e)) => Some((timestamp_ms(e.timestamp())?, l.to_owned(), *e)),
                _ => None,
            })
            .collect();
    let t0 = frames[0].0;
    let drop_at = frames.iter().position(|f| f.0 >= t0 + 30_000).unwrap();
    let back_at = frames.iter().position(|f| f.0 >= t0 + 40_000).unwrap();
    let mut c = AriCorrelator::new(whole_pbx());
    let mut events = Vec::new();
    for (ts, raw, e) in &frames[..drop_at] {
        events.extend(c.tick(*ts));
        events.extend(c.on_message(*ts, raw, e));
    }
    let open_before: Vec<String> = events
        .iter()
        .filter(|e| e.kind() == "call.started")
        .filter_map(|e| e.call_id.clone())
        .filter(|id| !records(&events).iter().any(|r| &r.call_id == id))
        .collect();
    let lost = frames[drop_at - 1].0 + 1;
    c.link_lost(lost);
    let (back, _, _) = &frames[back_at];
    let live: Vec<AriEvent> = snapshot(
        &frames[..back_at]
            .iter()
            .map(|f| f.2.clone())
            .collect::<Vec<_>>(),
    );
    events.extend(c.resync(back - 100, *back, &live));
    for (ts, raw, e) in &frames[back_at..] {
        events.extend(c.tick(*ts));
        events.extend(c.on_message(*ts, raw, e));
    }
    let all = records(&events);
    assert_eq!(c.open_calls(), 0, "every call ended");
    let mut ids: Vec<&str> = all.iter().map(|r| r.call_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "one record per call");
    let expected = expected_calls();
    for r in &all {
        let root = r.call_id.trim_start_matches("asterisk-");
        assert!(
            expected
                .iter()
                .any(|w| w.channel_ids.iter().any(|c| c == root)),
            "a record for no call: {r:?}"
        );
    }
    let ended_unseen: Vec<&CallRecord> = all
        .iter()
        .filter(|r| r.hangup_cause.as_deref() == Some("ended during link loss"))
        .collect();
    assert!(!ended_unseen.is_empty(), "some calls ended in the gap");
    for r in &ended_unseen {
        assert_eq!(r.ended_at, lost, "{r:?}");
    }
    assert!(!open_before.is_empty());
    for id in &open_before {
        assert_eq!(
            all.iter().filter(|r| &r.call_id == id).count(),
            1,
            "{id} open at the drop has one record"
        );
    }
    let across = open_before
        .iter()
        .filter(|id| all.iter().any(|r| &r.call_id == *id && r.ended_at > *back))
        .count();
    assert!(across > 0, "some calls were up across the gap");
}
