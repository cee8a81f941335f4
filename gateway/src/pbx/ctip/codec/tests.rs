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
        (RelCause(39), "picked up elsewhere")
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

/// Structure-aware generation: lines shaped like every message the codec knows (the right
/// kind, a plausible number of fields), whose field contents and separators are mutated the
/// way a PBX in another code page or a damaged link would: non-ASCII bytes of the code page,
/// double and missing separators, empty fields, huge numbers, control bytes.
mod shaped {
    use super::*;
    use crate::calls::ctip::{CtipCorrelator, CtipCorrelatorConfig, MAX_DIALLED_DIGITS};
    use crate::pbx::ctip::codec::MAX_LINE;
    use proptest::prelude::*;

    fn callee(event: &crate::calls::CallEvent) -> Option<&str> {
        match &event.body {
            crate::calls::EventBody::CallStarted(s) => s.callee.as_deref(),
            crate::calls::EventBody::CallEnded(r) => r.callee.as_deref(),
            _ => None,
        }
    }

    const KINDS: &[&str] = &[
        "STAT", "ECHO", "RING", "CW", "CONN", "REL", "DRDY", "AOC", "UTAG", "RECB", "RECC", "RECE",
        "SMSA", "SMSR", "SMSG", "OK", "ERROR", "NA", "WHO", "XYZ", "",
    ];

    /// One field's bytes, in the PBX code page.
    pub(crate) fn field() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[0-9]{1,6}".prop_map(String::into_bytes),
            "/[0-9]{1,4}_{0,2}".prop_map(String::into_bytes),
            "[HhOoFfDdLlAaPpCcQqRrEe_-]".prop_map(String::into_bytes),
            "[0-9]{18,60}".prop_map(String::into_bytes),
            proptest::collection::vec(0x80u8..=0xff, 1..8),
            proptest::collection::vec(prop_oneof![0u8..0x20, Just(0x7f)], 1..4),
            Just(Vec::new()),
            any::<Vec<u8>>(),
        ]
    }

    pub(crate) fn separator() -> impl Strategy<Value = &'static [u8]> {
        prop_oneof![4 => Just(&b" "[..]), 1 => Just(&b"  "[..]), 1 => Just(&b""[..])]
    }

    /// `a` + kind + mutated fields, without the line end.
    pub fn line() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::sample::select(KINDS),
            proptest::collection::vec((separator(), field()), 0..10),
        )
            .prop_map(|(kind, fields)| {
                let mut line = b"a".to_vec();
                line.extend_from_slice(kind.as_bytes());
                for (sep, f) in fields {
                    line.extend_from_slice(sep);
                    line.extend(f.into_iter().filter(|&b| b != b'\n'));
                }
                line
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::mutate::cases()))]

        /// Every shaped line goes through framing, decoding, parsing and the correlator
        /// without a panic, and no call's number outgrows one line, however many ECHOs add
        /// to it.
        #[test]
        fn shaped_lines_never_panic_from_wire_to_call(lines in proptest::collection::vec(line(), 1..20)) {
            let cp = CodePage::ibm852();
            let mut decoder = FrameDecoder::new();
            let mut calls = CtipCorrelator::new(CtipCorrelatorConfig::new("fuzz"));
            for (i, l) in lines.iter().enumerate() {
                decoder.push(l);
                decoder.push(b"\r\n");
                while let Some(frame) = decoder.next_frame() {
                    let Frame::Message(bytes) = frame else { continue };
                    let text = cp.decode(&bytes);
                    if let Ok(msg) = parse(&text) {
                        let _ = msg.kind();
                        for event in calls.on_message(i as i64 * 1_000, &text, &msg) {
                            if let Some(callee) = callee(&event) {
                                prop_assert!(callee.chars().count() <= MAX_LINE);
                            }
                        }
                    }
                }
                let _ = calls.tick(i as i64 * 1_000 + 500);
            }
            let _ = calls.link_lost(1_000_000);
        }

        /// A STAT whose extension is any text of the code page (one or more separators before
        /// it) parses with that extension and its flags.
        #[test]
        fn stat_keeps_a_non_ascii_extension(ext in proptest::collection::vec(0x21u8..=0xff, 1..6), gap in 1usize..4) {
            let cp = CodePage::ibm852();
            let mut wire = b"STAT".to_vec();
            wire.extend(std::iter::repeat_n(b' ', gap));
            wire.extend_from_slice(&ext);
            wire.extend_from_slice(b" h f d l a p c q");
            let parsed = parse(&cp.decode(&wire));
            prop_assert_eq!(parsed, Ok(Message::Stat {
                ext: cp.decode(&ext),
                flags: StatFlags { hook: Hook::OnHook, forward: false, dnd: false, locked: false,
                    account: false, parked: false, call_waiting: false, queued: false },
            }));
        }
    }

    #[test]
    fn the_lines_that_killed_the_box_are_parsed() {
        let cp = CodePage::ibm852();
        // `aSTAT  ¥¥`: two spaces, then an extension in the PBX's code page (0xBE = ¥ in 852).
        let stat = cp.decode(b"STAT  \xbe\xbe");
        assert!(matches!(
            parse(&stat),
            Err(ParseError {
                reason: "bad flags",
                ..
            })
        ));
        let utag = cp.decode(b"UTAG  \xbe\xbe tag_text");
        assert_eq!(
            parse(&utag),
            Ok(Message::Utag {
                ext: cp.decode(b"\xbe\xbe"),
                tag: "tag_text".into()
            })
        );
    }

    #[test]
    fn an_endless_dialled_number_stops_at_the_bound() {
        let mut calls = CtipCorrelator::new(CtipCorrelatorConfig::new("t"));
        let mut events = Vec::new();
        for (i, line) in ["STAT 101 H f d l a p c q", "ECHO 101 0"]
            .into_iter()
            .chain(std::iter::repeat_n("ECHO 101 123456789", 100))
            .enumerate()
        {
            let msg = parse(line).expect("parses");
            events.extend(calls.on_message(i as i64, line, &msg));
        }
        events.extend(calls.tick(60_000));
        let callee = events
            .iter()
            .find_map(callee)
            .expect("the call was announced");
        assert_eq!(callee.chars().count(), MAX_DIALLED_DIGITS);
        assert_eq!(calls.digits_dropped, 1 + 900 - MAX_DIALLED_DIGITS as u64);
    }
}
