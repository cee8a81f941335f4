//! Tests of the AT engine against a scripted modem on an in-memory pipe (compiled only under
//! #[cfg(test)]). The real-pty tests are in `tests/`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

const SHORT: Duration = Duration::from_millis(300);

/// A modem that, for each command line it reads, writes the scripted bytes.
fn scripted(
    script: Vec<(&'static str, &'static str)>,
) -> (AtChannel<DuplexStream>, tokio::task::JoinHandle<Vec<u8>>) {
    let (ours, mut theirs) = tokio::io::duplex(4096);
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        for (expect, answer) in script {
            let mut got = Vec::new();
            while !got.ends_with(expect.as_bytes()) {
                let mut b = [0u8; 1];
                if theirs.read(&mut b).await.unwrap_or(0) == 0 {
                    return seen;
                }
                got.push(b[0]);
            }
            seen.extend_from_slice(&got);
            theirs.write_all(answer.as_bytes()).await.unwrap();
        }
        // Stay connected past the engine's deadlines, recording what else it writes.
        let mut rest = [0u8; 64];
        while let Ok(Ok(n)) = tokio::time::timeout(SHORT * 3, theirs.read(&mut rest)).await {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&rest[..n]);
        }
        seen
    });
    (AtChannel::new(ours), task)
}

#[tokio::test]
async fn answers_are_kept_apart_from_urcs() {
    let (mut at, _m) = scripted(vec![(
        "AT+CSQ\r",
        "AT+CSQ\r\r\n+CMTI: \"SM\",3\r\n\r\n+CSQ: 17,99\r\n^RSSI: 17\r\n\r\nOK\r\n",
    )]);
    let answer = at.command("AT+CSQ", SHORT).await.unwrap();
    assert_eq!(answer, ["+CSQ: 17,99"]);
    assert_eq!(
        at.take_urcs(),
        [
            Urc::NewMessage {
                storage: "SM".into(),
                index: 3
            },
            Urc::Other("^RSSI: 17".into())
        ]
    );
}

#[tokio::test]
async fn a_registration_answer_is_not_a_urc_but_the_unsolicited_form_is() {
    let (mut at, _m) = scripted(vec![(
        "AT+CREG?\r",
        "\r\n+CREG: 0,5\r\n\r\nOK\r\n\r\n+CREG: 1\r\n",
    )]);
    assert_eq!(at.command("AT+CREG?", SHORT).await.unwrap(), ["+CREG: 0,5"]);
    assert_eq!(
        at.poll_urcs(SHORT).await.unwrap(),
        [Urc::Registration { stat: 1 }]
    );
}

#[tokio::test]
async fn error_codes_are_typed_with_their_meaning() {
    let (mut at, _m) = scripted(vec![
        ("AT+CPIN?\r", "\r\n+CME ERROR: 10\r\n"),
        ("AT+CMGS=1\r", "\r\n+CMS ERROR: 500\r\n"),
        ("AT+X\r", "\r\nERROR\r\n"),
    ]);
    let e = at.command("AT+CPIN?", SHORT).await.unwrap_err();
    assert!(
        matches!(
            e,
            AtError::Cme {
                code: 10,
                meaning: "SIM not inserted"
            }
        ),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Modem);
    let e = at.send_pdu(1, "00", SHORT, SHORT).await.unwrap_err();
    assert_eq!(e.to_string(), "+CMS ERROR: 500 (unknown error)");
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(matches!(
        at.command("AT+X", SHORT).await,
        Err(AtError::Error { .. })
    ));
}

