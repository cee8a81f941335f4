//! Tests of the AMI codec (compiled only under #[cfg(test)]).

use std::collections::BTreeMap;

use super::*;
use crate::fixtures::{fixture, fixture_bytes};

/// Replays the capture with the real TCP segmentation from `ami_session.chunks.jsonl`.
fn replay_capture() -> Vec<Decoded> {
    let raw = fixture_bytes("asterisk/ami_session.raw");
    let chunks = fixture("asterisk/ami_session.chunks.jsonl");
    let mut d = Decoder::new();
    let mut out = Vec::new();
    let mut fed = 0;
    for line in chunks.lines() {
        let c: serde_json::Value = serde_json::from_str(line).expect("chunk json");
        if c["dir"] != "rx" {
            continue;
        }
        let (off, len) = (
            c["off"].as_u64().unwrap() as usize,
            c["len"].as_u64().unwrap() as usize,
        );
        assert_eq!(off, fed, "chunks cover the capture in order");
        d.push(&raw[off..off + len]);
        fed += len;
        while let Some(m) = d.next_decoded() {
            out.push(m);
        }
    }
    assert_eq!(fed, raw.len());
    out
}

#[test]
fn every_message_of_the_real_capture_decodes_with_its_real_chunking() {
    let decoded = replay_capture();
    assert_eq!(
        decoded[0],
        Decoded::Banner("Asterisk Call Manager/11.0.0".into())
    );
    let messages: Vec<&Message> = decoded[1..]
        .iter()
        .map(|d| match d {
            Decoded::Message(m) => m,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(messages.len(), 3849);
    let mut events: BTreeMap<&str, usize> = BTreeMap::new();
    let mut responses: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &messages {
        match (m.event(), m.response()) {
            (Some(e), None) => *events.entry(e).or_default() += 1,
            (None, Some(r)) => *responses.entry(r).or_default() += 1,
            other => panic!("neither event nor response: {other:?} {m:?}"),
        }
    }
    // OriginateResponse events carry a Response header and are still events.
    assert_eq!(events["OriginateResponse"], 35);
    // The README's counts of the same capture.
    assert_eq!(events.values().sum::<usize>(), 3830);
    assert_eq!(events.len(), 65);
    for (kind, n) in [
        ("VarSet", 1099),
        ("Newexten", 475),
        ("Cdr", 120),
        ("DTMFEnd", 37),
        ("Hangup", 152),
        ("AttendedTransfer", 2),
    ] {
        assert_eq!(events[kind], n, "{kind}");
    }
    assert_eq!(
        responses,
        BTreeMap::from([("Error", 2), ("Goodbye", 1), ("Success", 16)])
    );
}

#[test]
fn the_capture_pitfalls() {
    let decoded = replay_capture();
    let messages: Vec<&Message> = decoded
        .iter()
        .filter_map(|d| match d {
            Decoded::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    // List items have no Privilege.
    let item = messages
        .iter()
        .find(|m| m.event() == Some("CoreShowChannel"))
        .unwrap();
    assert_eq!(item.get("Privilege"), None);
    assert!(item.action_id().is_some());
    // Repeated Output keys of the Command response are all kept, in order.
    let command = messages
        .iter()
        .find(|m| m.get_all("Output").count() > 1)
        .expect("a Command response");
    assert!(command.get_all("Output").count() >= 2);
    // Empty values and <unknown>.
    assert!(messages.iter().any(|m| m.get("AccountCode") == Some("")));
    assert!(messages
        .iter()
        .any(|m| m.get("CallerIDNum") == Some("<unknown>")));
    // Keys compare case-insensitively.
    assert_eq!(messages[0].get("actionid"), messages[0].action_id());
    // Raw form round-trips through the decoder.
    let m = messages
        .iter()
        .find(|m| m.event() == Some("Hangup"))
        .unwrap();
    let mut d = Decoder::without_banner();
    d.push(m.to_raw().as_bytes());
    d.push(b"\r\n");
    assert_eq!(d.next_decoded(), Some(Decoded::Message((*m).clone())));
}

#[test]
fn the_failed_login_capture() {
    let mut d = Decoder::new();
    d.push(&fixture_bytes("asterisk/ami_login_fail.raw"));
    assert!(matches!(d.next_decoded(), Some(Decoded::Banner(_))));
    let Some(Decoded::Message(m)) = d.next_decoded() else {
        panic!()
    };
    assert_eq!(
        (m.response(), m.get("Message")),
        (Some("Error"), Some("Authentication failed"))
    );
}

#[test]
fn split_at_every_byte_bare_lf_and_stray_blank_lines() {
    let wire = b"Asterisk Call Manager/11.0.0\r\nEvent: A\r\nX: 1\r\n\r\n\r\nEvent: B\nY:\n\nResponse: Success\r\nOutput: a: b\r\nOutput: c\r\nraw line\r\n\r\n";
    for split in 0..wire.len() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for part in [&wire[..split], &wire[split..]] {
            d.push(part);
            while let Some(m) = d.next_decoded() {
                out.push(m);
            }
        }
        assert_eq!(out.len(), 4, "split at {split}: {out:?}");
        let Decoded::Message(b) = &out[2] else {
            panic!()
        };
        assert_eq!(b.get("Y"), Some(""));
        let Decoded::Message(r) = &out[3] else {
            panic!()
        };
        assert_eq!(r.get_all("Output").collect::<Vec<_>>(), ["a: b", "c"]);
        assert_eq!(
            r.headers.last().unwrap(),
            &(String::new(), "raw line".to_owned())
        );
    }
}

#[test]
fn an_oversized_message_is_dropped_and_the_stream_resynchronizes() {
    let mut d = Decoder::without_banner();
    let big = format!("Event: Big\r\nData: {}\r\n", "x".repeat(3 * MAX_MESSAGE));
    d.push(big.as_bytes());
    assert_eq!(d.next_decoded(), None);
    d.push(b"\r\nEvent: Small\r\n\r\n");
    assert!(matches!(d.next_decoded(), Some(Decoded::Oversized(n)) if n > MAX_MESSAGE));
    let Some(Decoded::Message(m)) = d.next_decoded() else {
        panic!()
    };
    assert_eq!(m.event(), Some("Small"));
}

#[test]
fn actions_are_encoded_and_injection_is_refused() {
    assert_eq!(
        encode_action("Login", "a1", &[("Username", "gw"), ("Secret", "s")]).unwrap(),
        "Action: Login\r\nActionID: a1\r\nUsername: gw\r\nSecret: s\r\n\r\n"
    );
    let e = encode_action(
        "Originate",
        "a2",
        &[("Channel", "Local/1@x\r\nAction: Hangup")],
    )
    .unwrap_err();
    assert_eq!(e.key, "Channel");
}

proptest::proptest! {
    // Large inputs: fewer cases keep the suite quick under qemu.
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn no_byte_sequence_panics_and_memory_stays_bounded(chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000), 0..40)) {
        let mut d = Decoder::new();
        for chunk in chunks {
            d.push(&chunk);
            while d.next_decoded().is_some() {}
            proptest::prop_assert!(d.buf.len() - d.pos <= MAX_MESSAGE + 2000);
        }
    }
}
