//! The `sms_out` table: every change of state is its own committed statement, made before and
//! after each exchange with the modem (see the module doc of `sms` for the crash rule).

use rusqlite::{params, Connection, OptionalExtension};

use super::rules::Enqueue;

/// What became of a request to queue a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    Queued(i64),
    /// The same dedupe key was queued before: nothing new.
    Duplicate,
    /// The number is on the do-not-text list.
    OptedOut,
    /// This rule texted this number less than the cooldown ago.
    Cooldown,
}

/// Queues `e` (in the caller's transaction). Rules respect the do-not-text list and their
/// cooldown; explicit requests (`cooldown_ms` = 0) only the list.
pub fn enqueue(
    conn: &Connection,
    e: &Enqueue,
    now: i64,
    cooldown_ms: i64,
) -> rusqlite::Result<Queued> {
    let opted_out: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM sms_optout WHERE number = ?1")?
        .query_row([&e.destination], |r| r.get(0))
        .optional()?;
    if opted_out.is_some() {
        return Ok(Queued::OptedOut);
    }
    let duplicate: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM sms_out WHERE dedupe_key = ?1")?
        .query_row([&e.dedupe_key], |r| r.get(0))
        .optional()?;
    if duplicate.is_some() {
        return Ok(Queued::Duplicate);
    }
    if cooldown_ms > 0 {
        let recent: Option<i64> = conn
            .prepare_cached(
                "SELECT 1 FROM sms_out WHERE destination = ?1 AND origin = ?2 AND created_ms > ?3 LIMIT 1",
            )?
            .query_row(params![e.destination, e.origin, now - cooldown_ms], |r| r.get(0))
            .optional()?;
        if recent.is_some() {
            return Ok(Queued::Cooldown);
        }
    }
    conn.prepare_cached(
        "INSERT INTO sms_out (dedupe_key, origin, call_id, destination, text, state,
                              next_attempt_ms, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?6, ?6)",
    )?
    .execute(params![
        e.dedupe_key,
        e.origin,
        e.call_id,
        e.destination,
        e.text,
        now
    ])?;
    Ok(Queued::Queued(conn.last_insert_rowid()))
}

/// One row, as the worker and `pbxgw sms list` see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SmsRow {
    pub id: i64,
    pub dedupe_key: String,
    pub call_id: Option<String>,
    pub destination: String,
    pub text: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub error_code: Option<i64>,
    pub error_text: Option<String>,
    pub parts: Option<u32>,
    pub part_refs: Option<String>,
    pub parts_delivered: u32,
}

const COLUMNS: &str = "id, dedupe_key, call_id, destination, text, state, attempts, next_attempt_ms,
                       created_ms, updated_ms, error_code, error_text, parts, part_refs, parts_delivered";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SmsRow> {
    Ok(SmsRow {
        id: r.get(0)?,
        dedupe_key: r.get(1)?,
        call_id: r.get(2)?,
        destination: r.get(3)?,
        text: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_ms: r.get(7)?,
        created_ms: r.get(8)?,
        updated_ms: r.get(9)?,
        error_code: r.get(10)?,
        error_text: r.get(11)?,
        parts: r.get(12)?,
        part_refs: r.get(13)?,
        parts_delivered: r.get(14)?,
    })
}

/// The newest rows first.
pub fn list(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<SmsRow>> {
    let mut s = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sms_out ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = s.query_map([limit], row)?.collect();
    rows
}

/// How many texts the queue holds in each state (`queued`, `sending`, `sent`, `delivered`,
/// `failed`), every state listed.
pub fn count_by_state(conn: &Connection) -> rusqlite::Result<Vec<(&'static str, u64)>> {
    const STATES: [&str; 5] = ["queued", "sending", "sent", "delivered", "failed"];
    let mut s = conn.prepare("SELECT COUNT(*) FROM sms_out WHERE state = ?1")?;
    STATES
        .into_iter()
        .map(|state| {
            Ok((
                state,
                s.query_row([state], |r| r.get::<_, i64>(0))?.max(0) as u64,
            ))
        })
        .collect()
}

/// The texts a call caused, oldest first.
pub(crate) fn for_call(conn: &Connection, call_id: &str) -> rusqlite::Result<Vec<SmsRow>> {
    let mut s = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sms_out WHERE call_id = ?1 ORDER BY id"
    ))?;
    let rows = s.query_map([call_id], row)?.collect();
    rows
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<SmsRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM sms_out WHERE id = ?1"),
        [id],
        row,
    )
    .optional()
}

