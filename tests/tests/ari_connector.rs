//! The ARI connector end to end against the fake Asterisk (gateway/src/demo/sim/ari.rs): the
//! real event capture over a real WebSocket becomes call records; a dropped WebSocket is
//! reconnected and resynced from `GET /channels` without losing or doubling a call; a wrong
//! password needs the installer and is never shown; REST refusals come back typed with
//! Asterisk's status and message, and a silent server times out.

use std::collections::BTreeMap;
use std::time::Duration;

use pbxgw::calls::{CallRecord, Disposition};
use pbxgw::config::Config;
use pbxgw::link::LinkState;
use pbxgw::pbx::ari::rest::{AriError, AriRest};
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{stored_records, wait_until};
use pbxgw_tests::sim::ari::{AriSim, AriSimOptions};

fn config(dir: &std::path::Path, sim: &AriSim, password: &str) -> Config {
    let text = format!(
        "[gateway]\nid = \"ari-test\"\ndata_dir = {:?}\n[[pbx]]\nname = \"asterisk\"\nkind = \"ari\"\nurl = \"{}\"\nusername = \"gw\"\npassword = \"{password}\"\napp = \"gwapp\"\nprobe_after_s = 1\n",
        dir.join("data"),
        sim.url()
    );
    Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap()
}

fn records(config: &Config) -> BTreeMap<String, CallRecord> {
    stored_records(config)
        .into_iter()
        .map(|r| (r.call_id.clone(), r))
        .collect()
}

/// Runs the capture through a gateway; the records once all 9 calls ended.
async fn run(options: AriSimOptions) -> (AriSim, BTreeMap<String, CallRecord>) {
    let sim = AriSim::start(options)
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &sim, "secret");
    let gateway = Gateway::start(&config).await.unwrap();
    let ended = wait_until(Duration::from_secs(30), || {
        sim.log.lock().unwrap().replay_done && records(&config).len() >= 9
    })
    .await;
    let got = records(&config);
    assert!(ended, "{} records: {got:#?}", got.len());
    let link = gateway.links().snapshot()["pbx:asterisk"].clone();
    assert_eq!(link.state, LinkState::Up, "{link:?}");
    // The WebSocket pings every second; its round trips are on record.
    let measured = wait_until(Duration::from_secs(10), || {
        gateway
            .links()
            .quality
            .history()
            .get("pbx:asterisk")
            .is_some_and(|s| s.iter().any(|s| s.rtt_ms.is_some()))
    })
    .await;
    assert!(measured);
    gateway.stop().await;
    (sim, got)
}

