//! The spine's fault tests: the central side must end with every seq from 1 to N (no gap),
//! and any duplicate must carry the same `(gw, seq)`. Real Mosquitto and PostgreSQL are
//! started privately for each test; the gateway runs as a real process.
//!
//! These spawn native service binaries, so they run on the build host only (the aarch64
//! suite under qemu-user covers the in-process tests).
#![cfg(target_arch = "x86_64")]

use std::path::Path;
use std::time::Duration;

use pbxgw::store::{StoreReader, StoreStats};
use pbxgw_tests::harness::{
    bin_path, wait_until, Collector, GatewayProc, Mosquitto, Postgres, TestConfig,
};

fn stats(cfg: &TestConfig, sinks: &[&str]) -> StoreStats {
    let sinks: Vec<String> = sinks.iter().map(|s| s.to_string()).collect();
    StoreReader::open(&cfg.data_dir.join("pbxgw.db"))
        .expect("open the gateway's database")
        .stats(&sinks)
        .expect("read stats")
}

async fn pg_count(pg: &Postgres, gw: &str) -> (i64, i64, i64) {
    let client = pg.client().await;
    let row = client
        .query_one(
            "SELECT count(*), COALESCE(min(seq), 0), COALESCE(max(seq), 0) FROM pbxgw_events WHERE gateway_id = $1",
            &[&gw],
        )
        .await
        .expect("count pbxgw_events");
    (row.get(0), row.get(1), row.get(2))
}

