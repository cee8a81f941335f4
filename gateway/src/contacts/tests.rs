use super::*;
use crate::calls::{CallRecord, Direction};

fn plan() -> NumberPlan {
    NumberPlan {
        country_code: "48".into(),
        outside_line_prefix: Some("0".into()),
        trunk_prefix: None,
        min_national_digits: 9,
    }
}

fn directory() -> (tempfile::TempDir, Directory) {
    let dir = tempfile::tempdir().unwrap();
    let d = Directory::open(&crate::store::migrated_db(dir.path()), plan()).unwrap();
    (dir, d)
}

fn input(number: &str, name: &str, company: Option<&str>) -> ContactInput {
    ContactInput {
        number: number.into(),
        name: name.into(),
        company: company.map(Into::into),
        note: None,
    }
}

#[test]
fn numbers_match_in_any_form_the_pbx_writes() {
    let (_dir, d) = directory();
    let (c, outcome) = d
        .upsert(
            &input("601 234 567", " Jan Kowalski ", Some("ACME")),
            "api",
            1,
        )
        .unwrap();
    assert_eq!(outcome, Upserted::Added);
    assert_eq!(c.number, "+48601234567");
    assert_eq!(c.name, "Jan Kowalski");
    for written in ["0601234567", "+48601234567", "0048601234567", "48601234567"] {
        let found = d.lookup(written).unwrap();
        assert_eq!(
            found.map(|c| c.name).as_deref(),
            Some("Jan Kowalski"),
            "{written}"
        );
    }
    assert_eq!(d.lookup("201").unwrap(), None);
    assert_eq!(d.lookup("anonymous").unwrap(), None);
    let (_, again) = d
        .upsert(&input("+48601234567", "Jan K.", None), "mqtt", 2)
        .unwrap();
    assert_eq!(again, Upserted::Updated);
    assert!(d.delete("0601234567").unwrap());
    assert!(!d.delete("0601234567").unwrap());
}

#[test]
fn bad_contacts_are_refused_with_a_reason() {
    let (_dir, d) = directory();
    let err = |i: ContactInput| d.upsert(&i, "api", 1).unwrap_err().to_string();
    assert!(err(input("201", "Reception", None)).contains("internal"));
    assert!(err(input("12ab", "X", None)).contains("not a phone number"));
    assert!(err(input("601234567", "  ", None)).contains("name is empty"));
    let long = "x".repeat(201);
    assert!(err(input("601234567", &long, None)).contains("longer than 200"));
    assert_eq!(d.search("", 10).unwrap(), vec![]);
}

#[test]
fn search_finds_names_companies_and_digits() {
    let (_dir, mut d) = directory();
    let report = d
        .upsert_many(
            vec![
                (
                    "line 2".into(),
                    input("601234567", "Jan Kowalski", Some("ACME")),
                ),
                (
                    "line 3".into(),
                    input("221234567", "Anna Nowak", Some("Globex")),
                ),
                ("line 4".into(), input("x", "Broken", None)),
            ],
            "import",
            1,
        )
        .unwrap();
    assert_eq!((report.added, report.updated), (2, 0));
    assert_eq!(report.skipped.len(), 1);
    assert!(
        report.skipped[0].starts_with("line 4:"),
        "{:?}",
        report.skipped
    );
    let names = |q: &str| -> Vec<String> {
        d.search(q, 10)
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect()
    };
    assert_eq!(names("kowal"), ["Jan Kowalski"]);
    assert_eq!(names("globex"), ["Anna Nowak"]);
    assert_eq!(names("22 123"), ["Anna Nowak"]);
    assert_eq!(names(""), ["Anna Nowak", "Jan Kowalski"]);
}

#[test]
fn records_are_named_after_the_other_party() {
    let (_dir, d) = directory();
    d.upsert(&input("601234567", "Jan Kowalski", Some("ACME")), "api", 1)
        .unwrap();
    let mut inbound = CallRecord::example("c1", 0);
    inbound.caller = Some("0601234567".into());
    inbound.caller_name = Some("PBX NAME".into());
    d.enrich(&mut inbound).unwrap();
    assert_eq!(inbound.caller_name.as_deref(), Some("Jan Kowalski"));
    assert_eq!(inbound.company.as_deref(), Some("ACME"));

    let mut outbound = CallRecord::example("c2", 0);
    outbound.direction = Direction::Outbound;
    outbound.caller = Some("201".into());
    outbound.callee = Some("601234567".into());
    d.enrich(&mut outbound).unwrap();
    assert_eq!(outbound.caller_name.as_deref(), Some("Jan Kowalski"));

    let mut unknown = CallRecord::example("c3", 0);
    unknown.caller_name = Some("PBX NAME".into());
    d.enrich(&mut unknown).unwrap();
    assert_eq!(
        unknown.caller_name.as_deref(),
        Some("PBX NAME"),
        "kept when unknown"
    );
}

#[test]
fn a_central_sync_replaces_its_own_rows_and_keeps_local_ones() {
    let (_dir, mut d) = directory();
    d.upsert(&input("601000001", "Set on the box", None), "api", 1)
        .unwrap();
    let first = d
        .replace_central(
            vec![
                ("r1".into(), input("601000001", "Central name", None)),
                ("r2".into(), input("601000002", "Old customer", None)),
                ("r3".into(), input("601000003", "Customer", None)),
            ],
            2,
        )
        .unwrap();
    assert_eq!((first.added, first.kept_local, first.removed), (2, 1, 0));
    let second = d
        .replace_central(
            vec![("r3".into(), input("601000003", "Customer Ltd", None))],
            3,
        )
        .unwrap();
    assert_eq!((second.updated, second.removed), (1, 1));
    let name = |n: &str| d.lookup(n).unwrap().map(|c| (c.name, c.source));
    assert_eq!(
        name("601000001"),
        Some(("Set on the box".into(), "api".into()))
    );
    assert_eq!(name("601000002"), None);
    assert_eq!(
        name("601000003"),
        Some(("Customer Ltd".into(), "central".into()))
    );
}

#[test]
fn a_sync_waits_for_the_store_writer_instead_of_failing() {
    let (dir, mut d) = directory();
    let db = dir.path().join("gateway.db");
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut other = crate::store::side_connection(&db).unwrap();
        let tx = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute(
            "INSERT INTO contacts (number, name, source, updated_ms) VALUES ('+48601000009', 'x', 'api', 1)",
            [],
        )
        .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        tx.commit().unwrap();
    });
    locked.recv().unwrap();
    let report = d
        .replace_central(vec![("r1".into(), input("601000001", "Central", None))], 2)
        .expect("the sync waits for the other writer");
    assert_eq!(report.added, 1);
    writer.join().unwrap();
}