/// The oldest text due now.
pub(crate) fn next_due(conn: &Connection, now: i64) -> rusqlite::Result<Option<SmsRow>> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM sms_out WHERE state = 'queued' AND next_attempt_ms <= ?1
             ORDER BY next_attempt_ms, id LIMIT 1"
        ),
        [now],
        row,
    )
    .optional()
}

/// When the next queued text falls due, if any is queued.
pub(crate) fn next_due_at(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT MIN(next_attempt_ms) FROM sms_out WHERE state = 'queued'",
        [],
        |r| r.get(0),
    )
}

/// Texts handed to the modem since `since` (rate limits), optionally to one number.
pub(crate) fn sent_since(conn: &Connection, since: i64, to: Option<&str>) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COUNT(*) FROM sms_out WHERE state IN ('sending', 'sent', 'delivered')
         AND updated_ms >= ?1 AND (?2 IS NULL OR destination = ?2)",
        params![since, to],
        |r| r.get(0),
    )
}

/// Committed before the modem sees the text.
pub(crate) fn claim(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    conn.execute(
        "UPDATE sms_out SET state = 'sending', attempts = attempts + 1, updated_ms = ?2
         WHERE id = ?1 AND state = 'queued'",
        params![id, now],
    )
    .map(|n| n == 1)
}

pub(crate) fn mark_sent(
    conn: &Connection,
    id: i64,
    refs: &[String],
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sms_out SET state = 'sent', parts = ?2, part_refs = ?3, updated_ms = ?4,
                            error_code = NULL, error_text = NULL
         WHERE id = ?1",
        params![id, refs.len() as i64, refs.join(","), now],
    )
    .map(|_| ())
}

/// Back to the queue for another attempt at `next`.
pub(crate) fn mark_retry(
    conn: &Connection,
    id: i64,
    next: i64,
    code: Option<i64>,
    text: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sms_out SET state = 'queued', next_attempt_ms = ?2, error_code = ?3, error_text = ?4,
                            updated_ms = ?5
         WHERE id = ?1",
        params![id, next, code, text, now],
    )
    .map(|_| ())
}

pub(crate) fn mark_failed(
    conn: &Connection,
    id: i64,
    code: Option<i64>,
    text: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sms_out SET state = 'failed', error_code = ?2, error_text = ?3, updated_ms = ?4
         WHERE id = ?1",
        params![id, code, text, now],
    )
    .map(|_| ())
}

/// After a restart: texts caught between "sending" and the modem's answer go out again
/// (at-least-once). Returns how many.
pub(crate) fn requeue_interrupted(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE sms_out SET state = 'queued', next_attempt_ms = ?1, updated_ms = ?1,
                            error_text = 'interrupted while sending; sent again, may arrive twice'
         WHERE state = 'sending'",
        [now],
    )
}

/// What a delivery report did to its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// Every part has arrived.
    Delivered(SmsRow),
    /// A part was given up by the network.
    Failed(SmsRow),
    /// More parts to come.
    Partial,
    /// No sent text has this reference (a report for a text from before the history).
    Unknown,
}

/// Applies a delivery report for the part with reference `mr` to `destination`; `failed`
/// carries the network's code and reason when it gave up.
pub(crate) fn delivery_report(
    conn: &Connection,
    mr: &str,
    destination: Option<&str>,
    failed: Option<(i64, String)>,
    now: i64,
) -> rusqlite::Result<Report> {
    let candidates = {
        let mut s = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sms_out WHERE state = 'sent' AND (?1 IS NULL OR destination = ?1)
             ORDER BY id DESC LIMIT 50"
        ))?;
        let rows: rusqlite::Result<Vec<SmsRow>> = s.query_map([destination], row)?.collect();
        rows?
    };
    let Some(found) = candidates.into_iter().find(|r| {
        r.part_refs
            .as_deref()
            .is_some_and(|refs| refs.split(',').any(|p| p == mr))
    }) else {
        return Ok(Report::Unknown);
    };
    if let Some((code, text)) = failed {
        mark_failed(conn, found.id, Some(code), &text, now)?;
        return Ok(get(conn, found.id)?.map_or(Report::Unknown, Report::Failed));
    }
    conn.execute(
        "UPDATE sms_out SET parts_delivered = parts_delivered + 1, updated_ms = ?2,
                state = CASE WHEN parts_delivered + 1 >= parts THEN 'delivered' ELSE state END
         WHERE id = ?1",
        params![found.id, now],
    )?;
    let updated = get(conn, found.id)?;
    Ok(match updated {
        Some(r) if r.state == "delivered" => Report::Delivered(r),
        Some(_) => Report::Partial,
        None => Report::Unknown,
    })
}

