//! Tests of the PDU codec (compiled only under #[cfg(test)]): published examples,
//! round trips through an SMS-DELIVER built from our SMS-SUBMIT, and arbitrary input.

use super::*;

/// The widely published example (dreamfabric.com "SMS and the PDU format"): "hellohello" to
/// +46708251358, validity 4 days, no status report.
#[test]
fn submit_matches_the_published_example() {
    let opts = SubmitOptions {
        status_report: false,
        validity_minutes: 4 * 24 * 60,
        reference: 0,
    };
    let parts = encode_submit("+46708251358", "hellohello", &opts).unwrap();
    assert_eq!(
        parts,
        [SubmitPdu {
            hex: "0011000B916407281553F80000AA0AE8329BFD4697D9EC37".into(),
            tpdu_len: 23,
        }]
    );
}

/// The same source's SMS-DELIVER example.
#[test]
fn deliver_matches_the_published_example() {
    let Incoming::Deliver(d) =
        decode("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37").unwrap()
    else {
        panic!("not a deliver")
    };
    assert_eq!(d.smsc.as_deref(), Some("+27381000015"));
    assert_eq!(d.from, "27838890001");
    assert_eq!(d.text, "hellohello");
    assert_eq!(
        (
            d.timestamp.month,
            d.timestamp.day,
            d.timestamp.hour,
            d.timestamp.minute,
            d.timestamp.second,
            d.timestamp.tz_quarters
        ),
        (3, 29, 15, 16, 59, 8)
    );
    assert_eq!(d.concat, None);
}

/// A status report as a modem hands it with `+CDS:` (built field by field from TS 23.040
/// 9.2.2.3): MR 0x2A for +48601234567, delivered.
#[test]
fn status_report_decodes() {
    let hex = "00062A0B918406214365F7".to_owned() + "62112221430080" + "62112221431080" + "00";
    let Incoming::StatusReport(s) = decode(&hex).unwrap() else {
        panic!("not a status report")
    };
    assert_eq!(s.reference, 0x2A);
    assert_eq!(s.recipient, "+48601234567");
    assert_eq!(s.status, DeliveryStatus::Delivered);
    assert_eq!(
        (s.discharged.year, s.discharged.month, s.discharged.day),
        (2026, 11, 22)
    );
    // 12:34:01 at UTC+2.
    assert_eq!(s.discharged.unix_ms(), 1_795_350_841_000 - 2 * 3_600_000);
    let failed = hex[..hex.len() - 2].to_owned() + "41";
    let Incoming::StatusReport(s) = decode(&failed).unwrap() else {
        panic!()
    };
    assert_eq!(s.status, DeliveryStatus::Failed(0x41));
}

/// Our SUBMIT's user data, re-wrapped as the DELIVER the recipient's phone would get.
fn as_delivered(part: &SubmitPdu) -> Incoming {
    let b = from_hex(&part.hex).unwrap();
    let first = b[1];
    let da_len = usize::from(b[3]).div_ceil(2) + 2;
    let da = &b[3..3 + da_len];
    let (pid, dcs) = (b[3 + da_len], b[4 + da_len]);
    let ud = &b[6 + da_len..]; // after TP-VP: UDL + UD
    let mut d = vec![0x00, (first & 0x40) | 0x04];
    d.extend_from_slice(da);
    d.extend_from_slice(&[pid, dcs, 0x62, 0x11, 0x22, 0x21, 0x43, 0x00, 0x80]);
    d.extend_from_slice(ud);
    decode(&d.iter().map(|x| format!("{x:02X}")).collect::<String>()).unwrap()
}

#[test]
fn our_submits_decode_back() {
    let parts = encode_submit("+48601234567", &"ż".repeat(80), &SubmitOptions::default()).unwrap();
    let decoded: Vec<_> = parts
        .iter()
        .map(|p| decode_submit(&p.hex).unwrap())
        .collect();
    assert_eq!(decoded[0].0, "+48601234567");
    assert_eq!(
        decoded.iter().map(|d| d.1.as_str()).collect::<String>(),
        "ż".repeat(80)
    );
    assert_eq!(
        decoded[1].2,
        Some(Concat {
            reference: 0,
            total: 2,
            seq: 2
        })
    );
    assert!(decode_submit("0001").is_err());
}

fn round_trip(text: &str) -> (Vec<SubmitPdu>, String) {
    let parts = encode_submit(
        "+48601234567",
        text,
        &SubmitOptions {
            reference: 7,
            ..Default::default()
        },
    )
    .unwrap();
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        let Incoming::Deliver(d) = as_delivered(p) else {
            panic!()
        };
        assert_eq!(d.from, "+48601234567");
        if parts.len() > 1 {
            assert_eq!(
                d.concat,
                Some(Concat {
                    reference: 7,
                    total: parts.len() as u8,
                    seq: i as u8 + 1
                })
            );
        }
        out.push_str(&d.text);
    }
    (parts, out)
}

#[test]
fn extension_characters_take_two_septets_and_survive() {
    let text = "Cena: 10€ [promo] {x} a\\b ^~|";
    assert_eq!(alphabet_of(text), Alphabet::Gsm7);
    let (parts, back) = round_trip(text);
    assert_eq!(back, text);
    assert_eq!(parts.len(), 1);
    // 160 septets fit one part; 80 euro signs are 160 septets, 81 are not.
    assert_eq!(round_trip(&"€".repeat(80)).0.len(), 1);
    assert_eq!(round_trip(&"€".repeat(81)).0.len(), 2);
}

