//! The store's contract, in-process on a real SQLite file (compiled only under #[cfg(test)]).

use std::time::Duration;

use super::*;
use crate::calls::{CallDtmf, CallEvent, EventBody, Source};
use crate::clock::now_ms;
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
        hook: None,
        plan: crate::config::SmsConfig::default().plan(),
        clock: crate::clock::ClockTrust::Trusted,
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
async fn events_stored_while_the_clock_is_wrong_say_so_and_the_rest_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.clock = crate::clock::ClockTrust::Wrong;
    let (appender, writer, _) = start(&opts);
    appender.append(event(0)).await.unwrap();
    stop(appender, writer).await;
    opts.clock = crate::clock::ClockTrust::Trusted;
    let (appender, writer, _) = start(&opts);
    appender.append(event(1)).await.unwrap();
    stop(appender, writer).await;

    let events = StoreReader::open(&opts.path)
        .unwrap()
        .events_after(0, 10)
        .unwrap();
    let flags: Vec<bool> = events.iter().map(|e| e.clock_unsynced).collect();
    assert_eq!(flags, [true, false]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_table_follows_the_log_within_and_across_batches() {
    use crate::calls::{CallAnswered, CallRecord, CallStarted, Direction};
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let (appender, writer, _) = start(&opts);
    // Times relative to now: retention removes calls older than the history window.
    let t0 = now_ms();
    let ev = |call: &str, ts_ms: i64, body: EventBody| CallEvent {
        ts_ms: t0 + ts_ms,
        source: Source::Ami,
        pbx: "p".into(),
        call_id: Some(call.into()),
        raw: None,
        body,
    };
    let started = |caller: &str| {
        EventBody::CallStarted(CallStarted {
            direction: Direction::Inbound,
            caller: Some(caller.into()),
            callee: Some("100".into()),
        })
    };
    let answered = |ext: &str| {
        EventBody::CallAnswered(CallAnswered {
            extension: Some(ext.into()),
            agent: None,
            by_person: true,
        })
    };
    // Call a: started in one batch, answered and ended in later ones.
    appender
        .append(ev("a", 1_000, started("600")))
        .await
        .unwrap();
    let row = |call: &str| {
        let conn = rusqlite::Connection::open(&opts.path).unwrap();
        conn.query_row(
            "SELECT state, caller, extension, started_ms, answered_ms, ended_ms, disposition, ended_seq FROM calls WHERE call_id = ?1",
            [call],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ))
            },
        )
        .unwrap()
    };
    assert_eq!(
        row("a"),
        (
            "live".into(),
            Some("600".into()),
            None,
            t0 + 1_000,
            None,
            None,
            None,
            None
        )
    );
    appender
        .append(ev("a", 2_000, answered("201")))
        .await
        .unwrap();
    assert_eq!(row("a").2.as_deref(), Some("201"));
    assert_eq!(row("a").4, Some(t0 + 2_000));
    let record = CallRecord {
        started_at: t0 + 1_000,
        answered_at: Some(t0 + 2_000),
        ended_at: t0 + 9_000,
        ..CallRecord::example("a", t0)
    }
    .with_durations();
    let seq = appender
        .append(ev(
            "a",
            9_000,
            EventBody::CallEnded(Box::new(record.clone())),
        ))
        .await
        .unwrap();
    // A late answer after the end must not reopen the call.
    appender
        .append(ev("a", 9_500, answered("202")))
        .await
        .unwrap();
    assert_eq!(
        row("a"),
        (
            "ended".into(),
            Some("600".into()),
            Some("201".into()),
            t0 + 1_000,
            Some(t0 + 2_000),
            Some(t0 + 9_000),
            Some("answered".into()),
            Some(seq as i64)
        )
    );
    // Call b: everything in one batch folds into one row with the same result.
    let mut receipts = Vec::new();
    for e in [
        ev("b", 1_000, started("700")),
        ev("b", 2_000, answered("203")),
        ev(
            "b",
            9_000,
            EventBody::CallEnded(Box::new(CallRecord {
                call_id: "b".into(),
                caller: Some("700".into()),
                extension: Some("203".into()),
                ..record.clone()
            })),
        ),
    ] {
        receipts.push(appender.submit(e).await.unwrap());
    }
    for r in receipts {
        r.committed().await.unwrap();
    }
    let b = row("b");
    assert_eq!(
        (b.0.as_str(), b.2.as_deref(), b.4, b.5),
        ("ended", Some("203"), Some(t0 + 2_000), Some(t0 + 9_000))
    );
    stop(appender, writer).await;
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

