//! The network watch: every minute a TCP connect to each `[[monitor]]` target, its time (or
//! that nothing answered) charted as `monitor:<name>` beside the links' round trips, with the
//! same quality classes; and the history of every chart kept across a restart.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::MonitorConfig;
use crate::link::quality::{QualityLog, FILE};

/// How often each target is measured: the charts hold one sample a minute.
pub(crate) const EVERY: Duration = Duration::from_secs(60);
/// A connect that takes longer counts as no answer.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// How often the history is saved besides at shutdown (a power cut loses at most this).
const SAVE_EVERY: Duration = Duration::from_secs(600);

/// The time to open a TCP connection to `target` (name resolution not counted); `None`
/// when it cannot be resolved, is refused, or takes longer than [`CONNECT_WITHIN`].
pub(crate) async fn connect_time(target: &str) -> Option<Duration> {
    let resolve = tokio::net::lookup_host(target);
    let address = tokio::time::timeout(CONNECT_WITHIN, resolve)
        .await
        .ok()?
        .ok()?
        .next()?;
    let start = Instant::now();
    let connect = tokio::net::TcpStream::connect(address);
    match tokio::time::timeout(CONNECT_WITHIN, connect).await {
        Ok(Ok(_)) => Some(start.elapsed()),
        _ => None,
    }
}

/// Reads the history saved in `data_dir` back (what a link recorded since comes after it).
pub(crate) fn restore_history(quality: &QualityLog, data_dir: &std::path::Path) {
    if let Err(e) = quality.load(&data_dir.join(FILE), crate::clock::now_ms()) {
        tracing::warn!(error = %e, "link history not restored; the charts start empty");
    }
}

/// Measures every target each [`EVERY`] until shutdown.
pub(crate) async fn watch(
    targets: Vec<MonitorConfig>,
    quality: QualityLog,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let rounds = targets.iter().map(|m| async {
            let rtt = connect_time(&m.target).await;
            if rtt.is_none() {
                tracing::info!(monitor = %m.name, target = %m.target, "no answer");
            }
            quality.record(&format!("monitor:{}", m.name), rtt, crate::clock::now_ms());
        });
        futures_util::future::join_all(rounds).await;
    }
}

/// Saves the history in `data_dir` every [`SAVE_EVERY`] and once more at shutdown (the
/// runtime reads it back at start).
pub(crate) async fn keep_history(
    quality: QualityLog,
    data_dir: std::path::PathBuf,
    shutdown: CancellationToken,
) {
    let path = data_dir.join(FILE);
    let mut tick = tokio::time::interval(SAVE_EVERY);
    tick.tick().await;
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tick.tick() => false,
        };
        let (log, file) = (quality.clone(), path.clone());
        match tokio::task::spawn_blocking(move || log.save(&file)).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "link history not saved"),
            Err(e) => tracing::warn!(error = %e, "link history not saved"),
            Ok(Ok(())) => {}
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listening port answers with its connect time; a closed one and a name that does
    /// not resolve do not.
    #[tokio::test]
    async fn a_connect_is_timed_and_a_refusal_is_no_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().to_string();
        let rtt = connect_time(&open).await.expect("an answer");
        assert!(rtt < CONNECT_WITHIN);
        drop(listener);
        assert_eq!(connect_time(&open).await, None);
        assert_eq!(connect_time("no-such-host.invalid:443").await, None);
    }
}
