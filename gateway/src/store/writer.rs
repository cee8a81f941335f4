//! The single writer: group commit, sink cursors, retention and the size cap. It runs on its
//! own OS thread because SQLite calls block; producers talk to it through a bounded channel.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot, watch};

use super::calls_table::CallChanges;
use super::codec::encode_body;
use super::{NotAccepted, Opened, StoreError, StoreOptions};
use crate::calls::CallEvent;

/// How many messages may wait for the writer before producers are slowed down: twice a
/// full batch keeps the next batch forming while one syncs; more only holds memory under a
/// burst (8192 cost the CTIP burst 4 MB of resident memory and no throughput).
const CHANNEL_CAPACITY: usize = 2048;
/// Share of the rows removed in one eviction round when over the size cap.
const EVICT_FRACTION: f64 = 0.1;
/// Free space kept on the store's file system: below it the oldest rows are evicted as at
/// the size cap (the reserve file is the last resort beyond it).
/// It covers a WAL at its limit and a batch.
const MIN_FREE_BYTES: u64 = super::open::WAL_LIMIT + 2 * 1024 * 1024;
/// On a disk filled by something else, the early eviction that keeps [`MIN_FREE_BYTES`] free
/// stops when the rows take this little: giving back the rest could not make that room, and
/// would throw away the newest events for a neighbour to take. Below it the store recycles
/// its own pages: on ENOSPC the oldest rows go and their pages take the next batch.
const KEEP_ON_A_LOW_DISK: u64 = MIN_FREE_BYTES;
/// What a row takes beside its body and raw line (its other columns, the seq index, the
/// calls row it may change), rounded up.
const ROW_OVERHEAD: usize = 512;
/// How often the size cap is checked while events flow.
const SIZE_CHECK_EVERY: Duration = Duration::from_secs(1);

enum WriterMsg {
    Append {
        event: CallEvent,
        reply: oneshot::Sender<Result<u64, NotAccepted>>,
    },
    Ack {
        sink: String,
        seq: u64,
    },
    Flush(oneshot::Sender<()>),
}

/// The producers' side of the store. Cheap to clone.
#[derive(Clone)]
pub struct Appender {
    tx: mpsc::Sender<WriterMsg>,
}

/// Resolves to the event's seq once its transaction has committed.
pub struct Receipt(oneshot::Receiver<Result<u64, NotAccepted>>);

impl Receipt {
    pub async fn committed(self) -> Result<u64, NotAccepted> {
        self.0.await.unwrap_or(Err(NotAccepted::Closed))
    }
}

impl Appender {
    /// Queues an event for the next transaction. Waits only for room in the queue, so a
    /// connector can keep reading its socket while earlier events commit.
    pub async fn submit(&self, event: CallEvent) -> Result<Receipt, NotAccepted> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriterMsg::Append { event, reply })
            .await
            .map_err(|_| NotAccepted::Closed)?;
        Ok(Receipt(rx))
    }

    /// Submits and waits until the event is accepted; returns its seq.
    pub async fn append(&self, event: CallEvent) -> Result<u64, NotAccepted> {
        self.submit(event).await?.committed().await
    }

    /// Records that `sink`'s far side has acknowledged everything up to `seq`.
    pub(crate) async fn ack(&self, sink: &str, seq: u64) -> Result<(), NotAccepted> {
        self.tx
            .send(WriterMsg::Ack {
                sink: sink.to_owned(),
                seq,
            })
            .await
            .map_err(|_| NotAccepted::Closed)
    }

    /// Waits until everything sent before this call is committed.
    pub(crate) async fn flush(&self) -> Result<(), NotAccepted> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriterMsg::Flush(reply))
            .await
            .map_err(|_| NotAccepted::Closed)?;
        rx.await.map_err(|_| NotAccepted::Closed)
    }
}

/// Owns the writer thread. Dropping every [`Appender`] and then calling [`join`] finishes
/// the last batch and checkpoints the WAL.
///
/// [`join`]: WriterHandle::join
pub struct WriterHandle {
    thread: std::thread::JoinHandle<()>,
    checkpointer: Option<std::thread::JoinHandle<()>>,
    failed: watch::Receiver<Option<String>>,
}

