//! `fleet-bench`: a fleet on one machine. N gateway processes (this binary re-executed in
//! `gateway` mode, the runtime `pbxgw run` starts), each logged in to its own CTIP simulator
//! that loops the real NCP capture at a busy exchange's rate and ends with a burst, write to
//! one Mosquitto and to one PostgreSQL behind PgBouncer in transaction mode; the broker and
//! then the database are restarted mid-run. Printed: central ingest rate, lag from event to
//! central row, per-box RSS and CPU, central rows per CPU second; checked: every
//! `(gateway_id, seq)` of every box is in PostgreSQL exactly once and reached the central
//! MQTT subscriber at least once. Exit status 1 when that check fails.
//!
//! `--test-drop-row` deletes one central row before the check: the check must then fail
//! (the test suite runs it so, to show that it can).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use pbxgw::config::Config;
use pbxgw::store::StoreReader;
use pbxgw_tests::harness::{Mosquitto, PgBouncer, Postgres};
use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

#[derive(Debug, Parser)]
#[command(name = "fleet-bench")]
struct Args {
    /// Gateway processes.
    #[arg(long, default_value_t = 100)]
    boxes: usize,
    /// Seconds of steady traffic (the broker restarts at 1/3, the database at 2/3).
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// CTIP lines per second per box in the steady phase (a 200-seat call centre's peak).
    #[arg(long, default_value_t = 8.0)]
    rate: f64,
    /// Lines each box's PBX then sends as fast as the link takes them.
    #[arg(long, default_value_t = 500)]
    burst: usize,
    /// Server connections PgBouncer keeps for all gateways together.
    #[arg(long, default_value_t = 16)]
    pool: u32,
    /// Delete one central row before the exactly-once check (which must then fail).
    #[arg(long)]
    test_drop_row: bool,
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if argv.get(1).map(String::as_str) == Some("gateway") {
        let path = PathBuf::from(argv.get(2).map(String::as_str).unwrap_or_default());
        let config = Config::load(&path)?;
        return Ok(rt.block_on(pbxgw::runtime::run(config, path))?);
    }
    let args = Args::parse();
    let passed = rt.block_on(run(args))?;
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}

/// One box: its PBX simulator, data dir and gateway process.
struct GatewayBox {
    id: String,
    db: PathBuf,
    sim: CtipSim,
    lines: usize,
    child: std::process::Child,
}

impl GatewayBox {
    fn store(&self) -> Option<pbxgw::store::StoreStats> {
        let sinks = ["mqtt".to_owned(), "postgres".to_owned()];
        StoreReader::open(&self.db).ok()?.stats(&sinks).ok()
    }

    /// Every line sent, and both sinks acknowledged everything the box stored.
    fn settled(&self) -> bool {
        let sent = self
            .sim
            .stats
            .lines_sent
            .load(std::sync::atomic::Ordering::SeqCst);
        sent >= self.lines
            && self.store().is_some_and(|s| {
                s.last_seq > 0 && s.sinks.iter().all(|k| k.acked_seq >= s.last_seq)
            })
    }
}

async fn start_box(
    i: usize,
    scratch: &Path,
    capture: &[String],
    args: &Args,
    mqtt_port: u16,
    pg_url: &str,
) -> anyhow::Result<GatewayBox> {
    let id = format!("box-{i:03}");
    let steady = (args.rate * args.seconds as f64) as usize;
    // Each box starts at another place in the capture, so the fleet's calls do not align.
    let start = i * 37 % capture.len();
    let lines: Vec<String> = capture
        .iter()
        .cycle()
        .skip(start)
        .take(steady + args.burst)
        .cloned()
        .collect();
    let sim = CtipSim::start(CtipSimOptions {
        lines,
        interval: Duration::from_secs_f64(1.0 / args.rate),
        burst_after: Some((steady, Duration::ZERO)),
        ..CtipSimOptions::new("1234")
    })
    .await?;
    let data = scratch.join(&id);
    std::fs::create_dir_all(&data)?;
    let conf = data.join("pbxgw.toml");
    std::fs::write(
        &conf,
        format!(
            "[gateway]\nid = {id:?}\ndata_dir = {data:?}\n[store]\nsync = \"full\"\n\
             [[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {}\npin = \"1234\"\n\
             [uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\nreplay_rate = 0\n\
             [uplink.postgres]\nurl = {pg_url:?}\n",
            sim.port()
        ),
    )?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["gateway", &conf.to_string_lossy()])
        .env("PBXGW_LOG", "error")
        .env(
            "MALLOC_ARENA_MAX",
            pbxgw_tests::bench::UNIT_MALLOC_ARENA_MAX,
        )
        .stdin(std::process::Stdio::null())
        .spawn()?;
    Ok(GatewayBox {
        id,
        db: data.join("pbxgw.db"),
        sim,
        lines: steady + args.burst,
        child,
    })
}