#[tokio::test]
async fn urcs_do_not_extend_the_deadline() {
    let (ours, mut theirs) = tokio::io::duplex(4096);
    tokio::spawn(async move {
        for _ in 0..50 {
            if theirs.write_all(b"\r\n^BOOT:1,0,0,0\r\n").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut at = AtChannel::new(ours);
    let started = std::time::Instant::now();
    let e = at.command("AT", SHORT).await.unwrap_err();
    assert!(
        matches!(e, AtError::Timeout { ref command, .. } if command == "AT"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(at.take_urcs().len() >= 3);
    assert_eq!(at.stats.timeouts, 1);
}

#[tokio::test]
async fn an_sms_goes_after_the_prompt_and_its_reference_comes_back() {
    let (mut at, modem) = scripted(vec![
        ("AT+CMGS=23\r", "\r\n> "),
        ("\x1a", "\r\n+CMGS: 42\r\n\r\nOK\r\n"),
    ]);
    let mr = at
        .send_pdu(
            23,
            "0011000B916407281553F80000AA0AE8329BFD4697D9EC37",
            SHORT,
            SHORT,
        )
        .await
        .unwrap();
    assert_eq!(mr, 42);
    let wire = modem.await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&wire),
        "AT+CMGS=23\r0011000B916407281553F80000AA0AE8329BFD4697D9EC37\x1a"
    );
}

#[tokio::test]
async fn a_hang_after_the_pdu_is_unconfirmed_and_escaped() {
    let (mut at, modem) = scripted(vec![("AT+CMGS=5\r", "> "), ("\x1a", "")]);
    let e = at
        .send_pdu(5, "0001000000", SHORT, SHORT)
        .await
        .unwrap_err();
    assert!(matches!(e, AtError::Unconfirmed(_)), "{e}");
    let wire = modem.await.unwrap();
    assert!(
        wire.ends_with(b"\x1a\x1b"),
        "{:?}",
        String::from_utf8_lossy(&wire)
    );
}

#[tokio::test]
async fn no_prompt_is_its_own_error_and_escapes() {
    let (mut at, modem) = scripted(vec![("AT+CMGS=5\r", "")]);
    let e = at
        .send_pdu(5, "0001000000", SHORT, SHORT)
        .await
        .unwrap_err();
    assert!(matches!(e, AtError::NoPrompt(_)), "{e}");
    assert!(modem.await.unwrap().ends_with(b"AT+CMGS=5\r\x1b"));
}

#[tokio::test]
async fn direct_texts_and_reports_carry_their_pdu_line() {
    let (mut at, _m) = scripted(vec![(
        "AT\r",
        "\r\n+CMT: ,24\r\n07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07\r\n+CDS: 25\r\n00062A0B918406214365F7621122214300806211222143108000\r\nOK\r\n",
    )]);
    at.command("AT", SHORT).await.unwrap();
    let urcs = at.take_urcs();
    assert!(matches!(&urcs[0], Urc::Deliver { pdu } if pdu.starts_with("07911326")));
    assert!(matches!(&urcs[1], Urc::StatusReport { pdu } if pdu.starts_with("00062A")));
}

#[tokio::test]
async fn garbage_without_line_ends_stays_bounded() {
    let (ours, mut theirs) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let _ = theirs.write_all(&[b'x'; 20_000]).await;
        let _ = theirs.write_all(b"\r\nOK\r\n").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let mut at = AtChannel::new(ours);
    let _ = at.command("AT", SHORT).await;
    assert!(at.stats.dropped_bytes > 10_000);
}

#[test]
fn answer_prefixes() {
    assert_eq!(answer_prefix("AT+CSQ").as_deref(), Some("+CSQ:"));
    assert_eq!(answer_prefix("AT+CREG?").as_deref(), Some("+CREG:"));
    assert_eq!(answer_prefix("AT+CMGR=3").as_deref(), Some("+CMGR:"));
    assert_eq!(answer_prefix("AT^SYSINFO").as_deref(), Some("^SYSINFO:"));
    assert_eq!(answer_prefix("ATE0"), None);
    assert_eq!(answer_prefix(""), None);
}

/// Structure-aware: answers and unsolicited lines shaped like a real modem's (`+CMTI`,
/// `+CMGR`, `+CMS ERROR`, `+CREG`, `+CMT` with a PDU line...) with fields no modem sends
/// (non-ASCII, empty, huge numbers, missing quotes and commas, control bytes): every command
/// ends in an answer or a typed error, never a panic.
mod shaped {
    use super::*;
    use proptest::prelude::*;

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[0-9]{1,3}",
            "[0-9]{15,40}",
            Just("-1".to_owned()),
            "\"[A-Z]{0,3}\"",
            "[ąę€漢😀]{1,4}",
            "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]{1,3}",
            "[0-9A-F]{0,60}",
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        let head = proptest::sample::select(
            &[
                "+CMTI:",
                "+CMT:",
                "+CDS:",
                "+CDSI:",
                "+CREG:",
                "+CEREG:",
                "+CMGR:",
                "+CMGL:",
                "+CMS ERROR:",
                "+CME ERROR:",
                "+CSQ:",
                "+CMGS:",
                "^BOOT:",
                "RING",
                "OK",
                "ERROR",
                "> ",
                "",
            ][..],
        );
        (head, proptest::collection::vec(field(), 0..4))
            .prop_map(|(h, fields)| format!("{h} {}\r\n", fields.join(",")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        #[test]
        fn shaped_modem_lines_end_in_an_answer_or_a_typed_error(
            lines in proptest::collection::vec(line(), 1..12),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (ours, mut theirs) = tokio::io::duplex(1 << 16);
                let mut at = AtChannel::new(ours);
                let script: String = lines.concat();
                tokio::spawn(async move {
                    let mut b = [0u8; 64];
                    let _ = theirs.read(&mut b).await;
                    let _ = theirs.write_all(script.as_bytes()).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                });
                let _ = at.command("AT+CMGR=1", Duration::from_millis(100)).await;
                let _ = at.take_urcs();
            });
        }
    }
}