impl WriterHandle {
    /// Resolves when the writer stopped on its own (the database is damaged), with why.
    pub fn failed(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut failed = self.failed.clone();
        async move {
            loop {
                if let Some(reason) = failed.borrow_and_update().clone() {
                    return reason;
                }
                if failed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("store writer thread panicked");
        }
        if let Some(c) = self.checkpointer {
            let _ = c.join();
        }
    }
}

/// How often the WAL is copied back into the database file, off the commit path.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies committed WAL frames into the database file from its own connection, so the
/// writer's commits never wait for that (a checkpoint fsyncs the whole file). PASSIVE: it
/// never blocks the writer or readers; what it cannot copy now it copies next time.
fn spawn_checkpointer(
    path: std::path::PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || {
            let conn = match Connection::open(&path) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "checkpointer cannot open the database");
                    return;
                }
            };
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                }
            }
        })
        .map_err(|e| tracing::error!(error = %e, "cannot start the checkpointer; commits will checkpoint"))
        .ok()
}

/// Starts the writer on its own thread. `committed` carries the last committed seq.
pub fn spawn_writer(
    opened: Opened,
    options: StoreOptions,
    runtime: tokio::runtime::Handle,
) -> Result<(Appender, WriterHandle, watch::Receiver<u64>), StoreError> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checkpointer = spawn_checkpointer(options.path.clone(), stop.clone());
    if checkpointer.is_some() {
        opened
            .conn
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .map_err(StoreError::sql("moving checkpoints off the commit path"))?;
    }
    let (failed, failed_rx) = watch::channel(None);
    let writer = Writer::new(opened.conn, options, failed)?;
    let (committed_tx, committed_rx) = watch::channel(writer.next_seq - 1);
    let thread = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            writer.run(rx, committed_tx, runtime);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
        .map_err(|e| StoreError::DataDir {
            path: "store-writer thread".into(),
            source: e,
        })?;
    Ok((
        Appender { tx },
        WriterHandle {
            thread,
            checkpointer,
            failed: failed_rx,
        },
        committed_rx,
    ))
}

struct Writer {
    conn: Connection,
    /// Why the writer stopped on its own, for the runtime.
    failed: watch::Sender<Option<String>>,
    options: StoreOptions,
    next_seq: u64,
    /// Acknowledged seq per sink, as last committed plus pending moves.
    cursors: HashMap<String, u64>,
    dirty_cursors: Vec<String>,
    last_maintenance: Instant,
    last_size_check: Instant,
    /// Events were committed since the size cap was last checked.
    grew_since_size_check: bool,
    /// Events of failed batches not yet counted in `meta.lost_failed`.
    unrecorded_losses: u64,
    /// SQLite found the file damaged: the writer stops, and the service's restart moves the
    /// file aside at start (as for corruption found there).
    corrupt: Option<String>,
    reserve: super::reserve::Reserve,
    /// Numbers missed this week: only answered calls with them can close a miss.
    missed: super::callbacks::MissedNumbers,
}

/// What a batch's transaction added besides its events.
#[derive(Default)]
struct Written {
    /// Texts the hook queued.
    queued: usize,
    /// Events the store derived (after the batch's own, in the next seqs).
    derived: usize,
}

