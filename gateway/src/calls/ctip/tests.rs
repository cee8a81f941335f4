//! Tests of the CTIP correlator (compiled only under #[cfg(test)]).

use super::*;
use crate::pbx::ctip::codec::{parse, CodePage, Frame, FrameDecoder};

/// Replays `tsv` lines (`rx_ts<TAB>line`), ticking the clock before each, as the session does.
fn replay(correlator: &mut CtipCorrelator, lines: &[(i64, String)]) -> Vec<CallEvent> {
    let mut events = Vec::new();
    for (ts, line) in lines {
        events.extend(correlator.tick(*ts));
        let mut d = FrameDecoder::new();
        d.push(line.as_bytes());
        d.push(b"\n");
        let Some(Frame::Message(bytes)) = d.next_frame() else {
            panic!("{line}")
        };
        let msg = parse(&CodePage::ibm852().decode(&bytes)).expect("parses");
        events.extend(correlator.on_message(*ts, line, &msg));
    }
    events
}

fn timed_stream() -> Vec<(i64, String)> {
    let text = crate::fixtures::fixture("ctip/raw_stream_anon_timed.tsv");
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"
    );
    text.lines()
        .skip(1)
        .map(|l| {
            let (ts, line) = l.split_once('\t').expect("tab");
            let local = ts.trim_end_matches("+02");
            let t = time::PrimitiveDateTime::parse(local, format)
                .or_else(|_| time::PrimitiveDateTime::parse(&format!("{local}.0"), format))
                .expect("timestamp")
                .assume_offset(time::macros::offset!(+2));
            (
                (t.unix_timestamp_nanos() / 1_000_000) as i64,
                line.to_owned(),
            )
        })
        .collect()
}

fn ended(events: &[CallEvent]) -> Vec<&CallRecord> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CallEnded(r) => Some(r.as_ref()),
            _ => None,
        })
        .collect()
}

fn rang(events: &[CallEvent], call_id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.call_id.as_deref() == Some(call_id))
        .filter_map(|e| match &e.body {
            EventBody::CallRinging(r) => Some(r.extension.clone()),
            _ => None,
        })
        .collect()
}

/// caller, callee, direction, who answered, disposition, talk seconds, extensions rung.
type ExpectedCall = (
    &'static str,
    &'static str,
    Direction,
    Option<&'static str>,
    Disposition,
    i64,
    Vec<&'static str>,
);

