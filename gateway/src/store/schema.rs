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
    Migration {
        version: 5,
        name: "005_call_offers.sql",
        sql: include_str!("../../../migrations/sqlite/005_call_offers.sql"),
    },
    Migration {
        version: 6,
        name: "006_calls_by_start.sql",
        sql: include_str!("../../../migrations/sqlite/006_calls_by_start.sql"),
    },
    Migration {
        version: 7,
        name: "007_operators.sql",
        sql: include_str!("../../../migrations/sqlite/007_operators.sql"),
    },
    Migration {
        version: 8,
        name: "008_clock_unsynced.sql",
        sql: include_str!("../../../migrations/sqlite/008_clock_unsynced.sql"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A box upgraded from before `rang`: its ended calls get the one offer they named (the
    /// extension or agent, answered or not), so past days' per-agent counts stay as they were;
    /// a call that named nobody stays without offers.
    #[test]
    fn calls_ended_before_rang_keep_their_extension_as_their_offer() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (
                 version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)",
        )
        .unwrap();
        for m in &MIGRATIONS[..4] {
            conn.execute_batch(m.sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, 0)",
                (m.version, m.name),
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO calls (call_id, pbx, state, extension, agent, started_ms, answered_ms,
                                ended_ms, disposition, last_seq) VALUES
                 ('a', 'p', 'ended', '201', NULL, 1000, 3000, 9000, 'answered', 1),
                 ('m', 'p', 'ended', NULL, '301', 1000, NULL, 9000, 'no-answer', 2),
                 ('n', 'p', 'ended', NULL, NULL, 1000, NULL, 9000, 'no-answer', 3),
                 ('l', 'p', 'live', '202', NULL, 1000, NULL, NULL, NULL, 4)",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rang = |id: &str| -> Option<serde_json::Value> {
            conn.query_row("SELECT rang FROM calls WHERE call_id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .unwrap()
            .map(|t| serde_json::from_str(&t).unwrap())
        };
        assert_eq!(
            rang("a"),
            Some(serde_json::json!([
                {"extension": "201", "rang_at": 3000, "ring_ms": 0, "answered": true}
            ]))
        );
        assert_eq!(
            rang("m"),
            Some(serde_json::json!([
                {"extension": "301", "rang_at": 1000, "ring_ms": 0, "answered": false}
            ]))
        );
        assert_eq!((rang("n"), rang("l")), (None, None));
        // And the offers read back as the record's type.
        let offers: Vec<crate::calls::Offer> = serde_json::from_value(rang("a").unwrap()).unwrap();
        assert!(offers[0].answered);
    }
}
