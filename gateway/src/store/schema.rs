//! SQLite migrations from `migrations/sqlite/`, applied in order and recorded.

use rusqlite::Connection;

use super::StoreError;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "001_event_log.sql",
        sql: include_str!("../../../migrations/sqlite/001_event_log.sql"),
    },
    Migration {
        version: 2,
        name: "002_sms.sql",
        sql: include_str!("../../../migrations/sqlite/002_sms.sql"),
    },
    Migration {
        version: 3,
        name: "003_contacts.sql",
        sql: include_str!("../../../migrations/sqlite/003_contacts.sql"),
    },
    Migration {
        version: 4,
        name: "004_command_claims.sql",
        sql: include_str!("../../../migrations/sqlite/004_command_claims.sql"),
    },
];

/// Applies every migration not yet recorded; a no-op on an up-to-date database.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_ms INTEGER NOT NULL)",
    )
    .map_err(StoreError::sql("creating schema_migrations"))?;
    let current: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("reading the schema version"))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > known {
        return Err(StoreError::NewerSchema {
            found: current,
            known,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction().map_err(|source| StoreError::Migration {
            name: m.name,
            source,
        })?;
        tx.execute_batch(m.sql)
            .and_then(|_| {
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?1, ?2, ?3)",
                    (m.version, m.name, crate::clock::now_ms()),
                )
            })
            .and_then(|_| tx.commit())
            .map_err(|source| StoreError::Migration {
                name: m.name,
                source,
            })?;
        tracing::info!(migration = m.name, "applied database migration");
    }
    Ok(())
}
