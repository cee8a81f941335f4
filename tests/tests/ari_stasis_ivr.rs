//! The built-in Stasis IVR (gateway/src/pbx/ari/ivr.rs) against the fake Asterisk replaying
//! the real capture: a caller the dialplan sends to `Stasis(gwapp,ARG)` is answered, hears
//! the prompt (the fake plays it at once and says so on the WebSocket), and goes on in the
//! dialplan with the digit set, or without one after the silence, or is let go on hang-up.

use std::time::Duration;

use pbxgw::calls::CallRecord;
use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{stored_records, wait_until};
use pbxgw_tests::sim::ari::{AriSim, AriSimOptions};

fn config(dir: &std::path::Path, sim: &AriSim, arg: &str, timeout_s: u64) -> Config {
    let text = format!(
        r#"[gateway]
id = "ivr-test"
data_dir = {:?}
[[pbx]]
name = "asterisk"
kind = "ari"
url = "{}"
username = "gw"
password = "secret"
app = "gwapp"
[pbx.ivr]
arg = "{arg}"
prompt = "sound:welcome"
context = "inbound"
extension = "queue"
timeout_s = {timeout_s}
"#,
        dir.join("data"),
        sim.url()
    );
    Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap()
}

/// A fake Asterisk replaying at `speed` and a gateway whose IVR takes `Stasis(gwapp,ARG)`.
async fn start(
    speed: f64,
    arg: &str,
    timeout_s: u64,
) -> (AriSim, tempfile::TempDir, Config, Gateway) {
    let sim = AriSim::start(AriSimOptions {
        speed,
        ..AriSimOptions::new("gw", "secret")
    })
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &sim, arg, timeout_s);
    let gateway = Gateway::start(&config).await.unwrap();
    (sim, dir, config, gateway)
}

fn visits(gateway: &Gateway, outcome: &str) -> u64 {
    gateway
        .links()
        .counters()
        .get(&format!("pbx:asterisk:ivr:{outcome}"))
        .copied()
        .unwrap_or(0)
}

/// The REST requests about one channel, in order.
fn requests_for(sim: &AriSim, channel: &str) -> Vec<String> {
    sim.log
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(_, p)| p.contains(channel))
        .map(|(m, p)| format!("{m} {p}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_choose_a_digit_and_go_on_in_the_dialplan_with_it() {
    let (sim, _dir, config, gateway) = start(20.0, "inbound", 5).await;
    let all = wait_until(Duration::from_secs(30), || visits(&gateway, "chose") == 4).await;
    assert!(all, "{:?}", gateway.links().counters());
    assert_eq!(
        requests_for(&sim, "1795316996.19"),
        [
            "POST /ari/channels/1795316996.19/answer",
            "POST /ari/channels/1795316996.19/play/pbxgw-ivr-1795316996.19?media=sound%3Awelcome",
            "DELETE /ari/playbacks/pbxgw-ivr-1795316996.19",
            "POST /ari/channels/1795316996.19/variable?variable=IVR_DIGIT&value=1",
            "POST /ari/channels/1795316996.19/continue?context=inbound&extension=queue&priority=1",
        ]
    );
    // Only the callers sent with the IVR's argument: the click-to-call leg is not the IVR's,
    // so it goes on in the dialplan (`continue_unhandled`, on by default).
    assert_eq!(
        requests_for(&sim, "1795316989.0"),
        ["POST /ari/channels/1795316989.0/continue"]
    );
    // The digits reach the call records, where the ivr_digit SMS rules read them.
    let ended = wait_until(Duration::from_secs(30), || {
        sim.log.lock().unwrap().replay_done && stored_records(&config).len() >= 9
    })
    .await;
    assert!(ended);
    let customers: Vec<CallRecord> = stored_records(&config)
        .into_iter()
        .filter(|r| r.callee.as_deref() == Some("stasis"))
        .collect();
    assert_eq!(customers.len(), 4);
    assert!(customers
        .iter()
        .all(|r| r.ivr_digits.as_deref() == Some("12")));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_after_the_prompt_goes_on_without_a_digit() {
    // At real speed the first customer presses 1 about 3 s after entering; the IVR waits 1 s.
    let (sim, _dir, _config, gateway) = start(1.0, "inbound", 1).await;
    let went_on = wait_until(Duration::from_secs(30), || {
        visits(&gateway, "no-digit") >= 1
    })
    .await;
    assert!(went_on, "{:?}", gateway.links().counters());
    let requests = requests_for(&sim, "1795316996.19");
    assert_eq!(
        requests.last().map(String::as_str),
        Some(
            "POST /ari/channels/1795316996.19/continue?context=inbound&extension=queue&priority=1"
        )
    );
    assert!(
        !requests.iter().any(|r| r.contains("IVR_DIGIT")),
        "no digit set: {requests:?}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_in_the_ivr_is_let_go() {
    // The click-to-call leg (Stasis(gwapp,outbound), already up) hangs up 3 s in; the IVR
    // would wait 5 s for a digit.
    let (sim, _dir, _config, gateway) = start(1.0, "outbound", 5).await;
    let left = wait_until(Duration::from_secs(30), || visits(&gateway, "left") == 1).await;
    assert!(left, "{:?}", gateway.links().counters());
    assert_eq!(
        requests_for(&sim, "1795316989.0"),
        ["POST /ari/channels/1795316989.0/play/pbxgw-ivr-1795316989.0?media=sound%3Awelcome"],
        "no answer (already up), no continue (gone)"
    );
    gateway.stop().await;
}
