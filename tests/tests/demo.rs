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

/// An installer pointing `--fixtures` at an incomplete copy gets told which capture is
/// missing before anything starts, not a crash of a simulator halfway through.
#[tokio::test]
async fn a_fixtures_folder_without_the_ari_capture_is_refused_up_front() {
    let copy = tempfile::tempdir().unwrap();
    let real = pbxgw::fixtures::dir();
    for name in [
        "ctip/raw_stream_anon.txt",
        "asterisk/ami_session.raw",
        "asterisk/ami_session.chunks.jsonl",
    ] {
        let to = copy.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(real.join(name), to).unwrap();
    }
    let out = tokio::process::Command::new(bin_path("pbxgw"))
        .args(["demo", "--duration", "5", "--fixtures"])
        .arg(copy.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("ari_events.jsonl"), "{stderr}");
    assert!(stderr.contains("pass --fixtures"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("starting the PBX simulators"),
        "nothing starts"
    );
}
