//! `ctip-bench`: CTIP figures on this machine.
//!
//! 1. pipeline: the real NCP stream, repeated to `PBXGW_BENCH_LINES` lines (default 200,000),
//!    through framing + parsing + the call correlator + the store (sync = full), in one
//!    process; lines/s until the last event has committed (and the parts alone);
//! 2. end to end: the same lines sent by the CTIP simulator over TCP to a gateway process
//!    (this binary re-executed in `gateway` mode), lines/s until the store has settled, and the
//!    gateway's peak RSS.

use std::path::Path;
use std::time::{Duration, Instant};

use pbxgw::calls::ctip::{CtipCorrelator, CtipCorrelatorConfig};
use pbxgw::config::Config;
use pbxgw::pbx::ctip::codec::{parse, CodePage, Frame, FrameDecoder};
use pbxgw::store::StoreReader;
use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.get(1).map(String::as_str) == Some("gateway") {
        let path = Path::new(&args[2]);
        let config = Config::load(path)?;
        return Ok(rt.block_on(pbxgw::runtime::run(config, path.to_owned()))?);
    }
    let n: usize = std::env::var("PBXGW_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    rt.block_on(run(n))
}

fn lines(n: usize) -> Vec<String> {
    let stream = pbxgw::fixtures::fixture("ctip/raw_stream_anon.txt");
    let one: Vec<&str> = stream.lines().collect();
    one.iter().cycle().take(n).map(|l| l.to_string()).collect()
}

async fn run(n: usize) -> anyhow::Result<()> {
    println!("ctip-bench: {n} lines of the real NCP stream");
    let lines = lines(n);
    let mut wire = Vec::new();
    for l in &lines {
        wire.extend_from_slice(l.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    let cp = CodePage::ibm852();

    // Codec alone.
    let start = Instant::now();
    let mut parsed = 0;
    let mut d = FrameDecoder::new();
    d.push(&wire);
    while let Some(Frame::Message(b)) = d.next_frame() {
        if parse(&cp.decode(&b)).is_ok() {
            parsed += 1;
        }
    }
    let codec = n as f64 / start.elapsed().as_secs_f64();
    anyhow::ensure!(parsed == n, "{parsed} of {n} parsed");

    // Codec + correlator + store: one line every 50 ms of stream time.
    let dir = tempfile::tempdir()?;
    let correlator = CtipCorrelator::new(CtipCorrelatorConfig::new("bench"));
    let mut run = pbxgw_tests::bench::CorrelatedStore::start(dir.path(), correlator)?;
    let t0 = pbxgw::clock::now_ms();
    let start = Instant::now();
    let mut d = FrameDecoder::new();
    d.push(&wire);
    let mut i = 0i64;
    while let Some(Frame::Message(b)) = d.next_frame() {
        let text = cp.decode(&b);
        let ts = t0 + i * 50;
        i += 1;
        let Ok(msg) = parse(&text) else { continue };
        run.feed(ts, &text, &msg, i % 20 == 0).await?;
    }
    run.committed().await?;
    let pipeline = n as f64 / start.elapsed().as_secs_f64();
    let events = run.stored;
    run.stop().await?;

    let (e2e, rss_kb, stored) = end_to_end(&lines).await?;

    println!();
    println!("| figure | value | goal | |");
    println!("|---|---|---|---|");
    println!("| codec (framing + parse) | {codec:.0} lines/s | | |");
    println!("| codec + correlator + store, in process | {pipeline:.0} lines/s ({events} call events) | >= 20,000 lines/s | {} |", met(pipeline >= 20_000.0));
    println!("| over TCP into a gateway process, until stored | {e2e:.0} lines/s ({stored} events) | | |");
    println!(
        "| gateway peak RSS under that burst | {:.1} MB | <= 15 MB | {} |",
        rss_kb as f64 / 1024.0,
        met(rss_kb <= 15 * 1024)
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

async fn end_to_end(lines: &[String]) -> anyhow::Result<(f64, u64, u64)> {
    let sim = CtipSim::start(CtipSimOptions {
        lines: lines.to_vec(),
        interval: Duration::ZERO,
        ..CtipSimOptions::new("1234")
    })
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let conf = dir.path().join("pbxgw.toml");
    std::fs::write(&conf, format!(
        "[gateway]\nid = \"bench\"\ndata_dir = {data:?}\n[store]\nsync = \"full\"\n[[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {}\npin = \"1234\"\n",
        sim.port()
    ))?;
    let start = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["gateway", &conf.to_string_lossy()])
        .env("PBXGW_LOG", "warn")
        .env(
            "MALLOC_ARENA_MAX",
            pbxgw_tests::bench::UNIT_MALLOC_ARENA_MAX,
        )
        .spawn()?;
    let db = data.join("pbxgw.db");
    let sent = |s: &CtipSim| s.stats.lines_sent.load(std::sync::atomic::Ordering::SeqCst);
    let mut last = (0u64, Instant::now());
    let mut rss = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss = rss.max(pbxgw_tests::harness::peak_rss_kb(child.id()));
        let seq = if db.exists() {
            StoreReader::open(&db)
                .and_then(|r| r.stats(&[]))
                .map(|s| s.last_seq)
                .unwrap_or(0)
        } else {
            0
        };
        if seq != last.0 {
            last = (seq, Instant::now());
        } else if sent(&sim) == lines.len() && seq > 0 && last.1.elapsed() > Duration::from_secs(1)
        {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(300),
            "end-to-end run did not settle"
        );
    }
    let took = last.1.duration_since(start).as_secs_f64();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    Ok((lines.len() as f64 / took, rss, last.0))
}
