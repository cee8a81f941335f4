//! The contact directory: who a phone number is (name, company, note), kept in the gateway's
//! SQLite (`contacts`, keyed by E.164). Filled by `pbxgw contacts import` (CSV or vCard,
//! [`import`]), the local API and MQTT commands, and optionally synced from the central
//! `pbxgw_contacts` table ([`central`]). Call records get `caller_name` / `company` of the
//! other party when their call ends ([`Directory::enrich`]).
//!
//! Who owns a row: `import`, `api`, `mqtt` and `central`. A central sync never overwrites or
//! deletes a row someone set on the box; it replaces only its own.

pub mod central;
pub mod import;
pub mod operators;

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::calls::{CallRecord, Direction};
use crate::numbers::{e164, NumberError, NumberPlan};

pub(crate) const MAX_NAME: usize = 200;
const MAX_NOTE: usize = 1000;

/// A contact as given (any number format), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ContactInput {
    pub number: String,
    pub name: String,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// E.164.
    pub number: String,
    pub name: String,
    pub company: Option<String>,
    pub note: Option<String>,
    pub source: String,
    pub updated_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("number: {0}")]
    Number(#[from] NumberError),
    #[error("the name is empty")]
    NoName,
    #[error("the extension or agent id is empty")]
    NoId,
    #[error("the extension or agent id {0:?} has spaces or control characters")]
    BadId(String),
    #[error("the operator directory holds at most {0} operators")]
    TooMany(usize),
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("contact directory: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("contact directory task: {0}")]
    Task(String),
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Added,
    Updated,
    /// A central row was not applied because someone set this number on the box.
    KeptLocal,
}

/// The directory over one SQLite connection (the writer's database, migrated).
pub struct Directory {
    conn: Connection,
    plan: NumberPlan,
}

impl Directory {
    pub fn new(conn: Connection, plan: NumberPlan) -> Directory {
        Directory { conn, plan }
    }

    pub fn open(path: &std::path::Path, plan: NumberPlan) -> Result<Directory, ContactError> {
        Ok(Directory::new(crate::store::side_connection(path)?, plan))
    }

    /// Checks and cleans a contact: number to E.164, name required, lengths capped.
    pub(crate) fn validate(&self, input: &ContactInput) -> Result<ContactInput, ContactError> {
        let name = clean(&input.name, "name", MAX_NAME)?.ok_or(ContactError::NoName)?;
        Ok(ContactInput {
            number: e164(&input.number, &self.plan)?,
            name,
            company: clean_opt(input.company.as_deref(), "company", MAX_NAME)?,
            note: clean_opt(input.note.as_deref(), "note", MAX_NOTE)?,
        })
    }

    /// Adds or replaces the contact of a number.
    pub fn upsert(
        &self,
        input: &ContactInput,
        source: &str,
        now_ms: i64,
    ) -> Result<(Contact, Upserted), ContactError> {
        upsert_valid(&self.conn, &self.validate(input)?, source, now_ms)
    }

    /// Several contacts in one transaction; each bad one is reported and skipped.
    pub(crate) fn upsert_many(
        &mut self,
        inputs: Vec<(String, ContactInput)>,
        source: &str,
        now_ms: i64,
    ) -> Result<ImportReport, ContactError> {
        let checked = self.validate_all(inputs);
        let tx = self.write_transaction()?;
        let report = apply_all(&tx, checked, source, now_ms)?;
        tx.commit()?;
        Ok(report)
    }

    /// Takes the write lock first: a transaction that reads and then writes cannot wait for
    /// the store's writer (SQLite answers BUSY at once when its read snapshot went stale).
    fn write_transaction(&mut self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
    }

    fn validate_all(&self, inputs: Vec<(String, ContactInput)>) -> Vec<Checked> {
        inputs
            .into_iter()
            .map(|(at, input)| (at, self.validate(&input)))
            .collect()
    }

    /// Removes a number's contact; false when there was none.
    pub fn delete(&self, number: &str) -> Result<bool, ContactError> {
        let number = e164(number, &self.plan)?;
        Ok(self
            .conn
            .execute("DELETE FROM contacts WHERE number = ?1", [number])?
            > 0)
    }

    /// The contact of a number written any way the PBX or a person writes it.
    pub fn lookup(&self, number: &str) -> Result<Option<Contact>, ContactError> {
        let Ok(number) = e164(number, &self.plan) else {
            return Ok(None);
        };
        Ok(self
            .conn
            .prepare_cached(&format!("{SELECT} WHERE number = ?1"))?
            .query_row([number], row)
            .optional()?)
    }

    /// Contacts whose number, name or company contains `text` (any case), by name.
    pub fn search(&self, text: &str, limit: u32) -> Result<Vec<Contact>, ContactError> {
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT} WHERE ?1 = '' OR name LIKE '%' || ?1 || '%'
                 OR company LIKE '%' || ?1 || '%' OR (?2 != '' AND number LIKE '%' || ?2 || '%')
             ORDER BY name COLLATE NOCASE LIMIT ?3"
        ))?;
        let rows = stmt.query_map((text.trim(), digits, limit.clamp(1, 1000)), row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets `caller_name` and `company` of a record from the other party's contact. The
    /// directory wins over a name the PBX sent (it is what the customer curated).
    pub(crate) fn enrich(&self, record: &mut CallRecord) -> Result<(), ContactError> {
        let outbound = record.direction == Direction::Outbound;
        let party = other_party(outbound, &record.caller, &record.callee);
        if let Some(contact) = party.map(|p| self.lookup(p)).transpose()?.flatten() {
            record.caller_name = Some(contact.name);
            record.company = contact.company;
        }
        Ok(())
    }

    /// Replaces the rows a central sync owns with `rows`, in one transaction.
    pub(crate) fn replace_central(
        &mut self,
        rows: Vec<(String, ContactInput)>,
        now_ms: i64,
    ) -> Result<ImportReport, ContactError> {
        let checked = self.validate_all(rows);
        let keep: std::collections::HashSet<String> = checked
            .iter()
            .filter_map(|(_, c)| Some(c.as_ref().ok()?.number.clone()))
            .collect();
        let tx = self.write_transaction()?;
        let mut report = apply_all(&tx, checked, central::SOURCE, now_ms)?;
        let owned: Vec<String> = tx
            .prepare("SELECT number FROM contacts WHERE source = ?1")?
            .query_map([central::SOURCE], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for gone in owned.iter().filter(|n| !keep.contains(*n)) {
            report.removed += tx.execute("DELETE FROM contacts WHERE number = ?1", [gone])?;
        }
        tx.commit()?;
        Ok(report)
    }
}

type Checked = (String, Result<ContactInput, ContactError>);

fn apply_all(
    conn: &Connection,
    checked: Vec<Checked>,
    source: &str,
    now_ms: i64,
) -> Result<ImportReport, ContactError> {
    let mut report = ImportReport::default();
    for (at, contact) in checked {
        match contact {
            Ok(c) => match upsert_valid(conn, &c, source, now_ms)?.1 {
                Upserted::Added => report.added += 1,
                Upserted::Updated => report.updated += 1,
                Upserted::KeptLocal => report.kept_local += 1,
            },
            Err(e) => report.skipped.push(format!("{at}: {e}")),
        }
    }
    Ok(report)
}

/// The number a call's contact is looked up by: the called party of an outbound call, the
/// caller otherwise.
pub(crate) fn other_party<'a>(
    outbound: bool,
    caller: &'a Option<String>,
    callee: &'a Option<String>,
) -> Option<&'a str> {
    if outbound {
        callee.as_deref()
    } else {
        caller.as_deref()
    }
}

