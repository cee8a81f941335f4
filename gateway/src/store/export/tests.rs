use super::*;
use crate::calls::Offer;

fn utc_plus_one(_: i64) -> time::UtcOffset {
    time::UtcOffset::from_hms(1, 0, 0).unwrap()
}

fn call(id: &str, started_ms: i64) -> CallSummary {
    CallSummary {
        call_id: id.into(),
        pbx: "ncp".into(),
        state: "ended".into(),
        direction: Some("inbound".into()),
        caller: Some("+48501200300".into()),
        callee: Some("100".into()),
        extension: Some("101".into()),
        agent: None,
        queue: None,
        started_ms,
        answered_ms: Some(started_ms + 12_400),
        ended_ms: Some(started_ms + 72_900),
        disposition: Some("answered".into()),
        caller_name: Some("Zażółć \"Gęślą\"; Jaźń".into()),
        company: Some("Kowalski, Nowak i s-ka".into()),
        rang: vec![
            Offer {
                extension: "109".into(),
                rang_at: started_ms,
                ring_ms: 5_000,
                answered: false,
            },
            Offer {
                extension: "101".into(),
                rang_at: started_ms + 5_000,
                ring_ms: 7_400,
                answered: true,
            },
        ],
    }
}

fn parse(bytes: &[u8], separator: u8) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    let body = text.strip_prefix('\u{feff}').expect("starts with the BOM");
    csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("a CSV row").iter().map(str::to_owned).collect())
        .collect()
}

/// A name with diacritics, quotes and both separators in it comes back from a CSV reader
/// as it went in, with either separator; times are local, durations whole seconds.
#[test]
fn a_journal_row_reads_back_whole_in_a_spreadsheet() {
    for (separator, byte) in [(Separator::Comma, b','), (Separator::Semicolon, b';')] {
        let mut csv = Csv::with_offset(separator, &CALL_COLUMNS, utc_plus_one).unwrap();
        csv.call(&call("c1", 1_795_316_989_123)).unwrap();
        let rows = parse(&csv.take().unwrap(), byte);
        assert_eq!(rows[0], CALL_COLUMNS);
        let row: std::collections::HashMap<&str, &str> = CALL_COLUMNS
            .iter()
            .copied()
            .zip(rows[1].iter().map(String::as_str))
            .collect();
        assert_eq!(row["started"], "2026-11-22 04:09:49");
        assert_eq!(row["answered"], "2026-11-22 04:10:01");
        assert_eq!(row["caller_name"], "Zażółć \"Gęślą\"; Jaźń");
        assert_eq!(row["company"], "Kowalski, Nowak i s-ka");
        assert_eq!((row["wait_s"], row["talk_s"]), ("12", "60"));
        assert_eq!(row["rang"], "109 101");
        assert_eq!(rows.len(), 2);
    }
}

/// `take` hands the document out in pieces: the BOM and header once, then only new rows.
#[test]
fn pieces_taken_one_after_another_make_one_document() {
    let mut csv = Csv::with_offset(Separator::Semicolon, &CALL_COLUMNS, utc_plus_one).unwrap();
    let mut whole = csv.take().unwrap();
    for i in 0..3 {
        csv.call(&call(&format!("c{i}"), 1_795_316_989_123 - i * 60_000))
            .unwrap();
        let piece = csv.take().unwrap();
        assert!(!piece.starts_with(BOM));
        whole.extend(piece);
    }
    let rows = parse(&whole, b';');
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3][17], "c2");
}

#[test]
fn unknown_separators_and_tables_are_refused_with_the_choices() {
    assert_eq!("semicolon".parse(), Ok(Separator::Semicolon));
    assert_eq!(";".parse(), Ok(Separator::Semicolon));
    let err = "pipe".parse::<Separator>().unwrap_err();
    assert!(err.contains("comma, semicolon, tab"), "{err}");
    let err = "people".parse::<ReportTable>().unwrap_err();
    assert!(err.contains("totals, agents, queues, hours"), "{err}");
}

/// A page shorter than the limit is the last; a full one continues after its last call.
#[test]
fn the_next_page_starts_after_the_last_call_of_a_full_page() {
    let q = CallQuery {
        limit: 2,
        number: Some("501".into()),
        ..CallQuery::default()
    };
    let page = [call("b", 2_000), call("a", 1_000)];
    let next = q.after(&page).expect("a full page has a next one");
    assert_eq!(
        (
            next.before_ms,
            next.before_id.as_deref(),
            next.number.as_deref()
        ),
        (Some(1_000), Some("a"), Some("501"))
    );
    assert!(q.after(&page[..1]).is_none());
    assert!(q.after(&[]).is_none());
}