pub(crate) fn opt_out(conn: &Connection, number: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sms_optout (number, at_ms) VALUES (?1, ?2) ON CONFLICT(number) DO NOTHING",
        params![number, now],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(crate::store::migrated_db(dir.path())).unwrap();
        (dir, conn)
    }

    fn request(key: &str, to: &str) -> Enqueue {
        Enqueue {
            dedupe_key: key.into(),
            origin: "ivr1".into(),
            call_id: Some("c1".into()),
            destination: to.into(),
            text: "hello".into(),
        }
    }

    #[test]
    fn the_same_trigger_never_queues_twice_and_opt_outs_and_cooldowns_hold() {
        let (_d, c) = db();
        let Queued::Queued(id) =
            enqueue(&c, &request("rule:ivr1:c1", "+48601"), 1000, 60_000).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            enqueue(&c, &request("rule:ivr1:c1", "+48601"), 2000, 60_000).unwrap(),
            Queued::Duplicate
        );
        assert_eq!(
            enqueue(&c, &request("rule:ivr1:c2", "+48601"), 3000, 60_000).unwrap(),
            Queued::Cooldown
        );
        assert!(matches!(
            enqueue(&c, &request("rule:ivr1:c3", "+48601"), 70_000, 60_000).unwrap(),
            Queued::Queued(_)
        ));
        opt_out(&c, "+48602", 1).unwrap();
        assert_eq!(
            enqueue(&c, &request("cli:x", "+48602"), 1, 0).unwrap(),
            Queued::OptedOut
        );
        assert_eq!(get(&c, id).unwrap().unwrap().state, "queued");
    }

    #[test]
    fn a_text_goes_from_queued_to_delivered_part_by_part() {
        let (_d, c) = db();
        let Queued::Queued(id) = enqueue(&c, &request("k", "+48601234567"), 1000, 0).unwrap()
        else {
            panic!()
        };
        assert_eq!(next_due(&c, 999).unwrap(), None);
        assert_eq!(next_due(&c, 1000).unwrap().unwrap().id, id);
        assert!(claim(&c, id, 1001).unwrap());
        assert!(!claim(&c, id, 1002).unwrap(), "only one claim");
        mark_sent(&c, id, &["7".into(), "8".into()], 1003).unwrap();
        assert_eq!(sent_since(&c, 0, Some("+48601234567")).unwrap(), 1);
        assert_eq!(
            delivery_report(&c, "9", Some("+48601234567"), None, 1004).unwrap(),
            Report::Unknown
        );
        assert_eq!(
            delivery_report(&c, "7", Some("+48601234567"), None, 1004).unwrap(),
            Report::Partial
        );
        let Report::Delivered(row) = delivery_report(&c, "8", None, None, 1005).unwrap() else {
            panic!()
        };
        assert_eq!(
            (row.state.as_str(), row.parts, row.parts_delivered),
            ("delivered", Some(2), 2)
        );
    }

    #[test]
    fn a_failed_report_and_an_interrupted_send_are_on_record() {
        let (_d, c) = db();
        let Queued::Queued(a) = enqueue(&c, &request("a", "+48601"), 0, 0).unwrap() else {
            panic!()
        };
        let Queued::Queued(b) = enqueue(&c, &request("b", "+48602"), 0, 0).unwrap() else {
            panic!()
        };
        claim(&c, a, 1).unwrap();
        mark_sent(&c, a, &["3".into()], 2).unwrap();
        let Report::Failed(row) =
            delivery_report(&c, "3", Some("+48601"), Some((0x41, "given up".into())), 3).unwrap()
        else {
            panic!()
        };
        assert_eq!((row.state.as_str(), row.error_code), ("failed", Some(0x41)));
        claim(&c, b, 4).unwrap();
        // The box lost power here.
        assert_eq!(requeue_interrupted(&c, 5).unwrap(), 1);
        let row = get(&c, b).unwrap().unwrap();
        assert_eq!((row.state.as_str(), row.attempts), ("queued", 1));
        assert!(row.error_text.unwrap().contains("may arrive twice"));
    }
}
