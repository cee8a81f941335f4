//! `pbxgw run` and SIGHUP: the configuration file is read and checked again; a valid one puts
//! its SMS rules in force at once, an invalid one is refused with the reason in the log and
//! the running rules stay; the gateway keeps running either way.
//!
//! It spawns the gateway's binary, built for the build host: x86_64 only.
#![cfg(target_arch = "x86_64")]

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pbxgw_tests::harness::{free_port, http, wait_until, GatewayProc};

fn config(data: &std::path::Path, api: u16, rules: &str) -> String {
    format!(
        "[gateway]\nid = \"gw-reload\"\ndata_dir = {data:?}\n[api]\nbind = \"127.0.0.1:{api}\"\n\
         token = \"{TOKEN}\"\n[commands]\nallow = [\"config.reload\"]\n{rules}"
    )
}

const TOKEN: &str = "reload-token-0123456789";

const RULE: &str =
    "[[sms.rule]]\nname = \"missed\"\non = \"missed_call\"\ntext = \"Oddzwonimy.\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_sms_rules_and_refuses_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let (data, path, log) = (
        dir.path().join("data"),
        dir.path().join("pbxgw.toml"),
        dir.path().join("gateway.log"),
    );
    let api = free_port();
    std::fs::write(&path, config(&data, api, RULE)).unwrap();
    let mut gateway = GatewayProc::run(&path, &log);
    let pid = Pid::from_raw(gateway.pid().expect("running") as i32);
    assert!(
        wait_until(Duration::from_secs(20), || gateway
            .log()
            .contains("pbxgw running"))
        .await,
        "{}",
        gateway.log()
    );

    let two = format!("{RULE}{}", RULE.replace("\"missed\"", "\"again\""));
    std::fs::write(&path, config(&data, api, &two)).unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    let reloaded = wait_until(Duration::from_secs(10), || {
        gateway
            .log()
            .contains("configuration reloaded: 2 SMS rules, the number policy and the contact sync period in force")
    })
    .await;
    assert!(reloaded, "{}", gateway.log());

    std::fs::write(
        &path,
        config(
            &data,
            api,
            "[[sms.rule]]\nname = \"x\"\non = \"ivr_digit\"\ntext = \"\"\n",
        ),
    )
    .unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    let refused = wait_until(Duration::from_secs(10), || {
        gateway.log().contains("configuration not reloaded")
    })
    .await;
    let text = gateway.log();
    assert!(refused, "{text}");
    assert!(
        text.contains("sms.rule[0].digit"),
        "the reason is named: {text}"
    );
    assert!(
        gateway.is_running(),
        "a broken file does not stop the gateway"
    );

    // The same from central (MQTT `cmd/config.reload`) or the local API: refused with the
    // problems while the file is broken, then the rules of the mended file.
    let reload = || {
        http(
            api,
            "POST",
            "/api/commands/config.reload",
            Some(TOKEN),
            Some("{}"),
        )
    };
    let (status, body) = reload().await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("invalid_config") && body.contains("sms.rule[0].digit"),
        "{body}"
    );
    std::fs::write(&path, config(&data, api, RULE)).unwrap();
    let (status, body) = reload().await;
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("\"sms_rules\":1"), "{body}");
    assert_eq!(gateway.terminate().and_then(|s| s.code()), Some(0));
}