/// Lines 1-150 of the real NCP stream, read by hand. Each row: caller, callee, direction,
/// who answered, disposition, talk seconds (from the millisecond arrival times, truncated),
/// extensions rung. In the order the calls END.
#[test]
fn the_first_150_real_lines_make_these_calls() {
    use Direction::*;
    use Disposition::*;
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("ncp"));
    let lines = timed_stream();
    let events = replay(&mut c, &lines[..150]);
    let six = ["101", "102", "103", "104", "105", "109"];
    #[rustfmt::skip]
    let expected: Vec<ExpectedCall> = vec![
        // L1-4: an outside call to DDI 517471313 rings 105 only, 105 answers (L3), hangs up 5 s later.
        ("351148054", "517471313", Inbound, Some("105"), Answered, 5, vec!["105"]),
        // L5-10 (2 Sep 16:07): a hunt-group call rings six phones and the capture never got
        // its RELs. The ring timeout closes it as no-answer; it must NOT merge with the same
        // caller's call the next morning.
        ("902151047", "517471313", Inbound, None, NoAnswer, 0, six.to_vec()),
        // L11-28 (3 Sep 08:01): the same caller again, six phones ring, 101 answers (L18), the
        // others get REL 39 (picked up elsewhere: not missed), 101 hangs up at 08:04:00.
        ("902151047", "517471313", Inbound, Some("101"), Answered, 141, six.to_vec()),
        // L29-33: internal 101 dials /109, 109 rings, nobody answers, both release.
        ("101", "/109", Internal, None, NoAnswer, 0, vec!["109"]),
        // L34-38: the same again.
        ("101", "/109", Internal, None, NoAnswer, 0, vec!["109"]),
        // L39-56: outside call to DDI 388615049, six phones, 101 answers 09:07:57, ends 09:09:53.
        ("552857806", "388615049", Inbound, Some("101"), Answered, 115, six.to_vec()),
        // L57-70: the group overflows: 104 and 109 ring at 09:21:12, 101/102/103 eight
        // seconds later; still one call. 101 answers and hangs up in the same second.
        ("851131539", "388615049", Inbound, Some("101"), Answered, 0, vec!["104", "109", "101", "102", "103"]),
        // L71-85: the same caller on the other DDI, six phones, all REL 1 after 10 s:
        // the caller gave up.
        ("851131539", "517471313", Inbound, None, NoAnswer, 0, six.to_vec()),
        // L86-92: internal 109 -> /101, 101 answers (CONN on both sides), 7 s.
        ("109", "/101", Internal, Some("101"), Answered, 6, vec!["101"]),
        // L111-113: while 101 talks (call of L93), 109 dials /101 and gets REL 17: busy.
        ("109", "/101", Internal, None, Busy, 0, vec![]),
        // L93-114: outside call, six phones, 101 answers 09:36:47, hangs up 09:39:49.
        ("167075318", "388615049", Inbound, Some("101"), Answered, 181, six.to_vec()),
        // L115-121: internal 109 -> /101 answered, 12 s.
        ("109", "/101", Internal, Some("101"), Answered, 11, vec!["101"]),
        // L122-139: outside call, six phones, 101 answers 09:44:03, ends 09:45:53.
        ("851131539", "388615049", Inbound, Some("101"), Answered, 110, six.to_vec()),
    ];
    let records = ended(&events);
    for r in &records {
        // The record's `rang` names the phones its `call.ringing` events did, in order, and
        // only the one who answered is marked so.
        let mut legs = rang(&events, &r.call_id);
        legs.dedup();
        let offered: Vec<String> = r.rang.iter().map(|o| o.extension.clone()).collect();
        assert_eq!(offered, legs, "{}", r.call_id);
        let answered: Vec<&str> = r
            .rang
            .iter()
            .filter(|o| o.answered)
            .map(|o| o.extension.as_str())
            .collect();
        assert_eq!(
            answered,
            r.extension.as_deref().into_iter().collect::<Vec<_>>()
        );
        assert!(r.rang.iter().all(|o| o.ring_ms >= 0
            && o.rang_at >= r.started_at
            && o.rang_at + o.ring_ms <= r.ended_at));
    }
    let got: Vec<_> = records
        .iter()
        .map(|r| {
            let legs: Vec<String> = r.rang.iter().map(|o| o.extension.clone()).collect();
            (
                r.caller.clone().unwrap_or_default(),
                r.callee.clone().unwrap_or_default(),
                r.direction,
                r.extension.clone(),
                r.disposition,
                r.billsec_s,
                legs,
            )
        })
        .collect();
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(a, b, d, x, disp, bill, legs)| {
            (
                a.to_owned(),
                b.to_owned(),
                d,
                x.map(str::to_owned),
                disp,
                bill,
                legs.into_iter().map(str::to_owned).collect::<Vec<_>>(),
            )
        })
        .collect();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "call #{} ({})", i + 1, records[i].call_id);
    }
    assert_eq!(got.len(), expected.len());
    // L140-150: an outside call answered by 101 at 10:13:50 is still going at line 150.
    assert_eq!(c.open_calls(), 1);
    // Every event carries its raw line, except those the clock made (ring timeout).
    assert!(events
        .iter()
        .filter(|e| e.raw.is_none())
        .all(|e| e.call_id.as_deref() == Some(records[1].call_id.as_str())));
}

#[test]
fn the_whole_real_stream_leaves_nothing_open_forever() {
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("ncp"));
    let lines = timed_stream();
    let events = replay(&mut c, &lines);
    let last = lines.last().map(|l| l.0).unwrap_or(0);
    let after = c.tick(last + 24 * 3_600_000);
    assert_eq!(c.open_calls(), 0, "calls left open");
    let records = ended(&events);
    // No call row per ringing phone: far fewer calls than RING lines (308).
    assert!(records.len() < 120, "{} calls", records.len());
    let started = events
        .iter()
        .filter(|e| matches!(e.body, EventBody::CallStarted(_)))
        .count();
    assert_eq!(started, records.len() + ended(&after).len());
    // Keypad dialling (one ECHO per digit) never yields one-digit calls. The only one-digit
    // calls are real failed dials: lines 772, 808 and 1038 (`ECHO 105_ 0` or `9`, then
    // `REL 105_ 15`, invalid number).
    let short: Vec<_> = records
        .iter()
        .filter(|r| r.callee.as_deref().is_some_and(|n| n.len() <= 1))
        .collect();
    assert_eq!(short.len(), 3, "one-digit calls: {short:#?}");
    assert!(short.iter().all(|r| r.disposition == Disposition::Failed
        && r.hangup_cause.as_deref() == Some("15 (invalid number)")));
}

