//! Contact files: CSV as spreadsheets and CRMs export it (`,` or `;`, a header row naming the
//! columns) and vCard 3/4 as phones and address books export it. Each entry comes with where
//! it was (`line 7`, `vCard 3`) so a skipped one can be found in the file.

use std::io::BufReader;

use super::ContactInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Vcard,
}

impl Format {
    /// vCard by extension (`.vcf`, `.vcard`) or by its first line; CSV otherwise.
    pub(crate) fn detect(path: &std::path::Path, bytes: &[u8]) -> Format {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).to_ascii_uppercase();
        if matches!(ext.as_deref(), Some("vcf" | "vcard"))
            || without_bom(head.trim_start()).starts_with("BEGIN:VCARD")
        {
            Format::Vcard
        } else {
            Format::Csv
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV header has no {label} column (name it one of: {names})")]
    MissingColumn { label: &'static str, names: String },
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("vCard {index}: {message}")]
    Vcard { index: usize, message: String },
    #[error("the file is not UTF-8 text")]
    NotText,
}

/// The entries of a contact file, each with where it was.
pub fn parse(bytes: &[u8], format: Format) -> Result<Vec<(String, ContactInput)>, ImportError> {
    let text = utf8(bytes)?;
    match format {
        Format::Csv => parse_csv(text),
        Format::Vcard => parse_vcard(text),
    }
}

/// A file's text without its byte-order mark.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ImportError::NotText)?;
    Ok(without_bom(text))
}

fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

const NUMBER: &[&str] = &["number", "phone", "tel", "telephone", "numer", "telefon"];
const NAME: &[&str] = &[
    "name",
    "full name",
    "full_name",
    "fn",
    "nazwa",
    "imię i nazwisko",
];
const COMPANY: &[&str] = &["company", "org", "organization", "firma"];
const NOTE: &[&str] = &["note", "notes", "notatka", "uwagi"];

fn parse_csv(text: &str) -> Result<Vec<(String, ContactInput)>, ImportError> {
    let columns = [
        Column::required("number", NUMBER),
        Column::required("name", NAME),
        Column::optional(COMPANY),
        Column::optional(NOTE),
    ];
    Ok(csv_rows(text, &columns)?
        .into_iter()
        .map(|(at, mut v)| {
            let mut take = |i: usize| std::mem::take(&mut v[i]);
            let (number, name) = (take(0).unwrap_or_default(), take(1).unwrap_or_default());
            let (company, note) = (take(2), take(3));
            (
                at,
                ContactInput {
                    number,
                    name,
                    company,
                    note,
                },
            )
        })
        .collect())
}

/// A column of a CSV file: the header names it goes by (compared in lower case) and, for a
/// required one, the name an error uses.
pub(crate) struct Column {
    required: Option<&'static str>,
    names: &'static [&'static str],
}

impl Column {
    pub(crate) const fn required(label: &'static str, names: &'static [&'static str]) -> Column {
        Column {
            required: Some(label),
            names,
        }
    }

    pub(crate) const fn optional(names: &'static [&'static str]) -> Column {
        Column {
            required: None,
            names,
        }
    }
}

/// Where a row was (`line N`) and its cells, in the order the columns were asked for.
pub(crate) type CsvRow = (String, Vec<Option<String>>);

/// The rows of a CSV file with a header, each as `line N` and the values of `columns` in
/// their order (`None` for an empty cell or an absent optional column); blank rows skipped.
/// `;` is taken as the separator when the header has more of them than commas (spreadsheets
/// in comma-decimal locales export it).
pub(crate) fn csv_rows(text: &str, columns: &[Column]) -> Result<Vec<CsvRow>, ImportError> {
    let text = without_bom(text);
    let header = text.lines().next().unwrap_or_default();
    let delimiter = if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let found: Vec<String> = reader.headers()?.iter().map(|h| h.to_lowercase()).collect();
    let mut at = Vec::with_capacity(columns.len());
    for column in columns {
        let index = found
            .iter()
            .position(|c| column.names.contains(&c.as_str()));
        match (index, column.required) {
            (None, Some(label)) => {
                let names = column.names.join(", ");
                return Err(ImportError::MissingColumn { label, names });
            }
            _ => at.push(index),
        }
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        let values = at
            .iter()
            .map(|i| i.and_then(|i| record.get(i)).filter(|v| !v.is_empty()))
            .map(|v| v.map(str::to_owned))
            .collect();
        out.push((format!("line {line}"), values));
    }
    Ok(out)
}

