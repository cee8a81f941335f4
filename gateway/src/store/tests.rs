//! The store's contract, in-process on a real SQLite file.

use std::time::Duration;

use super::*;
use crate::calls::{CallDtmf, CallEvent, EventBody, Source};
use crate::config::SyncMode;

fn options(dir: &std::path::Path) -> StoreOptions {
    StoreOptions {
        path: dir.join("pbxgw.db"),
        sync: SyncMode::Normal,
        max_size_bytes: 512 * 1024 * 1024,
        history_ms: 30 * 86_400_000,
        batch_max: 1000,
        batch_wait: Duration::from_millis(1),
        sinks: vec!["mqtt".into()],
        maintenance_every: Duration::from_secs(60),
    }
}

fn event(i: u64) -> CallEvent {
    CallEvent {
        ts_ms: now_ms(),
        source: Source::Ami,
        pbx: "p".into(),
        call_id: Some(format!("c{}", i / 4)),
        raw: Some(format!(
            "Event: Test\r\nSeq: {i}\r\nPadding: {}",
            "x".repeat(200)
        )),
        body: EventBody::CallDtmf(CallDtmf {
            digit: (i % 10).to_string(),
        }),
    }
}

fn start(opts: &StoreOptions) -> (Appender, WriterHandle, tokio::sync::watch::Receiver<u64>) {
    let opened = open(opts).expect("open");
    spawn_writer(opened, opts.clone(), tokio::runtime::Handle::current()).expect("writer")
}

async fn stop(appender: Appender, writer: WriterHandle) {
    drop(appender);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_producers_get_gap_free_seqs_in_their_own_order() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let (appender, writer, committed) = start(&opts);
    let mut tasks = Vec::new();
    for p in 0..4u64 {
        let appender = appender.clone();
        tasks.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for i in 0..2500 {
                receipts.push(appender.submit(event(p * 10_000 + i)).await.unwrap());
            }
            let mut seqs = Vec::new();
            for r in receipts {
                seqs.push(r.committed().await.unwrap());
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let seqs = t.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a producer's order was not kept"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=10_000).collect::<Vec<u64>>());
    assert_eq!(*committed.borrow(), 10_000);
    let reader = StoreReader::open(&opts.path).unwrap();
    let rows = reader.events_after(0, 20_000).unwrap();
    assert_eq!(rows.len(), 10_000);
    assert!(rows.iter().zip(1..).all(|(r, s)| r.seq == s));
    assert!(rows.iter().all(|r| r.body.is_ok()));
    stop(appender, writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seq_continues_after_restart_even_when_every_row_was_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.history_ms = 0;
    opts.maintenance_every = Duration::from_millis(100);
    let (appender, writer, _) = start(&opts);
    for i in 0..100 {
        appender.append(event(i)).await.unwrap();
    }
    appender.ack("mqtt", 60).await.unwrap();
    appender.flush().await.unwrap();
    let reader = StoreReader::open(&opts.path).unwrap();
    let gone =
        crate::store::tests::wait(|| reader.stats(&opts.sinks).unwrap().first_seq == Some(61))
            .await;
    assert!(gone, "acknowledged, expired rows were not deleted");
    let stats = reader.stats(&opts.sinks).unwrap();
    assert_eq!(
        (stats.rows, stats.last_seq, stats.sinks[0].backlog),
        (40, 100, 40)
    );
    appender.ack("mqtt", 100).await.unwrap();
    appender.flush().await.unwrap();
    assert!(wait(|| reader.stats(&opts.sinks).unwrap().rows == 0).await);
    stop(appender, writer).await;

    let (appender, writer, _) = start(&opts);
    assert_eq!(appender.append(event(100)).await.unwrap(), 101);
    stop(appender, writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_rows_are_kept_past_the_history_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.history_ms = 0;
    opts.maintenance_every = Duration::from_millis(50);
    let (appender, writer, _) = start(&opts);
    for i in 0..10 {
        appender.append(event(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reader = StoreReader::open(&opts.path).unwrap();
    assert_eq!(reader.stats(&opts.sinks).unwrap().rows, 10);
    stop(appender, writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_cap_evicts_oldest_counts_the_loss_and_keeps_accepting() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.max_size_bytes = 1024 * 1024;
    let (appender, writer, _) = start(&opts);
    let mut receipts = Vec::new();
    for i in 0..12_000 {
        receipts.push(appender.submit(event(i)).await.unwrap());
    }
    let mut last = 0;
    for r in receipts {
        last = r.committed().await.unwrap();
    }
    assert_eq!(last, 12_000);
    let reader = StoreReader::open(&opts.path).unwrap();
    assert!(wait(|| reader.stats(&opts.sinks).unwrap().dropped > 0).await);
    let stats = reader.stats(&opts.sinks).unwrap();
    let first = stats.first_seq.unwrap();
    // Nothing was acknowledged: every evicted row is a counted loss, and what is left is
    // one contiguous tail.
    assert_eq!(stats.dropped, first - 1);
    assert_eq!(stats.evicted_total, first - 1);
    assert_eq!(stats.rows, 12_000 - (first - 1));
    assert_eq!(stats.sinks[0].backlog, stats.rows);
    assert_eq!(appender.append(event(0)).await.unwrap(), 12_001);
    stop(appender, writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_file_is_quarantined_and_seqs_never_reuse_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let (appender, writer, _) = start(&opts);
    for i in 0..3000 {
        appender.submit(event(i)).await.unwrap();
    }
    appender.flush().await.unwrap();
    stop(appender, writer).await;
    // Damage pages in the middle of the file, as a failing SD card would.
    let mut bytes = std::fs::read(&opts.path).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 3..len / 3 + 16384] {
        *b = 0x5a;
    }
    std::fs::write(&opts.path, &bytes).unwrap();

    let opened = open(&opts).unwrap();
    let q = opened.quarantine.clone().expect("quarantined");
    assert!(q.moved_to.exists());
    assert!(
        q.next_seq_floor >= 3000,
        "floor {} would reuse seqs",
        q.next_seq_floor
    );
    let (appender, writer, _) =
        spawn_writer(opened, opts.clone(), tokio::runtime::Handle::current()).unwrap();
    let seq = appender.append(event(0)).await.unwrap();
    assert_eq!(seq, q.next_seq_floor + 1);
    let stats = StoreReader::open(&opts.path).unwrap().stats(&[]).unwrap();
    assert_eq!(stats.quarantined, 1);
    assert!(stats.last_quarantine.unwrap().contains("corrupt"));
    stop(appender, writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_a_database_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    std::fs::write(&opts.path, vec![0xab; 8192]).unwrap();
    let opened = open(&opts).unwrap();
    let q = opened.quarantine.clone().expect("quarantined");
    assert_eq!(std::fs::read(&q.moved_to).unwrap(), vec![0xab; 8192]);
    // Nothing readable: the time-based floor is far above anything a box could have issued.
    assert!(q.next_seq_floor > 1_000_000_000_000_000);
    drop(opened);
}

/// Polls for up to 5 s.
pub(super) async fn wait(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}
