//! The operator directory: who works at an extension or under an agent id, and in which
//! team. The journal, the agents panel and the reports show names from it, and once it has
//! rows the panel lists only them and the agents the PBX reports states for (so dialplan
//! destinations a call rang, such as a conference or an IVR number, stay off it). Kept in
//! the gateway's SQLite (`operators`), filled from CSV (`pbxgw operators import`,
//! `POST /api/operators.csv`), the local API and the `operators.*` commands.

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use super::import::{csv_rows, utf8, Column, ImportError};
use super::{clean, clean_opt, ContactError, Directory, ImportReport, MAX_NAME};

/// Longest extension or agent id (Asterisk interfaces such as `PJSIP/operator-12` fit).
const MAX_ID: usize = 64;
/// Rows the directory holds: a panel and a page stay usable, a CSV of a whole company does not
/// fill the box. Past it a new id is refused (`TooMany`); existing ids still update.
pub const MAX_OPERATORS: usize = 2_000;

const ID: &[&str] = &[
    "extension",
    "ext",
    "agent",
    "id",
    "wewnętrzny",
    "numer wewnętrzny",
];
const NAME: &[&str] = &[
    "name",
    "full name",
    "operator",
    "agent name",
    "nazwa",
    "imię i nazwisko",
];
const TEAM: &[&str] = &["team", "group", "department", "zespół", "grupa", "dział"];

/// An operator as given, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OperatorInput {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub team: Option<String>,
}

/// A stored operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    /// The extension or agent id, as the PBX names it in `rang`, `extension` and `agent`.
    pub id: String,
    pub name: String,
    pub team: Option<String>,
    pub source: String,
    pub updated_ms: i64,
}

/// The entries of an operator CSV (header: extension/agent/id, name, team), each with its line.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<(String, OperatorInput)>, ImportError> {
    let columns = [
        Column::required("extension", ID),
        Column::required("name", NAME),
        Column::optional(TEAM),
    ];
    Ok(csv_rows(utf8(bytes)?, &columns)?
        .into_iter()
        .map(|(at, mut v)| {
            let mut take = |i: usize| std::mem::take(&mut v[i]);
            let (id, name) = (take(0).unwrap_or_default(), take(1).unwrap_or_default());
            let team = take(2);
            (at, OperatorInput { id, name, team })
        })
        .collect())
}

impl Directory {
    /// Adds or replaces the operator of an id; true when it was new.
    pub fn upsert_operator(
        &self,
        input: &OperatorInput,
        source: &str,
        now_ms: i64,
    ) -> Result<(Operator, bool), ContactError> {
        upsert_valid(&self.conn, valid(input)?, source, now_ms)
    }

