//! `demo` with a private central: starts its own Mosquitto and PostgreSQL on free loopback
//! ports, then runs `pbxgw demo` (gateway/src/demo) against them, so the whole data path
//! down to PostgreSQL's tables is shown without touching anything else on the machine.
//! `demo [--duration SECONDS] [--speed X]` (defaults 60 s; the Asterisk captures at 4x, the
//! Slican one at 15x inside calls).

use std::time::Duration;

use clap::Parser;
use pbxgw::demo::{run, DemoOptions};
use pbxgw_tests::harness::{Mosquitto, Postgres};

#[derive(Parser)]
struct Args {
    /// Stop after this many seconds (Ctrl-C stops earlier).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Replay speed of the Asterisk capture (1 = real time, 85 s).
    #[arg(long, default_value_t = 4.0)]
    speed: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            println!("starting central: a private Mosquitto and PostgreSQL...");
            let broker = Mosquitto::start();
            let pg = Postgres::start();
            run(DemoOptions {
                duration: Some(Duration::from_secs(args.duration)),
                speed: args.speed,
                ctip_speed: pbxgw::demo::sim::pace::Pace::DEMO.speed,
                api_port: 8080,
                mqtt: Some(([127, 0, 0, 1], broker.port()).into()),
                postgres: Some(pg.url()),
                fixtures: None,
            })
            .await?;
            let client = pg.client().await;
            for table in ["pbxgw_events", "pbxgw_calls"] {
                let rows: i64 = client
                    .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                    .await?
                    .get(0);
                println!("PostgreSQL {table}: {rows} rows");
            }
            Ok(())
        })
}
