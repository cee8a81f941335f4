//! SMS end to end, in one process: call events (from the real Asterisk capture, replayed by
//! the fake AMI server) trigger rules, the gateway queues texts in its store and sends them
//! through the modem simulator on a real pseudo-terminal; delivery reports, replies, opt-out,
//! errors, retries and a crash mid-send.
// The serial layer configures the port with termios2 ioctls, which qemu-user does not
// emulate (ENOSYS): these run natively only; the ARM boards run them for real.
#![cfg(target_arch = "x86_64")]

use std::collections::BTreeSet;
use std::time::Duration;

use board::modem::pdu;
use pbxgw::calls::EventBody;
use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw::store::StoredEvent;
use pbxgw_tests::harness::{stored_events, wait_until};
use pbxgw_tests::sim::ami::{AmiSim, ReplayPlan};
use pbxgw_tests::sim::modem::{deliver_pdu, ModemSim, ModemSimOptions};

fn config(dir: &std::path::Path, modem: &ModemSim, extra: &str) -> Config {
    let text = format!(
        "[gateway]\nid = \"sms-test\"\ndata_dir = {:?}\n[modem]\nport = {:?}\nregister_within_s = 10\nsend_within_s = 2\n{extra}",
        dir.join("data"),
        modem.path
    );
    Config::from_toml(&text, std::path::Path::new("test.toml")).expect("valid config")
}

/// (destination, text) of every PDU the modem took, parts joined.
fn texts_at_modem(sim: &ModemSim) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (_, hex) in &sim.log.lock().unwrap().pdus {
        let (to, text, concat) = pdu::decode_submit(hex).expect("our PDU decodes");
        match concat {
            Some(c) if c.seq > 1 => out.last_mut().expect("first part").1.push_str(&text),
            _ => out.push((to, text)),
        }
    }
    out
}

/// A text asked for from outside (the CLI's way), queued straight in the database.
fn queue_text(
    conn: &rusqlite::Connection,
    id: &str,
    to: &str,
    text: &str,
) -> pbxgw::sms::queue::Queued {
    let request = pbxgw::sms::rules::Enqueue {
        dedupe_key: format!("cli:{id}"),
        origin: "cli".into(),
        call_id: None,
        destination: to.into(),
        text: text.into(),
    };
    pbxgw::sms::queue::enqueue(conn, &request, pbxgw::clock::now_ms(), 0).unwrap()
}