/// What the central MQTT subscriber received: per gateway, how often each seq arrived; and
/// the messages' payload bytes.
#[derive(Default)]
struct Seen {
    seqs: HashMap<String, HashMap<u64, u32>>,
    messages: u64,
    bytes: u64,
}

type Received = Arc<Mutex<Seen>>;

/// A central consumer with a persistent session (it keeps its queue across the broker's
/// restart); reconnects until the run ends.
fn central_subscriber(port: u16) -> Received {
    let received: Received = Arc::default();
    let seen = received.clone();
    let mut options = MqttOptions::new("fleet-central", "127.0.0.1", port);
    options
        .set_clean_session(false)
        .set_max_packet_size(1 << 20, 1 << 20)
        .set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client
                        .subscribe("pbxgw/v1/+/event/#", QoS::AtLeastOnce)
                        .await;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v: serde_json::Value =
                        serde_json::from_slice(&p.payload).unwrap_or_default();
                    if let (Some(gw), Some(seq)) = (v["gw"].as_str(), v["seq"].as_u64()) {
                        if let Ok(mut seen) = seen.lock() {
                            seen.messages += 1;
                            seen.bytes += p.payload.len() as u64;
                            *seen
                                .seqs
                                .entry(gw.to_owned())
                                .or_default()
                                .entry(seq)
                                .or_insert(0) += 1;
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    });
    received
}

/// CPU seconds (user + system) of a process, and of its waited-for children with `children`.
fn cpu_seconds(pid: u32, children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime, stime, cutime, cstime are fields 14-17 of stat(5): 11-14 after the name.
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    let ticks = get(11) + get(12) + if children { get(13) + get(14) } else { 0 };
    ticks as f64 / 100.0
}

/// CPU seconds of a server and every process it forked (PostgreSQL's backends).
fn tree_cpu_seconds(root: u32) -> f64 {
    let mut total = cpu_seconds(root, true);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let parent = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let rest = &s[s.rfind(')')? + 2..];
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        if parent == Some(root) {
            total += cpu_seconds(pid, false);
        }
    }
    total
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