    /// Several operators in one transaction; each bad one is reported and skipped.
    pub(crate) fn upsert_operators(
        &mut self,
        inputs: Vec<(String, OperatorInput)>,
        source: &str,
        now_ms: i64,
    ) -> Result<ImportReport, ContactError> {
        let tx = self.write_transaction()?;
        let mut report = ImportReport::default();
        for (at, input) in inputs {
            match valid(&input).and_then(|o| upsert_valid(&tx, o, source, now_ms)) {
                Ok((_, true)) => report.added += 1,
                Ok((_, false)) => report.updated += 1,
                Err(e @ ContactError::Sql(_)) => return Err(e),
                Err(e) => report.skipped.push(format!("{at}: {e}")),
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// Removes an operator; false when there was none.
    pub fn delete_operator(&self, id: &str) -> Result<bool, ContactError> {
        let removed = self
            .conn
            .execute("DELETE FROM operators WHERE id = ?1", [id.trim()])?;
        Ok(removed > 0)
    }

    /// Every operator, by team then name.
    pub fn operators(&self) -> Result<Vec<Operator>, ContactError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, team, source, updated_ms FROM operators
             ORDER BY team IS NULL, team COLLATE NOCASE, name COLLATE NOCASE",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Operator {
                id: r.get(0)?,
                name: r.get(1)?,
                team: r.get(2)?,
                source: r.get(3)?,
                updated_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Id trimmed and without spaces or control characters; name required; lengths capped.
fn valid(input: &OperatorInput) -> Result<OperatorInput, ContactError> {
    let id = input.id.trim();
    if id.is_empty() {
        return Err(ContactError::NoId);
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ContactError::BadId(id.chars().take(MAX_ID).collect()));
    }
    if id.chars().count() > MAX_ID {
        return Err(ContactError::TooLong {
            field: "id",
            max: MAX_ID,
        });
    }
    Ok(OperatorInput {
        id: id.to_owned(),
        name: clean(&input.name, "name", MAX_NAME)?.ok_or(ContactError::NoName)?,
        team: clean_opt(input.team.as_deref(), "team", MAX_NAME)?,
    })
}

fn upsert_valid(
    conn: &rusqlite::Connection,
    o: OperatorInput,
    source: &str,
    now_ms: i64,
) -> Result<(Operator, bool), ContactError> {
    let known = conn
        .prepare_cached("SELECT 1 FROM operators WHERE id = ?1")?
        .query_row([&o.id], |_| Ok(()))
        .optional()?
        .is_some();
    if !known {
        let held: i64 = conn.query_row("SELECT COUNT(*) FROM operators", [], |r| r.get(0))?;
        if held >= MAX_OPERATORS as i64 {
            return Err(ContactError::TooMany(MAX_OPERATORS));
        }
    }
    conn.prepare_cached(
        "INSERT INTO operators (id, name, team, source, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, team = excluded.team,
             source = excluded.source, updated_ms = excluded.updated_ms",
    )?
    .execute((&o.id, &o.name, &o.team, source, now_ms))?;
    let operator = Operator {
        id: o.id,
        name: o.name,
        team: o.team,
        source: source.to_owned(),
        updated_ms: now_ms,
    };
    Ok((operator, !known))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> (tempfile::TempDir, Directory) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::migrated_db(dir.path());
        let plan = crate::numbers::NumberPlan {
            country_code: "48".into(),
            outside_line_prefix: None,
            trunk_prefix: None,
            min_national_digits: 9,
        };
        let d = Directory::open(&db, plan).unwrap();
        (dir, d)
    }

    fn op(id: &str, name: &str, team: Option<&str>) -> OperatorInput {
        OperatorInput {
            id: id.into(),
            name: name.into(),
            team: team.map(Into::into),
        }
    }

    #[test]
    fn a_csv_from_a_spreadsheet_imports_and_reports_bad_rows() {
        let file = "\u{feff}Wewnętrzny;Imię i nazwisko;Zespół\n\
                    101;Anna Nowak;Obsługa klienta\n\
                    102;  Jan Wiśniewski ;\n\
                    ;Nobody;x\n\
                    10 3;Bad Id;x\n\
                    Agent/7;Ewa Zielińska;Sprzedaż\n";
        let entries = parse_csv(file.as_bytes()).unwrap();
        let (_dir, mut d) = directory();
        let report = d.upsert_operators(entries, "import", 5).unwrap();
        assert_eq!((report.added, report.updated), (3, 0), "{report:?}");
        assert_eq!(report.skipped.len(), 2, "{report:?}");
        assert!(report.skipped[0].starts_with("line 4: "), "{report:?}");
        assert!(report.skipped[1].contains("\"10 3\""), "{report:?}");
        let all = d.operators().unwrap();
        let names: Vec<_> = all
            .iter()
            .map(|o| (o.id.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("101", "Anna Nowak"),
                ("Agent/7", "Ewa Zielińska"),
                ("102", "Jan Wiśniewski")
            ]
        );
        assert_eq!(all[0].team.as_deref(), Some("Obsługa klienta"));
        assert_eq!(all[2].team, None);
    }

    #[test]
    fn a_csv_without_an_extension_column_names_the_headers_it_takes() {
        let e = parse_csv(b"who,team\nx,y\n").unwrap_err().to_string();
        assert!(e.contains("extension") && e.contains("agent"), "{e}");
        assert!(parse_csv(b"\xff\xfe").is_err());
    }

    #[test]
    fn an_id_is_updated_in_place_and_deleted() {
        let (_dir, d) = directory();
        assert!(
            d.upsert_operator(&op("101", "Anna", None), "api", 1)
                .unwrap()
                .1
        );
        let (again, added) = d
            .upsert_operator(&op(" 101 ", "Anna Nowak", Some("Desk")), "mqtt", 2)
            .unwrap();
        assert!(!added);
        assert_eq!(
            (again.name.as_str(), again.source.as_str()),
            ("Anna Nowak", "mqtt")
        );
        assert_eq!(d.operators().unwrap().len(), 1);
        assert!(d.delete_operator("101").unwrap());
        assert!(!d.delete_operator("101").unwrap());
        for bad in [op("", "x", None), op("1\n2", "x", None), op("9", " ", None)] {
            assert!(d.upsert_operator(&bad, "api", 3).is_err(), "{bad:?}");
        }
        let long = op(&"7".repeat(MAX_ID + 1), "x", None);
        assert!(matches!(
            d.upsert_operator(&long, "api", 3),
            Err(ContactError::TooLong { field: "id", .. })
        ));
    }

    #[test]
    fn past_the_bound_new_ids_are_refused_and_known_ones_still_update() {
        let (_dir, mut d) = directory();
        let all = (0..MAX_OPERATORS)
            .map(|i| (format!("row {i}"), op(&format!("{i}"), "Someone", None)))
            .collect();
        let report = d.upsert_operators(all, "import", 1).unwrap();
        assert_eq!(report.added, MAX_OPERATORS);
        let more = d.upsert_operator(&op("new", "Late", None), "api", 2);
        assert!(
            matches!(more, Err(ContactError::TooMany(MAX_OPERATORS))),
            "{more:?}"
        );
        let known = d.upsert_operator(&op("7", "Renamed", None), "api", 2);
        assert!(matches!(known, Ok((_, false))), "{known:?}");
        assert_eq!(d.operators().unwrap().len(), MAX_OPERATORS);
    }
}