fn check_the_capture(records: &BTreeMap<String, CallRecord>) {
    assert_eq!(records.len(), 9, "{records:#?}");
    let customers: Vec<&CallRecord> = records
        .values()
        .filter(|r| r.callee.as_deref() == Some("stasis"))
        .collect();
    assert_eq!(customers.len(), 4);
    for r in &customers {
        assert_eq!(r.disposition, Disposition::Answered, "{r:?}");
        assert_eq!(r.extension.as_deref(), Some("ari"));
        assert_eq!(r.ivr_digits.as_deref(), Some("12"));
    }
    assert_eq!(
        customers
            .iter()
            .filter_map(|r| r.recording.as_deref())
            .collect::<Vec<_>>(),
        ["gw-rec-14682-3.wav"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_captured_events_become_call_records() {
    let (sim, records) = run(AriSimOptions::new("gw", "secret")).await;
    check_the_capture(&records);
    let log = sim.log.lock().unwrap();
    // Channels entering the application (none for a built-in IVR here) go on in the
    // dialplan: pbxgw only listens.
    let continued: Vec<&str> = log
        .requests
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with("/continue"))
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(continued.len(), 9, "every StasisStart: {continued:?}");
    assert!(continued.contains(&"/ari/channels/1795316989.0/continue"));
    assert_eq!(log.ws_connects, 1);
    assert!(log
        .requests
        .iter()
        .any(|(m, p)| m == "GET" && p == "/ari/channels"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_websocket_is_reconnected_and_resynced_without_losing_a_call() {
    let options = AriSimOptions {
        drop_after: Some(120),
        speed: 20.0,
        ..AriSimOptions::new("gw", "secret")
    };
    let (sim, records) = run(options).await;
    check_the_capture(&records);
    let log = sim.log.lock().unwrap();
    assert_eq!(log.ws_connects, 2, "one reconnect");
    let lists = log
        .requests
        .iter()
        .filter(|(m, p)| m == "GET" && p == "/ari/channels")
        .count();
    assert!(lists >= 2, "a resync after each connect: {lists}");
    let bridges = log
        .requests
        .iter()
        .filter(|(m, p)| m == "GET" && p == "/ari/bridges")
        .count();
    assert_eq!(bridges, lists, "bridges listed with the channels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_needs_the_installer_and_is_never_shown() {
    let sim = AriSim::start(AriSimOptions::new("gw", "secret"))
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &sim, "not-the-password-123");
    let gateway = Gateway::start(&config).await.unwrap();
    let refused = wait_until(Duration::from_secs(10), || {
        gateway
            .links()
            .snapshot()
            .get("pbx:asterisk")
            .is_some_and(|l| l.state == LinkState::NeedsInstaller)
    })
    .await;
    let link = gateway.links().snapshot()["pbx:asterisk"].clone();
    assert!(refused, "{link:?}");
    let detail = link.detail.unwrap_or_default();
    assert!(detail.contains("username/password"), "{detail}");
    assert!(!detail.contains("not-the-password-123"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sim.log.lock().unwrap().refused,
        1,
        "no hammering after a refusal"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_refusals_are_typed_and_a_silent_server_times_out() {
    let sim = AriSim::start(AriSimOptions::new("gw", "secret"))
        .await
        .expect("a simulator on a loopback port");
    let tls = pbxgw::tls::client_config_or_plain(None).unwrap();
    let password = pbxgw::config::Secret::new("secret");
    let rest = AriRest::new(
        &sim.url(),
        "gw",
        &password,
        tls.clone(),
        Duration::from_secs(5),
    );
    let err = rest
        .call("GET", "/channels/no-such-channel")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AriError::Refused {
            what: "GET /channels/no-such-channel".into(),
            status: 404,
            message: "Channel not found".into()
        }
    );
    assert!(err.is_gone());
    assert!(rest.hangup("1795317002.37").await.unwrap_err().is_gone());
    let bridge = rest.bridge_create("mixing", "gw-call-1").await.unwrap();
    assert_eq!(bridge.id, "0dd2985e-a0e0-48ff-83c8-6edb865b61e9");
    assert_eq!(rest.channels().await.unwrap(), vec![]);
    let wrong = AriRest::new(
        &sim.url(),
        "gw",
        &pbxgw::config::Secret::new("wrong"),
        tls.clone(),
        Duration::from_secs(5),
    );
    assert_eq!(wrong.channels().await.unwrap_err(), AriError::Unauthorized);
    // A server that takes the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let slow = AriRest::new(
        &format!("http://127.0.0.1:{port}"),
        "gw",
        &password,
        tls,
        Duration::from_millis(300),
    );
    assert!(matches!(
        slow.answer("1").await,
        Err(AriError::Timeout(what, _)) if what == "POST /channels/1/answer"
    ));
}

/// `pbxgw check --connect` with an ARI PBX: logged in, events flowing, or what to fix. Spawns
/// the binary of the build host (like the other CLI tests): x86_64 only.
#[cfg(target_arch = "x86_64")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_connect_says_logged_in_or_what_to_fix() {
    let sim = AriSim::start(AriSimOptions::new("gw", "secret"))
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let (data, url) = (dir.path().to_owned(), sim.url());
    let check = move |password: &str| {
        let conf = data.join(format!("check-{}.toml", password.len()));
        std::fs::write(
            &conf,
            format!(
                "[gateway]\nid = \"ari-check\"\ndata_dir = {:?}\n[[pbx]]\nname = \"asterisk\"\nkind = \"ari\"\nurl = \"{}\"\nusername = \"gw\"\npassword = \"{password}\"\napp = \"gwapp\"\n",
                data.join("data"),
                url
            ),
        )
        .unwrap();
        let out = std::process::Command::new(pbxgw_tests::harness::bin_path("pbxgw"))
            .args(["check", "--connect", "-c"])
            .arg(&conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let (code, out) = tokio::task::spawn_blocking(move || (check("secret"), check("wrong-one-42")))
        .await
        .unwrap();
    assert_eq!(code.0, Some(0), "{}", code.1);
    assert!(
        code.1
            .contains("logged in (Asterisk 22.10.1), events of application gwapp flowing"),
        "{}",
        code.1
    );
    assert_eq!(out.0, Some(1), "{}", out.1);
    assert!(out.1.contains("ari.conf needs this password"), "{}", out.1);
    assert!(
        !out.1.contains("wrong-one-42"),
        "the password is never printed"
    );
}

/// Remote commands reach an ARI PBX through its REST control: click-to-call rings the
/// configured endpoint; hanging up a channel that is gone is Asterisk's refusal, typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_use_the_rest_control() {
    let sim = AriSim::start(AriSimOptions::new("gw", "secret"))
        .await
        .expect("a simulator on a loopback port");
    let tls = pbxgw::tls::client_config_or_plain(None).unwrap();
    let rest = AriRest::new(
        &sim.url(),
        "gw",
        &pbxgw::config::Secret::new("secret"),
        tls,
        Duration::from_secs(5),
    );
    let control = pbxgw::pbx::ari::AriControl {
        rest,
        originate: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Config::from_toml(
        &format!("[gateway]\nid = \"t\"\ndata_dir = {:?}\n", dir.path()),
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    drop(pbxgw::store::open(&pbxgw::store::StoreOptions::from_config(&store)).unwrap());
    let commands = pbxgw::commands::Commands::new(
        pbxgw::config::CommandsConfig {
            allow: vec!["call.originate".into(), "call.hangup".into()],
            rate_per_minute: 10,
        },
        store.db_path(),
        None,
        None,
        [(
            "asterisk".to_owned(),
            pbxgw::pbx::PbxControl::Ari(Box::new(control)),
        )]
        .into(),
        pbxgw::commands::Reach {
            plan: store.sms.plan(),
            policy: store.number_policy(),
        },
    );
    let (_, a) = commands
        .run(
            pbxgw::commands::Origin::Mqtt,
            "call.originate",
            br#"{"request_id":"o1","extension":"201","number":"+48221598154"}"#,
        )
        .await
        .unwrap();
    assert_eq!(a["ok"], true, "{a}");
    let log = sim.log.lock().unwrap().requests.clone();
    assert!(
        log.iter().any(|(m, p)| m == "POST"
            && p.starts_with(
                "/ari/channels?endpoint=PJSIP%2F201&extension=%2B48221598154&context=from-internal"
            )),
        "{log:?}"
    );
    let (_, a) = commands
        .run(
            pbxgw::commands::Origin::Mqtt,
            "call.hangup",
            br#"{"request_id":"h1","channel":"1795317002.37"}"#,
        )
        .await
        .unwrap();
    assert_eq!(a["error"]["code"], "refused", "{a}");
    assert_eq!(a["error"]["message"], "Channel not found");
}