fn parse_vcard(text: &str) -> Result<Vec<(String, ContactInput)>, ImportError> {
    let mut out = Vec::new();
    for (i, card) in ical::VcardParser::new(BufReader::new(text.as_bytes())).enumerate() {
        let index = i + 1;
        let card = card.map_err(|e| ImportError::Vcard {
            index,
            message: e.to_string(),
        })?;
        let value = |name: &str| {
            card.properties
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(name))
                .and_then(|p| p.value.clone())
        };
        let name = value("FN")
            .map(|v| unescape(&v))
            .or_else(|| value("N").map(|n| name_from_n(&n)))
            .unwrap_or_default();
        let company = value("ORG").and_then(|o| first_component(&o));
        let note = value("NOTE").map(|n| unescape(&n));
        let phones = card
            .properties
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case("TEL"))
            .filter_map(|p| p.value.as_deref())
            .map(|v| v.trim_start_matches("tel:").to_owned());
        for number in phones {
            out.push((
                format!("vCard {index} ({name})"),
                ContactInput {
                    number,
                    name: name.clone(),
                    company: company.clone(),
                    note: note.clone(),
                },
            ));
        }
    }
    Ok(out)
}

/// `N:Family;Given;Middle;Prefix;Suffix` as "Given Family".
fn name_from_n(n: &str) -> String {
    let parts: Vec<String> = split_components(n);
    let pick = |i: usize| parts.get(i).map(String::as_str).unwrap_or_default();
    [pick(3), pick(1), pick(2), pick(0), pick(4)]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn first_component(value: &str) -> Option<String> {
    split_components(value)
        .into_iter()
        .next()
        .filter(|c| !c.is_empty())
}

/// Splits a structured value at unescaped `;` and unescapes each part.
fn split_components(value: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(p)) = (chars.next(), parts.last_mut()) {
                    p.push(if next.eq_ignore_ascii_case(&'n') {
                        '\n'
                    } else {
                        next
                    });
                }
            }
            ';' => parts.push(String::new()),
            c => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    parts.into_iter().map(|p| p.trim().to_owned()).collect()
}

/// vCard text escapes: `\,` `\;` `\\` `\n`.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_semicolons_bom_and_polish_headers() {
        let file = "\u{feff}Nazwa;Telefon;Firma;Uwagi\n\
                    Jan Kowalski;601 234 567;ACME sp. z o.o.;VIP\n\
                    ;;;\n\
                    \"Nowak; Anna\";+48 22 123 45 67;;\n";
        let got = parse(file.as_bytes(), Format::Csv).unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "line 2");
        assert_eq!(got[0].1.name, "Jan Kowalski");
        assert_eq!(got[0].1.number, "601 234 567");
        assert_eq!(got[0].1.company.as_deref(), Some("ACME sp. z o.o."));
        assert_eq!(got[0].1.note.as_deref(), Some("VIP"));
        assert_eq!(got[1].0, "line 4");
        assert_eq!(got[1].1.name, "Nowak; Anna");
        assert_eq!(got[1].1.company, None);
    }

    #[test]
    fn csv_without_a_number_column_says_so() {
        let e = parse(b"who,where\nx,y\n", Format::Csv).unwrap_err();
        assert!(e.to_string().contains("number"), "{e}");
    }

    #[test]
    fn vcards_give_one_entry_per_phone() {
        let file = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Kowalski;Jan;;;\r\nFN:Jan Kowalski\r\n\
                    ORG:ACME\\, Inc.;Sales\r\nTEL;TYPE=CELL:+48 601 234 567\r\n\
                    TEL;TYPE=WORK:22 123 45 67\r\nNOTE:prefers\\nmornings\r\nEND:VCARD\r\n\
                    BEGIN:VCARD\r\nVERSION:4.0\r\nN:Nowak;Anna;;Dr.;\r\n\
                    TEL;VALUE=uri:tel:+48501000111\r\nEND:VCARD\r\n";
        assert_eq!(
            Format::detect(std::path::Path::new("x.txt"), file.as_bytes()),
            Format::Vcard
        );
        let got = parse(file.as_bytes(), Format::Vcard).unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].1.name, "Jan Kowalski");
        assert_eq!(got[0].1.company.as_deref(), Some("ACME, Inc."));
        assert_eq!(got[0].1.note.as_deref(), Some("prefers\nmornings"));
        assert_eq!(got[1].1.number, "22 123 45 67");
        assert_eq!(got[2].1.name, "Dr. Anna Nowak");
        assert_eq!(got[2].1.number, "+48501000111");
    }

    #[test]
    fn a_broken_vcard_is_an_error_not_a_panic() {
        let e = parse(b"BEGIN:VCARD\nFN:x\n", Format::Vcard);
        let got = parse(b"FN:x\nEND:VCARD\n", Format::Vcard);
        assert!(e.is_err() || e.is_ok_and(|v| v.is_empty()));
        assert!(got.is_err());
    }
}