/// A tmpfs of `mb` MB mounted on `dir` for the life of the guard (the disk-full tests need a
/// real full file system; CI runs as root).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, mb: u32) -> SmallDisk {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the disk-full test mounts a {mb} MB tmpfs: run it as root (CI does)"
        );
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mb}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("run mount (util-linux)");
        assert!(
            status.success(),
            "mount -t tmpfs failed on {}",
            dir.display()
        );
        SmallDisk(dir.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a file still open in a failed test must not keep the mount.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Writes zeros to `path` (appending) until the file system says it is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let mut small = vec![0u8; 512];
    while !small.is_empty() {
        if f.write_all(&small).is_err() {
            small.truncate(small.len() / 2);
        }
    }
    let _ = f.sync_all();
}

/// What a store on a 32 MB disk kept of `TOTAL` 2 KB events (and one more at the end) while
/// something else took every free byte at the chunks (of 100 events) `fill_at` names.
struct FullDiskRun {
    refused: u64,
    newest: u64,
    stats: crate::store::StoreStats,
    kept: Vec<u64>,
}

const FULL_DISK_TOTAL: u64 = 30_000;

async fn run_on_a_disk_filled_at(fill_at: impl Fn(u64) -> bool) -> FullDiskRun {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(dir.path(), 32);
    let opts = options(dir.path());
    let (appender, writer, _) = start(&opts);
    let big = |i: u64| CallEvent {
        raw: Some(format!("{i:08} {}", "x".repeat(2_000))),
        ..event(i)
    };
    let mut accepted = Vec::new();
    let mut refused = 0u64;
    for chunk in 0..FULL_DISK_TOTAL / 100 {
        if fill_at(chunk) {
            fill(&dir.path().join("filler"));
        }
        let mut receipts = Vec::new();
        for i in chunk * 100..(chunk + 1) * 100 {
            receipts.push(appender.submit(big(i)).await.unwrap());
        }
        for r in receipts {
            match r.committed().await {
                Ok(seq) => accepted.push(seq),
                Err(_) => refused += 1,
            }
        }
    }
    // The store still takes events, and the newest one is kept.
    let newest = appender
        .append(big(FULL_DISK_TOTAL))
        .await
        .expect("still accepting");
    stop(appender, writer).await;
    let reader = StoreReader::open(&opts.path).unwrap();
    let stats = reader.stats(&opts.sinks).unwrap();
    let kept: Vec<u64> = reader
        .events_after(0, FULL_DISK_TOTAL as usize)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    drop(reader);
    drop(disk);
    assert_eq!(accepted.len() as u64 + refused, FULL_DISK_TOTAL);
    accepted.push(newest);
    assert!(
        accepted.windows(2).all(|w| w[1] == w[0] + 1),
        "gap-free seqs"
    );
    FullDiskRun {
        refused,
        newest,
        stats,
        kept,
    }
}