struct Batch {
    appends: Vec<(CallEvent, oneshot::Sender<Result<u64, NotAccepted>>)>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Writer {
    fn new(
        conn: Connection,
        options: StoreOptions,
        failed: watch::Sender<Option<String>>,
    ) -> Result<Writer, StoreError> {
        // The writer touches the tails of a few B-trees per batch: 2 MiB keeps them cached
        // (8 MiB measured no faster, and its pages stay resident on a 256 MB box).
        conn.execute_batch("PRAGMA cache_size = -2048")
            .map_err(StoreError::sql("setting the page cache"))?;
        let last: i64 = conn
            .query_row(
                "SELECT MAX(COALESCE((SELECT value FROM meta WHERE key = 'last_seq'), 0),
                            COALESCE((SELECT MAX(seq) FROM events), 0))",
                [],
                |r| r.get(0),
            )
            .map_err(StoreError::sql("reading the last seq"))?;
        let mut cursors = HashMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT sink, acked_seq FROM sink_cursor")
                .map_err(StoreError::sql("reading sink cursors"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(StoreError::sql("reading sink cursors"))?;
            for row in rows {
                let (sink, seq) = row.map_err(StoreError::sql("reading sink cursors"))?;
                cursors.insert(sink, seq.max(0) as u64);
            }
        }
        let missed = super::callbacks::MissedNumbers::load(&conn, crate::clock::now_ms())?;
        let now = Instant::now();
        let reserve = super::reserve::Reserve::new(&options.path);
        Ok(Writer {
            conn,
            failed,
            options,
            next_seq: last.max(0) as u64 + 1,
            cursors,
            dirty_cursors: Vec::new(),
            // Run retention soon after start, not a full period later.
            last_maintenance: now.checked_sub(Duration::from_secs(3600)).unwrap_or(now),
            last_size_check: now,
            grew_since_size_check: false,
            unrecorded_losses: 0,
            corrupt: None,
            reserve,
            missed,
        })
    }

    fn run(
        mut self,
        mut rx: mpsc::Receiver<WriterMsg>,
        committed: watch::Sender<u64>,
        runtime: tokio::runtime::Handle,
    ) {
        loop {
            let wait = self.idle_wait();
            let first = runtime.block_on(async { tokio::time::timeout(wait, rx.recv()).await });
            let first = match first {
                Err(_elapsed) => {
                    self.housekeeping();
                    continue;
                }
                Ok(None) => break,
                Ok(Some(msg)) => msg,
            };
            let batch = self.gather(first, &mut rx, &runtime);
            self.commit(batch, &committed);
            if let Some(reason) = self.corrupt.take() {
                let _ = self.failed.send(Some(reason));
                return;
            }
            self.housekeeping();
        }
        if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
        }
        tracing::debug!(last_seq = self.next_seq - 1, "store writer stopped");
    }

