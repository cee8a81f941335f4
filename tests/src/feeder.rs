//! The real gateway runtime with a synthetic producer in place of a PBX connector: used by
//! the fault tests (kill -9 mid-stream needs a process that is producing) and benchmarks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use pbxgw::config::Config;
use pbxgw::runtime::Gateway;

#[derive(Debug, Parser)]
#[command(name = "pbxgw-feed")]
pub struct FeedArgs {
    #[arg(short, long)]
    pub config: PathBuf,
    /// Events per second; 0 = as fast as the store accepts them.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    /// Stop cleanly after the last event instead of running until SIGTERM.
    #[arg(long)]
    pub exit_when_done: bool,
    /// Name each event's PBX `synthetic@<Unix microseconds at submit>`, so a subscriber can
    /// time the path more finely than the events' millisecond `ts`.
    #[arg(long)]
    pub stamp_us: bool,
}

/// Microseconds since the Unix epoch.
pub fn unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The submit time of an event a `--stamp-us` feeder produced, from its `pbx` field.
pub fn stamp_us(pbx: &str) -> Option<i64> {
    pbx.strip_prefix("synthetic@")?.parse().ok()
}

/// Runs the gateway with the synthetic producer until done (or SIGTERM).
pub fn main_with(args: FeedArgs) -> anyhow::Result<()> {
    pbxgw::cli::init_logging();
    let config = Config::load(&args.config)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("runtime")?
        .block_on(feed(config, args))
}

async fn feed(config: Config, args: FeedArgs) -> anyhow::Result<()> {
    let gateway = Gateway::start(&config).await?;
    let appender = gateway.appender();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let per_tick = if args.rate == 0 {
        u64::MAX
    } else {
        (u64::from(args.rate) / 100).max(1)
    };
    let mut last = None;
    let mut i = 0;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    'produce: while i < args.count {
        if args.rate > 0 {
            tokio::select! {
                _ = tick.tick() => {}
                _ = term.recv() => break 'produce,
            }
        }
        let mut n = 0;
        while n < per_tick && i < args.count {
            let mut event = crate::synthetic::event(i, pbxgw::clock::now_ms());
            if args.stamp_us {
                event.pbx = format!("synthetic@{}", unix_us());
            }
            last = Some(appender.submit(event).await?);
            i += 1;
            n += 1;
        }
    }
    if let Some(receipt) = last {
        let seq = receipt.committed().await?;
        eprintln!("feeder: all {i} events accepted, last seq {seq}");
    }
    if !args.exit_when_done {
        term.recv().await;
    }
    drop(appender);
    gateway.stop().await;
    Ok(())
}