/// Waits until PostgreSQL holds exactly seqs 1..=n for `gw` (the primary key makes each seq
/// appear once, so count + min + max prove there is no gap).
async fn wait_pg_complete(
    pg: &Postgres,
    gw: &str,
    first: i64,
    last: i64,
    limit: Duration,
) -> (i64, i64, i64) {
    let start = std::time::Instant::now();
    let want = (last - first + 1, first, last);
    loop {
        let got = pg_count(pg, gw).await;
        if got == want || start.elapsed() > limit {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn accepted_all(feeder: &GatewayProc, count: u64) -> bool {
    feeder
        .log()
        .contains(&format!("feeder: all {count} events accepted"))
}

fn setup(dir: &Path, id: &str) -> TestConfig {
    TestConfig::new(id, &dir.join("data"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_stream_then_restart_delivers_every_accepted_event() {
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(broker.port(), "pbxgw/v1/gw-kill/#", "central-kill").await;
    let mut cfg = setup(dir.path(), "gw-kill");
    cfg.mqtt_port = Some(broker.port());
    cfg.pg_url = Some(pg.url());
    cfg.sync = "full";
    let conf = cfg.write(&dir.path().join("pbxgw.toml"));
    let log = dir.path().join("gateway.log");

    let mut feeder = GatewayProc::feed(&conf, &log, 2000, 10_000_000, false);
    let streaming = wait_until(Duration::from_secs(30), || collector.events().len() >= 3000).await;
    assert!(streaming, "events did not flow:\n{}", feeder.log());
    feeder.kill9();

    let accepted = stats(&cfg, &["mqtt", "postgres"]).last_seq;
    assert!(accepted >= 3000, "only {accepted} accepted");
    // The broker publishes the Last Will as soon as the socket drops.
    let offline = wait_until(Duration::from_secs(10), || {
        collector
            .last_on("/status")
            .is_some_and(|m| m.payload["online"] == false)
    })
    .await;
    assert!(offline, "no offline status after kill -9");

    let mut gateway = GatewayProc::run(&conf, &log);
    assert!(
        collector
            .wait_for_all(1..=accepted, Duration::from_secs(60))
            .await,
        "MQTT missing events after restart:\n{}",
        gateway.log()
    );
    let pg_state =
        wait_pg_complete(&pg, "gw-kill", 1, accepted as i64, Duration::from_secs(60)).await;
    assert_eq!(pg_state, (accepted as i64, 1, accepted as i64));
    let status = gateway.terminate().expect("gateway stops on SIGTERM");
    assert!(status.success(), "exit {status:?}");
    let duplicates = collector.assert_complete(1..=accepted);
    eprintln!("{accepted} events, {duplicates} duplicates (same gw+seq) after kill -9");
    // Each call.ended was also published as a call record.
    let calls = collector
        .messages()
        .iter()
        .filter(|m| m.topic.contains("/call/syn-"))
        .count() as u64;
    assert!(
        calls >= accepted / 4,
        "{calls} call records for {accepted} events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_backlog_is_replayed_in_full_and_marked_historical() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(broker.port(), "pbxgw/v1/gw-outage/#", "central-outage").await;
    let mut cfg = setup(dir.path(), "gw-outage");
    cfg.mqtt_port = Some(broker.port());
    cfg.replay_rate = 5000;
    let conf = cfg.write(&dir.path().join("pbxgw.toml"));
    let log = dir.path().join("gateway.log");

    let count = 12_000;
    let mut feeder = GatewayProc::feed(&conf, &log, 1000, count, false);
    assert!(wait_until(Duration::from_secs(20), || collector.events().len() >= 1000).await);
    broker.stop();
    tokio::time::sleep(Duration::from_secs(4)).await;
    broker.restart();
    assert!(
        wait_until(Duration::from_secs(30), || accepted_all(&feeder, count)).await,
        "feeder did not finish:\n{}",
        feeder.log()
    );
    assert!(
        collector
            .wait_for_all(1..=count, Duration::from_secs(60))
            .await,
        "events missing after the outage:\n{}",
        feeder.log()
    );
    assert!(feeder.is_running(), "gateway died during the outage");
    feeder.terminate();
    collector.assert_complete(1..=count);
    let historical = collector
        .events()
        .values()
        .flatten()
        .filter(|v| v["historical"] == true)
        .count();
    assert!(
        historical > 0,
        "the backlog after the outage was not marked historical"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_drain_loses_nothing() {
    let mut pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = setup(dir.path(), "gw-pg");
    // First build a backlog while the database is unreachable.
    cfg.pg_url = Some(format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        pbxgw_tests::harness::free_port()
    ));
    let conf = cfg.write(&dir.path().join("pbxgw.toml"));
    let log = dir.path().join("gateway.log");
    let count: u64 = 120_000;
    let mut feeder = GatewayProc::feed(&conf, &log, 0, count, true);
    assert!(
        feeder
            .wait(Duration::from_secs(120))
            .is_some_and(|s| s.success()),
        "{}",
        feeder.log()
    );
    assert_eq!(stats(&cfg, &["postgres"]).sinks[0].backlog, count);

    cfg.pg_url = Some(pg.url());
    let conf = cfg.write(&dir.path().join("pbxgw.toml"));
    let mut gateway = GatewayProc::run(&conf, &log);
    let start = std::time::Instant::now();
    loop {
        let client = pg.client().await;
        let exists: bool = client
            .query_one("SELECT to_regclass('pbxgw_events') IS NOT NULL", &[])
            .await
            .unwrap()
            .get(0);
        if exists && pg_count(&pg, "gw-pg").await.0 >= 10_000 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "drain never started:\n{}",
            gateway.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pg.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.restart();
    let got = wait_pg_complete(&pg, "gw-pg", 1, count as i64, Duration::from_secs(90)).await;
    assert_eq!(got, (count as i64, 1, count as i64), "{}", gateway.log());
    assert!(gateway.terminate().is_some_and(|s| s.success()));
    assert_eq!(stats(&cfg, &["postgres"]).sinks[0].backlog, 0);
    // The call records of the 30,000 synthetic calls were upserted once each.
    let calls: i64 = pg
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pbxgw_calls WHERE gateway_id = 'gw-pg'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(calls, (count / 4) as i64);
    // Each names the phone it rang, answered there (the record's `rang`, as jsonb).
    let rang: i64 = pg
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pbxgw_calls WHERE gateway_id = 'gw-pg'
                 AND jsonb_array_length(rang) = 1 AND rang @> '[{\"answered\": true}]'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rang, (count / 4) as i64);
    // Every tenth was charged and recorded: the charge as a decimal with its currency, the
    // link as the record had it.
    let row = pg
        .client()
        .await
        .query_one(
            "SELECT count(*), sum(charge)::text, min(currency), count(recording_url)
             FROM pbxgw_calls WHERE gateway_id = 'gw-pg' AND charge IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    let charged = (count / 4).div_ceil(10) as i64;
    let expected_sum = format!("{:.4}", charged as f64 * 0.38);
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, i64>(3)
        ),
        (charged, expected_sum, "PLN".to_owned(), charged)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_cap_evicts_counts_reports_and_keeps_running() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(broker.port(), "pbxgw/v1/gw-cap/#", "central-cap").await;
    // The broker is down while the backlog outgrows the cap; it keeps the collector's session.
    broker.stop();
    let mut cfg = setup(dir.path(), "gw-cap");
    cfg.mqtt_port = Some(broker.port());
    cfg.max_size_mb = 4;
    let conf = cfg.write(&dir.path().join("pbxgw.toml"));
    let log = dir.path().join("gateway.log");
    let count = 60_000;
    let mut feeder = GatewayProc::feed(&conf, &log, 0, count, false);
    assert!(
        wait_until(Duration::from_secs(60), || accepted_all(&feeder, count)).await,
        "{}",
        feeder.log()
    );
    assert!(
        wait_until(Duration::from_secs(10), || stats(&cfg, &["mqtt"]).dropped
            > 0)
        .await,
        "nothing evicted at the cap"
    );
    // Eviction runs in rounds as the size is checked; wait until it has settled.
    let mut settled = stats(&cfg, &["mqtt"]).dropped;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = stats(&cfg, &["mqtt"]).dropped;
        if now == settled {
            break;
        }
        settled = now;
    }
    assert!(feeder.is_running(), "the gateway stopped at the size cap");
    assert!(feeder
        .log()
        .contains("evicted events that no sink had delivered yet"));

    // `pbxgw status` shows the loss.
    let out = std::process::Command::new(bin_path("pbxgw"))
        .args(["status", "--json", "-c", &conf.to_string_lossy()])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
    let s = stats(&cfg, &["mqtt"]);
    assert_eq!(shown["dropped"], s.dropped);
    let first = s.first_seq.unwrap();
    assert_eq!(s.dropped, first - 1, "every evicted row was undelivered");
    assert_eq!(s.last_seq, count);

    broker.restart();
    assert!(
        collector
            .wait_for_all(first..=count, Duration::from_secs(60))
            .await,
        "{}",
        feeder.log()
    );
    collector.assert_complete(first..=count);
    let status_ok = wait_until(Duration::from_secs(10), || {
        collector
            .last_on("/status")
            .is_some_and(|m| m.payload["dropped"] == s.dropped && m.payload["online"] == true)
    })
    .await;
    assert!(status_ok, "MQTT status does not report the dropped events");
    assert!(feeder.terminate().is_some_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_database_at_start_is_quarantined_and_service_runs() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let collector =
        Collector::start(broker.port(), "pbxgw/v1/gw-corrupt/#", "central-corrupt").await;
    let mut cfg = setup(dir.path(), "gw-corrupt");
    cfg.mqtt_port = Some(broker.port());
    std::fs::create_dir_all(&cfg.data_dir).unwrap();
    std::fs::write(
        cfg.data_dir.join("pbxgw.db"),
        b"this is not a database\n".repeat(300),
    )
    .unwrap();
    let conf = cfg.write(&dir.path().join("pbxgw.toml"));
    let log = dir.path().join("gateway.log");
    let mut feeder = GatewayProc::feed(&conf, &log, 0, 500, false);
    assert!(
        wait_until(Duration::from_secs(30), || accepted_all(&feeder, 500)).await,
        "{}",
        feeder.log()
    );
    let s = stats(&cfg, &["mqtt"]);
    assert_eq!(s.quarantined, 1);
    let first = s.first_seq.unwrap();
    assert!(
        first > 1_000_000,
        "new seqs must not collide with the lost database's"
    );
    assert!(
        collector
            .wait_for_all(first..=first + 499, Duration::from_secs(30))
            .await
    );
    collector.assert_complete(first..=first + 499);
    let kept: Vec<_> = std::fs::read_dir(&cfg.data_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("pbxgw.db.corrupt-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the corrupt file is kept for analysis");
    assert!(feeder.is_running());
    assert!(feeder.terminate().is_some_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_commands_and_clean_shutdown() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(broker.port(), "pbxgw/v1/gw-ops/#", "central-ops").await;
    let mut cfg = setup(dir.path(), "gw-ops");
    cfg.mqtt_port = Some(broker.port());
    let conf = cfg.write(&dir.path().join("pbxgw.toml"));
    let log = dir.path().join("gateway.log");
    let mut feeder = GatewayProc::feed(&conf, &log, 0, 8, false);
    assert!(
        collector.wait_for_all(1..=8, Duration::from_secs(20)).await,
        "{}",
        feeder.log()
    );
    let status = collector.last_on("/status").expect("retained status");
    assert_eq!(status.payload["online"], true);
    assert_eq!(status.payload["gw"], "gw-ops");
    assert!(status.payload["links"]["uplink:mqtt"]["state"].is_string());

    // A command on cmd/ping is answered on cmd-result/{request_id}.
    let (client, mut eventloop) = rumqttc::AsyncClient::new(
        rumqttc::MqttOptions::new("central-cmd", "127.0.0.1", broker.port()),
        10,
    );
    let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client
        .publish(
            "pbxgw/v1/gw-ops/cmd/ping",
            rumqttc::QoS::AtLeastOnce,
            false,
            r#"{"request_id":"r-42"}"#,
        )
        .await
        .unwrap();
    let answered = wait_until(Duration::from_secs(10), || {
        collector
            .last_on("/cmd-result/r-42")
            .is_some_and(|m| m.payload["ok"] == true)
    })
    .await;
    assert!(answered, "no answer to cmd/ping:\n{}", feeder.log());
    pump.abort();

    // Event payloads follow the documented schema.
    let events = collector.events();
    let e = &events[&4][0];
    assert_eq!(e["v"], 1);
    assert_eq!(e["kind"], "call.ended");
    assert_eq!(e["disposition"], "answered");
    assert!(e["ts"].as_str().unwrap().ends_with('Z'));
    let record = collector
        .last_on("/call/syn-0")
        .expect("call record published");
    assert_eq!(record.payload["billsec_s"], 50);

    // `pbxgw events` prints the local log as JSON lines, raw lines included.
    let out = std::process::Command::new(bin_path("pbxgw"))
        .args(["events", "-c", &conf.to_string_lossy(), "--since", "2"])
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (3..=8).collect::<Vec<_>>()
    );
    assert!(lines[0]["raw"]
        .as_str()
        .unwrap()
        .contains("Event: Synthetic"));

    // SIGTERM: clean exit, and the retained status says offline.
    let exit = feeder.terminate().expect("stops on SIGTERM");
    assert!(exit.success());
    let offline = wait_until(Duration::from_secs(5), || {
        collector
            .last_on("/status")
            .is_some_and(|m| m.payload["online"] == false)
    })
    .await;
    assert!(offline);
}
