use super::*;
use crate::calls::{CallRecord, Direction, Disposition, EventBody};
use crate::pbx::ari::model::{captured_events, decode, timestamp_ms, Decoded};

/// The application's capture through the correlator, each event at its own Asterisk time.
fn replay() -> (AriCorrelator, Vec<CallEvent>) {
    let text = crate::fixtures::fixture("asterisk/ari_events.jsonl");
    assert_eq!(
        captured_events(&text).count(),
        text.lines().count(),
        "every frame decodes"
    );
    replay_capture(
        AriCorrelatorConfig::new("asterisk"),
        "asterisk/ari_events.jsonl",
    )
}

fn replay_capture(config: AriCorrelatorConfig, capture: &str) -> (AriCorrelator, Vec<CallEvent>) {
    let mut c = AriCorrelator::new(config);
    let mut events = Vec::new();
    let text = crate::fixtures::fixture(capture);
    for (ts, line, e) in captured_events(&text) {
        events.extend(c.tick(ts));
        events.extend(c.on_message(ts, line, &e));
    }
    (c, events)
}

fn records(events: &[CallEvent]) -> Vec<CallRecord> {
    events
        .iter()
        .filter_map(CallEvent::record)
        .cloned()
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

        /// Either capture, either mode: no panic, and whatever the frames say, a call ends
        /// at most once, nothing about it follows its end, and it does not end before it began.
        #[test]
        fn shaped_frames_never_panic_from_wire_to_call(
            whole in any::<bool>(),
            start in 0usize..3_900,
            count in 1usize..200,
            picks in json_picks(),
        ) {
            let (file, mut config) = if whole {
                ("asterisk/ari_all_events.jsonl", AriCorrelatorConfig::new("fuzz"))
            } else {
                ("asterisk/ari_events.jsonl", AriCorrelatorConfig::new("fuzz"))
            };
            config.subscribe_all = whole;
            let capture = crate::fixtures::fixture(file);
            let lines: Vec<&str> = capture.lines().collect();
            let start = start % lines.len();
            let mut picks = picks.into_iter().cycle();
            let mut correlator = AriCorrelator::new(config);
            let mut live = Vec::new();
            let mut events = Vec::new();
            // The capture's own pace, however the timestamps are mangled: never backwards,
            // at most ten seconds a frame.
            let mut ts = lines
                .iter()
                .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["timestamp"].as_str().and_then(timestamp_ms))
                .unwrap_or_default();
            for line in lines.iter().skip(start).take(count) {
                let Ok(mut frame) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                mutate_json(&mut frame, &mut picks);
                let text = frame.to_string();
                if let Ok(Decoded::Event(e)) = decode(&text) {
                    ts = timestamp_ms(e.timestamp()).map_or(ts, |t| t.clamp(ts, ts + 10_000));
                    events.extend(correlator.tick(ts));
                    events.extend(correlator.on_message(ts, &text, &e));
                    live.push(*e);
                }
            }
            events.extend(correlator.resync(ts, ts + 1, &live));
            correlator.link_lost(ts + 2);
            events.extend(correlator.tick(ts + 86_400_000));
            let mut ended = std::collections::HashSet::new();
            for e in &events {
                let Some(id) = &e.call_id else { continue };
                prop_assert!(!ended.contains(id), "{} after the end of {id}", e.kind());
                if let Some(r) = e.record() {
                    prop_assert!(r.ended_at >= r.started_at, "{r:?}");
                    ended.insert(id.clone());
                }
            }
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

/// Per phone over the subscribe-all capture, counted by hand from the same session's AMI
/// events (`ari_all_ami_events.jsonl`: each `DialBegin`'s destination and whether its
/// `DialEnd` said `ANSWER`): calls that rang it, answered there, missed (nobody answered:
/// three busy calls at 210, three noanswer at 211, three abandoned in the overflow queue at
/// 390, and the sales-queue caller who gave up while 303 rang). The failed dials to 212 are
/// offered but not missed: the call failed, nobody could have answered. The queue rang 390
/// twice in two of its calls: two offers in the record, one call in the counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_calls_count_for_every_phone_they_rang() {
    let mut config = AriCorrelatorConfig::new("pbx");
    config.subscribe_all = true;
    let (_, events) = replay_capture(config, "asterisk/ari_all_events.jsonl");
    let records = records(&events);
    let abandoned: Vec<Vec<&str>> = records
        .iter()
        .filter(|r| r.callee.as_deref() == Some("abandon"))
        .map(|r| r.rang.iter().map(|o| o.extension.as_str()).collect())
        .collect();
    assert_eq!(
        abandoned,
        [vec!["390"], vec!["390", "390"], vec!["390", "390"]]
    );
    let counts = crate::store::test_support::agent_counts_of(events).await;
    #[rustfmt::skip]
    let expected = [
        ("202", 3, 3, 0), ("203", 3, 3, 0), ("204", 2, 2, 0), ("206", 2, 2, 0),
        ("207", 3, 3, 0), ("208", 2, 2, 0), ("209", 1, 1, 0), ("210", 3, 0, 3),
        ("211", 3, 0, 3), ("212", 3, 0, 0), ("301", 3, 3, 0), ("302", 2, 2, 0),
        ("303", 3, 0, 1), ("304", 2, 2, 0), ("305", 1, 1, 0), ("306", 1, 1, 0),
        ("390", 3, 0, 3),
    ]
    .map(|(who, calls, answered, missed)| (who.to_owned(), calls, answered, missed));
    assert_eq!(counts, expected);
}
