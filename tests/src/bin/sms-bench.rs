//! `sms-bench`: SMS figures on this machine, through the real gateway (store, rules, worker,
//! AT engine, a real pseudo-terminal) and the modem simulator.
//!
//! 1. latency: a call event (an IVR digit) submitted to the gateway -> the PDU's Ctrl-Z at the
//!    simulated modem, one at a time with the modem idle (goal < 1 s);
//! 2. throughput: texts queued at once, until all are sent, with a modem that answers at once
//!    (our own limit) and with one whose network takes 200 ms per text (the modem's limit).

use std::time::{Duration, Instant};

use pbxgw::calls::{CallDtmf, CallEvent, CallStarted, Direction, EventBody, Source};
use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::wait_until;
use pbxgw_tests::sim::modem::{ModemSim, ModemSimOptions};

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}

const RULE: &str = "[sms]\nrate_per_minute = 1000000\nper_destination_per_hour = 1000\ndelivery_reports = false\n[[sms.rule]]\nname = \"ivr1\"\non = \"ivr_digit\"\ndigit = \"1\"\ntext = \"Dziękujemy! Oddzwonimy na {caller}.\"\n";

async fn gateway(sim: &ModemSim, dir: &std::path::Path) -> anyhow::Result<(Config, Gateway)> {
    let text = format!(
        "[gateway]\nid = \"sms-bench\"\ndata_dir = {:?}\n[modem]\nport = {:?}\n{RULE}",
        dir.join("data"),
        sim.path
    );
    let config = Config::from_toml(&text, std::path::Path::new("bench.toml"))?;
    let gateway = Gateway::start(&config).await?;
    let up = pbxgw_tests::harness::wait_for_link(
        &gateway,
        "modem",
        pbxgw::link::LinkState::Up,
        Duration::from_secs(10),
    )
    .await;
    anyhow::ensure!(up, "the modem did not come up");
    Ok((config, gateway))
}

fn event(call: &str, body: EventBody) -> CallEvent {
    CallEvent {
        ts_ms: pbxgw::clock::now_ms(),
        source: Source::Ami,
        pbx: "bench".into(),
        call_id: Some(call.into()),
        raw: None,
        body,
    }
}

async fn latency(n: usize) -> anyhow::Result<Vec<Duration>> {
    let sim = ModemSim::start(ModemSimOptions {
        report_after: None,
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir()?;
    let (_config, gateway) = gateway(&sim, dir.path()).await?;
    let appender = gateway.appender();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let call = format!("call-{i}");
        let started = CallStarted {
            direction: Direction::Inbound,
            caller: Some(format!("+4860{i:07}")),
            callee: Some("ivr".into()),
        };
        appender
            .append(event(&call, EventBody::CallStarted(started)))
            .await?;
        let before = sim
            .log
            .lock()
            .map_err(|_| anyhow::anyhow!("sim"))?
            .pdus
            .len();
        let t0 = Instant::now();
        appender
            .submit(event(
                &call,
                EventBody::CallDtmf(CallDtmf { digit: "1".into() }),
            ))
            .await?;
        let arrived = wait_until(Duration::from_secs(5), || {
            sim.log
                .lock()
                .map(|l| l.pdus.len() > before)
                .unwrap_or(false)
        })
        .await;
        anyhow::ensure!(arrived, "text {i} never reached the modem");
        let at = sim.log.lock().map_err(|_| anyhow::anyhow!("sim"))?.pdus[before].0;
        out.push(at.saturating_duration_since(t0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.stop().await;
    Ok(out)
}

async fn throughput(n: usize, network: Duration) -> anyhow::Result<f64> {
    let sim = ModemSim::start(ModemSimOptions {
        report_after: None,
        send_delay: network,
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir()?;
    let (config, gateway) = gateway(&sim, dir.path()).await?;
    let conn = rusqlite::Connection::open(config.db_path())?;
    let t0 = Instant::now();
    for i in 0..n {
        let request = pbxgw::sms::rules::Enqueue {
            dedupe_key: format!("bench:{i}"),
            origin: "bench".into(),
            call_id: None,
            destination: format!("+4860{i:07}"),
            text: "Przypomnienie o wizycie jutro o 10:00.".into(),
        };
        pbxgw::sms::queue::enqueue(&conn, &request, pbxgw::clock::now_ms(), 0)?;
    }
    let done = wait_until(Duration::from_secs(600), || {
        sim.log.lock().map(|l| l.pdus.len() >= n).unwrap_or(false)
    })
    .await;
    anyhow::ensure!(done, "not every text was sent");
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    gateway.stop().await;
    Ok(rate)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run() -> anyhow::Result<()> {
    let mut lat = latency(100).await?;
    lat.sort();
    let fast = throughput(300, Duration::ZERO).await?;
    let slow = throughput(30, Duration::from_millis(200)).await?;
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!("| figure | value | goal | |");
    println!("|---|---|---|---|");
    println!(
        "| call event -> PDU at the modem, idle modem (100 texts) | p50 {}, p99 {}, max {} | < 1 s | {} |",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat[lat.len() - 1]),
        if lat[lat.len() - 1] < Duration::from_secs(1) { "met" } else { "MISSED" }
    );
    println!("| texts/s, modem answering at once (300 texts) | {fast:.1} texts/s | | |");
    println!("| texts/s, network taking 200 ms per text (30 texts) | {slow:.2} texts/s (the modem's limit: 5) | | |");
    Ok(())
}
