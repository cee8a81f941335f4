//! `spine-demo`: the data path as it stands, end to end on this machine. A private Mosquitto
//! and PostgreSQL are started, a gateway runs with a synthetic call producer in place of a
//! PBX, and what central IT would receive is printed as it arrives: each finished call from
//! MQTT, then the gateway's status and PostgreSQL's row counts.
//!
//! `spine-demo [--duration SECONDS] [--rate EVENTS_PER_S]` (defaults 20 s, 20 events/s).

use std::time::Duration;

use clap::Parser;
use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{Collector, Mosquitto, Postgres};
use pbxgw_tests::synthetic;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20)]
    duration: u64,
    #[arg(long, default_value_t = 20)]
    rate: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(demo(args))
}

async fn demo(args: Args) -> anyhow::Result<()> {
    println!("starting a private Mosquitto and PostgreSQL...");
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let dir = tempfile::tempdir()?;
    let text = format!(
        "[gateway]\nid = \"demo\"\ndata_dir = {:?}\n[uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {}\nstatus_interval_s = 5\n[uplink.postgres]\nurl = {:?}\n",
        dir.path().join("data"),
        broker.port(),
        pg.url()
    );
    let config = Config::from_toml(&text, std::path::Path::new("demo.toml"))?;
    let central = Collector::start(broker.port(), "pbxgw/v1/demo/#", "demo-central").await;
    let gateway = Gateway::start(&config).await?;
    println!(
        "gateway 'demo' running: MQTT on 127.0.0.1:{}, PostgreSQL on 127.0.0.1:{}, data in {}",
        broker.port(),
        pg.port(),
        dir.path().display()
    );
    println!(
        "producing {} synthetic call events/s for {} s\n",
        args.rate, args.duration
    );

    let appender = gateway.appender();
    let total = args.rate * args.duration;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.rate.max(1) as u32);
    let mut shown = 0;
    for i in 0..total {
        tick.tick().await;
        appender
            .submit(synthetic::event(i, pbxgw::store::now_ms()))
            .await?;
        shown = print_new_calls(&central, shown);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    print_new_calls(&central, shown);

    let status = central.last_on("/status").map(|m| m.payload);
    if let Some(s) = status {
        println!(
            "\nretained status on pbxgw/v1/demo/status:\n{}",
            serde_json::to_string_pretty(&s)?
        );
    }
    let client = pg.client().await;
    let events: i64 = client
        .query_one("SELECT count(*) FROM pbxgw_events", &[])
        .await?
        .get(0);
    let calls: i64 = client
        .query_one("SELECT count(*) FROM pbxgw_calls", &[])
        .await?
        .get(0);
    println!("\nPostgreSQL: {events} rows in pbxgw_events, {calls} rows in pbxgw_calls");
    println!(
        "MQTT: {} events received by the central subscriber",
        central.events().len()
    );
    gateway.stop().await;
    Ok(())
}

/// Prints call records received since `shown`; returns the new count.
fn print_new_calls(central: &Collector, shown: usize) -> usize {
    let calls: Vec<_> = central
        .messages()
        .into_iter()
        .filter(|m| m.topic.contains("/call/"))
        .collect();
    for m in &calls[shown.min(calls.len())..] {
        let r = &m.payload;
        println!(
            "call {:<10} {} -> {} answered by {} at {}, {} s talk, {}",
            r["call_id"].as_str().unwrap_or("?"),
            r["caller"].as_str().unwrap_or("?"),
            r["callee"].as_str().unwrap_or("?"),
            r["extension"].as_str().unwrap_or("-"),
            r["answered_at"].as_str().unwrap_or("-"),
            r["billsec_s"],
            r["disposition"].as_str().unwrap_or("?"),
        );
    }
    calls.len()
}
