//! The AMI connector end to end, in one process: the fake Asterisk replays the real capture
//! with its real TCP chunking, the gateway logs in, correlates and stores; the store is then
//! read back. Also: a link dropped mid-call and the resync after it, and call control.

use std::collections::HashMap;
use std::time::Duration;

use pbxgw::calls::{CallRecord, Disposition, EventBody};
use pbxgw::config::Config;
use pbxgw::pbx::ami::control::{AmiAction, ControlError};
use pbxgw::runtime::Gateway;
use pbxgw::store::StoredEvent;
use pbxgw_tests::harness::wait_until;
use pbxgw_tests::sim::ami::{AmiSim, AmiSimBehaviour, ReplayPlan};

const SECRET: &str = "gw-secret-4711";

fn config(dir: &std::path::Path, port: u16, extra: &str) -> Config {
    let text = format!(
        "[gateway]\nid = \"ami-test\"\ndata_dir = {:?}\n[[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"gw\"\nsecret = \"{SECRET}\"\n{extra}",
        dir.join("data")
    );
    Config::from_toml(&text, std::path::Path::new("test.toml")).expect("valid config")
}

fn stored(config: &Config) -> Vec<StoredEvent> {
    pbxgw_tests::harness::stored_events(config)
}

fn records(events: &[StoredEvent]) -> HashMap<String, CallRecord> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            Ok(EventBody::CallEnded(r)) => Some((r.call_id.clone(), r.as_ref().clone())),
            _ => None,
        })
        .collect()
}

async fn replay_sim(plan: ReplayPlan) -> AmiSim {
    AmiSim::replaying("gw", SECRET, plan)
        .await
        .expect("a simulator on a loopback port")
}