    /// Collects what is already waiting, then waits up to `batch_wait` for more.
    fn gather(
        &mut self,
        first: WriterMsg,
        rx: &mut mpsc::Receiver<WriterMsg>,
        runtime: &tokio::runtime::Handle,
    ) -> Batch {
        let mut batch = Batch {
            appends: Vec::new(),
            flushes: Vec::new(),
        };
        let deadline = Instant::now() + self.options.batch_wait;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(WriterMsg::Append { event, reply }) => batch.appends.push((event, reply)),
                Some(WriterMsg::Ack { sink, seq }) => self.note_ack(sink, seq),
                Some(WriterMsg::Flush(reply)) => {
                    // Commit now: the caller waits for everything before it.
                    batch.flushes.push(reply);
                    return batch;
                }
                None => {}
            }
            if batch.appends.len() >= self.options.batch_max {
                return batch;
            }
            match rx.try_recv() {
                Ok(msg) => next = Some(msg),
                Err(mpsc::error::TryRecvError::Disconnected) => return batch,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || batch.appends.is_empty() {
                        return batch;
                    }
                    match runtime.block_on(async { tokio::time::timeout(left, rx.recv()).await }) {
                        Ok(Some(msg)) => next = Some(msg),
                        Ok(None) | Err(_) => return batch,
                    }
                }
            }
        }
    }

    fn note_ack(&mut self, sink: String, seq: u64) {
        let cursor = self.cursors.entry(sink.clone()).or_insert(0);
        if seq > *cursor {
            *cursor = seq;
            if !self.dirty_cursors.contains(&sink) {
                self.dirty_cursors.push(sink);
            }
        }
    }

    fn commit(&mut self, batch: Batch, committed: &watch::Sender<u64>) {
        let mut encoded = Vec::with_capacity(batch.appends.len());
        for (event, reply) in batch.appends {
            match encode_body(&event.body) {
                Ok(body) => encoded.push((event, body, reply)),
                Err(e) => {
                    let _ = reply.send(Err(NotAccepted::Failed(e.to_string())));
                }
            }
        }
        let rows: Vec<(&CallEvent, &[u8])> =
            encoded.iter().map(|(e, b, _)| (e, b.as_slice())).collect();
        let low = self.disk_low();
        if low {
            self.recycle_room_for(&rows);
        }
        let mut result = self.write(&rows);
        if let Err(e) = &result {
            if e.is_disk_full() {
                tracing::error!("disk full while writing events; evicting the oldest rows");
                self.make_room(&rows);
            } else {
                tracing::warn!(error = %e, "batch not stored; retrying once");
            }
            result = self.write(&rows);
        }
        match result {
            Ok(written) => {
                if written.queued > 0 {
                    if let Some(hook) = &self.options.hook {
                        hook.committed(written.queued);
                    }
                }
                let first = self.next_seq;
                self.next_seq += (encoded.len() + written.derived) as u64;
                self.grew_since_size_check |= !encoded.is_empty();
                self.dirty_cursors.clear();
                for (i, (_, _, reply)) in encoded.into_iter().enumerate() {
                    let _ = reply.send(Ok(first + i as u64));
                }
                committed.send_replace(self.next_seq - 1);
                if self.unrecorded_losses > 0 {
                    self.record_losses("recorded late");
                }
                if low {
                    // The next batch writes over the WAL from its start, in the room it holds.
                    self.restart_wal();
                } else if self.wal_bytes() > super::open::WAL_LIMIT {
                    // The passive checkpointer cannot catch up under a sustained burst: copy
                    // and truncate here, so the WAL stays bounded.
                    self.truncate_wal();
                }
                self.reserve.restore();
            }
            Err(e) if e.is_corruption() => {
                tracing::error!(error = %e, events = encoded.len(), "the database is damaged; stopping the store so that a restart moves it aside");
                self.corrupt = Some(e.to_string());
                for (_, _, reply) in encoded {
                    let _ = reply.send(Err(NotAccepted::Failed(e.to_string())));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = encoded.len(), "batch not stored; counted as dropped");
                self.unrecorded_losses += encoded.len() as u64;
                self.record_losses(&e.to_string());
                for (_, _, reply) in encoded {
                    let _ = reply.send(Err(NotAccepted::Failed(e.to_string())));
                }
            }
        }
        for flush in batch.flushes {
            let _ = flush.send(());
        }
    }

    /// On a full disk: the reserve goes (a checkpoint and a delete need room), the WAL is
    /// emptied into the file, and the oldest rows are evicted until their pages can take
    /// the batch. The file and the WAL keep their size: shrinking them would hand the room
    /// to whatever filled the disk.
    fn make_room(&mut self, rows: &[(&CallEvent, &[u8])]) {
        self.reserve.release();
        self.restart_wal();
        self.evict_oldest("disk full", GiveBack::No);
        self.recycle_room_for(rows);
        self.restart_wal();
    }

    /// On a low disk, the batch must fit in pages the file already has: a checkpoint that
    /// had to grow the file would fail, and the WAL could not be reused. Evicts the oldest
    /// rows, a batch's worth at a time, until the free pages hold the batch generously.
    fn recycle_room_for(&mut self, rows: &[(&CallEvent, &[u8])]) {
        let need: u64 = rows
            .iter()
            .map(|(e, body)| {
                (body.len() + e.raw.as_ref().map_or(0, String::len) + ROW_OVERHEAD) as u64
            })
            .sum::<u64>()
            * 2;
        for _ in 0..20 {
            match self.free_page_bytes() {
                Ok(free) if free < need => {}
                _ => return,
            }
            let batch = rows.len().max(1) as u64;
            if !self.evict_first(
                |_| batch,
                "the disk is full: recycling the oldest rows' room",
                GiveBack::No,
            ) {
                return;
            }
        }
    }

    /// Copies the WAL into the file and truncates it: its room goes back to the disk.
    fn truncate_wal(&self) {
        self.checkpoint("TRUNCATE");
    }

    /// Copies the WAL into the file; the next commit writes over it from the start, in the
    /// room the WAL already holds.
    fn restart_wal(&self) {
        self.checkpoint("RESTART");
    }

    fn checkpoint(&self, mode: &str) {
        if let Err(e) = self
            .conn
            .execute_batch(&format!("PRAGMA wal_checkpoint({mode})"))
        {
            tracing::warn!(error = %e, mode, "WAL checkpoint failed");
        }
    }

    /// Adds the events of failed batches to `meta.lost_failed` (part of `dropped`), with the
    /// reason. When even that cannot be written, the count waits for the next time it can.
    fn record_losses(&mut self, reason: &str) {
        let n = self.unrecorded_losses;
        let recorded = self
            .conn
            .execute_batch("BEGIN")
            .and_then(|_| bump_meta(&self.conn, "lost_failed", n))
            .and_then(|_| {
                self.conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('last_loss', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [reason],
                )
            })
            .and_then(|_| self.conn.execute_batch("COMMIT"));
        match recorded {
            Ok(()) => self.unrecorded_losses = 0,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                tracing::error!(error = %e, lost = n, "cannot record lost events yet; will retry");
            }
        }
    }

    /// One transaction: the events, the calls they change, the events the store derives
    /// from them (`callback.closed`), the texts they trigger, moved cursors, `last_seq`.
    fn write(&mut self, rows: &[(&CallEvent, &[u8])]) -> Result<Written, StoreError> {
        let mut written = Written::default();
        if rows.is_empty() && self.dirty_cursors.is_empty() {
            return Ok(written);
        }
        let now = crate::clock::now_ms();
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sql("starting a batch"))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (seq, ts_ms, source, pbx, kind, call_id, raw, body,
                                         clock_unsynced)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(StoreError::sql("preparing the event insert"))?;
            let mut calls = CallChanges::default();
            let unsynced = crate::clock::unsynchronized(self.options.clock);
            let mut insert_one = |seq: u64, event: &CallEvent, body: &[u8]| {
                insert
                    .execute((
                        seq as i64,
                        event.ts_ms,
                        event.source.as_str(),
                        &event.pbx,
                        event.kind(),
                        &event.call_id,
                        &event.raw,
                        body,
                        unsynced,
                    ))
                    .map_err(StoreError::sql("inserting an event"))
            };
            for (i, (event, body)) in rows.iter().enumerate() {
                let seq = self.next_seq + i as u64;
                insert_one(seq, event, body)?;
                calls.note(event, seq as i64);
            }
            calls.apply(&tx, &self.options.plan)?;
            let events: Vec<&CallEvent> = rows.iter().map(|(e, _)| *e).collect();
            let closed =
                super::callbacks::closed_by(&tx, &events, &self.options.plan, &mut self.missed)?;
            for event in closed {
                let seq = self.next_seq + (rows.len() + written.derived) as u64;
                let body = encode_body(&event.body)?;
                insert_one(seq, &event, &body)?;
                written.derived += 1;
            }
            if let Some(hook) = &self.options.hook {
                written.queued = hook.in_batch(&tx, &events, now);
            }
            let mut cursor = tx
                .prepare_cached(
                    "INSERT INTO sink_cursor (sink, acked_seq, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(sink) DO UPDATE SET acked_seq = excluded.acked_seq,
                                                     updated_ms = excluded.updated_ms",
                )
                .map_err(StoreError::sql("preparing the cursor update"))?;
            for sink in &self.dirty_cursors {
                let seq = self.cursors.get(sink).copied().unwrap_or(0) as i64;
                cursor
                    .execute((sink, seq, now))
                    .map_err(StoreError::sql("moving a sink cursor"))?;
            }
            if !rows.is_empty() {
                let last = (self.next_seq + (rows.len() + written.derived) as u64 - 1) as i64;
                cached(
                    &tx,
                    "INSERT INTO meta (key, value) VALUES ('last_seq', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [last],
                )
                .map_err(StoreError::sql("recording last_seq"))?;
            }
        }
        tx.commit().map_err(StoreError::sql("committing a batch"))?;
        Ok(written)
    }

    /// The lowest cursor among configured sinks: rows above it are still undelivered.
    fn min_acked(&self) -> u64 {
        let last = self.next_seq - 1;
        self.options
            .sinks
            .iter()
            .map(|s| self.cursors.get(s).copied().unwrap_or(0))
            .min()
            .unwrap_or(last)
    }

    /// How long the writer may sleep waiting for work before housekeeping is due.
    fn idle_wait(&self) -> Duration {
        let maintenance = self
            .options
            .maintenance_every
            .saturating_sub(self.last_maintenance.elapsed());
        if self.grew_since_size_check {
            maintenance.min(SIZE_CHECK_EVERY.saturating_sub(self.last_size_check.elapsed()))
        } else {
            maintenance
        }
    }

    /// Retention when its period is up; the size cap at most every second after growth, at
    /// once when the disk runs low.
    fn housekeeping(&mut self) {
        if self.last_maintenance.elapsed() >= self.options.maintenance_every {
            self.maintain();
        } else if self.grew_since_size_check
            && (self.last_size_check.elapsed() >= SIZE_CHECK_EVERY || self.disk_low())
        {
            self.enforce_size_cap();
        }
    }

    fn maintain(&mut self) {
        self.last_maintenance = Instant::now();
        self.reserve.restore();
        if let Err(e) = self.apply_retention() {
            tracing::error!(error = %e, "retention failed");
        }
        self.enforce_size_cap();
    }

    /// Deletes, from the head, rows every sink has acknowledged that are older than the
    /// history window. Stops at the first younger row, so a row is never kept past its time
    /// by more than the rows before it.
    fn apply_retention(&mut self) -> Result<(), StoreError> {
        let acked = self.min_acked() as i64;
        let cutoff = crate::clock::now_ms() - self.options.history_ms;
        let first_young: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM events WHERE seq <= ?1 AND ts_ms >= ?2 ORDER BY seq LIMIT 1",
                (acked, cutoff),
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sql("finding expired events"))?;
        let upto = first_young.map_or(acked, |s| s - 1);
        let deleted = self
            .conn
            .execute("DELETE FROM events WHERE seq <= ?1", [upto])
            .map_err(StoreError::sql("deleting expired events"))?;
        let calls = self
            .conn
            .execute(
                "DELETE FROM calls WHERE COALESCE(ended_ms, started_ms) < ?1",
                [cutoff],
            )
            .map_err(StoreError::sql("deleting expired calls"))?;
        if deleted > 0 || calls > 0 {
            tracing::info!(events = deleted, calls, "retention removed old rows");
            self.vacuum();
        }
        Ok(())
    }

    /// Pages in use plus the WAL: what the cap bounds.
    fn used_bytes(&self) -> Result<u64, rusqlite::Error> {
        Ok(self.page_bytes()? + self.wal_bytes())
    }

    /// Pages in use in the database file.
    fn page_bytes(&self) -> Result<u64, rusqlite::Error> {
        let pages = self.pragma("page_count")?;
        let free = self.pragma("freelist_count")?;
        Ok((pages - free).max(0) as u64 * self.pragma("page_size")? as u64)
    }

    /// Free pages inside the database file: room a batch can take without growing it.
    fn free_page_bytes(&self) -> Result<u64, rusqlite::Error> {
        Ok(self.pragma("freelist_count")?.max(0) as u64 * self.pragma("page_size")? as u64)
    }

    fn pragma(&self, name: &str) -> Result<i64, rusqlite::Error> {
        self.conn
            .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
    }

    fn wal_bytes(&self) -> u64 {
        std::fs::metadata(format!("{}-wal", self.options.path.display())).map_or(0, |m| m.len())
    }

    /// The disk is close to full: evict before SQLite hits ENOSPC, while deleting still
    /// has room.
    fn disk_low(&self) -> bool {
        let dir = self
            .options
            .path
            .parent()
            .unwrap_or(std::path::Path::new("."));
        super::reserve::free_bytes(dir).is_some_and(|free| free < MIN_FREE_BYTES)
    }

    /// The disk is low and the rows are enough that giving some back can make room.
    fn disk_low_by_our_rows(&self) -> bool {
        self.disk_low()
            && self
                .page_bytes()
                .is_ok_and(|bytes| bytes > KEEP_ON_A_LOW_DISK)
    }

    fn enforce_size_cap(&mut self) {
        self.last_size_check = Instant::now();
        self.grew_since_size_check = false;
        for _ in 0..20 {
            if self.disk_low_by_our_rows() {
                // The file shrinks for the room; the WAL keeps its own, or a neighbour that
                // takes every freed byte would leave it none for the next batch.
                self.restart_wal();
                if !self.evict_oldest("the disk is nearly full", GiveBack::Yes) {
                    return;
                }
                self.restart_wal();
                continue;
            }
            match self.used_bytes() {
                Ok(used) if used > self.options.max_size_bytes => {
                    if !self.evict_oldest("size cap reached", GiveBack::Yes) {
                        return;
                    }
                }
                Ok(_) => return,
                Err(e) => {
                    tracing::error!(error = %e, "cannot measure the database size");
                    return;
                }
            }
        }
    }

    /// Removes the oldest tenth of the rows, acknowledged or not; counts what was lost.
    /// Returns false when there was nothing to remove.
    fn evict_oldest(&mut self, why: &str, give_back: GiveBack) -> bool {
        let tenth = |rows: u64| ((rows as f64 * EVICT_FRACTION).ceil() as u64).max(1);
        self.evict_first(tenth, why, give_back)
    }

    fn first_seq(&self) -> Option<u64> {
        match self.conn.query_row("SELECT MIN(seq) FROM events", [], |r| {
            r.get::<_, Option<i64>>(0)
        }) {
            Ok(v) => v.map(|s| s as u64),
            Err(e) => {
                tracing::error!(error = %e, "cannot find the oldest event to evict");
                None
            }
        }
    }

    /// Removes the oldest rows, as many as `how_many` says of the rows there are,
    /// acknowledged or not; counts what was lost. Returns false when there was nothing to
    /// remove.
    fn evict_first(
        &mut self,
        how_many: impl FnOnce(u64) -> u64,
        why: &str,
        give_back: GiveBack,
    ) -> bool {
        let Some(first) = self.first_seq() else {
            return false;
        };
        let n = how_many((self.next_seq - 1).saturating_sub(first) + 1).max(1);
        // Never past the newest row: the counts say what really went.
        let upto = (first + n - 1).min(self.next_seq - 1);
        if upto < first {
            return false;
        }
        let n = upto - first + 1;
        let acked = self.min_acked();
        let unacked = if upto > acked {
            upto - acked.max(first - 1)
        } else {
            0
        };
        let result = self
            .conn
            .execute_batch("BEGIN")
            .and_then(|_| {
                self.conn
                    .execute("DELETE FROM events WHERE seq <= ?1", [upto as i64])
            })
            .and_then(|_| bump_meta(&self.conn, "evicted_total", n))
            .and_then(|_| bump_meta(&self.conn, "evicted_unacked", unacked))
            .and_then(|_| self.conn.execute_batch("COMMIT"));
        if let Err(e) = result {
            let _ = self.conn.execute_batch("ROLLBACK");
            tracing::error!(error = %e, "eviction failed");
            return false;
        }
        if unacked > 0 {
            tracing::error!(
                why,
                evicted = n,
                unacknowledged = unacked,
                upto_seq = upto,
                "evicted events that no sink had delivered yet"
            );
        } else {
            tracing::warn!(
                why,
                evicted = n,
                upto_seq = upto,
                "evicted delivered events early"
            );
        }
        if give_back == GiveBack::Yes {
            self.vacuum();
        }
        true
    }

    fn vacuum(&self) {
        if let Err(e) = self.conn.execute_batch("PRAGMA incremental_vacuum") {
            tracing::warn!(error = %e, "incremental vacuum failed");
        }
    }
}

/// Whether an eviction shrinks the file (the disk gets the room) or leaves the freed pages
/// in it for the next rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GiveBack {
    Yes,
    No,
}

fn bump_meta(conn: &Connection, key: &str, by: u64) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = COALESCE(value, 0) + excluded.value",
        (key, by as i64),
    )
}

/// Runs a statement through the connection's statement cache: parsing and planning an
/// upsert costs more than executing it.
fn cached(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}
