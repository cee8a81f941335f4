//! `spine-bench`: the spine's figures on this machine, printed as a table.
//!
//! 1. ingest: events/s accepted into the store vs. a bare rusqlite batch insert of the same
//!    rows, one transaction per batch of the same size;
//! 2. drain of a backlog to a private Mosquitto vs. a bare rumqttc QoS 1 publisher sending the
//!    same messages;
//! 3. drain of the same backlog to a private PostgreSQL (stock durability settings) vs. a
//!    bare binary COPY of the same rows into the same table;
//! 4. latency from submit to receipt by an MQTT subscriber at 1,000 events/s, and the peak RSS
//!    of the gateway process under that load.
//!
//! `PBXGW_BENCH_EVENTS` sets the backlog size (default 200,000); `PBXGW_BENCH_ONLY=ingest`
//! stops after the ingest figures (for profiling).

use std::path::Path;
use std::time::{Duration, Instant};

use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw::store::{self, StoreOptions, StoreReader};
use pbxgw_tests::harness::{Mosquitto, Postgres};
use pbxgw_tests::synthetic;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("feed") {
        use clap::Parser;
        let feed = pbxgw_tests::feeder::FeedArgs::parse_from(&args[1..]);
        return pbxgw_tests::feeder::main_with(feed);
    }
    let events: u64 = std::env::var("PBXGW_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(events))
}

struct Figure {
    name: String,
    value: String,
    goal: &'static str,
    met: Option<bool>,
}

/// `PBXGW_BENCH_ONLY`: a comma-separated list of phases (ingest, mqtt, postgres, latency);
/// unset runs them all.
fn wants(phase: &str) -> bool {
    match std::env::var("PBXGW_BENCH_ONLY") {
        Ok(only) => only.split(',').any(|p| p.trim() == phase),
        Err(_) => true,
    }
}

async fn run(n: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut figures = Vec::new();
    println!(
        "spine-bench: {n} events, {} cores, {}",
        num_cores(),
        cpu_model()
    );
    if wants("ingest") {
        ingest_figures(dir.path(), n, &mut figures).await?;
    }
    let backlog = dir.path().join("backlog");
    if wants("mqtt") || wants("postgres") {
        build_backlog(&backlog, n).await?;
    }
    let broker = Mosquitto::start();
    if wants("mqtt") {
        mqtt_figures(&backlog, dir.path(), n, &broker, &mut figures).await?;
    }
    if wants("postgres") {
        postgres_figures(&backlog, dir.path(), n, &mut figures).await?;
    }
    if wants("latency") {
        latency_figures(dir.path(), &broker, &mut figures).await?;
    }
    print_table(&figures);
    Ok(())
}

async fn ingest_figures(dir: &Path, n: u64, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let (ours, raw) = ingest(dir, n).await?;
    figures.push(Figure {
        name: "ingest, store (sync=full)".into(),
        value: format!("{ours:.0} events/s"),
        goal: ">= 50,000 events/s",
        met: Some(ours >= 50_000.0),
    });
    figures.push(Figure {
        name: "ingest, bare rusqlite batch insert".into(),
        value: format!("{raw:.0} rows/s"),
        goal: "",
        met: None,
    });
    figures.push(Figure {
        name: "ingest ratio store/bare".into(),
        value: format!("{:.2}", ours / raw),
        goal: ">= 0.5",
        met: Some(ours / raw >= 0.5),
    });
    Ok(())
}

async fn mqtt_figures(
    backlog: &Path,
    scratch: &Path,
    n: u64,
    broker: &Mosquitto,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let (mqtt_drain, messages) = drain(backlog, scratch, n, Sink::Mqtt(broker.port())).await?;
    let bare = bare_publisher(backlog, broker.port(), messages).await?;
    let ratio = bare.as_secs_f64() / mqtt_drain.as_secs_f64();
    figures.push(Figure {
        name: "MQTT drain of backlog".into(),
        value: format!(
            "{:.0} events/s ({messages} msgs in {:.2} s)",
            n as f64 / mqtt_drain.as_secs_f64(),
            mqtt_drain.as_secs_f64()
        ),
        goal: "",
        met: None,
    });
    figures.push(Figure {
        name: "bare rumqttc QoS 1 publisher".into(),
        value: format!(
            "{:.0} msgs/s ({:.2} s)",
            messages as f64 / bare.as_secs_f64(),
            bare.as_secs_f64()
        ),
        goal: "",
        met: None,
    });
    figures.push(Figure {
        name: "MQTT drain ratio gateway/bare".into(),
        value: format!("{ratio:.2}"),
        goal: ">= 0.5",
        met: Some(ratio >= 0.5),
    });
    Ok(())
}

