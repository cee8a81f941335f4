//! `pbxgw demo` as the README runs it: the real binary, simulators replaying the captured
//! traffic, the modem on a pty, publishing to a (private) MQTT broker; it prints call
//! records and texts as they happen and exits 0 at `--duration`.
//!
//! The pty modem and Mosquitto are native to the build host: x86_64 only.
#![cfg(target_arch = "x86_64")]

use std::time::Duration;

use pbxgw_tests::harness::{bin_path, free_port, wait_until, Collector, Mosquitto};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_the_whole_data_path_and_stops_on_time() {
    let broker = Mosquitto::start();
    let central = Collector::start(broker.port(), "pbxgw/v1/demo/call/#", "demo-central").await;
    let api = free_port();
    let mut demo = tokio::process::Command::new(bin_path("pbxgw"))
        .args(["demo", "--duration", "10", "--speed", "0", "--api-port"])
        .arg(api.to_string())
        .arg("--mqtt")
        .arg(format!("127.0.0.1:{}", broker.port()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let page = wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", api)).is_ok()
    })
    .await;
    assert!(page, "the status page answers while the demo runs");
    let mut out = String::new();
    let mut stdout = demo.stdout.take().unwrap();
    let read = tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut out);
    let (status, _) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(demo.wait(), read)
    })
    .await
    .expect("the demo stops at --duration");
    assert!(status.unwrap().success(), "{out}");
    for part in [
        "call  asterisk ",
        "call  asterisk-ari",
        "call  slican",
        "SMS   to +48",
        "status page: http://127.0.0.1:",
        "uplink:mqtt      up",
        "built-in IVR: asterisk-ari ",
    ] {
        assert!(out.contains(part), "the demo printed no {part:?}:\n{out}");
    }
    let printed = out.lines().filter(|l| l.starts_with("call  ")).count();
    let received = wait_until(Duration::from_secs(5), || {
        central.messages().len() >= printed
    })
    .await;
    assert!(
        received,
        "central got {} of {printed} records",
        central.messages().len()
    );
    assert!(out.contains(&format!("{printed} calls ended")), "{out}");
}
