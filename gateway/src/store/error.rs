use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create data directory {path}: {source}; check data_dir and its permissions")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot move corrupt database {path} aside: {source}")]
    Quarantine {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database schema {found} was written by a newer pbxgw (this one knows up to {known}); install the newer version or move the database aside")]
    NewerSchema { found: i64, known: i64 },
    #[error("migration {name} failed: {source}")]
    Migration {
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("database error while {doing}: {source}")]
    Sqlite {
        doing: &'static str,
        source: rusqlite::Error,
    },
    #[error("cannot encode event body: {0}")]
    Encode(postcard::Error),
    #[error("the store writer has stopped")]
    Closed,
}

impl StoreError {
    pub(crate) fn sql(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sqlite { doing, source }
    }

    /// True when SQLite found the file damaged while working on it.
    pub(crate) fn is_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } if matches!(e.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        )
    }

    /// True when SQLite said the disk (or the database's size limit) is full.
    pub(crate) fn is_disk_full(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } if e.code == rusqlite::ErrorCode::DiskFull
        )
    }
}

/// Why a submitted event was not accepted (its batch did not commit).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotAccepted {
    #[error("event not stored: {0}")]
    Failed(String),
    #[error("the store writer has stopped")]
    Closed,
}