async fn postgres_figures(
    backlog: &Path,
    scratch: &Path,
    n: u64,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let pg = Postgres::start_durable();
    let (pg_drain, _) = drain(backlog, scratch, n, Sink::Postgres(pg.url())).await?;
    let rows = n as f64 / pg_drain.as_secs_f64();
    let bare_copy = bare_copy(backlog, &pg).await?;
    let bare_rows = n as f64 / bare_copy.as_secs_f64();
    figures.push(Figure {
        name: "PostgreSQL drain of backlog".into(),
        value: format!("{rows:.0} rows/s ({:.2} s)", pg_drain.as_secs_f64()),
        goal: ">= 20,000 rows/s",
        met: Some(rows >= 20_000.0),
    });
    figures.push(Figure {
        name: "bare binary COPY of the same rows".into(),
        value: format!("{bare_rows:.0} rows/s ({:.2} s)", bare_copy.as_secs_f64()),
        goal: "",
        met: None,
    });
    figures.push(Figure {
        name: "PostgreSQL drain ratio gateway/bare COPY".into(),
        value: format!("{:.2}", rows / bare_rows),
        goal: ">= 0.5",
        met: Some(rows / bare_rows >= 0.5),
    });
    // Its background writes would compete with the gateway's fsyncs in the next phase.
    drop(pg);
    Ok(())
}

async fn latency_figures(
    scratch: &Path,
    broker: &Mosquitto,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let idle_kb = idle_rss(scratch, broker.port())?;
    figures.push(Figure {
        name: "gateway RSS idle (MQTT up, nothing to send)".into(),
        value: format!("{:.1} MB", idle_kb as f64 / 1024.0),
        goal: "<= 8 MB",
        met: Some(idle_kb <= 8 * 1024),
    });
    let (sync_p50, sync_p99) = bare_fdatasync(scratch)?;
    figures.push(Figure {
        name: "bare fdatasync of 4 KiB, p50 / p99".into(),
        value: format!("{sync_p50:.2} / {sync_p99:.2} ms"),
        goal: "",
        met: None,
    });
    let (rtt_p50, rtt_p99) = bare_qos1_round_trip(broker.port()).await?;
    figures.push(Figure {
        name: "bare QoS 1 publish->PUBACK, p50 / p99".into(),
        value: format!("{rtt_p50:.2} / {rtt_p99:.2} ms"),
        goal: "",
        met: None,
    });
    for sync in ["full", "normal"] {
        let (p50, p99, rss_kb) = latency_and_rss(scratch, broker.port(), sync).await?;
        let full = sync == "full";
        figures.push(Figure {
            name: format!("latency submit->subscriber p50 @1000/s, sync={sync}"),
            value: format!("{p50:.2} ms"),
            goal: if full { "<= 1 ms" } else { "" },
            met: full.then_some(p50 <= 1.0),
        });
        figures.push(Figure {
            name: format!("latency submit->subscriber p99 @1000/s, sync={sync}"),
            value: format!("{p99:.2} ms"),
            goal: if full { "<= 3 ms" } else { "< 20 ms" },
            met: Some(if full { p99 <= 3.0 } else { p99 < 20.0 }),
        });
        figures.push(Figure {
            name: format!("gateway peak RSS under that load, sync={sync}"),
            value: format!("{:.1} MB", rss_kb as f64 / 1024.0),
            goal: "<= 12 MB",
            met: Some(rss_kb <= 12 * 1024),
        });
    }
    Ok(())
}

/// Percentiles of a sample in milliseconds (sorted in place).
fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    (pct(0.50), pct(0.99))
}

