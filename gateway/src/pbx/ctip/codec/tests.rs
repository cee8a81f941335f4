//! Tests of the CTIP codec (compiled only under #[cfg(test)]).

use super::*;

use crate::fixtures::fixture;

fn parse_wire(line: &str) -> Message {
    let mut d = FrameDecoder::new();
    d.push(line.as_bytes());
    d.push(b"\r\n");
    match d.next_frame() {
        Some(Frame::Message(bytes)) => parse(&CodePage::ibm852().decode(&bytes)).expect("parses"),
        other => panic!("{line:?} gave {other:?}"),
    }
}

#[test]
fn every_line_of_the_real_ncp_stream_is_typed() {
    let text = fixture("ctip/raw_stream_anon.txt");
    let mut counts = std::collections::BTreeMap::new();
    let mut decoder = FrameDecoder::new();
    decoder.push(text.as_bytes());
    while let Some(frame) = decoder.next_frame() {
        let Frame::Message(bytes) = frame else {
            panic!("unexpected frame {frame:?}");
        };
        let line = CodePage::ibm852().decode(&bytes);
        let msg = parse(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(
            !matches!(msg, Message::Unknown { .. }),
            "{line} fell into unknown"
        );
        *counts.entry(msg.kind().to_owned()).or_insert(0) += 1;
    }
    let expected: std::collections::BTreeMap<String, i32> = [
        ("CONN", 80),
        ("ECHO", 50),
        ("REL", 351),
        ("RING", 308),
        ("STAT", 264),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counts, expected);
}

#[test]
fn ring_fields_follow_the_spec_and_ncp_spelling() {
    let msg = parse_wire("aRING 109_ 902151047 0 /109 /101 _");
    assert_eq!(
        msg,
        Message::Ring {
            ext: "109_".into(),
            caller: "902151047".into(),
            port: "0".into(),
            dialled: "/109".into(),
            held: Some("/101".into()),
            comment: None,
        }
    );
    let Message::Ring { held, comment, .. } =
        parse_wire("aRING 105_ 351148054 0 517471313 _ Person_01")
    else {
        panic!()
    };
    assert_eq!((held, comment.as_deref()), (None, Some("Person_01")));
}

#[test]
fn stat_rel_conn_echo() {
    assert_eq!(
        parse_wire("aSTAT 105_ H f D l a p c q"),
        Message::Stat {
            ext: "105_".into(),
            flags: StatFlags {
                hook: Hook::OffHook,
                forward: false,
                dnd: true,
                locked: false,
                account: false,
                parked: false,
                call_waiting: false,
                queued: false
            }
        }
    );
    let Message::Rel { cause, .. } = parse_wire("aREL 102_ 39") else {
        panic!()
    };
    assert_eq!(
        (cause, cause.meaning()),
        (RelCause::PICKED_UP_ELSEWHERE, "picked up elsewhere")
    );
    assert_eq!(
        parse_wire("aCONN 101_ /109 0"),
        Message::Conn {
            ext: "101_".into(),
            number: "/109".into(),
            port: "0".into()
        }
    );
    assert_eq!(
        parse_wire("aECHO 101_ /"),
        Message::Echo {
            ext: "101_".into(),
            digits: "/".into()
        }
    );
}

#[test]
fn the_rest_of_the_vocabulary() {
    assert!(matches!(parse_wire("aDRDY 101_"), Message::Drdy { .. }));
    assert!(matches!(
        parse_wire("aCW 101_ 600100200 Jan_Kowalski"),
        Message::Cw {
            comment: Some(_),
            ..
        }
    ));
    assert!(matches!(parse_wire("aAOC 101_ 1.23"), Message::Aoc { .. }));
    assert_eq!(
        parse_wire("aUTAG 101_ order 42 ready"),
        Message::Utag {
            ext: "101_".into(),
            tag: "order 42 ready".into()
        }
    );
    assert!(matches!(
        parse_wire("aRECB 101_ 12345601"),
        Message::Recb { .. }
    ));
    assert!(matches!(
        parse_wire("aRECC 101_ 12345601"),
        Message::Recc { .. }
    ));
    assert!(matches!(
        parse_wire("aRECE 101_ 12345601 192.0.2.5 /rec/12345601.wav"),
        Message::Rece { .. }
    ));
    // The spec's own example has no destination (sent only from v12.01).
    assert!(matches!(
        parse_wire("aSMSR G001 D 2 108"),
        Message::Smsr {
            delivered: true,
            dest: None,
            ..
        }
    ));
    assert!(matches!(
        parse_wire("aSMSR G001 E 15 17 70 +48123456789"),
        Message::Smsr { delivered: false, error: Some(e), dest: Some(_), .. } if e == "70"
    ));
    assert_eq!(parse_wire("aERROR"), Message::Error);
    assert_eq!(parse_wire("aNA"), Message::Na { code: None });
    let Message::Na { code: Some(code) } = parse_wire("aNA 11") else {
        panic!()
    };
    assert!(code.is_login_refusal());
    assert_eq!(code.meaning(), "wrong key (PIN)");
    assert_eq!(
        parse_wire("aOK NCP-000 NO03914 v1.23.0140/15 2025.10.10 01:54'59"),
        Message::Ok {
            fields: [
                "NCP-000",
                "NO03914",
                "v1.23.0140/15",
                "2025.10.10",
                "01:54'59"
            ]
            .map(String::from)
            .to_vec()
        }
    );
    assert_eq!(
        parse_wire("aXYZZY 1 2"),
        Message::Unknown {
            kind: "XYZZY".into()
        }
    );
}

#[test]
fn the_real_gsm_session_parses_with_polish_text() {
    let text = fixture("ctip/gsm_session_anon.txt");
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("PBX< ")) {
        let line = line.split("    [x").next().unwrap_or(line).trim_end();
        // The fixture writes the raw IBM852 byte as the text `\xa9`.
        let mut bytes = line.replace("\\xa9", "\u{1}").into_bytes();
        for b in &mut bytes {
            if *b == 1 {
                *b = 0xa9;
            }
        }
        bytes.extend_from_slice(b"\r\n");
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        match d.next_frame().expect("a frame") {
            Frame::Test => {
                seen.insert("t".to_owned());
            }
            Frame::Message(m) => {
                let msg = parse(&CodePage::ibm852().decode(&m)).expect("parses");
                assert!(!matches!(msg, Message::Unknown { .. }), "{line}");
                if let Message::Smsg {
                    text, index, from, ..
                } = &msg
                {
                    if index == "52" {
                        assert_eq!(text, "Ok. Jutro przyjadę.");
                        assert_eq!(from, "+48511222333");
                    }
                }
                seen.insert(msg.kind().to_owned());
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    for kind in ["OK", "SMSA", "SMSR", "SMSG", "NA", "t"] {
        assert!(seen.contains(kind), "no {kind} in {seen:?}");
    }
}

#[test]
fn frames_split_anywhere_with_crlf_or_lf_test_frames_and_garbage() {
    let wire =
        b"aRING 101_ 1 0 2 _ _\r\nt\r\nhello\naREL 101_ 1\r\n\r\naSTAT 101_ h f d l a p c q\r\n";
    for split in 0..wire.len() {
        let mut d = FrameDecoder::new();
        let mut frames = Vec::new();
        for part in [&wire[..split], &wire[split..]] {
            d.push(part);
            while let Some(f) = d.next_frame() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 5, "split at {split}");
        assert_eq!(frames[1], Frame::Test);
        assert_eq!(frames[2], Frame::Garbage(b"hello".to_vec()));
    }
}

#[test]
fn an_oversized_line_is_dropped_and_the_next_one_survives() {
    let mut d = FrameDecoder::new();
    d.push(&vec![b'x'; 10 * MAX_LINE]);
    assert_eq!(d.next_frame(), None);
    d.push(b"yyy\r\naREL 101_ 1\r\n");
    assert_eq!(d.next_frame(), Some(Frame::Oversized(10 * MAX_LINE + 3)));
    assert_eq!(d.next_frame(), Some(Frame::Message(b"REL 101_ 1".to_vec())));
}

#[test]
fn malformed_known_messages_are_typed_errors() {
    for (line, kind) in [
        ("REL 101_", "REL"),
        ("REL 101_ x", "REL"),
        ("STAT 101_ H", "STAT"),
        ("RING 101_", "RING"),
        ("SMSA G001 X 1", "SMSA"),
        ("", ""),
    ] {
        let e = parse(line).expect_err(line);
        assert_eq!(e.kind, kind);
    }
}

#[test]
fn commands_are_framed_in_the_code_page() {
    let cp = CodePage::ibm852();
    assert_eq!(frame_command("LOGA 1234", cp), b"aLOGA 1234\r\n".to_vec());
    let framed = frame_command("SMSS G001 600 N 167 Zażółć", cp);
    assert!(
        framed.ends_with(&[b'Z', b'a', 0xbe, 0xa2, 0x88, 0x86, b'\r', b'\n']),
        "{framed:?}"
    );
    assert_eq!(cp.decode(&[0xbe, 0xa2, 0x88, 0x86]), "żółć");
    assert!(CodePage::by_number(852).is_some());
    assert!(CodePage::by_number(1).is_none());
}

proptest::proptest! {
    #[test]
    fn no_byte_sequence_panics(chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 0..20)) {
        let mut d = FrameDecoder::new();
        for chunk in chunks {
            d.push(&chunk);
            while let Some(frame) = d.next_frame() {
                if let Frame::Message(bytes) = frame {
                    let _ = parse(&CodePage::ibm852().decode(&bytes));
                }
            }
        }
    }

    #[test]
    fn no_text_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }
}
