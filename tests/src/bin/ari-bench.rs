//! `ari-bench`: ARI figures on this machine. Two real captures, each repeated with the
//! channel ids made unique per repetition, through the JSON decoder + the call correlator +
//! the store (sync = full), in one process: events/s until the last call event has
//! committed, then this process's peak RSS. The Stasis application's capture (210 frames,
//! `PBXGW_BENCH_REPEAT` times, default 500) runs the application-only correlator; the
//! subscribe-all capture (3,941 frames of 40 calls, a sixteenth as many times) the whole-PBX
//! one. Goals for the whole PBX: 50,000 events/s and a peak RSS under 20 MB.

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
    let prefix = format!("\"r{r}-179");
    capture
        .lines()
        .map(|l| l.replace("\"179", &prefix))
        .collect()
}

/// Events/s of the decoder alone and of decoder + correlator + store.
struct Figures {
    events: usize,
    decoder: f64,
    pipeline: f64,
    stored: usize,
}

async fn run(repeat: usize) -> anyhow::Result<()> {
    let app = measure(
        "asterisk/ari_events.jsonl",
        AriCorrelatorConfig::new("bench"),
        repeat,
    )
    .await?;
    let mut whole = AriCorrelatorConfig::new("bench");
    whole.subscribe_all = true;
    let all = measure("asterisk/ari_all_events.jsonl", whole, (repeat / 16).max(1)).await?;
    let rss_kb = pbxgw_tests::harness::peak_rss_kb(std::process::id());
    let rss_mb = rss_kb as f64 / 1024.0;

    println!();
    println!("| figure | Stasis application only | whole PBX (subscribe_all) | goal (whole PBX) |");
    println!("|---|---|---|---|");
    println!("| events replayed | {} | {} | |", app.events, all.events);
    println!(
        "| ARI JSON decoder alone | {:.0} frames/s | {:.0} frames/s | |",
        app.decoder, all.decoder
    );
    println!(
        "| decoder + correlator + store | {:.0} events/s ({} call events) | {:.0} events/s ({} call events) | >= 50000 events/s |",
        app.pipeline, app.stored, all.pipeline, all.stored
    );
    println!("| peak RSS of this process (both runs) | {rss_mb:.1} MB | | < 20 MB |");
    anyhow::ensure!(all.stored > 0, "the whole-PBX run stored no call events");
    Ok(())
}

async fn measure(
    file: &str,
    config: AriCorrelatorConfig,
    repeat: usize,
) -> anyhow::Result<Figures> {
    let capture = pbxgw::fixtures::fixture(file);
    let n = capture.lines().count() * repeat;
    println!("ari-bench: {file} x{repeat} = {n} events");

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
    let correlator = AriCorrelator::new(config);
    let mut run = pbxgw_tests::bench::CorrelatedStore::start(dir.path(), correlator)?;
    let t0 = pbxgw::clock::now_ms();
    let start = Instant::now();
    let mut i = 0i64;
    for r in 0..repeat {
        for frame in frames(&capture, r) {
            let event = match decode(&frame) {
                Ok(Decoded::Event(event)) => event,
                Ok(Decoded::Unknown { .. }) => continue,
                Err(e) => anyhow::bail!("frame {i} does not decode: {e}"),
            };
            i += 1;
            run.feed(t0 + i, &frame, &event, i % 1000 == 0).await?;
        }
    }
    run.committed().await?;
    let pipeline = n as f64 / start.elapsed().as_secs_f64();
    let stored = run.stored;
    let correlator = run.stop().await?;
    anyhow::ensure!(correlator.open_calls() == 0, "calls left open");
    Ok(Figures {
        events: n,
        decoder,
        pipeline,
        stored,
    })
}