/// The disk's floor under a commit: 4 KiB written and fdatasync'd, 1,000 times, in the
/// directory the gateway's database lives in.
fn bare_fdatasync(scratch: &Path) -> anyhow::Result<(f64, f64)> {
    use std::io::Write;
    let path = scratch.join("fdatasync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let mut samples = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let start = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    std::fs::remove_file(&path)?;
    Ok(percentiles(&mut samples))
}

/// The broker's floor: one QoS 1 publish at a time, timed until its PUBACK, 1,000 times.
async fn bare_qos1_round_trip(port: u16) -> anyhow::Result<(f64, f64)> {
    let options = MqttOptions::new("bare-round-trip", "127.0.0.1", port);
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = eventloop.poll().await? {
            break;
        }
    }
    let mut samples = Vec::with_capacity(1000);
    for i in 0..1000 {
        let start = Instant::now();
        client
            .publish(
                "bare/rtt",
                QoS::AtLeastOnce,
                false,
                format!("{{\"i\":{i}}}"),
            )
            .await?;
        loop {
            if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await? {
                break;
            }
        }
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(percentiles(&mut samples))
}

fn print_table(figures: &[Figure]) {
    println!();
    println!("| figure | value | goal | |");
    println!("|---|---|---|---|");
    for f in figures {
        let met = match f.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("| {} | {} | {} | {} |", f.name, f.value, f.goal, met);
    }
}

/// Submits `n` events pipelined (as a connector does) and waits for the last commit.
async fn fill(options: &StoreOptions, n: u64) -> anyhow::Result<Duration> {
    let opened = store::open(options)?;
    let (appender, writer, _) =
        store::spawn_writer(opened, options.clone(), tokio::runtime::Handle::current())?;
    let events: Vec<_> = (0..n)
        .map(|i| synthetic::event(i, pbxgw::clock::now_ms()))
        .collect();
    let start = Instant::now();
    let mut last = None;
    for e in events {
        last = Some(appender.submit(e).await?);
    }
    if let Some(r) = last {
        r.committed().await?;
    }
    let took = start.elapsed();
    drop(appender);
    tokio::task::spawn_blocking(move || writer.join()).await?;
    Ok(took)
}

async fn ingest(dir: &Path, n: u64) -> anyhow::Result<(f64, f64)> {
    let ours_dir = dir.join("ingest");
    let took = fill(&pbxgw_tests::bench::store_options(&ours_dir, vec![]), n).await?;
    let ours = n as f64 / took.as_secs_f64();

    // The same rows, encoded up front, inserted with nothing else going on.
    let raw_dir = dir.join("raw");
    std::fs::create_dir_all(&raw_dir)?;
    let conn = rusqlite::Connection::open(raw_dir.join("raw.db"))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
    conn.execute_batch(include_str!("../../../migrations/sqlite/001_event_log.sql"))?;
    let rows: Vec<_> = (0..n)
        .map(|i| {
            let e = synthetic::event(i, pbxgw::clock::now_ms());
            let body = store::encode_body(&e.body).expect("encode");
            (i as i64 + 1, e, body)
        })
        .collect();
    let start = Instant::now();
    for chunk in rows.chunks(1000) {
        let tx = conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO events (seq, ts_ms, source, pbx, kind, call_id, raw, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (seq, e, body) in chunk {
                stmt.execute((
                    seq,
                    e.ts_ms,
                    e.source.as_str(),
                    &e.pbx,
                    e.kind(),
                    &e.call_id,
                    &e.raw,
                    body,
                ))?;
            }
        }
        tx.commit()?;
    }
    let raw = n as f64 / start.elapsed().as_secs_f64();
    Ok((ours, raw))
}

async fn build_backlog(dir: &Path, n: u64) -> anyhow::Result<()> {
    fill(&pbxgw_tests::bench::store_options(dir, vec![]), n).await?;
    Ok(())
}

enum Sink {
    Mqtt(u16),
    Postgres(String),
}

/// Starts a gateway on a copy of the backlog with one sink and times until that sink's
/// cursor reaches the last event. Returns the time and the number of messages it implies.
async fn drain(
    backlog: &Path,
    scratch: &Path,
    n: u64,
    sink: Sink,
) -> anyhow::Result<(Duration, u64)> {
    let data = scratch.join(match sink {
        Sink::Mqtt(_) => "drain-mqtt",
        Sink::Postgres(_) => "drain-pg",
    });
    std::fs::create_dir_all(&data)?;
    std::fs::copy(backlog.join("pbxgw.db"), data.join("pbxgw.db"))?;
    let (uplink, name) = match &sink {
        Sink::Mqtt(port) => (
            format!("[uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nreplay_rate = 0\n"),
            "mqtt",
        ),
        Sink::Postgres(url) => (format!("[uplink.postgres]\nurl = {url:?}\n"), "postgres"),
    };
    let text = format!(
        "[gateway]\nid = \"bench\"\ndata_dir = {data:?}\n[store]\nsync = \"full\"\n{uplink}"
    );
    let config = Config::from_toml(&text, Path::new("bench.toml"))?;
    let reader = StoreReader::open(&config.db_path())?;
    // Start-up (integrity check of the backlog's database) is not part of the drain.
    let gateway = Gateway::start(&config).await?;
    let start = Instant::now();
    while reader.cursor(name)? < n {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "drain to {name} did not finish"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = start.elapsed();
    gateway.stop().await;
    Ok((took, n + n / 4))
}

/// The same events as plain binary `COPY` into `pbxgw_events` (as another gateway id, so no
/// row conflicts with the drain's), 1,000 rows per transaction as the sink's default batch,
/// payloads built before the clock starts: the database's own cost of taking these rows.
async fn bare_copy(backlog: &Path, pg: &Postgres) -> anyhow::Result<Duration> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{ToSql, Type};
    let reader = StoreReader::open(&backlog.join("pbxgw.db"))?;
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let batch = reader.events_after(after, 10_000)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for e in batch {
            let payload = pbxgw::uplink::json::event_json("bare", &e, false);
            let ts = std::time::UNIX_EPOCH + Duration::from_millis(e.ts_ms.max(0) as u64);
            rows.push((e, ts, payload));
        }
    }
    let mut client = pg.client().await;
    let types = [
        Type::TEXT,
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
    ];
    let start = Instant::now();
    for chunk in rows.chunks(1000) {
        let tx = client.transaction().await?;
        let sink = tx
            .copy_in(
                "COPY pbxgw_events (gateway_id, seq, ts, source, pbx, kind, call_id, payload)
                 FROM STDIN (FORMAT binary)",
            )
            .await?;
        let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
        for (e, ts, payload) in chunk {
            let seq = e.seq as i64;
            let row: [&(dyn ToSql + Sync); 8] = [
                &"bare", &seq, ts, &e.source, &e.pbx, &e.kind, &e.call_id, payload,
            ];
            writer.as_mut().write(&row).await?;
        }
        writer.finish().await?;
        tx.commit().await?;
    }
    Ok(start.elapsed())
}