fn msg(line: &str) -> Message {
    parse(line).expect(line)
}

fn feed(c: &mut CtipCorrelator, script: &[(i64, &str)]) -> Vec<CallEvent> {
    let mut out = Vec::new();
    for (ts, line) in script {
        out.extend(c.tick(*ts));
        out.extend(c.on_message(*ts, line, &msg(line)));
    }
    out
}

#[test]
fn keypad_dialling_is_one_outgoing_call_with_the_whole_number() {
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
    let mut script = vec![(0, "STAT 101_ H f d l a p c q")];
    for (i, d) in ["0", "6", "0", "1", "2", "3", "4", "5", "6", "7"]
        .iter()
        .enumerate()
    {
        script.push((
            1000 + i as i64 * 500,
            Box::leak(format!("ECHO 101_ {d}").into_boxed_str()),
        ));
    }
    script.push((9000, "CONN 101_ 0601234567 0"));
    script.push((69000, "REL 101_ 1"));
    let events = feed(&mut c, &script);
    let records = ended(&events);
    assert_eq!(records.len(), 1);
    let r = records[0];
    assert_eq!(
        (r.direction, r.callee.as_deref(), r.disposition, r.billsec_s),
        (
            Direction::Outbound,
            Some("0601234567"),
            Disposition::Answered,
            60
        )
    );
    assert_eq!(r.started_at, 1000, "dated at the first digit");
    let started: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CallStarted(s) => Some(s.callee.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started, [Some("0601234567".to_owned())]);
}

#[test]
fn rel_causes_give_the_disposition() {
    for (cause, want) in [
        (17, Disposition::Busy),
        (15, Disposition::Failed),
        (18, Disposition::Failed),
        (16, Disposition::Rejected),
        (35, Disposition::NoAnswer),
        (1, Disposition::NoAnswer),
    ] {
        let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
        let rel = format!("REL 101_ {cause}");
        let events = feed(&mut c, &[(0, "ECHO 101_ 0601234567"), (3000, &rel)]);
        assert_eq!(ended(&events)[0].disposition, want, "cause {cause}");
        assert!(ended(&events)[0]
            .hangup_cause
            .as_deref()
            .unwrap()
            .starts_with(&cause.to_string()));
    }
}

#[test]
fn blind_transfer_with_recall_stays_one_call() {
    // Shaped on lines 924-933 of the real stream.
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
    let events = feed(
        &mut c,
        &[
            (0, "RING 101_ 600100200 0 517471313 _ 600100200"),
            (2_000, "CONN 101_ 600100200 0"),
            (30_000, "ECHO 101_ /"),
            (31_000, "ECHO 101_ 1"),
            (31_500, "ECHO 101_ 0"),
            (32_000, "ECHO 101_ 9"),
            (33_000, "RING 109_ 600100200 0 /109 /101 _"),
            (34_000, "REL 101_ 1"),
            (74_000, "REL 109_ 1"),
            (75_000, "RING 101_ 600100200 0 517471313 _ 600100200"),
            (80_000, "CONN 101_ 600100200 0"),
            (140_000, "REL 101_ 1"),
        ],
    );
    let records = ended(&events);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = records[0];
    assert_eq!(r.disposition, Disposition::Answered);
    assert_eq!(r.holds, 1);
    assert_eq!(r.transfers.len(), 1);
    assert_eq!(r.transfers[0].kind, TransferKind::Blind);
    assert_eq!(
        (r.transfers[0].from.as_deref(), r.transfers[0].to.as_deref()),
        (Some("101"), Some("109"))
    );
    assert_eq!(r.duration_s, 140);
    assert!(events
        .iter()
        .any(|e| matches!(e.body, EventBody::CallTransferred(_))));
}