/// What an import or a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ImportReport {
    pub added: usize,
    pub updated: usize,
    /// Central rows not applied because the number was set on the box.
    pub kept_local: usize,
    pub removed: usize,
    /// `where: why` for each entry that was not taken.
    pub skipped: Vec<String>,
}

const SELECT: &str = "SELECT number, name, company, note, source, updated_ms FROM contacts";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        number: r.get(0)?,
        name: r.get(1)?,
        company: r.get(2)?,
        note: r.get(3)?,
        source: r.get(4)?,
        updated_ms: r.get(5)?,
    })
}

fn upsert_valid(
    conn: &Connection,
    c: &ContactInput,
    source: &str,
    now_ms: i64,
) -> Result<(Contact, Upserted), ContactError> {
    let before: Option<String> = conn
        .prepare_cached("SELECT source FROM contacts WHERE number = ?1")?
        .query_row([&c.number], |r| r.get(0))
        .optional()?;
    let contact = Contact {
        number: c.number.clone(),
        name: c.name.clone(),
        company: c.company.clone(),
        note: c.note.clone(),
        source: source.to_owned(),
        updated_ms: now_ms,
    };
    let outcome = match before.as_deref() {
        None => Upserted::Added,
        Some(owner) if source == central::SOURCE && owner != central::SOURCE => {
            return Ok((contact, Upserted::KeptLocal))
        }
        Some(_) => Upserted::Updated,
    };
    conn.prepare_cached(
        "INSERT INTO contacts (number, name, company, note, source, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(number) DO UPDATE SET name = excluded.name, company = excluded.company,
             note = excluded.note, source = excluded.source, updated_ms = excluded.updated_ms",
    )?
    .execute((
        &contact.number,
        &contact.name,
        &contact.company,
        &contact.note,
        &contact.source,
        now_ms,
    ))?;
    Ok((contact, outcome))
}

/// Trimmed text without control characters; `None` when empty.
fn clean(text: &str, field: &'static str, max: usize) -> Result<Option<String>, ContactError> {
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max {
        return Err(ContactError::TooLong { field, max });
    }
    Ok(Some(text).filter(|t| !t.is_empty()))
}

fn clean_opt(
    text: Option<&str>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, ContactError> {
    text.map(|t| clean(t, field, max))
        .transpose()
        .map(Option::flatten)
}

#[cfg(test)]
mod tests;