/// A plain rumqttc QoS 1 publisher sending the same topics and payloads, same window.
async fn bare_publisher(backlog: &Path, port: u16, messages: u64) -> anyhow::Result<Duration> {
    let reader = StoreReader::open(&backlog.join("pbxgw.db"))?;
    let mut payloads = Vec::with_capacity(messages as usize);
    let mut after = 0;
    loop {
        let batch = reader.events_after(after, 10_000)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for e in &batch {
            payloads.push((
                format!("bare/bench/event/{}", e.kind),
                pbxgw::uplink::json::event_json("bench", e, true).to_string(),
            ));
            if let Ok(pbxgw::calls::EventBody::CallEnded(r)) = &e.body {
                payloads.push((
                    format!("bare/bench/call/{}", r.call_id),
                    pbxgw::uplink::json::call_json("bench", e.seq, r).to_string(),
                ));
            }
        }
    }
    anyhow::ensure!(
        payloads.len() as u64 == messages,
        "backlog has {} messages",
        payloads.len()
    );
    let mut options = MqttOptions::new("bare-publisher", "127.0.0.1", port);
    options
        .set_inflight(100)
        .set_max_packet_size(256 * 1024, 256 * 1024);
    let (client, mut eventloop) = AsyncClient::new(options, 264);
    let start = Instant::now();
    let publisher = tokio::spawn(async move {
        for (topic, payload) in payloads {
            if client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .is_err()
            {
                break;
            }
        }
        client
    });
    let mut acked = 0;
    while acked < messages {
        match eventloop.poll().await? {
            Event::Incoming(Packet::PubAck(_)) => acked += 1,
            Event::Outgoing(Outgoing::Disconnect) => break,
            _ => {}
        }
    }
    let took = start.elapsed();
    let _ = publisher.await;
    Ok(took)
}