fn kinds(events: &[StoredEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

fn sms_rows(config: &Config) -> Vec<(String, String, Option<String>)> {
    let conn = rusqlite::Connection::open(config.db_path()).unwrap();
    let mut s = conn
        .prepare("SELECT destination, state, error_text FROM sms_out ORDER BY id")
        .unwrap();
    let rows = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

const RULES: &str = r#"
[sms]
rate_per_minute = 100
[[sms.rule]]
name = "ivr1"
on = "ivr_digit"
digit = "1"
text = "Dziękujemy za wybór 1. Konsultant oddzwoni na numer {caller}."
[[sms.rule]]
name = "missed"
on = "missed_call"
text = "Przepraszamy, nie odebraliśmy Państwa połączenia. Oddzwonimy wkrótce."
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_choices_and_missed_calls_from_asterisk_become_texts_at_the_modem() {
    let modem = ModemSim::start(ModemSimOptions::default())
        .expect("a modem simulator on a pseudo-terminal");
    let ami = AmiSim::replaying("gw", "secret", ReplayPlan::default())
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"secret\"\n{RULES}",
        ami.port()
    );
    let config = config(dir.path(), &modem, &extra);
    let gateway = Gateway::start(&config).await.unwrap();
    // Digit 1: the IVR call that went to sales, and the Stasis calls whose customer sent 1,2.
    let ivr: BTreeSet<&str> = [
        "+48224853154",
        "+48229709457",
        "+48225666799",
        "+48224160583",
        "+48224142496",
    ]
    .into();
    // No answer, busy and abandoned.
    let missed: BTreeSet<&str> = [
        "+48221598154",
        "+48227717594",
        "+48225849285",
        "+48222178154",
        "+48222425874",
        "+48227624540",
    ]
    .into();
    let done = wait_until(Duration::from_secs(30), || {
        let events = stored_events(&config);
        kinds(&events, "sms.delivered") == ivr.len() + missed.len()
    })
    .await;
    let at_modem = texts_at_modem(&modem);
    assert!(
        done,
        "{} texts at the modem: {at_modem:?}\nrows: {:?}",
        at_modem.len(),
        sms_rows(&config)
    );
    let mut got_ivr = BTreeSet::new();
    let mut got_missed = BTreeSet::new();
    for (to, text) in &at_modem {
        if text.starts_with("Dziękujemy") {
            assert_eq!(
                text,
                &format!("Dziękujemy za wybór 1. Konsultant oddzwoni na numer {to}.")
            );
            got_ivr.insert(to.as_str());
        } else {
            assert_eq!(
                text,
                "Przepraszamy, nie odebraliśmy Państwa połączenia. Oddzwonimy wkrótce."
            );
            got_missed.insert(to.as_str());
        }
    }
    assert_eq!(got_ivr, ivr);
    assert_eq!(got_missed, missed);
    assert_eq!(
        at_modem.len(),
        ivr.len() + missed.len(),
        "one text per number: dedupe and cooldown"
    );
    let events = stored_events(&config);
    assert_eq!(kinds(&events, "sms.sent"), at_modem.len());
    // Each text's events carry the call that caused it.
    assert!(events
        .iter()
        .filter(|e| e.kind == "sms.sent")
        .all(|e| e.call_id.is_some()));
    assert!(sms_rows(&config).iter().all(|r| r.1 == "delivered"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_become_events_and_stop_opts_out() {
    let modem = ModemSim::start(ModemSimOptions {
        boot_noise: true,
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &modem, "");
    let gateway = Gateway::start(&config).await.unwrap();
    let up = pbxgw_tests::harness::wait_for_link(
        &gateway,
        "modem",
        pbxgw::link::LinkState::Up,
        Duration::from_secs(10),
    )
    .await;
    assert!(up, "{:?}", gateway.links().snapshot().get("modem"));
    modem.receive(&deliver_pdu(
        "+48601234567",
        "Proszę o kontakt jutro po 10:00",
    ));
    modem.receive(&deliver_pdu("+48601234567", "stop"));
    let received = wait_until(Duration::from_secs(10), || {
        kinds(&stored_events(&config), "sms.received") == 2
    })
    .await;
    assert!(received);
    let bodies: Vec<(String, bool)> = stored_events(&config)
        .into_iter()
        .filter_map(|e| match e.body {
            Ok(EventBody::SmsReceived(r)) => Some((r.text, r.opted_out)),
            _ => None,
        })
        .collect();
    assert_eq!(
        bodies,
        [
            ("Proszę o kontakt jutro po 10:00".into(), false),
            ("stop".into(), true)
        ]
    );
    assert_eq!(modem.stored(), 0, "read texts are deleted from the SIM");
    let conn = rusqlite::Connection::open(config.db_path()).unwrap();
    assert_eq!(
        queue_text(&conn, "1", "+48601234567", "x"),
        pbxgw::sms::queue::Queued::OptedOut
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_typed_retries_recover_and_a_crash_mid_send_is_resent() {
    // Send 1 is the interrupted text; then a permanent failure (CMS 1, unassigned number),
    // a transient one (CMS 500), a hang after the PDU, and a text that goes through.
    let modem = ModemSim::start(ModemSimOptions {
        fail_sends: vec![(2, 1), (3, 500)],
        hang_sends: vec![4],
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &modem, "");
    // A text caught mid-send by a power cut, before this gateway starts.
    let conn = {
        let options = pbxgw::store::StoreOptions::from_config(&config);
        drop(pbxgw::store::open(&options).unwrap());
        rusqlite::Connection::open(&options.path).unwrap()
    };
    conn.execute(
        "INSERT INTO sms_out (dedupe_key, origin, destination, text, state, attempts, next_attempt_ms, created_ms, updated_ms)
         VALUES ('cli:crash', 'cli', '+48600000001', 'interrupted', 'sending', 1, 0, 0, 0)",
        [],
    )
    .unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    let resent = wait_until(Duration::from_secs(10), || {
        sms_rows(&config)[0].1 == "delivered"
    })
    .await;
    assert!(
        resent,
        "the interrupted text is sent again: {:?}",
        sms_rows(&config)
    );
    for (i, to) in [
        "+48600000002",
        "+48600000003",
        "+48600000004",
        "+48600000005",
    ]
    .iter()
    .enumerate()
    {
        queue_text(&conn, &i.to_string(), to, &format!("text {i}"));
    }
    let settled = wait_until(Duration::from_secs(20), || {
        let rows = sms_rows(&config);
        rows.get(4).is_some_and(|r| r.1 == "delivered") && rows[3].1 == "delivered"
    })
    .await;
    let rows = sms_rows(&config);
    assert!(settled, "{rows:?}");
    // (row, state, words of its error): a permanent failure; a transient one waiting for
    // its retry.
    for (i, state, error) in [(1, "failed", "unassigned"), (2, "queued", "500")] {
        let row = &rows[i];
        assert_eq!(row.1, state, "{rows:?}");
        assert!(row.2.as_deref().unwrap_or("").contains(error), "{rows:?}");
    }
    // The hang: the modem took the PDU and never answered, so it may have left; it goes
    // again once the modem answers (at-least-once) and arrives twice here.
    assert_eq!(rows[3].1, "delivered", "{rows:?}");
    let twice = texts_at_modem(&modem)
        .iter()
        .filter(|t| t.1 == "text 2")
        .count();
    assert_eq!(twice, 2);
    // The events follow the rows' changes through the store writer.
    let logged = wait_until(Duration::from_secs(5), || {
        let events = stored_events(&config);
        kinds(&events, "sms.failed") == 1 && kinds(&events, "sms.delivered") == 3
    })
    .await;
    assert!(logged);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_pin_is_never_entered_again_even_after_a_restart() {
    let modem = ModemSim::start(ModemSimOptions {
        pin: Some("4321".into()),
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &modem, "");
    let mut wrong = config.clone();
    wrong.modem.as_mut().unwrap().pin = Some(pbxgw::config::Secret::new("1111"));
    for _ in 0..2 {
        let gateway = Gateway::start(&wrong).await.unwrap();
        let refused = pbxgw_tests::harness::wait_for_link(
            &gateway,
            "modem",
            pbxgw::link::LinkState::NeedsInstaller,
            Duration::from_secs(10),
        )
        .await;
        assert!(refused);
        let detail = gateway.links().snapshot()["modem"]
            .detail
            .clone()
            .unwrap_or_default();
        assert!(
            detail.contains("PIN") && !detail.contains("1111"),
            "{detail}"
        );
        gateway.stop().await;
    }
    assert_eq!(modem.log.lock().unwrap().pin_attempts, 1);
}

/// `pbxgw sms send` queues a text the running gateway sends; `pbxgw sms list` shows it;
/// the same request id never queues twice; an internal number is refused.
#[cfg(target_arch = "x86_64")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_command_line_queues_and_lists() {
    let modem = ModemSim::start(ModemSimOptions::default())
        .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pbxgw.toml");
    std::fs::write(
        &conf,
        format!(
            "[gateway]\nid = \"sms-cli\"\ndata_dir = {:?}\n[modem]\nport = {:?}\n",
            dir.path().join("data"),
            modem.path
        ),
    )
    .unwrap();
    let config = Config::load(&conf).unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    let pbxgw = |args: &[&str]| {
        let mut all = vec!["sms"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-c", conf.to_str().unwrap()]);
        let out = std::process::Command::new(pbxgw_tests::harness::bin_path("pbxgw"))
            .args(&all)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, out) = pbxgw(&[
        "send",
        "--to",
        "601 234 567",
        "--text",
        "Zażółć gęślą jaźń",
        "--id",
        "req-1",
    ]);
    assert!(ok && out.contains("queued as #1 to +48601234567"), "{out}");
    let (ok, out) = pbxgw(&[
        "send",
        "--to",
        "601234567",
        "--text",
        "again",
        "--id",
        "req-1",
    ]);
    assert!(ok && out.contains("queued before"), "{out}");
    let (ok, out) = pbxgw(&["send", "--to", "201", "--text", "x"]);
    assert!(!ok && out.contains("internal number"), "{out}");
    let (ok, out) = pbxgw(&["send", "--to", "0090 9001234567", "--text", "x"]);
    assert!(!ok && out.contains("[numbers] allow"), "{out}");
    let delivered = wait_until(Duration::from_secs(10), || {
        sms_rows(&config)
            .first()
            .is_some_and(|r| r.1 == "delivered")
    })
    .await;
    assert!(delivered, "{:?}", sms_rows(&config));
    assert_eq!(
        texts_at_modem(&modem),
        [("+48601234567".to_owned(), "Zażółć gęślą jaźń".to_owned())]
    );
    let (ok, out) = pbxgw(&["list"]);
    assert!(
        ok && out.contains("delivered") && out.contains("+48601234567"),
        "{out}"
    );
    let (ok, out) = pbxgw(&["list", "--json"]);
    assert!(ok && out.contains("\"dedupe_key\": \"cli:req-1\""), "{out}");
    gateway.stop().await;
}

/// Without a modem, the PBX's own GSM module is the route: the same rule, queue and events,
/// its order ids as references, its SMSR as delivery reports, its SMSG as replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_modem_the_pbxs_gsm_module_sends() {
    use pbxgw::calls::{CallDtmf, CallEvent, CallStarted, Direction, Source};
    use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};
    const PIN: &str = "1234";
    let sim = CtipSim::start(CtipSimOptions {
        gsm_inbox: vec!["aSMSG G001 7 +48511222333 2021-12-07_18:03:04 C1 4F6B2E".into()],
        ..CtipSimOptions::new(PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[gateway]\nid = \"sms-pbx\"\ndata_dir = {:?}\n[[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {}\npin = \"{PIN}\"\ngsm_module = \"G001\"\ngsm_pin = \"{PIN}\"\n{RULES}",
        dir.path().join("data"),
        sim.port()
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    let event = |body| CallEvent {
        ts_ms: pbxgw::clock::now_ms(),
        source: Source::Ctip,
        pbx: "slican".into(),
        call_id: Some("slican-1".into()),
        raw: None,
        body,
    };
    let started = CallStarted {
        direction: Direction::Inbound,
        caller: Some("600100200".into()),
        callee: Some("999".into()),
    };
    gateway
        .appender()
        .append(event(EventBody::CallStarted(started)))
        .await
        .unwrap();
    gateway
        .appender()
        .append(event(EventBody::CallDtmf(CallDtmf { digit: "1".into() })))
        .await
        .unwrap();
    let delivered = wait_until(Duration::from_secs(15), || {
        sms_rows(&config)
            .first()
            .is_some_and(|r| r.1 == "delivered")
    })
    .await;
    assert!(delivered, "{:?}", sms_rows(&config));
    let smss: Vec<String> = sim
        .stats
        .commands
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with("SMSS"))
        .cloned()
        .collect();
    assert_eq!(smss.len(), 1, "{smss:?}");
    assert!(
        smss[0].starts_with("SMSS G001 +48600100200 "),
        "{}",
        smss[0]
    );
    let received = wait_until(Duration::from_secs(5), || {
        stored_events(&config)
            .iter()
            .any(|e| matches!(&e.body, Ok(EventBody::SmsReceived(r)) if r.from == "+48511222333"))
    })
    .await;
    assert!(received);
    gateway.stop().await;
}

/// The global per-minute limit holds texts back (queued, not dropped); a modem that hangs
/// for a moment is brought back by a resync and the text goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_texts_and_a_hung_modem_is_resynced() {
    let modem = ModemSim::start(ModemSimOptions::default())
        .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &modem, "[sms]\nrate_per_minute = 2\n");
    let gateway = Gateway::start(&config).await.unwrap();
    assert!(
        pbxgw_tests::harness::wait_for_link(
            &gateway,
            "modem",
            pbxgw::link::LinkState::Up,
            Duration::from_secs(10)
        )
        .await
    );
    let conn = rusqlite::Connection::open(config.db_path()).unwrap();
    for i in 0..3 {
        queue_text(&conn, &format!("r{i}"), &format!("+4860000010{i}"), "hello");
    }
    let two = wait_until(Duration::from_secs(10), || {
        sms_rows(&config).iter().filter(|r| r.1 != "queued").count() == 2
    })
    .await;
    assert!(two, "{:?}", sms_rows(&config));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sms_rows(&config)[2].1,
        "queued",
        "the third waits for the next minute"
    );
    assert_eq!(modem.log.lock().unwrap().pdus.len(), 2);
    gateway.stop().await;

    // A modem that hangs while a text is due: the send fails, a resync finds it again.
    let config = {
        let mut c = config.clone();
        c.sms.rate_per_minute = 100;
        c
    };
    let gateway = Gateway::start(&config).await.unwrap();
    assert!(
        pbxgw_tests::harness::wait_for_link(
            &gateway,
            "modem",
            pbxgw::link::LinkState::Up,
            Duration::from_secs(10)
        )
        .await
    );
    modem.set_mute(true);
    queue_text(&conn, "hung", "+48600000200", "after the hang");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    modem.set_mute(false);
    let sent = wait_until(Duration::from_secs(20), || {
        texts_at_modem(&modem)
            .iter()
            .any(|t| t.1 == "after the hang")
    })
    .await;
    assert!(sent, "{:?}", sms_rows(&config));
    gateway.stop().await;
}

/// The ladder's last step: a modem that stays silent after its port was re-opened gets its
/// power key pressed twice (off, then on) through the board profile's line, here a sysfs
/// LED-class directory watched by the test, which "powers the modem back on" after the second
/// press. The queued text then goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modem_silent_after_a_reopen_is_power_cycled_through_the_board_line() {
    let modem = ModemSim::start(ModemSimOptions::default())
        .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir().unwrap();
    let line = dir.path().join("leds/modem-power");
    std::fs::create_dir_all(&line).unwrap();
    std::fs::write(line.join("brightness"), "0").unwrap();
    let profile = dir.path().join("board.toml");
    std::fs::write(
        &profile,
        "name = \"test-box\"\n[leds]\npbx = { console = true }\n\
         [modem_power]\nsysfs = \"modem-power\"\npulse_ms = 300\npulses = 2\noff_s = 1\nboot_s = 1\n",
    )
    .unwrap();
    let board = format!(
        "[board]\nprofile = {:?}\nleds_root = {:?}\n",
        profile,
        dir.path().join("leds")
    );
    let config = config(dir.path(), &modem, &board);
    let gateway = Gateway::start(&config).await.unwrap();
    let up = |limit| {
        pbxgw_tests::harness::wait_for_link(&gateway, "modem", pbxgw::link::LinkState::Up, limit)
    };
    assert!(up(Duration::from_secs(10)).await);

    modem.set_mute(true);
    let presses = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let watcher = {
        let (presses, modem_mute) = (presses.clone(), modem.mute_handle());
        let brightness = line.join("brightness");
        std::thread::spawn(move || {
            let mut was_on = false;
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while std::time::Instant::now() < deadline {
                let on = std::fs::read_to_string(&brightness).is_ok_and(|b| b.trim() != "0");
                if on && !was_on {
                    let n = presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if n == 2 {
                        modem_mute.store(false, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                }
                was_on = on;
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let conn = rusqlite::Connection::open(config.db_path()).unwrap();
    queue_text(
        &conn,
        "after-power",
        "+48600000300",
        "after the power cycle",
    );
    let sent = wait_until(Duration::from_secs(120), || {
        texts_at_modem(&modem)
            .iter()
            .any(|t| t.1 == "after the power cycle")
    })
    .await;
    assert!(sent, "{:?}", sms_rows(&config));
    watcher.join().unwrap();
    assert_eq!(presses.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(
        std::fs::read_to_string(line.join("brightness"))
            .unwrap()
            .trim(),
        "0",
        "the key is released"
    );
    assert!(up(Duration::from_secs(5)).await);
    gateway.stop().await;
}