impl FullDiskRun {
    /// The rows kept are one contiguous tail ending with the newest event, every event is
    /// either stored or counted as dropped, none silently, and hardly any batch was refused.
    fn assert_a_counted_tail(&self) -> u64 {
        assert!(
            self.refused <= FULL_DISK_TOTAL / 100,
            "{} of {FULL_DISK_TOTAL} refused",
            self.refused
        );
        let first = self.stats.first_seq.expect("rows are kept");
        assert_eq!(self.stats.last_seq, self.newest);
        assert_eq!(
            self.kept,
            (first..=self.newest).collect::<Vec<_>>(),
            "one contiguous tail"
        );
        assert_eq!(
            self.stats.dropped,
            (first - 1) + self.refused,
            "evicted + refused"
        );
        assert_eq!(self.stats.dropped + self.stats.rows, FULL_DISK_TOTAL + 1);
        first
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_the_newest_events_and_counts_every_one_it_drops() {
    // 2 KB a row: the 32 MB disk fills twice over, and halfway something else takes every
    // free byte.
    let run = run_on_a_disk_filled_at(|chunk| chunk == FULL_DISK_TOTAL / 200).await;
    let first = run.assert_a_counted_tail();
    assert!(first > 1, "the disk filled and old rows were evicted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_filled_while_the_store_is_small_still_takes_events_in_the_room_it_has() {
    // The store holds half a megabyte and an unchecked WAL when the disk fills: its reserve
    // must cover the checkpoint, and its own pages then take event after event.
    let run = run_on_a_disk_filled_at(|chunk| chunk == 3).await;
    run.assert_a_counted_tail();
    // Its room holds the rows of the last batches while the free pages keep twice the next
    // one (180 to 275 rows kept in runs on a loaded machine): never fewer than a batch.
    assert!(run.stats.rows >= 100, "{} rows kept", run.stats.rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbour_taking_every_freed_byte_leaves_the_store_its_newest_rows() {
    // From halfway on, a runaway log takes whatever the store frees, batch after batch. The
    // store stops giving room back at its floor and recycles its own pages from then on.
    let run = run_on_a_disk_filled_at(|chunk| chunk >= FULL_DISK_TOTAL / 200).await;
    run.assert_a_counted_tail();
    // At 2 KB a row (and its share of the calls table), the floor holds well over 1000.
    assert!(run.stats.rows >= 1_000, "{} rows kept", run.stats.rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_checked_is_reported_and_never_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let (appender, writer, _) = start(&opts);
    appender.append(event(1)).await.unwrap();
    stop(appender, writer).await;
    // Another program holds the database exclusively (an admin's sqlite3 in a transaction).
    let holder = rusqlite::Connection::open(&opts.path).unwrap();
    holder
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; DELETE FROM meta WHERE key = 'none';")
        .unwrap();
    let error = open(&opts).err().expect("the open fails");
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
    drop(holder);
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
        .collect();
    assert!(moved.is_empty(), "nothing moved aside");
    let reader = StoreReader::open(&opts.path).unwrap();
    assert_eq!(reader.stats(&opts.sinks).unwrap().rows, 1);
}

#[test]
fn the_data_dir_and_database_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir.path().join("data"));
    opts.path = dir.path().join("data/pbxgw.db");
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let opened = open(&opts);
    nix::sys::stat::umask(old);
    drop(opened.expect("opens"));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&opts.path), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_damaged_at_run_time_stops_the_writer_and_is_moved_aside_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let (appender, writer, _) = start(&opts);
    let mut receipts = Vec::new();
    for i in 0..3_000 {
        receipts.push(appender.submit(event(i)).await.unwrap());
    }
    for r in receipts {
        r.committed().await.unwrap();
    }
    // Another program scribbles over the file's pages (a bad SD card does it too).
    {
        use std::io::{Seek, SeekFrom, Write};
        let conn = rusqlite::Connection::open(&opts.path).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        drop(conn);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&opts.path)
            .unwrap();
        let len = f.metadata().unwrap().len();
        for page in (4096..len).step_by(4096 * 2) {
            f.seek(SeekFrom::Start(page)).unwrap();
            f.write_all(&[0xA5; 4096]).unwrap();
        }
        f.sync_all().unwrap();
    }
    let failed = writer.failed();
    let mut refused = 0;
    for i in 0..3_000 {
        if appender.append(event(i)).await.is_err() {
            refused += 1;
            break;
        }
    }
    assert_eq!(refused, 1, "a write hit the damage");
    let reason = tokio::time::timeout(Duration::from_secs(10), failed)
        .await
        .expect("the writer said why it stopped");
    assert!(
        reason.contains("malformed") || reason.contains("not a database"),
        "{reason}"
    );
    stop(appender, writer).await;
    // The restart's check moves the file aside and seqs go on past the old ones.
    let opened = open(&opts).expect("a fresh database");
    let q = opened.quarantine.as_ref().expect("moved aside");
    assert!(q.moved_to.exists());
}

/// A callback closes the misses since the last answered call with the number, in whatever
/// national form either was written; another number closes nothing, and a miss older than
/// the look-back (a week) gets no event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_closes_the_earlier_misses_of_its_number_once() {
    use crate::calls::{CallRecord, CallbackClosed, ClosedBy, Direction, Disposition};
    let t0 = 1_795_000_000_000;
    let hour = 3_600_000;
    let call = |id: &str, at: i64, direction: Direction, party: &str, disposition| {
        let mut r = CallRecord {
            direction,
            disposition,
            ..CallRecord::example(id, at)
        };
        match direction {
            Direction::Outbound => (r.caller, r.callee) = (Some("201".into()), Some(party.into())),
            _ => r.caller = Some(party.into()),
        }
        if disposition != Disposition::Answered {
            r.answered_at = None;
        }
        CallEvent {
            ts_ms: r.ended_at,
            source: Source::Ami,
            pbx: "p".into(),
            call_id: Some(id.into()),
            raw: None,
            body: EventBody::CallEnded(Box::new(r)),
        }
    };
    let (inbound, outbound) = (Direction::Inbound, Direction::Outbound);
    let events = vec![
        call("m1", t0, inbound, "+48601000001", Disposition::NoAnswer),
        call("m4", t0, inbound, "+48601000003", Disposition::NoAnswer),
        call("m2", t0 + hour, inbound, "601000001", Disposition::Busy),
        call(
            "a",
            t0 + 2 * hour,
            outbound,
            "601 000 001",
            Disposition::Answered,
        ),
        call(
            "m3",
            t0 + 3 * hour,
            inbound,
            "+48601000001",
            Disposition::NoAnswer,
        ),
        call(
            "b",
            t0 + 4 * hour,
            inbound,
            "+48601000002",
            Disposition::Answered,
        ),
        call(
            "c",
            t0 + 8 * 24 * hour,
            inbound,
            "+48601000003",
            Disposition::Answered,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let reader = super::test_support::stored(dir.path(), events).await;
    let closed: Vec<(Option<String>, CallbackClosed)> = reader
        .events_after(0, 100)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.body {
            Ok(EventBody::CallbackClosed(c)) => Some((e.call_id, c)),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        vec![(
            Some("a".into()),
            CallbackClosed {
                number: "+48601000001".into(),
                how: ClosedBy::CalledBack,
                missed_call_ids: vec!["m1".into(), "m2".into()],
                first_missed_ms: t0,
                answered_ms: t0 + 2 * hour + 2_000,
                after_ms: 2 * hour + 2_000,
            }
        )]
    );
    // The numbers missed this week are read back at start: a miss stored before a restart is
    // closed by a callback after it.
    let dir = tempfile::tempdir().unwrap();
    let t1 = crate::clock::now_ms() - 24 * hour;
    let first = vec![call(
        "r1",
        t1,
        inbound,
        "+48601000009",
        Disposition::NoAnswer,
    )];
    drop(super::test_support::stored(dir.path(), first).await);
    let second = vec![call(
        "r2",
        t1 + hour,
        outbound,
        "601000009",
        Disposition::Answered,
    )];
    let after_restart = super::test_support::stored(dir.path(), second).await;
    let kinds: Vec<String> = after_restart
        .events_after(0, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["call.ended", "call.ended", "callback.closed"]);

    // The view over any period still sees m4 closed by c, and m3 open.
    let plan = crate::config::SmsConfig::default().plan();
    let view = reader.missed_callers(0, i64::MAX, &plan).unwrap();
    let open: Vec<&str> = view
        .iter()
        .filter(|c| c.callback.is_none())
        .flat_map(|c| c.call_ids.iter().map(String::as_str))
        .collect();
    assert_eq!(open, ["m3"]);
}
