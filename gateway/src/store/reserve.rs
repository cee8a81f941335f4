//! Room kept for the day the disk fills. SQLite needs free space to delete rows (the WAL
//! grows before the file shrinks, and a checkpoint may grow the file by every new page the
//! WAL holds), so on a full disk the eviction that would make room fails too. A reserve file
//! of [`RESERVE_BYTES`] beside the database is released when SQLite reports the disk full,
//! the WAL is checkpointed and the oldest rows are evicted into the room it leaves, and the
//! file is written again once there is that much space.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Enough to checkpoint a WAL at its limit into the file (each of its pages may be new) and
/// then write the frames of an eviction and a batch of events. Smaller, a disk filled while
/// the WAL was large left the store unable to checkpoint, evict or write: every later batch
/// was refused until someone freed space.
pub(crate) const RESERVE_BYTES: usize = super::open::WAL_LIMIT as usize + 2 * 1024 * 1024;

pub(crate) struct Reserve {
    path: PathBuf,
    held: bool,
}

impl Reserve {
    /// Takes the room now (or as soon as maintenance can).
    pub fn new(db: &Path) -> Reserve {
        let mut reserve = Reserve {
            path: PathBuf::from(format!("{}.reserve", db.display())),
            held: false,
        };
        reserve.restore();
        reserve
    }

    /// Frees the room for SQLite.
    pub(crate) fn release(&mut self) {
        if self.held {
            self.held = false;
            match std::fs::remove_file(&self.path) {
                Ok(()) => tracing::warn!("disk full: released the store's reserve to make room"),
                Err(e) => tracing::error!(error = %e, "cannot release the store's reserve"),
            }
        }
    }

    /// Takes the room again; on a disk still full, tries again next time (only when the room
    /// is there: writing megabytes of zeros after every batch into a full disk would wear the
    /// flash for nothing).
    pub(crate) fn restore(&mut self) {
        if self.held {
            return;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if free_bytes(dir).is_some_and(|free| free < RESERVE_BYTES as u64) {
            return;
        }
        match write_zeros(&self.path, RESERVE_BYTES) {
            Ok(()) => self.held = true,
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::debug!(error = %e, "cannot take the store's reserve yet");
            }
        }
    }
}

/// Bytes free for an unprivileged writer on the file system holding `dir` (None: cannot tell).
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    #[allow(clippy::unnecessary_cast)] // 32-bit fields on armv7
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

/// Real blocks (not a sparse file), synced, so the room is really taken.
fn write_zeros(path: &Path, len: usize) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let block = vec![0u8; 64 * 1024];
    for _ in 0..len.div_ceil(block.len()) {
        file.write_all(&block)?;
    }
    file.sync_all()
}
