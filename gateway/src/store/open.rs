//! Opening the database: integrity check, quarantine of a corrupt file, pragmas, migrations.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{schema, StoreError, StoreOptions};
use crate::config::SyncMode;

/// The WAL is truncated back to this size after a checkpoint (SQLite's
/// `journal_size_limit`), and the writer checkpoints it itself when a burst takes it past
/// this; its size counts toward `store.max_size_mb`.
pub(crate) const WAL_LIMIT: u64 = 4 * 1024 * 1024;

/// A corrupt database that was moved aside at start.
#[derive(Debug, Clone)]
pub struct Quarantine {
    pub moved_to: PathBuf,
    pub reason: String,
    /// The new database's first seq will be `next_seq_floor + 1`.
    pub next_seq_floor: u64,
}

pub struct Opened {
    pub conn: Connection,
    pub quarantine: Option<Quarantine>,
}

/// Opens (creating if needed) the database for writing. A corrupt file is quarantined and a
/// fresh database created in its place.
pub fn open(options: &StoreOptions) -> Result<Opened, StoreError> {
    if let Some(dir) = options.path.parent() {
        private_dir(dir)?;
    }
    private_file(&options.path)?;
    let quarantine = match check_integrity(&options.path)? {
        Ok(()) => None,
        Err(reason) => Some(quarantine(&options.path, reason)?),
    };
    let mut conn = connect(&options.path, options.sync)?;
    schema::migrate(&mut conn)?;
    if let Some(q) = &quarantine {
        record_quarantine(&conn, q)?;
    }
    Ok(Opened { conn, quarantine })
}

/// A connection with the gateway's pragmas. Readers use it too (with `query_only`).
pub(crate) fn connect(path: &Path, sync: SyncMode) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    let synchronous = match sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    };
    // auto_vacuum only takes effect before the first table exists, i.e. on a new file.
    conn.execute_batch(&format!(
        "PRAGMA auto_vacuum = INCREMENTAL;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA journal_size_limit = {WAL_LIMIT};
         PRAGMA busy_timeout = 5000;"
    ))
    .map_err(err)?;
    Ok(conn)
}

/// `Ok(Err(reason))` when the file exists and is not a healthy SQLite database; `Err` when it
/// cannot be checked for another reason (permissions, I/O, a full disk), which is reported
/// and retried by the caller and never moves a database aside: a healthy file with
/// unacknowledged events must survive a wrong `chown`.
fn check_integrity(path: &Path) -> Result<Result<(), String>, StoreError> {
    if !std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        return Ok(Ok(()));
    }
    let verdict = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            Ok(Err(e.to_string()))
        }
        _ => Err(StoreError::Open {
            path: path.to_owned(),
            source: e,
        }),
    };
    let conn = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE) {
        Ok(c) => c,
        Err(e) => return verdict(e),
    };
    let rows: Result<Vec<String>, _> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect());
    match rows {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(Ok(())),
        Ok(rows) => Ok(Err(rows.into_iter().take(5).collect::<Vec<_>>().join("; "))),
        Err(e) => verdict(e),
    }
}

/// The data directory, created `0700` (events hold callers' numbers); an existing one is
/// left as the admin set it.
fn private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })
}

/// The database file, created `0600` whatever the umask; SQLite gives its `-wal` and `-shm`
/// the database file's mode.
fn private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })
        .map_err(|source| StoreError::DataDir {
            path: path.to_owned(),
            source,
        })
}

fn quarantine(path: &Path, reason: String) -> Result<Quarantine, StoreError> {
    let salvaged = salvage_last_seq(path);
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]"
        ))
        .unwrap_or_else(|_| crate::clock::now_ms().to_string());
    let moved_to = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            let to = PathBuf::from(format!("{}{suffix}", moved_to.display()));
            std::fs::rename(&side, &to).map_err(|source| StoreError::Quarantine {
                path: side.clone(),
                source,
            })?;
        }
    }
    std::fs::rename(path, &moved_to).map_err(|source| StoreError::Quarantine {
        path: path.to_owned(),
        source,
    })?;
    // When nothing can be read back, jump to a floor above any seq this box can have issued
    // (it would take more than 1000 events per millisecond since 1970 to reach it).
    let next_seq_floor = salvaged.unwrap_or_else(|| (crate::clock::now_ms().max(0) as u64) * 1000);
    tracing::error!(
        moved_to = %moved_to.display(),
        %reason,
        next_seq_floor,
        "database failed its integrity check; moved aside and starting a fresh one"
    );
    Ok(Quarantine {
        moved_to,
        reason,
        next_seq_floor,
    })
}

/// The last seq a damaged database still admits to, if any.
fn salvage_last_seq(path: &Path) -> Option<u64> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let from_meta: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'last_seq'", [], |r| {
            r.get(0)
        })
        .optional()
        .ok()
        .flatten();
    let from_events: Option<i64> = conn
        .query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))
        .ok()
        .flatten();
    from_meta.max(from_events).map(|v| v.max(0) as u64)
}

fn record_quarantine(conn: &Connection, q: &Quarantine) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN")
        .and_then(|_| {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('last_seq', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
                [q.next_seq_floor as i64],
            )
        })
        .and_then(|_| {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('quarantined', 1)
                 ON CONFLICT(key) DO UPDATE SET value = value + 1",
                [],
            )
        })
        .and_then(|_| {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('last_quarantine', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [format!("{} ({})", q.moved_to.display(), q.reason)],
            )
        })
        .and_then(|_| conn.execute_batch("COMMIT"))
        .map_err(StoreError::sql("recording the quarantine"))
}
