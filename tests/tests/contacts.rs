//! The contact directory end to end: `pbxgw contacts import` of a spreadsheet CSV and a vCard
//! with the real binary, a central `pbxgw_contacts` table in a private PostgreSQL synced at
//! start, a gateway fed by the real Asterisk capture whose call records (local journal, event
//! log and central `pbxgw_calls`) carry the caller's name, and `/api/contacts`.
//!
//! PostgreSQL is a native service binary: this runs on the build host only.
#![cfg(target_arch = "x86_64")]

use std::time::Duration;

use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{bin_path, free_port, http, stored_events, wait_until, Postgres};
use pbxgw_tests::sim::ami::{AmiSim, ReplayPlan};
use serde_json::Value;

const TOKEN: &str = "contacts-test-token-0123456789";

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn import(conf: &std::path::Path, file: &std::path::Path) -> String {
    let out = std::process::Command::new(bin_path("pbxgw"))
        .args(["contacts", "import", "-c"])
        .args([conf, file])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

/// Central IT's table: a row for every gateway, one for this gateway that overrides it, one
/// for another gateway, and one for a number an installer already set on the box.
async fn central_rows(pg: &Postgres, config: &Config) {
    let mut client = pg.client().await;
    pbxgw::uplink::postgres::migrate(&mut client).await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO pbxgw_contacts (gateway_id, number, name, company) VALUES
               (NULL, '+48 22 325 81 54', 'Shared Name', NULL),
               ('{id}', '0048223258154', 'Site Name', 'Site Co'),
               ('other-gw', '+48224571293', 'Not Here', NULL),
               (NULL, '224853154', 'Central Override', NULL),
               (NULL, 'not a number', 'Broken', NULL)",
            id = config.gateway.id
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_carry_the_names_of_imported_and_central_contacts() {
    let pg = Postgres::start();
    let ami = AmiSim::replaying("gw", "secret", ReplayPlan::default())
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = format!(
        "[gateway]\nid = \"gw-contacts\"\ndata_dir = {:?}\n[api]\nbind = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n\
         [uplink.postgres]\nurl = {:?}\n[contacts]\ncentral_sync_s = 300\n\
         [[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"secret\"\n",
        dir.path().join("data"),
        pg.url(),
        ami.port()
    );
    let conf = dir.path().join("pbxgw.toml");
    std::fs::write(&conf, &text).unwrap();
    let config = Config::load(&conf).unwrap();

    let csv = dir.path().join("crm-export.csv");
    std::fs::write(
        &csv,
        "\u{feff}Nazwa;Telefon;Firma;Uwagi\nJan Kowalski;22 485 31 54;ACME sp. z o.o.;VIP\nBroken;12ab;;\n",
    )
    .unwrap();
    let out = import(&conf, &csv);
    assert!(out.contains("1 added, 0 updated, 1 skipped"), "{out}");
    assert!(out.contains("skipped line 3: number"), "{out}");
    let vcf = dir.path().join("phone.vcf");
    std::fs::write(
        &vcf,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Nowak\r\nORG:Globex\r\nTEL;TYPE=WORK:+48 22 239 59 22\r\nEND:VCARD\r\n",
    )
    .unwrap();
    assert!(import(&conf, &vcf).contains("1 added"));

    central_rows(&pg, &config).await;
    let gateway = Gateway::start(&config).await.unwrap();
    let t = Some(TOKEN);
    let synced = wait_until(Duration::from_secs(30), || {
        pbxgw::contacts::Directory::open(&config.db_path(), config.sms.plan())
            .and_then(|d| d.lookup("+48223258154"))
            .is_ok_and(|c| c.is_some())
    })
    .await;
    assert!(synced, "the central rows arrive at start");
    let (code, body) = http(port, "GET", "/api/contacts/223258154", t, None).await;
    assert_eq!(code, 200, "{body}");
    let c = &json(&body)["contact"];
    assert_eq!(
        (c["name"].as_str(), c["source"].as_str()),
        (Some("Site Name"), Some("central"))
    );
    assert_eq!(c["number"], "+48223258154");
    assert_eq!(
        http(port, "GET", "/api/contacts/+48224571293", t, None)
            .await
            .0,
        404
    );
    let (_, body) = http(port, "GET", "/api/contacts/224853154", t, None).await;
    assert_eq!(
        json(&body)["contact"]["name"],
        "Jan Kowalski",
        "the installer's row stays"
    );

    let ended = wait_until(Duration::from_secs(60), || {
        ami.log.lock().unwrap().replay_done
            && stored_events(&config)
                .iter()
                .filter(|e| e.kind == "call.ended")
                .count()
                == 35
    })
    .await;
    assert!(ended);
    let (_, body) = http(port, "GET", "/api/calls?number=Kowalski", t, None).await;
    let calls = json(&body)["calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 1, "{body}");
    assert_eq!(calls[0]["caller"], "+48224853154");
    assert_eq!(calls[0]["company"], "ACME sp. z o.o.");
    let (_, body) = http(port, "GET", "/api/calls?number=Globex", t, None).await;
    assert!(
        !json(&body)["calls"].as_array().unwrap().is_empty(),
        "{body}"
    );
    let record = stored_events(&config)
        .into_iter()
        .find(|e| {
            e.kind == "call.ended" && e.call_id == calls[0]["call_id"].as_str().map(Into::into)
        })
        .expect("the call's record");
    let record = pbxgw::uplink::json::event_json("gw", &record, false);
    assert_eq!(record["caller_name"], "Jan Kowalski", "{record}");

    // The central journal gets the name with the record.
    let client = pg.client().await;
    let central = wait_until(Duration::from_secs(30), || {
        let rows = central_names(&client);
        rows.contains(&"Jan Kowalski".to_owned())
    })
    .await;
    assert!(central, "pbxgw_calls has the caller's name");

    // The directory over the API: add, change, find, remove, refuse.
    let (code, body) = http(
        port,
        "POST",
        "/api/contacts",
        t,
        Some(r#"{"number":"601 234 567","name":"Piotr Zieliński","company":"Initech"}"#),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(json(&body)["contact"]["number"], "+48601234567");
    let (code, body) = http(
        port,
        "PUT",
        "/api/contacts/+48601234567",
        t,
        Some(r#"{"name":"Piotr Zieliński","note":"call after 10"}"#),
    )
    .await;
    assert_eq!(
        (code, json(&body)["contact"]["source"].clone()),
        (200, Value::from("api"))
    );
    let (_, body) = http(port, "GET", "/api/contacts?search=ZIELI", t, None).await;
    let found = json(&body)["contacts"].as_array().unwrap().clone();
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0]["note"], "call after 10");
    assert_eq!(
        found[0]["company"],
        Value::Null,
        "PUT replaces the whole contact"
    );
    let (code, body) = http(
        port,
        "POST",
        "/api/contacts",
        t,
        Some(r#"{"number":"201","name":"Reception"}"#),
    )
    .await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (422, Value::from("invalid_number"))
    );
    assert_eq!(
        http(port, "DELETE", "/api/contacts/601234567", t, None)
            .await
            .0,
        204
    );
    assert_eq!(
        http(port, "DELETE", "/api/contacts/601234567", t, None)
            .await
            .0,
        404
    );
    assert_eq!(http(port, "GET", "/api/contacts", None, None).await.0, 401);
    // The PostgreSQL link's round trip is on record from its first connection.
    let (_, body) = http(port, "GET", "/api/quality", t, None).await;
    let now = json(&body)["now"]["uplink:postgres"].clone();
    assert!(now.is_string() && now != "disconnected", "{body}");

    // A reload that changes the sync's period syncs at once: a row central added since the
    // start arrives without waiting out the old five minutes.
    client
        .batch_execute(
            "INSERT INTO pbxgw_contacts (gateway_id, number, name) VALUES (NULL, '+48 22 111 22 33', 'Added Later')",
        )
        .await
        .unwrap();
    std::fs::write(
        &conf,
        text.replace("central_sync_s = 300", "central_sync_s = 600"),
    )
    .unwrap();
    gateway.reload(&Config::load(&conf).unwrap());
    let later = wait_until(Duration::from_secs(30), || {
        pbxgw::contacts::Directory::open(&config.db_path(), config.sms.plan())
            .and_then(|d| d.lookup("+48221112233"))
            .is_ok_and(|c| c.is_some_and(|c| c.name == "Added Later"))
    })
    .await;
    assert!(later, "the reload's new period synced at once");
    gateway.stop().await;
}

/// The names in the central call journal (blocking on the runtime from a sync closure).
fn central_names(client: &tokio_postgres::Client) -> Vec<String> {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            client
                .query(
                    "SELECT caller_name FROM pbxgw_calls WHERE caller_name IS NOT NULL",
                    &[],
                )
                .await
                .map(|rows| rows.iter().map(|r| r.get(0)).collect())
                .unwrap_or_default()
        })
    })
}