#[test]
fn attended_transfer_is_one_call_answered_by_the_target() {
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
    let events = feed(
        &mut c,
        &[
            (0, "RING 101_ 600100200 0 517471313 _ _"),
            (1_000, "CONN 101_ 600100200 0"),
            (10_000, "ECHO 101_ /"),
            (11_000, "ECHO 101_ 109"),
            (12_000, "RING 109_ 600100200 0 /109 /101 _"),
            (15_000, "CONN 109_ 600100200 0"),
            (20_000, "REL 101_ 1"),
            (80_000, "REL 109_ 1"),
        ],
    );
    let r = ended(&events)[0];
    assert_eq!(
        (r.extension.as_deref(), r.transfers[0].kind),
        (Some("109"), TransferKind::Attended)
    );
    assert_eq!(
        r.billsec_s, 79,
        "talk time counts from the first person who answered"
    );
}

#[test]
fn ivr_map_gives_the_digit_and_a_dtmf_event() {
    let mut config = CtipCorrelatorConfig::new("p");
    config.ivr_map.insert("999".into(), "9".into());
    let mut c = CtipCorrelator::new(config);
    let events = feed(
        &mut c,
        &[
            (0, "RING 999_ 351148054 0 517471313 _ Person_01"),
            (5_000, "REL 999_ 1"),
        ],
    );
    assert_eq!(ended(&events)[0].ivr_digits.as_deref(), Some("9"));
    assert!(events
        .iter()
        .any(|e| matches!(&e.body, EventBody::CallDtmf(d) if d.digit == "9")));
}

#[test]
fn a_lost_link_ends_every_open_call() {
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
    feed(
        &mut c,
        &[
            (0, "RING 101_ 1 0 2 _ _"),
            (0, "RING 102_ 3 0 2 _ _"),
            (1_000, "CONN 102_ 3 0"),
        ],
    );
    let events = c.link_lost(61_000);
    let records = ended(&events);
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|r| r.disposition == Disposition::LinkLost && r.ended_at == 61_000));
    assert_eq!(c.open_calls(), 0);
}

#[test]
fn orphan_rel_and_events_without_calls_are_counted_not_fatal() {
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
    let events = feed(
        &mut c,
        &[
            (0, "REL 999_ 1"),
            (0, "STAT 101_ h f d l a p c q"),
            (0, "DRDY 101_"),
        ],
    );
    assert!(events.is_empty());
    assert_eq!(c.orphans, 1);
}

/// The Slican's recording (RECB at the answer, RECE up to a minute after the call): the record
/// carries the PBX's recording id, and the file's place arrives as a `call.recording` for the
/// ended call; a cancelled recording (RECC) leaves the record without one; a RECE for no call
/// the correlator knows is counted, not fatal.
#[test]
fn a_recorded_call_carries_its_recording_id_and_then_its_file() {
    let recording = |events: &[CallEvent]| -> Vec<(Option<String>, String, bool)> {
        events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::CallRecording(r) => Some((e.call_id.clone(), r.file.clone(), r.active)),
                _ => None,
            })
            .collect()
    };
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
    let events = feed(
        &mut c,
        &[
            (0, "RING 101_ 600100200 0 517471313 _ 600100200"),
            (2_000, "CONN 101_ 600100200 0"),
            (2_000, "RECB 101_ 123456700"),
            (60_000, "REL 101_ 16"),
            (
                85_000,
                "RECE 101_ 123456700 192.168.0.1 Nagrania/2026/rozmowa.wav",
            ),
        ],
    );
    let record = ended(&events)[0].clone();
    assert_eq!(record.recording.as_deref(), Some("123456700"));
    let id = Some(record.call_id.clone());
    assert_eq!(
        recording(&events),
        [
            (id.clone(), "123456700".to_owned(), true),
            (
                id,
                "ftp://192.168.0.1/Nagrania/2026/rozmowa.wav".to_owned(),
                false
            )
        ]
    );

    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
    let events = feed(
        &mut c,
        &[
            (0, "RING 101_ 600100200 0 517471313 _ 600100200"),
            (2_000, "CONN 101_ 600100200 0"),
            (2_000, "RECB 101_ 123456800"),
            (9_000, "RECC 101_ 123456800"),
            (60_000, "REL 101_ 16"),
            (61_000, "RECE 101_ 999999900 192.168.0.1 x.wav"),
        ],
    );
    assert_eq!(ended(&events)[0].recording, None);
    assert_eq!(recording(&events).len(), 2, "begun and cancelled");
    assert_eq!(c.orphans, 1, "the RECE nobody knows");
}

