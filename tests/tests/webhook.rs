//! The webhook sink against a real HTTP server standing in for a CRM: the gateway, fed by the
//! real Asterisk capture, POSTs the selected events in order with its token; a 500 is retried
//! (nothing skipped), a 422 for an event is counted and passed over.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{stored_events, wait_until};
use pbxgw_tests::sim::ami::{AmiSim, ReplayPlan};
use serde_json::Value;

#[derive(Default)]
struct Crm {
    received: Vec<Value>,
    requests: usize,
    tokens_ok: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_events_reach_the_crm_in_order_with_retries() {
    let crm = Arc::new(Mutex::new(Crm {
        tokens_ok: true,
        ..Default::default()
    }));
    let state = crm.clone();
    let app = Router::new().route(
        "/events",
        post(move |headers: HeaderMap, Json(event): Json<Value>| {
            let state = state.clone();
            async move {
                let mut crm = state.lock().unwrap();
                crm.requests += 1;
                crm.tokens_ok &= headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some("Bearer crm-token");
                if crm.requests == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                if event["kind"] == "call.answered" {
                    return StatusCode::UNPROCESSABLE_ENTITY;
                }
                crm.received.push(event);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let crm_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let ami = AmiSim::replaying("gw", "secret", ReplayPlan::default())
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[gateway]\nid = \"gw-hook\"\ndata_dir = {:?}\n[uplink.webhook]\nurl = \"http://127.0.0.1:{crm_port}/events\"\ntoken = \"crm-token\"\n\
         [[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"secret\"\n",
        dir.path().join("data"),
        ami.port()
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    // The directory knows one caller of the capture: the CRM's screen pop names them at the
    // ring, before anyone answers.
    drop(pbxgw::store::open(&pbxgw::store::StoreOptions::from_config(&config)).unwrap());
    let contact = pbxgw::contacts::ContactInput {
        number: "+48224853154".into(),
        name: "Jan Kowalski".into(),
        company: Some("ACME".into()),
        note: None,
    };
    pbxgw::contacts::Directory::open(&config.db_path(), config.sms.plan())
        .unwrap()
        .upsert(&contact, "api", 0)
        .unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    let wanted = |kind: &str| kind == "call.ringing" || kind == "call.ended";
    let done = wait_until(Duration::from_secs(30), || {
        let events = stored_events(&config);
        let expected = events.iter().filter(|e| wanted(&e.kind)).count();
        ami.log.lock().unwrap().replay_done
            && events.iter().filter(|e| e.kind == "call.ended").count() == 35
            && crm.lock().unwrap().received.len() >= expected
    })
    .await;
    assert!(
        done,
        "the CRM got {} events",
        crm.lock().unwrap().received.len()
    );
    let crm = std::mem::take(&mut *crm.lock().unwrap());
    assert!(crm.tokens_ok, "every request carried the token");
    let seqs: Vec<u64> = crm
        .received
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let stored: Vec<u64> = stored_events(&config)
        .iter()
        .filter(|e| wanted(&e.kind))
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs, stored,
        "in order, nothing skipped (the first was retried after the 500)"
    );
    assert!(crm
        .received
        .iter()
        .all(|e| e["gw"] == "gw-hook" && e["v"] == 1));
    let popped: Vec<&Value> = crm
        .received
        .iter()
        .filter(|e| e["kind"] == "call.ringing" && e["caller"] == "+48224853154")
        .collect();
    assert!(!popped.is_empty());
    assert!(
        popped
            .iter()
            .all(|e| e["caller_name"] == "Jan Kowalski" && e["company"] == "ACME"),
        "{popped:?}"
    );
    let refused = gateway
        .links()
        .counters()
        .get("webhook.refused")
        .copied()
        .unwrap_or(0);
    let answered = stored_events(&config)
        .iter()
        .filter(|e| e.kind == "call.answered")
        .count() as u64;
    assert_eq!(
        refused, answered,
        "each refused event is counted and passed over"
    );
    gateway.stop().await;
}

/// A CRM that answers the headers and then trickles its body, one byte every 300 ms, forever.
async fn trickling_crm() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n";
                if socket.write_all(head).await.is_err() {
                    return;
                }
                while socket.write_all(b"x").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_crm_neither_stalls_the_sink_nor_the_stop_and_its_url_stays_secret() {
    let crm_port = trickling_crm().await;
    let ami = AmiSim::replaying("gw", "secret", ReplayPlan::default())
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[gateway]\nid = \"gw-hook\"\ndata_dir = {:?}\n[uplink.webhook]\nurl = \"http://crmuser:crmpass@127.0.0.1:{crm_port}/hook/PATHTOKEN\"\ntimeout_s = 1\n\
         [[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"secret\"\n",
        dir.path().join("data"),
        ami.port()
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    let links = gateway.links();
    let mut shown = String::new();
    let timed_out = wait_until(Duration::from_secs(30), || {
        let down = links.snapshot().get("uplink:webhook").is_some_and(|l| {
            l.state == pbxgw::link::LinkState::Down
                && l.detail
                    .as_deref()
                    .is_some_and(|d| d.contains("no answer within"))
        });
        if down {
            shown = format!("{:?}", links.snapshot());
        }
        down
    })
    .await;
    assert!(
        timed_out,
        "the webhook link says it timed out: {:?}",
        links.snapshot()
    );
    // The PBX side keeps working while the CRM stalls.
    let stored = wait_until(Duration::from_secs(30), || {
        stored_events(&config)
            .iter()
            .filter(|e| e.kind == "call.ended")
            .count()
            == 35
    })
    .await;
    assert!(stored, "the PBX's calls are stored while the CRM stalls");
    assert!(shown.contains("http://127.0.0.1:"), "{shown}");
    for secret in ["crmpass", "crmuser", "PATHTOKEN"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    let started = std::time::Instant::now();
    gateway.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopped in {:?}",
        started.elapsed()
    );
}
