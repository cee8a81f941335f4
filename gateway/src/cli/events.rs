//! `pbxgw events` and `pbxgw status`: the local event log and the sinks' backlog.

use std::time::Duration;

use crate::config::Config;
use crate::store::{StoreReader, StoreStats};
use crate::uplink::configured_sinks;
use crate::uplink::json::event_json;

pub(super) fn open_reader(config: &Config) -> anyhow::Result<StoreReader> {
    let path = config.db_path();
    anyhow::ensure!(
        path.exists(),
        "no event database at {} yet; it is created by `pbxgw run`",
        path.display()
    );
    Ok(StoreReader::open(&path)?)
}

pub(super) fn print_events(config: &Config, since: u64, follow: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let reader = open_reader(config)?;
    let mut after = since;
    let stdout = std::io::stdout();
    loop {
        let batch = reader.events_after(after, 1000)?;
        let mut out = stdout.lock();
        for e in &batch {
            let mut line = event_json(&config.gateway.id, e, false);
            if let Some(fields) = line.as_object_mut() {
                fields.insert("raw".into(), serde_json::json!(e.raw));
            }
            if writeln!(out, "{line}").is_err() {
                return Ok(()); // reader went away (e.g. `| head`)
            }
        }
        out.flush().ok();
        if let Some(last) = batch.last() {
            after = last.seq;
            continue;
        }
        if !follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `pbxgw status`: a table, or JSON.
pub(super) fn status(config: &Config, json: bool) -> anyhow::Result<std::process::ExitCode> {
    let stats = open_reader(config)?.stats(&configured_sinks(config))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", status_table(config, &stats));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn status_table(config: &Config, stats: &StoreStats) -> String {
    let now = crate::clock::now_ms();
    let mut s = String::new();
    s += &format!(
        "gateway {}  database {} ({:.1} MB)\n",
        config.gateway.id,
        config.db_path().display(),
        stats.db_bytes as f64 / 1_048_576.0
    );
    s += &format!(
        "events: last seq {}, {} kept (seq {}..)\n",
        stats.last_seq,
        stats.rows,
        stats.first_seq.map_or("-".into(), |f| f.to_string())
    );
    if stats.sinks.is_empty() {
        s += "no uplink configured\n";
    }
    for sink in &stats.sinks {
        let oldest = sink.oldest_unacked_ms.map_or("-".to_string(), |t| {
            format!("{} s ago", (now - t).max(0) / 1000)
        });
        s += &format!(
            "sink {:<9} acked seq {:<10} backlog {:<8} oldest unacknowledged {}\n",
            sink.sink, sink.acked_seq, sink.backlog, oldest
        );
    }
    s += &format!(
        "dropped (unacknowledged events evicted at the size cap or on a full disk): {}\n",
        stats.dropped
    );
    s += &format!("corrupt databases quarantined: {}", stats.quarantined);
    if let Some(q) = &stats.last_quarantine {
        s += &format!(" (last: {q})");
    }
    s += "\n";
    s
}