/// Runs a gateway against `sim` until the capture is replayed and no call is open.
async fn run_until_settled(sim: &AmiSim) -> (tempfile::TempDir, Gateway, Vec<StoredEvent>) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sim.port(), "");
    let gateway = Gateway::start(&config).await.unwrap();
    let settled = wait_until(Duration::from_secs(60), || {
        let events = stored(&config);
        let n = |k: &str| events.iter().filter(|e| e.kind == k).count();
        sim.log.lock().unwrap().replay_done
            && n("call.started") > 0
            && n("call.started") == n("call.ended")
    })
    .await;
    let events = stored(&config);
    assert!(settled, "calls did not settle: {} events", events.len());
    (dir, gateway, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replayed_capture_becomes_one_record_per_call() {
    let sim = replay_sim(ReplayPlan::default()).await;
    let (_dir, gateway, events) = run_until_settled(&sim).await;
    let records = records(&events);
    assert_eq!(
        records.len(),
        35,
        "34 driver calls + the ARI call (its 4 agent legs and the parked call's pickup are part of the calls they joined)"
    );
    let mut by = HashMap::new();
    for r in records.values() {
        *by.entry(r.disposition.as_str()).or_insert(0) += 1;
    }
    assert_eq!(by["answered"], 22);
    assert_eq!(by["busy"], 2);
    assert_eq!(by["abandoned"], 2);
    assert!(events.iter().any(|e| e.kind == "agent.state"));
    assert!(events.iter().any(|e| e.kind == "call.dtmf"));
    // The events keep the raw AMI text they came from.
    let dtmf = events.iter().find(|e| e.kind == "call.dtmf").unwrap();
    assert!(dtmf
        .raw
        .as_deref()
        .unwrap_or("")
        .starts_with("Event: DTMFEnd\r\n"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_dropped_mid_call_resyncs_and_no_call_stays_open() {
    let sim = replay_sim(ReplayPlan {
        speed: 0.0,
        drop_at_s: Some(25.0),
        resume_at_s: Some(35.0),
        repeat: false,
    })
    .await;
    let (_dir, gateway, events) = run_until_settled(&sim).await;
    assert_eq!(sim.log.lock().unwrap().drops, 1);
    assert!(sim.log.lock().unwrap().logins_ok >= 2);
    let records = records(&events);
    let lost: Vec<&CallRecord> = records
        .values()
        .filter(|r| r.hangup_cause.as_deref() == Some("ended during link loss"))
        .collect();
    assert!(!lost.is_empty(), "calls that ended in the gap are closed");
    // Calls up across the gap continue under the same id: one start, one end each.
    let mut started: HashMap<&str, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == "call.started") {
        *started.entry(e.call_id.as_deref().unwrap()).or_default() += 1;
    }
    assert!(started.values().all(|n| *n == 1));
    assert_eq!(started.len(), records.len());
    let answered_across = records
        .values()
        .filter(|r| {
            r.disposition == Disposition::Answered
                && r.hangup_cause.as_deref() != Some("ended during link loss")
        })
        .count();
    assert!(answered_across > 10, "{answered_across}");
    let link = gateway.links().snapshot()["pbx:asterisk"].clone();
    assert_eq!(
        link.state,
        pbxgw::link::LinkState::Up,
        "back up after the drop"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_actions_get_typed_answers() {
    let sim = AmiSim::start_with(
        "gw",
        SECRET,
        AmiSimBehaviour {
            events_after_login: vec![
                "Event: Newchannel\r\nChannel: PJSIP/201-00000001\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nChannelState: 4\r\nExten: 100\r\nContext: from-internal\r\n\r\n".into(),
            ],
            ignore_actions: vec!["atxfer".into()],
            ..Default::default()
        },
    )
    .await.expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        sim.port(),
        "originate_channel = \"SIP/{extension}\"\n",
    );
    let mut settings_answer = config.clone();
    if let pbxgw::config::PbxConfig::Ami(ami) = &mut settings_answer.pbx[0] {
        ami.probe_after_s = 30;
    }
    let gateway = Gateway::start(&settings_answer).await.unwrap();
    let control = gateway.ami_control("asterisk").unwrap();
    let up = pbxgw_tests::harness::wait_for_link(
        &gateway,
        "pbx:asterisk",
        pbxgw::link::LinkState::Up,
        Duration::from_secs(10),
    )
    .await;
    assert!(up);
    let done = control
        .send(AmiAction::Originate {
            extension: "201".into(),
            number: "+48221598154".into(),
            caller_id: None,
        })
        .await
        .expect("originate");
    assert_eq!(done.message, "Originate successfully queued");
    let originate = sim
        .log
        .lock()
        .unwrap()
        .actions
        .iter()
        .find(|a| a.get("Action") == Some("Originate"))
        .cloned()
        .unwrap();
    assert_eq!(originate.get("Channel"), Some("SIP/201"));
    assert_eq!(originate.get("Exten"), Some("+48221598154"));
    control
        .send(AmiAction::Hangup {
            channel: "PJSIP/201-00000001".into(),
        })
        .await
        .expect("hangup");
    let refused = control
        .send(AmiAction::Hangup {
            channel: "PJSIP/999-00000009".into(),
        })
        .await;
    assert_eq!(
        refused,
        Err(ControlError::Refused {
            action: "Hangup".into(),
            message: "No such channel".into()
        })
    );
    control
        .send(AmiAction::QueuePause {
            interface: "PJSIP/201".into(),
            queue: Some("sales".into()),
            paused: true,
            reason: Some("lunch".into()),
        })
        .await
        .expect("pause");
    for action in [
        AmiAction::Redirect {
            channel: "PJSIP/201-00000001".into(),
            exten: "205".into(),
            context: "from-internal".into(),
        },
        AmiAction::MixMonitor {
            channel: "PJSIP/201-00000001".into(),
            file: "call-1.wav".into(),
        },
        AmiAction::StopMixMonitor {
            channel: "PJSIP/201-00000001".into(),
        },
    ] {
        control
            .send(action.clone())
            .await
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
    }
    let bad = control
        .send(AmiAction::Hangup {
            channel: "x\r\nAction: Logoff".into(),
        })
        .await;
    assert!(matches!(bad, Err(ControlError::Invalid(_))), "{bad:?}");
    let started = std::time::Instant::now();
    let late = control
        .send(AmiAction::Atxfer {
            channel: "PJSIP/201-00000001".into(),
            exten: "220".into(),
            context: "from-internal".into(),
        })
        .await;
    assert_eq!(late, Err(ControlError::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "the per-action timeout applies"
    );
    gateway.stop().await;
    // With the gateway stopped the handle says so instead of hanging.
    let after = control
        .send(AmiAction::Hangup {
            channel: "PJSIP/201-00000001".into(),
        })
        .await;
    assert_eq!(after, Err(ControlError::NotConnected));
}

/// `pbxgw check --connect` for an Asterisk: logged in and channels listed, or what to fix in
/// manager.conf, never the secret.
#[cfg(target_arch = "x86_64")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_connect_logs_in_or_says_what_to_fix() {
    let sim = AmiSim::start("gw", SECRET)
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let run = |secret: &str| {
        let conf = dir.path().join(format!("pbxgw-{}.toml", secret.len()));
        let text = format!(
            "[gateway]\nid = \"check\"\ndata_dir = {:?}\n[[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"{secret}\"\n",
            dir.path().join("data"),
            sim.port()
        );
        std::fs::write(&conf, text).unwrap();
        let bin = pbxgw_tests::harness::bin_path("pbxgw");
        async move {
            let out = tokio::process::Command::new(bin)
                .args(["check", "--connect", "-c", &conf.to_string_lossy()])
                .output()
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.code(), text)
        }
    };
    let (code, out) = run(SECRET).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("PBX asterisk: reachable at 127.0.0.1:") && out.contains("0 channels up"),
        "{out}"
    );
    let (code, out) = run("not-the-secret").await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Authentication failed") && out.contains("manager.conf"),
        "{out}"
    );
    assert!(
        !out.contains("not-the-secret") && !out.contains(SECRET),
        "{out}"
    );
}