/// The Slican advises the running charge of an outbound call (AOC, gross, on every change):
/// the record carries the last one with the configured currency; a charge for an extension
/// with no call, or an amount that is not a decimal, is counted and dropped.
#[test]
fn an_outbound_call_carries_what_it_cost() {
    let mut config = CtipCorrelatorConfig::new("p");
    config.currency = "EUR".into();
    let mut c = CtipCorrelator::new(config);
    let mut script = vec![(0, "STAT 101_ H f d l a p c q")];
    for (i, d) in ["0", "6", "0", "1", "2", "3", "4", "5", "6", "7"]
        .iter()
        .enumerate()
    {
        let line = Box::leak(format!("ECHO 101_ {d}").into_boxed_str());
        script.push((1000 + i as i64 * 500, &*line));
    }
    script.extend([
        (9_000, "CONN 101_ 0601234567 0"),
        (20_000, "AOC 101_ 0.38"),
        (40_000, "AOC 101_ 0,76"),
        (41_000, "AOC 101_ lots"),
        (42_000, "AOC 102_ 1.00"),
        (69_000, "AOC 101_ 1.14"),
        (69_000, "REL 101_ 16"),
    ]);
    let events = feed(&mut c, &script);
    let record = ended(&events)[0].clone();
    assert_eq!(record.direction, Direction::Outbound);
    assert_eq!(
        record.charge,
        Some(crate::calls::Charge {
            amount: "1.14".into(),
            currency: "EUR".into()
        })
    );
    assert_eq!(
        c.orphans, 2,
        "the amount that is not one, the phone with no call"
    );

    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("p"));
    let events = feed(
        &mut c,
        &[
            (0, "RING 101_ 600100200 0 517471313 _ 600100200"),
            (2_000, "CONN 101_ 600100200 0"),
            (60_000, "REL 101_ 16"),
        ],
    );
    assert_eq!(ended(&events)[0].charge, None, "no AOC, no charge");
}

/// The supervisor's counts for the calls of lines 1-150 (the table of
/// `the_first_150_real_lines_make_these_calls`), counted by hand: per phone, the calls that
/// rang it, those it answered, and those nobody answered (the hunt-group call of 2 Sep and
/// the caller who gave up at L71-85 rang all six; 109 also missed 101's two internal calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_calls_count_for_every_phone_they_rang() {
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("ncp"));
    let events = replay(&mut c, &timed_stream()[..150]);
    let counts = crate::store::test_support::agent_counts_of(events).await;
    let expected = [
        ("101", 9, 7, 2),
        ("102", 7, 0, 2),
        ("103", 7, 0, 2),
        ("104", 7, 0, 2),
        ("105", 7, 1, 2),
        ("109", 9, 0, 4),
    ]
    .map(|(who, calls, answered, missed)| (who.to_owned(), calls, answered, missed));
    assert_eq!(counts, expected);
}

