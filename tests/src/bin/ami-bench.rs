//! `ami-bench`: AMI figures on this machine. The real capture (3,830 events), repeated
//! `PBXGW_BENCH_REPEAT` times (default 30), through the AMI decoder (with the capture's real
//! TCP chunking) + the call correlator + the store (sync = full), in one process:
//!
//! 1. the decoder alone;
//! 2. every event (an AMI user with `read=all`, no `Events:` filter);
//! 3. filtered: without the `dialplan` class (VarSet, Newexten), as a login with
//!    `events = "call,agent,dtmf,system,user"` receives it.
//!
//! Events/s are counted until the last call event has committed; then this process's peak
//! RSS. Repetitions reuse the capture's call ids: each repetition's calls have all ended
//! before the next begins.

use std::time::Instant;

use pbxgw::calls::ami::{AmiCorrelator, AmiCorrelatorConfig};
use pbxgw::pbx::ami::codec::{Decoded, Decoder, Message};
use pbxgw_tests::sim::ami::Capture;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let repeat: usize = std::env::var("PBXGW_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    rt.block_on(run(repeat))
}

/// The capture's events, decoded from its real chunks.
fn decode(capture: &Capture) -> Vec<Message> {
    let mut d = Decoder::without_banner();
    let mut out = Vec::new();
    for (_, chunk) in capture.chunks() {
        d.push(chunk);
        while let Some(item) = d.next_decoded() {
            if let Decoded::Message(m) = item {
                out.push(m);
            }
        }
    }
    out
}

async fn run(repeat: usize) -> anyhow::Result<()> {
    let capture = Capture::load();
    let one = decode(&capture);
    let n = one.iter().filter(|m| m.event().is_some()).count() * repeat;
    println!("ami-bench: the real capture x{repeat} = {n} events");

    let start = Instant::now();
    let mut decoded = 0;
    for _ in 0..repeat {
        decoded += decode(&capture).len();
    }
    let decoder = decoded as f64 / start.elapsed().as_secs_f64();

    let (all, all_events) = pipeline(&capture, repeat, |_| true).await?;
    let noise = |m: &Message| !matches!(m.event(), Some("VarSet" | "Newexten"));
    let (filtered, filtered_events) = pipeline(&capture, repeat, noise).await?;
    let kept = one.iter().filter(|m| noise(m)).count() as f64 / one.len() as f64;
    let rss_kb = pbxgw_tests::harness::peak_rss_kb(std::process::id());

    println!();
    println!("| figure | value | goal | |");
    println!("|---|---|---|---|");
    println!("| AMI decoder alone (real chunking) | {decoder:.0} messages/s | | |");
    println!("| decoder + correlator + store, every event | {all:.0} events/s ({all_events} call events) | >= 30,000 events/s | {} |", met(all >= 30_000.0));
    println!("| the same without VarSet/Newexten ({:.0}% of the traffic kept) | {filtered:.0} AMI events/s of the full stream ({filtered_events} call events) | | |", kept * 100.0);
    println!(
        "| peak RSS of this process | {:.1} MB | | |",
        rss_kb as f64 / 1024.0
    );
    Ok(())
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// Full-stream AMI events per second through decoder + correlator + store, counting the
/// events a filter drops as handled (Asterisk would not have sent them).
async fn pipeline(
    capture: &Capture,
    repeat: usize,
    keep: impl Fn(&Message) -> bool,
) -> anyhow::Result<(f64, usize)> {
    let dir = tempfile::tempdir()?;
    let correlator = AmiCorrelator::new(AmiCorrelatorConfig::new("bench"));
    let mut run = pbxgw_tests::bench::CorrelatedStore::start(dir.path(), correlator)?;
    let t0 = pbxgw::clock::now_ms();
    let start = Instant::now();
    let (mut i, mut handled) = (0i64, 0usize);
    for _ in 0..repeat {
        let mut d = Decoder::without_banner();
        for (_, chunk) in capture.chunks() {
            d.push(chunk);
            while let Some(item) = d.next_decoded() {
                let Decoded::Message(m) = item else { continue };
                if m.event().is_none() {
                    continue;
                }
                handled += 1;
                if !keep(&m) {
                    continue;
                }
                i += 1;
                run.feed(t0 + i, &m.to_raw(), &m, i % 1000 == 0).await?;
            }
        }
    }
    run.committed().await?;
    let rate = handled as f64 / start.elapsed().as_secs_f64();
    let stored = run.stored;
    let correlator = run.stop().await?;
    anyhow::ensure!(correlator.open_calls() == 0, "calls left open");
    Ok((rate, stored))
}