#[test]
fn polish_text_goes_in_ucs2() {
    let text = "Dziękujemy za telefon. Oddzwonimy wkrótce — Zażółć gęślą jaźń";
    assert_eq!(alphabet_of(text), Alphabet::Ucs2);
    let (parts, back) = round_trip(text);
    assert_eq!(back, text);
    assert_eq!(parts.len(), 1);
    assert!(parts[0].hex.contains("0119"), "ę is U+0119");
}

#[test]
fn long_texts_are_split_at_153_septets_and_67_units() {
    let gsm = "a".repeat(161);
    let (parts, back) = round_trip(&gsm);
    assert_eq!((parts.len(), back), (2, gsm));
    assert_eq!(round_trip(&"a".repeat(160)).0.len(), 1);
    assert_eq!(round_trip(&"a".repeat(306)).0.len(), 2);
    assert_eq!(round_trip(&"a".repeat(307)).0.len(), 3);
    let ucs = "ż".repeat(71);
    let (parts, back) = round_trip(&ucs);
    assert_eq!((parts.len(), back), (2, ucs));
    assert_eq!(round_trip(&"ż".repeat(70)).0.len(), 1);
    assert_eq!(round_trip(&"ż".repeat(134)).0.len(), 2);
    // An emoji is a surrogate pair: never split across parts.
    let emoji = "ż".repeat(66) + "😀" + "x";
    assert_eq!(round_trip(&emoji).1, emoji);
}

#[test]
fn numbers_are_checked_and_typed() {
    assert!(encode_submit("+48 601", "x", &SubmitOptions::default()).is_err());
    assert!(encode_submit("", "x", &SubmitOptions::default()).is_err());
    assert_eq!(
        encode_submit("+4860", "", &SubmitOptions::default()),
        Err(PduError::Empty)
    );
    let national = encode_submit("0601234567", "x", &SubmitOptions::default()).unwrap();
    assert!(
        national[0].hex.starts_with("0031000A81"),
        "{}",
        national[0].hex
    );
    assert_eq!(
        encode_submit("1".repeat(21).as_str(), "x", &SubmitOptions::default()),
        Err(PduError::BadNumber("1".repeat(21)))
    );
}

#[test]
fn validity_rounds_up_to_what_the_pdu_can_say() {
    assert_eq!(validity_octet(5), 0);
    assert_eq!(validity_octet(12 * 60), 143);
    assert_eq!(validity_octet(24 * 60), 167);
    assert_eq!(validity_octet(2 * 24 * 60), 168);
    assert_eq!(validity_octet(365 * 24 * 60), 245);
    assert_eq!(validity_octet(u32::MAX), 255);
}

proptest::proptest! {
    #[test]
    fn any_text_round_trips(text in "[a-zA-Z0-9 €\\[\\]{}ąęłóżźćńś😀\\n@£]{1,400}") {
        let (parts, back) = round_trip(&text);
        proptest::prop_assert_eq!(back, text);
        for p in parts {
            proptest::prop_assert!(p.tpdu_len <= 164, "{}", p.tpdu_len);
        }
    }

    #[test]
    fn no_input_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        let _ = decode(&hex);
        let _ = decode(&String::from_utf8_lossy(&bytes));
    }
}

/// Structure-aware: SMS-DELIVER and STATUS-REPORT PDUs built field by field (SMSC, first
/// octet with UDHI, originator, PID, DCS of every alphabet, timestamp, UDL, a user data
/// header), with lengths that lie, reserved values and truncated tails: decoding ends in a
/// message or a typed error, never a panic.
mod shaped {
    use super::*;
    use proptest::prelude::*;

    fn pdu() -> impl Strategy<Value = Vec<u8>> {
        (
            (0u8..12, proptest::collection::vec(any::<u8>(), 0..8)),
            prop_oneof![
                Just(0x04u8),
                Just(0x44),
                Just(0x06),
                Just(0x46),
                any::<u8>()
            ],
            (
                0u8..24,
                prop_oneof![Just(0x91u8), Just(0x81), Just(0xD0), any::<u8>()],
            ),
            proptest::collection::vec(any::<u8>(), 0..12),
            (
                any::<u8>(),
                prop_oneof![
                    Just(0x00u8),
                    Just(0x08),
                    Just(0x04),
                    Just(0xF6),
                    any::<u8>()
                ],
            ),
            proptest::collection::vec(any::<u8>(), 7),
            any::<u8>(),
            prop_oneof![
                Just(vec![5u8, 0, 3]),
                Just(vec![6u8, 8, 4]),
                proptest::collection::vec(any::<u8>(), 0..6),
            ],
            proptest::collection::vec(any::<u8>(), 0..160),
            0usize..200,
        )
            .prop_map(
                |(
                    (smsc_len, smsc),
                    first,
                    (oa_len, toa),
                    oa,
                    (pid, dcs),
                    scts,
                    udl,
                    udh,
                    ud,
                    cut,
                )| {
                    let mut p = vec![smsc_len];
                    p.extend(smsc);
                    p.push(first);
                    p.extend([oa_len, toa]);
                    p.extend(oa);
                    p.extend([pid, dcs]);
                    p.extend(scts);
                    p.push(udl);
                    p.extend(udh);
                    p.extend(ud);
                    p.truncate(cut.max(1));
                    p
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn shaped_pdus_decode_or_fail_typed(bytes in pdu()) {
            let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
            let _ = decode(&hex);
            let _ = decode_submit(&hex);
        }
    }
}
