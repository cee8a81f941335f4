//! Request ids claimed in SQLite before a command runs, so a command runs at most once: two
//! copies arriving together (the second finds the claim and waits for nothing), a copy
//! re-sent by central after a reconnect, or one arriving after a restart all get the first
//! run's answer instead of a second call or text.
//!
//! A claim whose command never finished (the gateway stopped mid-command) is answered
//! `interrupted` from then on: the command may or may not have taken effect, and running it
//! again could place a second call. Claims are kept [`KEEP_MS`], at most [`MAX_CLAIMS`].

use std::path::PathBuf;

use rusqlite::OptionalExtension;
use serde_json::{json, Value};

/// How long a request id is remembered.
pub(crate) const KEEP_MS: i64 = 7 * 86_400_000;
/// Most request ids remembered; the oldest go first.
pub(crate) const MAX_CLAIMS: i64 = 10_000;

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Claim {
    /// This request id is new: run the command, then [`Claims::answer`].
    New,
    /// It ran before: this was its answer.
    Answered(Value),
    /// A copy is running now; its answer follows on the same topic.
    Running,
}

#[derive(Debug, thiserror::Error)]
#[error("command claims: {0}")]
pub(crate) struct ClaimError(String);

pub(crate) struct Claims {
    db_path: PathBuf,
}

impl Claims {
    /// Claims left unanswered by a previous run are answered `interrupted`.
    pub fn open(db_path: PathBuf) -> Claims {
        let claims = Claims { db_path };
        if let Err(e) = claims.blocking(|conn| {
            conn.execute(
                "UPDATE command_claims SET answer = json_object('request_id', request_id,
                   'ok', json('false'), 'error', json_object('code', 'interrupted',
                   'message', 'the gateway stopped while this command ran; it may or may not have taken effect'))
                 WHERE answer IS NULL",
                [],
            )
        }) {
            tracing::warn!(error = %e, "cannot close interrupted command claims");
        }
        claims
    }

    /// Claims `request_id` for command `name` from `origin` (`mqtt`, `api`).
    pub(crate) async fn claim(
        &self,
        request_id: &str,
        name: &str,
        origin: &str,
    ) -> Result<Claim, ClaimError> {
        let (path, id, name, origin) = (
            self.db_path.clone(),
            request_id.to_owned(),
            name.to_owned(),
            origin.to_owned(),
        );
        run(move || {
            let conn = crate::store::side_connection(&path)?;
            let now = crate::clock::now_ms();
            let tx = conn.unchecked_transaction()?;
            let new = tx.execute(
                "INSERT INTO command_claims (request_id, name, origin, claimed_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(request_id) DO NOTHING",
                (&id, &name, &origin, now),
            )? == 1;
            let claim = if new {
                tx.execute(
                    "DELETE FROM command_claims WHERE claimed_ms < ?1 OR request_id IN
                       (SELECT request_id FROM command_claims ORDER BY claimed_ms DESC
                        LIMIT -1 OFFSET ?2)",
                    (now - KEEP_MS, MAX_CLAIMS),
                )?;
                Claim::New
            } else {
                let answer: Option<String> = tx
                    .query_row(
                        "SELECT answer FROM command_claims WHERE request_id = ?1",
                        [&id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten();
                match answer.and_then(|a| serde_json::from_str(&a).ok()) {
                    Some(answer) => Claim::Answered(answer),
                    None => Claim::Running,
                }
            };
            tx.commit()?;
            Ok(claim)
        })
        .await
    }

    /// Records the answer of a claimed command.
    pub async fn answer(&self, request_id: &str, answer: &Value) -> Result<(), ClaimError> {
        let (path, id, text) = (
            self.db_path.clone(),
            request_id.to_owned(),
            answer.to_string(),
        );
        run(move || {
            let conn = crate::store::side_connection(&path)?;
            conn.execute(
                "UPDATE command_claims SET answer = ?2 WHERE request_id = ?1",
                (&id, &text),
            )?;
            Ok(())
        })
        .await
    }

    fn blocking<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = crate::store::side_connection(&self.db_path)?;
        f(&conn)
    }
}

/// The answer a duplicate gets while the first copy still runs.
pub(crate) fn running_answer(request_id: &str) -> Value {
    json!({
        "request_id": request_id,
        "ok": false,
        "error": {
            "code": "in_progress",
            "message": "a command with this request_id is running; its answer follows"
        }
    })
}

async fn run<T: Send + 'static>(
    f: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, ClaimError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClaimError(e.to_string()))?
        .map_err(|e| ClaimError(e.to_string()))
}
