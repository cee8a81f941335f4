//! The central schema for a fleet (migration 005): `pbxgw_events` partitioned by month,
//! replays idempotent across a month boundary, gateways behind a transaction-pooling
//! PgBouncer, a database of the old schema migrated, retention by dropping partitions.
//!
//! These spawn the gateway and native services, so they run on the build host only.
#![cfg(target_arch = "x86_64")]

use std::path::Path;
use std::time::Duration;

use pbxgw::store::{self, StoreReader};
use pbxgw_tests::harness::{bin_path, wait_until, GatewayProc, PgBouncer, Postgres, TestConfig};

/// 2026-11-30 23:50:00 UTC: the events of [`fill_store`] cross into December.
const NEAR_MONTH_END_MS: i64 = 1_796_082_600_000;
const EVENTS: u64 = 1200;

/// A gateway's store holding `EVENTS` synthetic events one second apart from
/// [`NEAR_MONTH_END_MS`], not yet sent anywhere.
async fn fill_store(dir: &Path) {
    let mut options = pbxgw_tests::bench::store_options(dir, vec!["postgres".into()]);
    options.sync = pbxgw::config::SyncMode::Normal;
    let (appender, writer, _) = store::spawn_writer(
        store::open(&options).expect("open store"),
        options.clone(),
        tokio::runtime::Handle::current(),
    )
    .expect("writer");
    let mut last = None;
    for i in 0..EVENTS {
        let event = pbxgw_tests::synthetic::event(i, NEAR_MONTH_END_MS + i as i64 * 1000);
        last = Some(appender.submit(event).await.expect("submit"));
    }
    last.expect("events").committed().await.expect("commit");
    drop(appender);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .expect("join");
}

fn cursor(cfg: &TestConfig) -> u64 {
    StoreReader::open(&cfg.data_dir.join("pbxgw.db"))
        .and_then(|r| r.cursor("postgres"))
        .unwrap_or(0)
}

/// Sets the PostgreSQL sink's cursor back to the start: the next run sends everything again.
fn rewind(cfg: &TestConfig) {
    let db = rusqlite::Connection::open(cfg.data_dir.join("pbxgw.db")).expect("open db");
    db.execute(
        "UPDATE sink_cursor SET acked_seq = 0 WHERE sink = 'postgres'",
        [],
    )
    .expect("rewind cursor");
}

/// Runs each gateway until its PostgreSQL cursor reaches the last event, then stops it.
async fn drain(configs: &[(TestConfig, std::path::PathBuf)], scratch: &Path) {
    let mut procs: Vec<GatewayProc> = configs
        .iter()
        .map(|(cfg, path)| GatewayProc::run(path, &scratch.join(format!("{}.log", cfg.id))))
        .collect();
    let done = wait_until(Duration::from_secs(60), || {
        configs.iter().all(|(cfg, _)| cursor(cfg) >= EVENTS)
    })
    .await;
    for p in &mut procs {
        p.terminate();
    }
    let logs: String = procs.iter().map(GatewayProc::log).collect();
    assert!(done, "the gateways did not drain; their logs:\n{logs}");
    // A statement that outlived its transaction shows as an error of the other gateway
    // (its statement of the same name exists already, or its own is gone).
    assert!(
        !logs.contains("link lost"),
        "a PostgreSQL session failed behind the pooler:\n{logs}"
    );
}

