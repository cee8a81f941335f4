//! `ari-bench`: ARI figures on this machine. The real event capture (210 WebSocket frames of
//! the Stasis application), repeated `PBXGW_BENCH_REPEAT` times (default 500) with the
//! channel ids made unique per repetition, through the JSON decoder + the call correlator +
//! the store (sync = full), in one process: events/s until the last call event has
//! committed, then this process's peak RSS.

use std::time::Instant;

use pbxgw::calls::ari::{AriCorrelator, AriCorrelatorConfig};
use pbxgw::pbx::ari::model::{decode, Decoded};

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let repeat: usize = std::env::var("PBXGW_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    rt.block_on(run(repeat))
}

/// The capture for repetition `r`, with its own channel ids (`1795316996.19` ->
/// `r7-1795316996.19`), so no repetition is mistaken for late events of the previous one.
/// Made per repetition so the input does not count in the peak RSS.
fn frames(capture: &str, r: usize) -> Vec<String> {
    let prefix = format!("\"r{r}-17953");
    capture
        .lines()
        .map(|l| l.replace("\"17953", &prefix))
        .collect()
}

async fn run(repeat: usize) -> anyhow::Result<()> {
    let capture = pbxgw::fixtures::fixture("asterisk/ari_events.jsonl");
    let n = capture.lines().count() * repeat;
    println!("ari-bench: the real capture x{repeat} = {n} events");

    let start = Instant::now();
    let mut decoded = 0;
    for r in 0..repeat {
        decoded += frames(&capture, r)
            .iter()
            .filter(|f| decode(f).is_ok())
            .count();
    }
    let decoder = decoded as f64 / start.elapsed().as_secs_f64();

    let dir = tempfile::tempdir()?;
    let correlator = AriCorrelator::new(AriCorrelatorConfig::new("bench"));
    let mut run = pbxgw_tests::bench::CorrelatedStore::start(dir.path(), correlator)?;
    let t0 = pbxgw::store::now_ms();
    let start = Instant::now();
    let mut i = 0i64;
    for r in 0..repeat {
        for frame in frames(&capture, r) {
            let Ok(Decoded::Event(event)) = decode(&frame) else {
                anyhow::bail!("frame {i} does not decode");
            };
            i += 1;
            run.feed(t0 + i, &frame, &event, i % 1000 == 0).await?;
        }
    }
    run.committed().await?;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let stored = run.stored;
    let correlator = run.stop().await?;
    anyhow::ensure!(correlator.open_calls() == 0, "calls left open");
    let rss_kb = pbxgw_tests::harness::peak_rss_kb(std::process::id());

    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| ARI JSON decoder alone | {decoder:.0} frames/s |");
    println!("| decoder + correlator + store | {rate:.0} events/s ({stored} call events) |");
    println!(
        "| peak RSS of this process | {:.1} MB |",
        rss_kb as f64 / 1024.0
    );
    Ok(())
}