async fn central_rows(pg: &Postgres) -> Option<i64> {
    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(conn);
    let exists: bool = client
        .query_one("SELECT to_regclass('pbxgw_events') IS NOT NULL", &[])
        .await
        .ok()?
        .get(0);
    if !exists {
        return Some(0);
    }
    client
        .query_one("SELECT count(*) FROM pbxgw_events", &[])
        .await
        .ok()
        .map(|r| r.get(0))
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let scratch = tempfile::tempdir()?;
    let mut pg = Postgres::start_durable();
    let bouncer = PgBouncer::start(&pg, args.pool);
    let mut broker = Mosquitto::start();
    let capture: Vec<String> = pbxgw::fixtures::fixture("ctip/raw_stream_anon.txt")
        .lines()
        .map(str::to_owned)
        .collect();
    println!(
        "fleet-bench: {} boxes, {} s at {} CTIP lines/s each, then a burst of {} lines; \
         Mosquitto, PostgreSQL behind PgBouncer (transaction mode, {} server connections)",
        args.boxes, args.seconds, args.rate, args.burst, args.pool
    );
    let received = central_subscriber(broker.port());
    let mut boxes = Vec::with_capacity(args.boxes);
    for i in 0..args.boxes {
        boxes.push(
            start_box(
                i,
                scratch.path(),
                &capture,
                &args,
                broker.port(),
                &bouncer.url(),
            )
            .await?,
        );
    }
    let started = Instant::now();
    let at = |f: f64| started + Duration::from_secs_f64(args.seconds as f64 * f);

    // Steady traffic; the broker restarts at 1/3, the database at 2/3.
    let mut samples: Vec<(f64, i64)> = Vec::new();
    let mut pg_cpu_before_restart = 0.0;
    let mut broker_restarted = false;
    // Events before the first restart: their lag is the path's, not an outage's.
    let mut quiet_until_ms = pbxgw::clock::now_ms() + 86_400_000;
    let mut db_restarted = false;
    while Instant::now() < at(1.0) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(rows) = central_rows(&pg).await {
            samples.push((started.elapsed().as_secs_f64(), rows));
        }
        if !broker_restarted && Instant::now() >= at(1.0 / 3.0) {
            println!(
                "t={:.0}s: restarting Mosquitto (5 s down)",
                started.elapsed().as_secs_f64()
            );
            quiet_until_ms = pbxgw::clock::now_ms();
            broker.stop();
            tokio::time::sleep(Duration::from_secs(5)).await;
            broker.restart();
            broker_restarted = true;
        }
        if !db_restarted && Instant::now() >= at(2.0 / 3.0) {
            println!(
                "t={:.0}s: restarting PostgreSQL (5 s down)",
                started.elapsed().as_secs_f64()
            );
            pg_cpu_before_restart = pg.pid().map(tree_cpu_seconds).unwrap_or(0.0);
            pg.stop();
            tokio::time::sleep(Duration::from_secs(5)).await;
            pg.restart();
            db_restarted = true;
        }
    }
    println!("t={:.0}s: burst", started.elapsed().as_secs_f64());

    let settle_limit = Instant::now() + Duration::from_secs(300);
    while !boxes.iter().all(GatewayBox::settled) {
        anyhow::ensure!(
            Instant::now() < settle_limit,
            "the fleet did not settle: {} boxes still sending",
            boxes.iter().filter(|b| !b.settled()).count()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    if let Some(rows) = central_rows(&pg).await {
        samples.push((wall, rows));
    }

    let mut rss_mb = Vec::new();
    let mut cpu_pct = Vec::new();
    for b in &boxes {
        rss_mb.push(pbxgw_tests::harness::peak_rss_kb(b.child.id()) as f64 / 1024.0);
        cpu_pct.push(100.0 * cpu_seconds(b.child.id(), false) / wall);
    }
    let pg_cpu = pg_cpu_before_restart + pg.pid().map(tree_cpu_seconds).unwrap_or(0.0);
    let bouncer_cpu = bouncer.pid().map(|p| cpu_seconds(p, false)).unwrap_or(0.0);
    let broker_cpu = broker.pid().map(|p| cpu_seconds(p, false)).unwrap_or(0.0);
    for b in &mut boxes {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(b.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    for b in &mut boxes {
        let _ = b.child.wait();
    }

    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    if args.test_drop_row {
        let n = client
            .execute(
                "DELETE FROM pbxgw_events WHERE (gateway_id, seq) =
                     (SELECT gateway_id, seq FROM pbxgw_events ORDER BY gateway_id, seq LIMIT 1)",
                &[],
            )
            .await?;
        println!("test hook: deleted {n} central row before the check");
    }
    let lag = |until_ms: i64| {
        let client = &client;
        async move {
            let row = client
                .query_one(
                    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l),
                            percentile_cont(0.99) WITHIN GROUP (ORDER BY l)
                     FROM (SELECT extract(epoch FROM received_at - ts)::float8 AS l
                           FROM pbxgw_events WHERE ts < to_timestamp($1::float8 / 1000)) x",
                    &[&(until_ms as f64)],
                )
                .await?;
            let p: (Option<f64>, Option<f64>) = (row.get(0), row.get(1));
            Ok::<_, tokio_postgres::Error>((p.0.unwrap_or(0.0), p.1.unwrap_or(0.0)))
        }
    };
    let lag_quiet = lag(quiet_until_ms).await?;
    let lag_all = lag(pbxgw::clock::now_ms() + 86_400_000).await?;
    let central: HashMap<String, (i64, i64, i64, i64)> = client
        .query(
            "SELECT gateway_id, count(*), count(DISTINCT seq), min(seq), max(seq)
             FROM pbxgw_events GROUP BY gateway_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
        .collect();
    let total_rows: i64 = central.values().map(|c| c.0).sum();

    let mut failures = Vec::new();
    let mut mqtt_duplicates = 0u64;
    let (seen, mqtt_messages, mqtt_bytes) = received
        .lock()
        .map(|s| (s.seqs.clone(), s.messages, s.bytes))
        .unwrap_or_default();
    let table_bytes: i64 = client
        .query_one(
            "SELECT COALESCE(sum(pg_total_relation_size(inhrelid)), 0)::bigint
             FROM pg_inherits WHERE inhparent = 'pbxgw_events'::regclass",
            &[],
        )
        .await?
        .get(0);
    for b in &boxes {
        let last = b.store().map(|s| s.last_seq as i64).unwrap_or(0);
        let want = (last, last, 1, last);
        match central.get(&b.id) {
            Some(got) if *got == want => {}
            got => failures.push(format!(
                "{}: PostgreSQL has (rows, distinct seqs, min, max) = {got:?}, the box stored 1..={last}",
                b.id
            )),
        }
        let arrived = seen.get(&b.id);
        let missing = (1..=last as u64)
            .filter(|s| !arrived.is_some_and(|a| a.contains_key(s)))
            .count();
        if missing > 0 {
            failures.push(format!(
                "{}: {missing} seqs never reached the MQTT subscriber",
                b.id
            ));
        }
        mqtt_duplicates += arrived
            .map(|a| {
                a.values()
                    .map(|n| u64::from(n.saturating_sub(1)))
                    .sum::<u64>()
            })
            .unwrap_or(0);
    }

    rss_mb.sort_by(f64::total_cmp);
    cpu_pct.sort_by(f64::total_cmp);
    let steady_rate = steady_ingest(&samples, args.seconds as f64);
    let peak_rate = samples
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) as f64 / (w[1].0 - w[0].0))
        .fold(0.0, f64::max);
    let stored_per_box = total_rows as f64 / args.boxes as f64;
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| boxes | {} (each {} CTIP lines: {} s at {}/s, then {} at once) |",
        args.boxes,
        args.rate as usize * args.seconds as usize + args.burst,
        args.seconds,
        args.rate,
        args.burst
    );
    println!("| central rows (events) | {total_rows} ({stored_per_box:.0} per box) |");
    println!("| central ingest, steady phase | {steady_rate:.0} rows/s |");
    println!("| central ingest, best 2 s (catch-up, burst) | {peak_rate:.0} rows/s |");
    println!(
        "| lag event -> central row, p50 / p99, before the first restart | {:.3} / {:.3} s |",
        lag_quiet.0, lag_quiet.1
    );
    println!(
        "| lag event -> central row, p50 / p99, whole run (outages, burst) | {:.2} / {:.2} s |",
        lag_all.0, lag_all.1
    );
    println!(
        "| per-box peak RSS, median / max | {:.1} / {:.1} MB |",
        percentile(&rss_mb, 0.5),
        percentile(&rss_mb, 1.0)
    );
    println!(
        "| per-box CPU, median / max | {:.2} / {:.2} % of a core |",
        percentile(&cpu_pct, 0.5),
        percentile(&cpu_pct, 1.0)
    );
    println!("| PostgreSQL CPU (all backends) | {pg_cpu:.1} s over {wall:.0} s |");
    println!(
        "| central rows per PostgreSQL CPU second | {:.0} |",
        total_rows as f64 / pg_cpu.max(0.01)
    );
    println!("| PgBouncer CPU / Mosquitto CPU (since its restart) | {bouncer_cpu:.1} s / {broker_cpu:.1} s |");
    println!(
        "| central bytes per event row (table, TOAST and indexes) | {:.0} |",
        table_bytes as f64 / total_rows.max(1) as f64
    );
    println!(
        "| MQTT payload bytes per event message (central subscriber) | {:.0} |",
        mqtt_bytes as f64 / mqtt_messages.max(1) as f64
    );
    println!("| MQTT duplicates (at-least-once, after the broker restart) | {mqtt_duplicates} |");
    if failures.is_empty() {
        println!("| exactly once in PostgreSQL, at least once over MQTT | every seq of every box: passed |");
    } else {
        println!(
            "| exactly once in PostgreSQL, at least once over MQTT | FAILED for {} checks |",
            failures.len()
        );
        for f in failures.iter().take(20) {
            eprintln!("fleet-bench: {f}");
        }
    }
    Ok(failures.is_empty())
}

/// Rows per second between the first sample and the last one of the steady phase.
fn steady_ingest(samples: &[(f64, i64)], seconds: f64) -> f64 {
    let steady: Vec<&(f64, i64)> = samples.iter().filter(|s| s.0 <= seconds).collect();
    match (steady.first(), steady.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) as f64 / (b.0 - a.0),
        _ => 0.0,
    }
}
