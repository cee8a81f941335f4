//! The network watch of a running gateway: `[[monitor]]` targets measured by TCP connect and
//! charted beside the links (`/api/quality`), a reachable server classified by its connect
//! time, a closed port as disconnected; the charts read back after a restart.

use std::time::Duration;

use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{free_port, http};
use serde_json::Value;

const TOKEN: &str = "network-watch-token-0123456789";

fn config(data: &std::path::Path, api: u16, monitors: &str) -> Config {
    let text = format!(
        "[gateway]\nid = \"gw-watch\"\ndata_dir = {data:?}\n[api]\nbind = \"127.0.0.1:{api}\"\ntoken = \"{TOKEN}\"\n{monitors}"
    );
    Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap()
}

async fn quality(port: u16) -> Value {
    let (_, body) = http(port, "GET", "/api/quality", Some(TOKEN), None).await;
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitored_servers_are_charted_and_the_charts_survive_a_restart() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = server.local_addr().unwrap();
    let down = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let monitors = format!(
        "[[monitor]]\nname = \"crm\"\ntarget = \"{up}\"\n[[monitor]]\nname = \"erp\"\ntarget = \"{down}\"\n"
    );
    let gateway = Gateway::start(&config(&data, port, &monitors))
        .await
        .unwrap();
    // The first round runs at start.
    let start = std::time::Instant::now();
    let now = loop {
        let now = quality(port).await["now"].clone();
        let measured = now["monitor:crm"].is_string() && now["monitor:erp"].is_string();
        if measured || start.elapsed() > Duration::from_secs(20) {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Loopback answers at once; nothing listens on the other port.
    assert_eq!(now["monitor:crm"], "excellent");
    assert_eq!(now["monitor:erp"], "disconnected");
    let before = quality(port).await["history"].clone();
    assert!(before["monitor:crm"][0]["rtt_ms"].is_u64(), "{before}");
    assert!(before["monitor:erp"][0]["rtt_ms"].is_null(), "{before}");
    gateway.stop().await;

    // Started again without the monitors: what was measured before is still charted.
    let port = free_port();
    let gateway = Gateway::start(&config(&data, port, "")).await.unwrap();
    let after = quality(port).await["history"].clone();
    assert_eq!(after["monitor:crm"], before["monitor:crm"]);
    assert_eq!(after["monitor:erp"], before["monitor:erp"]);
    gateway.stop().await;
    drop(server);
}