/// A gateway data dir and config with an MQTT uplink, for the process-level phases.
fn gateway_config(
    scratch: &Path,
    name: &str,
    port: u16,
    sync: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let data = scratch.join(name);
    std::fs::create_dir_all(&data)?;
    let conf = data.join("pbxgw.toml");
    std::fs::write(&conf, format!(
        "[gateway]\nid = \"bench-lat\"\ndata_dir = {:?}\n[store]\nsync = {sync:?}\n[uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {port}\n",
        data.join("db")
    ))?;
    Ok(conf)
}

/// The feeder (this binary, `feed` mode) as its own process.
fn spawn_feeder(conf: &Path, rate: u32, count: u64) -> anyhow::Result<std::process::Child> {
    Ok(std::process::Command::new(std::env::current_exe()?)
        .args(["feed", "-c", &conf.to_string_lossy(), "--stamp-us"])
        .args(["--rate", &rate.to_string(), "--count", &count.to_string()])
        .env("PBXGW_LOG", "warn")
        .env(
            "MALLOC_ARENA_MAX",
            pbxgw_tests::bench::UNIT_MALLOC_ARENA_MAX,
        )
        .spawn()?)
}

fn terminate(mut child: std::process::Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
}

/// The gateway's peak RSS after start-up with nothing to do: its MQTT link up, no PBX.
fn idle_rss(scratch: &Path, port: u16) -> anyhow::Result<u64> {
    let conf = gateway_config(scratch, "idle", port, "full")?;
    let child = spawn_feeder(&conf, 1, 0)?;
    std::thread::sleep(Duration::from_secs(5));
    let rss = pbxgw_tests::harness::peak_rss_kb(child.id());
    terminate(child);
    Ok(rss)
}

/// Runs the gateway with the synthetic producer at 1,000 events/s with an MQTT uplink; a
/// subscriber here measures submit->receipt from the microsecond stamp the feeder puts in
/// each event's `pbx` field (its `ts` has milliseconds only).
async fn latency_and_rss(scratch: &Path, port: u16, sync: &str) -> anyhow::Result<(f64, f64, u64)> {
    let conf = gateway_config(scratch, &format!("latency-{sync}"), port, sync)?;
    let mut options = MqttOptions::new(format!("bench-latency-{sync}"), "127.0.0.1", port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    client
        .subscribe("pbxgw/v1/bench-lat/event/#", QoS::AtLeastOnce)
        .await?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await? {
            break;
        }
    }
    let seconds = 20;
    let child = spawn_feeder(&conf, 1000, 1000 * seconds)?;
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds + 15);
    while latencies.len() < (1000 * seconds) as usize && Instant::now() < deadline {
        let event = tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await;
        if let Ok(Ok(Event::Incoming(Packet::Publish(p)))) = event {
            let now = pbxgw_tests::feeder::unix_us();
            let v: serde_json::Value = serde_json::from_slice(&p.payload)?;
            let stamp = v["pbx"].as_str().and_then(pbxgw_tests::feeder::stamp_us);
            let Some(sent) = stamp else {
                anyhow::bail!("an event without the feeder's stamp: {v}");
            };
            latencies.push((now - sent) as f64 / 1000.0);
        }
    }
    let rss = pbxgw_tests::harness::peak_rss_kb(child.id());
    terminate(child);
    anyhow::ensure!(!latencies.is_empty(), "no events reached the subscriber");
    let (p50, p99) = percentiles(&mut latencies);
    Ok((p50, p99, rss))
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