/// The IVR of the capture: extension 999 (the real IVR map sent digit 9 there) rang for three
/// calls from 351148054 on 5 Sep (lines 1049-1054) and nobody answered. A rule for digit 9 at
/// extension 999 texts the caller for each: the call reached 999 by ringing it, and that is
/// enough (it used to need an answer there, so this rule never fired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ivr_rule_for_its_extension_fires_on_the_unanswered_ivr_calls() {
    use crate::config::{RuleTrigger, SmsConfig, SmsRule};
    let mut config = CtipCorrelatorConfig::new("ncp");
    config.ivr_map = [("999".to_owned(), "9".to_owned())].into();
    let mut c = CtipCorrelator::new(config);
    let mut events = replay(&mut c, &timed_stream());
    events.extend(c.tick(i64::MAX / 2));
    let ivr_calls: Vec<(Disposition, Vec<String>)> = ended(&events)
        .iter()
        .filter(|r| r.ivr_digits.as_deref() == Some("9"))
        .map(|r| {
            (
                r.disposition,
                r.rang.iter().map(|o| o.extension.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        ivr_calls,
        vec![(Disposition::NoAnswer, vec!["999".to_owned()]); 3]
    );
    let sms = SmsConfig {
        cooldown_s: 0,
        rules: vec![SmsRule {
            name: Some("ivr9".into()),
            on: RuleTrigger::IvrDigit,
            digit: Some("9".into()),
            extension: Some("999".into()),
            text: "Oddzwonimy, {caller}.".into(),
            mobile_only: false,
        }],
        ..SmsConfig::default()
    };
    let hook = crate::sms::SmsHook {
        rules: std::sync::Arc::new(crate::sms::LiveRules::new(
            crate::sms::rules::SmsRules::new(sms),
        )),
        wake: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    crate::store::test_support::stored_with(dir.path(), events, Some(std::sync::Arc::new(hook)))
        .await;
    let conn = rusqlite::Connection::open(dir.path().join("pbxgw.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT destination, text FROM sms_out ORDER BY id")
        .unwrap();
    let texts: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = (
        "+48351148054".to_owned(),
        "Oddzwonimy, 351148054.".to_owned(),
    );
    assert_eq!(texts, vec![expected; 3]);
}

/// Two outside callers of lines 1-150 were missed and got through later: 902151047 (the
/// unanswered hunt-group call of 2 Sep 16:07, answered by 101 when it called again the next
/// morning) and 851131539 (gave up at L71-85, answered by 101 at L122-139). Each is closed
/// by that call, with the time from the miss to that answer; the internal calls 109 missed
/// are nobody's callback to make.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_callers_are_closed_by_their_next_answered_call() {
    use crate::store::{ClosedBy, MissedCaller};
    let mut c = CtipCorrelator::new(CtipCorrelatorConfig::new("ncp"));
    let events = replay(&mut c, &timed_stream()[..150]);
    let records: Vec<CallRecord> = ended(&events).into_iter().cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let reader = crate::store::test_support::stored(dir.path(), events).await;
    let plan = crate::config::SmsConfig::default().plan();
    let got = reader.missed_callers(0, i64::MAX, &plan).unwrap();
    let closed = |missed: &CallRecord, by: &CallRecord| MissedCaller {
        number: missed.caller.clone().unwrap(),
        caller_name: None,
        tries: 1,
        first_missed_ms: missed.started_at,
        last_missed_ms: missed.started_at,
        call_ids: vec![missed.call_id.clone()],
        callback: Some(crate::store::Callback {
            call_id: by.call_id.clone(),
            how: ClosedBy::CalledAgain,
            at_ms: by.answered_at.unwrap(),
            after_ms: by.answered_at.unwrap() - missed.started_at,
        }),
    };
    // Newest first: call #8 closed by #13, then #2 closed by #3 (the table's numbering).
    assert_eq!(
        got,
        vec![
            closed(&records[7], &records[12]),
            closed(&records[1], &records[2])
        ]
    );
    // The store said so as the closing calls ended: one callback.closed each, stored with
    // (after) that call.ended, about that call, with the same figures.
    let log = reader.events_after(0, 100_000).unwrap();
    let announced: Vec<(u64, crate::calls::CallbackClosed)> = log
        .iter()
        .filter_map(|e| match &e.body {
            Ok(EventBody::CallbackClosed(c)) => Some((e.seq, c.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(announced.len(), 2, "{announced:?}");
    for ((seq, event), view) in announced.iter().zip([&got[1], &got[0]]) {
        let callback = view.callback.as_ref().unwrap();
        assert_eq!(
            (
                &event.number,
                &event.missed_call_ids,
                event.how,
                event.after_ms,
                event.answered_ms
            ),
            (
                &view.number,
                &view.call_ids,
                callback.how,
                callback.after_ms,
                callback.at_ms
            )
        );
        let closing = log
            .iter()
            .find(|e| e.kind == "call.ended" && e.call_id.as_ref() == Some(&callback.call_id))
            .unwrap();
        assert!(closing.seq < *seq);
        let this = log.iter().find(|e| e.seq == *seq).unwrap();
        assert_eq!(this.call_id.as_ref(), Some(&callback.call_id));
    }
    let callbacks = reader.report(0, i64::MAX, 20, &plan).unwrap().callbacks;
    let wait = |i: usize| got[i].callback.as_ref().unwrap().after_ms;
    assert_eq!(
        (
            callbacks.missed_callers,
            callbacks.closed,
            callbacks.open,
            callbacks.avg_wait_ms
        ),
        (2, 2, 0, ((wait(0) + wait(1)) / 2) as u64)
    );
    let waited = got[1].callback.as_ref().unwrap().after_ms;
    assert!(
        (15 * 3_600_000..17 * 3_600_000).contains(&waited),
        "{waited}"
    );
    // A range that ends before the second try sees the same two misses; one that starts
    // after them sees none.
    assert_eq!(
        reader
            .missed_callers(0, records[8].started_at, &plan)
            .unwrap()
            .len(),
        2
    );
    let later = records[12].ended_at;
    assert!(reader
        .missed_callers(later, i64::MAX, &plan)
        .unwrap()
        .is_empty());
}
