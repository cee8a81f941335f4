//! SMS through the PBX's own GSM module (CTIP LOGI/SMSS/SMSA/SMSR/SMSG/SOK) against the
//! simulator, which behaves like the real IPU in `gsm_session_anon.txt`.

use std::time::Duration;

use pbxgw::config::Secret;
use pbxgw::link::Links;
use pbxgw::pbx::ctip::codec::CodePage;
use pbxgw::pbx::ctip::gsm::{GsmError, GsmEvent, GsmRoute, GsmSession};
use pbxgw::pbx::ctip::session::CtipSettings;
use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SIM_PIN: &str = "2468";

/// The real incoming SMS of the fixture, with its raw IBM852 `ę`.
const REAL_SMSG: &str =
    "aSMSG G001 52 +48511222333 N 0,1,1 2021-12-07_18:03:04 Ok. Jutro przyjadę.";

fn start(sim: &CtipSim) -> (GsmRoute, mpsc::Receiver<GsmEvent>, CancellationToken) {
    let (route, requests) = GsmRoute::channel();
    let (events_tx, events) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let session = GsmSession {
        link: CtipSettings {
            name: "slican".into(),
            host: "127.0.0.1".into(),
            port: sim.port(),
            pin: Secret::new("unused"),
            code_page: CodePage::ibm852(),
            probe_after: Duration::from_secs(60),
        },
        module: "G001".into(),
        sim_pin: Secret::new(SIM_PIN),
        links: Links::new(),
        requests,
        events: events_tx,
        shutdown: shutdown.clone(),
    };
    tokio::spawn(session.run());
    (route, events, shutdown)
}

async fn next_event(events: &mut mpsc::Receiver<GsmEvent>) -> GsmEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("channel open")
}

async fn send_when_up(route: &GsmRoute, dest: &str, text: &str) -> Result<Vec<String>, GsmError> {
    for _ in 0..50 {
        match route.send(dest, text).await {
            Err(GsmError::NotConnected) => tokio::time::sleep(Duration::from_millis(100)).await,
            other => return other,
        }
    }
    Err(GsmError::NotConnected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_polish_sms_reports_and_the_buffered_incoming_sms() {
    let sim = CtipSim::start(CtipSimOptions {
        gsm_inbox: vec![REAL_SMSG.into()],
        ..CtipSimOptions::new(SIM_PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let (route, mut events, shutdown) = start(&sim);
    // The module re-sends its buffered SMS at login; we get it once, acknowledged.
    assert_eq!(
        next_event(&mut events).await,
        GsmEvent::Received {
            from: "+48511222333".into(),
            sent_at: "2021-12-07_18:03:04".into(),
            text: "Ok. Jutro przyjadę.".into()
        }
    );
    // 80 Polish characters: UCS-2, two parts of 67 + 13 with one reference.
    let text = "Zażółć gęślą jaźń. ".repeat(4) + "Dzię";
    assert_eq!(text.chars().count(), 80);
    let orders = send_when_up(&route, "600100200", &text)
        .await
        .expect("sent");
    assert_eq!(orders.len(), 2);
    for _ in 0..2 {
        assert!(
            matches!(next_event(&mut events).await, GsmEvent::Delivered { dest: Some(d), .. } if d == "600100200")
        );
    }
    let sent = sim.stats.commands.lock().unwrap().clone();
    let smss: Vec<_> = sent.iter().filter(|c| c.starts_with("SMSS")).collect();
    assert_eq!(smss.len(), 2);
    let reference = smss[0]
        .split(' ')
        .nth(3)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        smss[0].starts_with(&format!(
            "SMSS G001 600100200 {reference},1,2 C2 N 167 Zażółć"
        )),
        "{}",
        smss[0]
    );
    assert!(
        smss[1].starts_with(&format!("SMSS G001 600100200 {reference},2,2 C2 N 167 ")),
        "{}",
        smss[1]
    );
    // Everything was acknowledged: the incoming SMS and both reports (the SOK goes out just
    // before the event is handed on, so give the simulator a moment to read it).
    assert!(sent.contains(&"SOK G001 52".to_owned()));
    let all_acked = pbxgw_tests::harness::wait_until(Duration::from_secs(5), || {
        sim.stats.gsm_unacked.lock().unwrap().is_empty()
    })
    .await;
    assert!(all_acked, "{:?}", sim.stats.gsm_unacked.lock().unwrap());
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_module_is_retried_and_a_rejection_is_typed() {
    let sim = CtipSim::start(CtipSimOptions {
        gsm_busy_first: true,
        ..CtipSimOptions::new(SIM_PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let (route, _events, shutdown) = start(&sim);
    let started = std::time::Instant::now();
    let orders = send_when_up(&route, "+48600100200", "Hello")
        .await
        .expect("sent after NA 4");
    assert_eq!(orders.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "NA 4 is retried after a few seconds"
    );
    shutdown.cancel();

    let sim = CtipSim::start(CtipSimOptions {
        gsm_reject: true,
        ..CtipSimOptions::new(SIM_PIN)
    })
    .await
    .expect("a simulator on a loopback port");
    let (route, _events, shutdown) = start(&sim);
    let r = send_when_up(&route, "600100200", "Hello").await;
    assert_eq!(
        r,
        Err(GsmError::Rejected {
            part: 1,
            error: "70".into()
        })
    );
    assert!(!r.unwrap_err().is_transient());
    assert_eq!(
        route.send("60 0", "x").await,
        Err(GsmError::Invalid(
            "destination: digits with an optional leading +"
        ))
    );
    shutdown.cancel();
}