async fn rows_by_partition(pg: &Postgres) -> Vec<(String, String, i64, i64)> {
    pg.client()
        .await
        .query(
            "SELECT gateway_id, tableoid::regclass::text, count(*), count(DISTINCT seq)
             FROM pbxgw_events GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("count rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Two gateway processes share one server connection through PgBouncer in transaction
/// mode (so a named statement either one left on it would collide with the other's of the
/// same name); their events cross a month boundary; then both replay everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_stay_idempotent_across_a_month_boundary_behind_pgbouncer() {
    let pg = Postgres::start();
    let bouncer = PgBouncer::start(&pg, 1);
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut configs = Vec::new();
    for id in ["gw-a", "gw-b"] {
        let mut cfg = TestConfig::new(id, &scratch.path().join(id));
        cfg.pg_url = Some(bouncer.url());
        std::fs::create_dir_all(&cfg.data_dir).expect("data dir");
        fill_store(&cfg.data_dir).await;
        let path = cfg.write(&scratch.path().join(format!("{id}.toml")));
        configs.push((cfg, path));
    }

    drain(&configs, scratch.path()).await;
    let first = rows_by_partition(&pg).await;
    // 1200 seconds from 23:50: 600 events in November, 600 in December, per gateway.
    let expected: Vec<(String, String, i64, i64)> = ["gw-a", "gw-b"]
        .iter()
        .flat_map(|gw| {
            ["pbxgw_events_y2026m11", "pbxgw_events_y2026m12"]
                .map(|p| (gw.to_string(), p.to_string(), 600, 600))
        })
        .collect();
    assert_eq!(first, expected, "pgbouncer log:\n{}", bouncer.log());

    for (cfg, _) in &configs {
        rewind(cfg);
        assert_eq!(cursor(cfg), 0);
    }
    drain(&configs, scratch.path()).await;
    assert_eq!(
        rows_by_partition(&pg).await,
        expected,
        "a replay added rows"
    );
    let calls: i64 = pg
        .client()
        .await
        .query_one("SELECT count(*) FROM pbxgw_calls", &[])
        .await
        .expect("count calls")
        .get(0);
    assert_eq!(
        calls,
        2 * EVENTS as i64 / 4,
        "one call record per synthetic call"
    );
}

/// A central database created by migrations 001-004 (unpartitioned `pbxgw_events` with
/// rows) is migrated by a gateway's first connection through PgBouncer; `pbxgw central
/// prune` then drops the months older than the age it is given, and nothing younger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_schema_migrates_and_prune_drops_whole_months() {
    let pg = Postgres::start();
    let bouncer = PgBouncer::start(&pg, 2);
    let client = pg.client().await;
    client
        .batch_execute(concat!(
            include_str!("../../migrations/postgres/001_pbxgw.sql"),
            include_str!("../../migrations/postgres/002_contacts.sql"),
            include_str!("../../migrations/postgres/003_call_rang.sql"),
            include_str!("../../migrations/postgres/004_call_charge.sql"),
            "CREATE TABLE pbxgw_schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO pbxgw_schema_migrations (version, name)
                 VALUES (1, '001'), (2, '002'), (3, '003'), (4, '004');
             INSERT INTO pbxgw_events (gateway_id, seq, ts, source, pbx, kind, payload) VALUES
                 ('old', 1, now() - interval '3 years', 'ctip', 'p', 'call.started', '{}'),
                 ('old', 2, now() - interval '2 years', 'ctip', 'p', 'call.started', '{}'),
                 ('old', 3, now(), 'ctip', 'p', 'call.started', '{}');"
        ))
        .await
        .expect("the old schema");

    let scratch = tempfile::tempdir().expect("temp dir");
    let mut cfg = TestConfig::new("old", scratch.path());
    cfg.pg_url = Some(bouncer.url());
    let conf = cfg.write(&scratch.path().join("pbxgw.toml"));
    let check = std::process::Command::new(bin_path("pbxgw"))
        .args(["check", "--connect", "-c"])
        .arg(&conf)
        .output()
        .expect("run pbxgw check");
    let said = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(said.contains("pbxgw_events"), "{said}");

    let partitioned: bool = client
        .query_one(
            "SELECT relkind = 'p' FROM pg_class WHERE relname = 'pbxgw_events'",
            &[],
        )
        .await
        .expect("relkind")
        .get(0);
    assert!(
        partitioned,
        "pbxgw_events is not partitioned after migration 005"
    );
    let kept: i64 = client
        .query_one(
            "SELECT count(*) FROM pbxgw_events WHERE gateway_id = 'old'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(kept, 3, "the old table's rows were not all carried over");

    let prune = std::process::Command::new(bin_path("pbxgw"))
        .args(["central", "prune", "--older-than", "400d", "-c"])
        .arg(&conf)
        .output()
        .expect("run pbxgw central prune");
    let out = String::from_utf8_lossy(&prune.stdout);
    assert!(
        prune.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("dropped ")).count(),
        2,
        "{out}"
    );
    let left: Vec<i64> = client
        .query("SELECT seq FROM pbxgw_events ORDER BY seq", &[])
        .await
        .expect("rows left")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        left,
        vec![3],
        "prune kept an old month or dropped the current one"
    );

    let refused = std::process::Command::new(bin_path("pbxgw"))
        .args(["central", "prune", "--older-than", "0d", "-c"])
        .arg(&conf)
        .output()
        .expect("run pbxgw central prune");
    assert!(!refused.status.success(), "an age of 0 was accepted");
}
