//! The CTIP connector end to end, in one process: the simulator speaks CTIP on a loopback
//! port, the gateway logs in, correlates and stores; the store is then read back.

use std::time::Duration;

use pbxgw::config::Config;
use pbxgw::link::LinkState;
use pbxgw::runtime::Gateway;
use pbxgw::store::StoredEvent;
use pbxgw_tests::harness::wait_until;
use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};

const PIN: &str = "97531";

fn config(dir: &std::path::Path, port: u16, extra: &str) -> Config {
    let text = format!(
        "[gateway]\nid = \"ctip-test\"\ndata_dir = {:?}\n[[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {port}\npin = \"{PIN}\"\n{extra}",
        dir.join("data")
    );
    Config::from_toml(&text, std::path::Path::new("test.toml")).expect("valid config")
}

fn stored(config: &Config) -> Vec<StoredEvent> {
    pbxgw_tests::harness::stored_events(config)
}

fn count(events: &[StoredEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

/// A gateway logged in to the simulator, once `n` calls have ended in its store.
async fn gateway_until_calls_end(sim: &CtipSim, n: usize) -> (tempfile::TempDir, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sim.port(), "");
    let gateway = Gateway::start(&config).await.unwrap();
    let ended = wait_until(Duration::from_secs(10), || {
        count(&stored(&config), "call.ended") == n
    })
    .await;
    assert!(ended, "{n} calls did not end");
    (dir, gateway)
}

fn link(gateway: &Gateway) -> Option<pbxgw::link::LinkStatus> {
    gateway.links().snapshot().get("pbx:slican").cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_stream_becomes_calls_and_a_drop_closes_the_open_ones() {
    // 60 lines end with a call answered by 101 still going (L39-56 answered at L46; L56 is
    // its REL, so stop before it), and the link drops there.
    let sim = CtipSim::start(CtipSimOptions {
        drop_after: Some(50),
        ..CtipSimOptions::new(PIN).real_stream(200)
    })
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sim.port(), "ivr_map = { \"999\" = \"9\" }\n");
    let gateway = Gateway::start(&config).await.unwrap();
    let settled = wait_until(Duration::from_secs(20), || {
        let events = stored(&config);
        count(&events, "call.ended") > 0
            && count(&events, "call.ended") == count(&events, "call.started")
            && sim
                .stats
                .connections
                .load(std::sync::atomic::Ordering::SeqCst)
                >= 2
    })
    .await;
    let events = stored(&config);
    assert!(
        settled,
        "calls did not settle: {} started, {} ended",
        count(&events, "call.started"),
        count(&events, "call.ended")
    );
    // Every call event of a line carries that line; link-lost ends carry none.
    let with_raw = events.iter().filter(|e| e.raw.is_some()).count();
    assert!(with_raw > 0);
    assert!(events
        .iter()
        .filter(|e| e.kind == "call.ringing")
        .all(|e| e.raw.as_deref().is_some_and(|r| r.starts_with("aRING"))));
    let lost: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            Ok(pbxgw::calls::EventBody::CallEnded(r))
                if r.disposition == pbxgw::calls::Disposition::LinkLost =>
            {
                Some(r.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(lost.len(), 1, "the call open at the drop ends as link-lost");
    assert_eq!(lost[0].extension.as_deref(), Some("101"));
    // The connector logged in again after the drop.
    assert!(
        wait_until(Duration::from_secs(10), || link(&gateway)
            .is_some_and(|l| l.state == LinkState::Up))
        .await
    );
    assert!(sim.stats.logins.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_an_installer_state_that_names_the_reason_and_never_the_pin() {
    let sim = CtipSim::start(CtipSimOptions {
        refuse: Some(11),
        ..CtipSimOptions::new(PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sim.port(), "");
    let gateway = Gateway::start(&config).await.unwrap();
    let refused = wait_until(Duration::from_secs(10), || {
        link(&gateway).is_some_and(|l| l.state == LinkState::NeedsInstaller)
    })
    .await;
    assert!(refused, "{:?}", link(&gateway));
    let detail = link(&gateway).and_then(|l| l.detail).unwrap_or_default();
    assert!(
        detail.contains("NA 11") && detail.contains("wrong key"),
        "{detail}"
    );
    assert!(!detail.contains(PIN));
    // It does not hammer the PBX: no second attempt within a few seconds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        sim.stats.refused.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pbx_without_who_still_logs_in() {
    let sim = CtipSim::start(CtipSimOptions {
        answer_who: false,
        ..CtipSimOptions::new(PIN).real_stream(4)
    })
    .await
    .expect("a simulator on a loopback port");
    let (_dir, gateway) = gateway_until_calls_end(&sim, 1).await;
    gateway.stop().await;
}

/// Probes measure the link's round trip: WHO on a current PBX (even while events flow), the
/// RQST probe answered by STAT on one without WHO. Neither counts as a dead link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_put_the_round_trip_on_record_with_and_without_who() {
    for answer_who in [true, false] {
        let sim = CtipSim::start(CtipSimOptions {
            answer_who,
            ..CtipSimOptions::new(PIN).real_stream(4)
        })
        .await
        .expect("a simulator on a loopback port");
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), sim.port(), "probe_after_s = 1\n");
        let gateway = Gateway::start(&config).await.unwrap();
        let samples = || {
            gateway
                .links()
                .quality
                .history()
                .get("pbx:slican")
                .map(|s| s.iter().filter(|s| s.rtt_ms.is_some()).count())
                .unwrap_or(0)
        };
        let probes = || sim.stats.probes.load(std::sync::atomic::Ordering::SeqCst);
        let measured =
            wait_until(Duration::from_secs(20), || samples() >= 1 && probes() >= 4).await;
        assert!(
            measured,
            "who={answer_who}: {:?}",
            gateway.links().quality.history()
        );
        let history = gateway.links().quality.history();
        let last = history["pbx:slican"].last().unwrap();
        let rtt = last.rtt_ms.map(Duration::from_millis);
        assert!(rtt.is_some());
        assert_eq!(last.quality, pbxgw::link::quality::Quality::of(rtt));
        assert_eq!(
            sim.stats.logins.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "who={answer_who}: answered probes keep the link"
        );
        assert_eq!(link(&gateway).map(|l| l.state), Some(LinkState::Up));
        gateway.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_link_is_probed_then_dropped_and_reconnected() {
    let sim = CtipSim::start(CtipSimOptions {
        silent: true,
        ..CtipSimOptions::new(PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sim.port(), "probe_after_s = 1\n");
    let gateway = Gateway::start(&config).await.unwrap();
    let dropped = wait_until(Duration::from_secs(20), || {
        link(&gateway).is_some_and(|l| l.detail.as_deref().is_some_and(|d| d.contains("silent")))
    })
    .await;
    assert!(dropped, "{:?}", link(&gateway));
    assert!(
        wait_until(Duration::from_secs(15), || sim
            .stats
            .logins
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 2)
        .await
    );
    gateway.stop().await;
}

/// `pbxgw sniff` as an installer runs it: raw lines with arrival times, no PIN anywhere.
#[cfg(target_arch = "x86_64")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sniff_writes_every_raw_line_with_its_arrival_time() {
    let sim = CtipSim::start(CtipSimOptions::new(PIN).real_stream(30))
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pbxgw.toml");
    let config_text = format!(
        "[gateway]\nid = \"sniff\"\ndata_dir = {:?}\n[[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {}\npin = \"{PIN}\"\n",
        dir.path().join("data"),
        sim.port()
    );
    std::fs::write(&conf, config_text).unwrap();
    let out = dir.path().join("sniff.txt");
    let log = dir.path().join("sniff.log");
    let mut sniff = pbxgw_tests::harness::GatewayProc::spawn(
        "pbxgw",
        &[
            "sniff",
            "-c",
            &conf.to_string_lossy(),
            "--pbx",
            "slican",
            "-o",
            &out.to_string_lossy(),
        ],
        &log,
    );
    let all = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&out)
            .map(|t| t.lines().count() >= 31)
            .unwrap_or(false)
    })
    .await;
    assert!(all, "{}", sniff.log());
    assert!(sniff.terminate().is_some_and(|s| s.success()));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("# ") && lines[0].contains("NCP-000"),
        "{}",
        lines[0]
    );
    let (ts, raw) = lines[1].split_once('\t').expect("timestamp TAB line");
    assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    assert_eq!(raw, "aRING 105_ 351148054 0 517471313 _ Person_01");
    assert!(!text.contains(PIN) && !sniff.log().contains(PIN));
    // Nothing was stored.
    assert!(!dir.path().join("data").join("pbxgw.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_click_to_call_hang_up_reject_and_status() {
    use pbxgw::pbx::ctip::control::{CommandAnswer, CommandError, CtipCommand};
    let sim = CtipSim::start(CtipSimOptions {
        analog: vec!["103".into()],
        ..CtipSimOptions::new(PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sim.port(), "");
    let gateway = Gateway::start(&config).await.unwrap();
    let control = gateway.ctip_control("slican").expect("control handle");
    assert!(
        wait_until(Duration::from_secs(10), || link(&gateway)
            .is_some_and(|l| l.state == LinkState::Up))
        .await
    );

    // A system phone: PICK, wait for DRDY, then DIAL.
    let r = control
        .send(CtipCommand::Dial {
            ext: "101".into(),
            number: "0601234567".into(),
        })
        .await;
    assert_eq!(r, Ok(CommandAnswer::Done));
    // An analog phone answers PICK with NA 24: DIAL at once.
    let r = control
        .send(CtipCommand::Dial {
            ext: "103".into(),
            number: "0601234567".into(),
        })
        .await;
    assert_eq!(r, Ok(CommandAnswer::Done));
    assert_eq!(
        control
            .send(CtipCommand::Hangup { ext: "101".into() })
            .await,
        Ok(CommandAnswer::Done)
    );
    assert_eq!(
        control
            .send(CtipCommand::Reject {
                ext: "102".into(),
                target: Some("109".into())
            })
            .await,
        Ok(CommandAnswer::Done)
    );
    let Ok(CommandAnswer::Stat(flags)) = control
        .send(CtipCommand::Request { ext: "105".into() })
        .await
    else {
        panic!("RQST is answered with STAT")
    };
    assert_eq!(flags.hook, pbxgw::pbx::ctip::codec::Hook::OnHook);
    // The PBX's refusal comes back typed with the spec's meaning.
    let r = control
        .send(CtipCommand::Hangup { ext: "999".into() })
        .await;
    assert!(
        matches!(r, Err(CommandError::Refused(Some(c))) if c.0 == 7 && c.meaning() == "no such number"),
        "{r:?}"
    );
    // Fields that would break the framing never reach the wire.
    let r = control
        .send(CtipCommand::Dial {
            ext: "101 LOGA".into(),
            number: "1".into(),
        })
        .await;
    assert!(matches!(r, Err(CommandError::Invalid(_))));
    let sent = sim.stats.commands.lock().unwrap().clone();
    assert_eq!(
        sent,
        [
            "PICK 101_",
            "DIAL 101_ 0601234567",
            "PICK 103_",
            "DIAL 103_ 0601234567",
            "HANG 101_",
            "REJ 102_ 109",
            "RQST 105_",
            "HANG 999_"
        ]
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_while_the_link_is_down_are_refused_at_once() {
    use pbxgw::pbx::ctip::control::{CommandError, CtipCommand};
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let config = config(dir.path(), pbxgw_tests::harness::free_port(), "");
    let gateway = Gateway::start(&config).await.unwrap();
    let control = gateway.ctip_control("slican").unwrap();
    let started = std::time::Instant::now();
    let r = control
        .send(CtipCommand::Hangup { ext: "101".into() })
        .await;
    assert_eq!(r, Err(CommandError::NotConnected));
    assert!(started.elapsed() < Duration::from_secs(8));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_malformed_and_test_frames_are_counted_and_the_link_carries_on() {
    let lines = [
        "aXYZZY 1 2",
        "t",
        "aREL 101_ x",
        "hello",
        "t",
        "aRING 105_ 351148054 0 517471313 _ Person_01",
        "aREL 105_ 1",
    ];
    let sim = CtipSim::start(CtipSimOptions {
        lines: lines.iter().map(|l| l.to_string()).collect(),
        ..CtipSimOptions::new(PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let (_dir, gateway) = gateway_until_calls_end(&sim, 1).await;
    let counters = gateway.links().counters();
    assert_eq!(counters.get("pbx:slican:unknown"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("pbx:slican:malformed"), Some(&1));
    assert_eq!(counters.get("pbx:slican:test_frames"), Some(&2));
    assert_eq!(counters.get("pbx:slican:garbage"), Some(&1));
    gateway.stop().await;
}

/// `pbxgw check --connect`: the PBX step of the installer's checklist.
#[cfg(target_arch = "x86_64")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_connect_says_logged_in_or_what_to_fix() {
    let good = CtipSim::start(CtipSimOptions::new(PIN))
        .await
        .expect("a simulator on a loopback port");
    let refusing = CtipSim::start(CtipSimOptions {
        refuse: Some(11),
        ..CtipSimOptions::new(PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let run = |port: u16| {
        let conf = dir.path().join(format!("pbxgw-{port}.toml"));
        std::fs::write(
            &conf,
            format!(
                "[gateway]\nid = \"check\"\ndata_dir = {:?}\n[[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {port}\npin = \"{PIN}\"\n",
                dir.path().join("data")
            ),
        )
        .unwrap();
        let bin = pbxgw_tests::harness::bin_path("pbxgw");
        async move {
            let out = tokio::process::Command::new(bin)
                .args(["check", "--connect", "-c", &conf.to_string_lossy()])
                .output()
                .await
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        }
    };
    let (code, out) = run(good.port()).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("2. PBX slican: reachable at 127.0.0.1:")
            && out.contains("logged in (NCP-000"),
        "{out}"
    );
    let (code, out) = run(refusing.port()).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAILED")
            && out.contains("NA 11 (wrong key (PIN))")
            && out.contains("Check the pin"),
        "{out}"
    );
    assert!(!out.contains(PIN), "{out}");
}
