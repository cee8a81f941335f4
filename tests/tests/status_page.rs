//! The supervisor's view of a gateway fed by the real Asterisk capture, with the modem
//! simulator on a pty, SMS rules and a private Mosquitto: the status page rendered by a real
//! headless Chromium (Debian's `chromium`), the agents retained on MQTT `agent/{id}`, and the
//! per-agent day counts, the day report and the missed callers; then a missed caller called
//! back and texted from the page. Screenshots are kept as `status-page*.png` in the test's
//! temporary target directory (their paths are printed).
//!
//! Chromium, Mosquitto and the pty modem are native to the build host: x86_64 only.
#![cfg(target_arch = "x86_64")]

use std::collections::BTreeMap;
use std::time::Duration;

use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{
    free_port, http, stored_events, wait_until, Browser, Collector, Mosquitto,
};
use pbxgw_tests::sim::ami::{AmiSim, ReplayPlan};
use pbxgw_tests::sim::modem::{ModemSim, ModemSimOptions};
use serde_json::Value;

const TOKEN: &str = "status-page-token-0123456789";
/// The caller of the capture's call to 302 that pressed IVR digits.
const CALLER: &str = "+48224853154";

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The text of the element with `id` in a DOM dump (up to its closing tag), tags stripped and
/// white space collapsed.
fn element_text(dom: &str, id: &str, tag: &str) -> String {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .map_or(dom.len(), |e| start + e);
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_real_browser_shows_what_the_gateway_knows() {
    let broker = Mosquitto::start();
    let modem = ModemSim::start(ModemSimOptions::default())
        .expect("a modem simulator on a pseudo-terminal");
    let ami = AmiSim::replaying("gw", "secret", ReplayPlan::default())
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = format!(
        "[gateway]\nid = \"gw-page\"\ndata_dir = {:?}\n[api]\nbind = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n\
         [uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {}\n[modem]\nport = {:?}\n[sms]\nrate_per_minute = 100\n\
         [commands]\nallow = [\"call.originate\", \"sms.send\", \"call.hangup\", \"record.start\"]\n\
         [[sms.rule]]\nname = \"missed\"\non = \"missed_call\"\ntext = \"Oddzwonimy.\"\n\
         [[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"secret\"\nprobe_after_s = 1\n",
        dir.path().join("data"),
        broker.port(),
        modem.path,
        ami.port()
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    // The directory knows the caller before the calls come in.
    drop(pbxgw::store::open(&pbxgw::store::StoreOptions::from_config(&config)).unwrap());
    let contact = pbxgw::contacts::ContactInput {
        number: CALLER.into(),
        name: "Jan Kowalski".into(),
        company: Some("ACME".into()),
        note: Some("prefers mornings".into()),
    };
    let directory = pbxgw::contacts::Directory::open(&config.db_path(), config.sms.plan()).unwrap();
    directory.upsert(&contact, "api", 0).unwrap();
    // And the operator directory who answers at 302.
    let anna = pbxgw::contacts::operators::OperatorInput {
        id: "302".into(),
        name: "Anna Nowak".into(),
        team: Some("Obsługa".into()),
    };
    directory.upsert_operator(&anna, "api", 0).unwrap();

    let gateway = Gateway::start(&config).await.unwrap();
    let settled = wait_until(Duration::from_secs(60), || {
        let events = stored_events(&config);
        ami.log.lock().unwrap().replay_done
            && events.iter().filter(|e| e.kind == "call.ended").count() == 35
            && events.iter().any(|e| e.kind == "sms.sent")
    })
    .await;
    assert!(settled, "calls ended and a text went out");
    let t = Some(TOKEN);

    // Central sees every agent's latest state retained, the same as the local panel.
    let (_, body) = http(port, "GET", "/api/agents?since_ms=0", t, None).await;
    let agents = json(&body);
    let local: BTreeMap<String, Value> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["agent"].as_str().unwrap().to_owned(), a["state"].clone()))
        .collect();
    assert!(!local.is_empty());
    let drained = wait_until(Duration::from_secs(30), || {
        gateway
            .links()
            .snapshot()
            .get("uplink:mqtt")
            .is_some_and(|l| l.state == pbxgw::link::LinkState::Up)
            && pbxgw::store::StoreReader::open(&config.db_path())
                .and_then(|r| r.stats(&["mqtt".to_owned()]))
                .is_ok_and(|s| s.sinks.iter().all(|k| k.backlog == 0))
    })
    .await;
    assert!(drained, "the uplink caught up");
    let retained =
        Collector::start(broker.port(), "pbxgw/v1/gw-page/agent/#", "late-subscriber").await;
    let all_there = wait_until(Duration::from_secs(10), || {
        retained.messages().len() >= local.len()
    })
    .await;
    assert!(all_there, "{:?}", retained.messages());
    let central: BTreeMap<String, Value> = retained
        .messages()
        .into_iter()
        .map(|m| {
            (
                m.payload["agent"].as_str().unwrap().to_owned(),
                m.payload["state"].clone(),
            )
        })
        .collect();
    assert_eq!(central, local, "retained agent/{{id}} = the local panel");

    // Day counts: every counted call is one of the 35, answered and missed within it.
    let counts = agents["counts"].as_array().unwrap();
    let total: u64 = counts.iter().map(|c| c["calls"].as_u64().unwrap()).sum();
    assert!(total > 0 && total <= 35, "{counts:?}");
    for c in counts {
        let (calls, answered, missed) = (
            c["calls"].as_u64().unwrap(),
            c["answered"].as_u64().unwrap(),
            c["missed"].as_u64().unwrap(),
        );
        assert!(answered + missed <= calls, "{c}");
    }
    let a302 = counts
        .iter()
        .find(|c| c["agent"] == "302")
        .unwrap_or_else(|| panic!("302 counted: {counts:?}"));
    assert!(a302["answered"].as_u64().unwrap() >= 1, "{a302}");

    // The call to open in the page: the one of a text the rules sent.
    let (_, body) = http(port, "GET", "/api/sms", t, None).await;
    let texted = json(&body)["sms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| (s["state"] == "sent" || s["state"] == "delivered") && s["call_id"].is_string())
        .cloned()
        .expect("a text sent for a call");
    let call_id = texted["call_id"].as_str().unwrap().to_owned();

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let url = format!("http://127.0.0.1:{port}/#token={TOKEN}&call={call_id}");
    let mut page = Browser::open(&url).await;
    let shown = "document.querySelector('#detail-sms td') !== null \
                 && document.querySelector('#missed button.act') !== null \
                 && /pbx:asterisk (excellent|good|average|poor)/\
                    .test(document.getElementById('quality').textContent)";
    page.wait_for(shown, Duration::from_secs(30)).await;
    page.screenshot(&shot).await;
    println!("status page screenshot: {}", shot.display());
    let dom = page.eval("document.documentElement.outerHTML").await;
    let dom = dom.as_str().unwrap_or_default().to_owned();
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot"
    );
    assert!(!dom.contains(TOKEN), "the token is not left in the page");
    // What changes by itself came on the event stream: the page polled none of it.
    let polled = page
        .eval(
            "performance.getEntriesByType('resource')\
             .filter((e) => /\\/api\\/(status|agents|quality|calls\\?state=live)/.test(e.name)).length",
        )
        .await;
    assert_eq!(polled, 0, "no polls of what the stream carries");
    assert!(
        dom.contains(r#"data-led="pbx" data-pattern="on""#),
        "PBX LED solid"
    );
    assert!(
        dom.contains(r#"data-led="uplink" data-pattern="on""#),
        "uplink LED solid"
    );
    // Nothing was dropped or quarantined. The fault LED also lights for a nearly full disk,
    // which the machine running the test may have: then the page says so, and nothing else.
    let (_, body) = http(port, "GET", "/api/status", t, None).await;
    let reasons: Vec<String> = serde_json::from_value(json(&body)["fault"].clone()).unwrap();
    assert!(
        reasons.iter().all(|r| r.starts_with("disk low: ")),
        "{reasons:?}"
    );
    if reasons.is_empty() {
        assert!(
            dom.contains(r#"data-led="fault" data-pattern="off""#),
            "no fault"
        );
    } else {
        println!("this machine's disk is low: {reasons:?}");
        assert!(dom.contains(r#"data-led="fault" data-pattern="on""#));
        assert!(element_text(&dom, "fault", "p").contains("disk low: "));
    }
    let links = element_text(&dom, "links", "table");
    for part in ["pbx:asterisk", "uplink:mqtt", "modem", "up"] {
        assert!(links.contains(part), "links lack {part}: {links}");
    }
    assert!(dom.contains("<svg class=\"chart\""), "a quality chart");
    let quality = element_text(&dom, "quality", "section");
    assert!(
        ["excellent", "good", "average", "poor"]
            .iter()
            .any(|q| quality.contains(&format!("pbx:asterisk {q}"))),
        "{quality}"
    );
    let journal = element_text(&dom, "journal", "table");
    assert!(
        journal.contains("Jan Kowalski") && journal.contains("(ACME)"),
        "{journal}"
    );
    assert!(journal.contains("answered"), "{journal}");
    let panel = element_text(&dom, "agents", "table");
    assert!(
        panel.contains("calls today") && panel.contains("Anna Nowak (Obsługa) 302"),
        "{panel}"
    );
    assert!(journal.contains("Anna Nowak"), "{journal}");
    // With a directory the panel lists its operators and the agents the PBX reports states
    // for; whatever else a call rang stays off it.
    let stated: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["agent"].as_str())
        .collect();
    for other in counts
        .iter()
        .filter_map(|c| c["agent"].as_str())
        .filter(|id| *id != "302" && !stated.contains(id))
    {
        let html = &dom[dom.find("id=\"agents\"").unwrap()..];
        let html = &html[..html.find("</table>").unwrap_or(html.len())];
        assert!(
            !html.contains(&format!("<td>{other}</td>")),
            "{other} on the panel: {panel}"
        );
    }
    assert!(
        !dom.contains(r#"id="detail-box" hidden"#),
        "the call's detail is open"
    );
    let events = element_text(&dom, "detail-events", "table");
    assert!(
        events.contains("call.started") && events.contains("call.ended"),
        "{events}"
    );
    let texts = element_text(&dom, "detail-sms", "table");
    assert!(
        texts.contains(texted["destination"].as_str().unwrap()) && texts.contains("Oddzwonimy."),
        "{texts}"
    );
    let contacts = element_text(&dom, "contacts", "table");
    assert!(
        contacts.contains("Jan Kowalski") && contacts.contains(CALLER),
        "{contacts}"
    );
    let report = element_text(&dom, "report-box", "section");
    let (_, body) = http(port, "GET", "/api/report", t, None).await;
    let totals = &json(&body)["totals"];
    assert!(
        report.contains(&format!("calls {}", totals["calls"]))
            && report.contains(&format!("missed {}", totals["missed"])),
        "the day's figures: {report}"
    );
    assert!(element_text(&dom, "report-agents", "table").contains("Anna Nowak (Obsługa) 302"));
    let missed = element_text(&dom, "missed", "table");
    assert!(
        missed.contains("open") && missed.contains("Call back"),
        "{missed}"
    );

    // The contact's note is on the detail of the caller's call.
    page.eval(
        "[...document.querySelectorAll('#journal tr.pick')]\
         .find((tr) => tr.textContent.includes('Jan Kowalski')).click()",
    )
    .await;
    page.wait_for(
        "!document.getElementById('detail-contact').hidden",
        Duration::from_secs(10),
    )
    .await;
    let note = page
        .eval("document.getElementById('detail-contact').textContent")
        .await;
    assert_eq!(note, "Note on Jan Kowalski: prefers mornings");

    act_from_the_desk(&mut page, port, &ami, &modem).await;
    act_on_a_live_call(&mut page, &gateway, &ami).await;
    gateway.stop().await;
}

/// The supervisor calls a missed caller back and texts it from the page, in a real browser:
/// each asks for a confirmation, runs as the gateway's command, and shows its answer; the
/// Originate reaches the (fake) Asterisk and the text the modem on the pty.
async fn act_from_the_desk(page: &mut Browser, port: u16, ami: &AmiSim, modem: &ModemSim) {
    let call_back = "document.querySelector('#missed button.act[data-act=call]')";
    page.wait_for(&format!("{call_back} !== null"), Duration::from_secs(30))
        .await;
    let number = page.eval(&format!("{call_back}.dataset.number")).await;
    let number = number.as_str().unwrap().to_owned();

    page.eval(&format!("{call_back}.click()")).await;
    page.wait_for(
        "document.getElementById('confirm').open",
        Duration::from_secs(5),
    )
    .await;
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page-confirm.png");
    page.screenshot(&shot).await;
    println!("confirmation screenshot: {}", shot.display());
    page.eval("document.getElementById('confirm-extension').value = '201'; document.getElementById('confirm-yes').click()")
        .await;
    let result = "document.getElementById('action-result').textContent";
    page.wait_for(
        &format!("{result}.startsWith('call to')"),
        Duration::from_secs(15),
    )
    .await;
    let shown = page.eval(result).await;
    assert_eq!(shown, format!("call to {number}: done"), "{shown}");
    let originated = ami.log.lock().unwrap().actions.iter().any(|a| {
        a.get("Action") == Some("Originate")
            && a.get("Channel").is_some_and(|c| c.ends_with("/201"))
            && a.get("Exten")
                .is_some_and(|e| e.ends_with(&number[number.len() - 9..]))
    });
    assert!(originated, "{:?}", ami.log.lock().unwrap().actions);

    let sent_before = modem.log.lock().unwrap().pdus.len();
    let text = "document.querySelector('#missed button.act[data-act=sms]')";
    page.eval(&format!("{text}.click()")).await;
    page.wait_for(
        "document.getElementById('confirm').open",
        Duration::from_secs(5),
    )
    .await;
    page.eval("document.getElementById('confirm-text').value = 'Oddzwonimy jutro rano.'; document.getElementById('confirm-yes').click()")
        .await;
    page.wait_for(
        &format!("{result}.startsWith('text to')"),
        Duration::from_secs(15),
    )
    .await;
    let shown = page.eval(result).await;
    assert!(
        shown
            .as_str()
            .unwrap_or_default()
            .contains(": done (queued as #"),
        "{shown}"
    );
    let reached = wait_until(Duration::from_secs(30), || {
        modem.log.lock().unwrap().pdus.len() > sent_before
    })
    .await;
    assert!(reached, "the text reached the modem");
    let (_, body) = http(port, "GET", "/api/sms", Some(TOKEN), None).await;
    let queued = json(&body)["sms"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["text"] == "Oddzwonimy jutro rano.");
    assert!(queued, "{body}");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page-desk.png");
    page.screenshot(&shot).await;
    println!("desk screenshot: {}", shot.display());
}

/// A live call's detail has hang-up and record buttons naming the PBX's channel; each asks,
/// runs as the gateway's command and shows the PBX's typed answer (the simulator knows no such
/// channel: Asterisk's "No such channel" refusal comes back as it would).
async fn act_on_a_live_call(page: &mut Browser, gateway: &Gateway, ami: &AmiSim) {
    let channel = "PJSIP/205-000000aa";
    let started = pbxgw::calls::CallEvent {
        ts_ms: pbxgw::clock::now_ms(),
        source: pbxgw::calls::Source::Ami,
        pbx: "asterisk".into(),
        call_id: Some("desk-live-1".into()),
        raw: Some(format!(
            "Event: Newchannel\r\nChannel: {channel}\r\nCallerIDNum: 205\r\nUniqueid: desk-live-1"
        )),
        body: pbxgw::calls::EventBody::CallStarted(pbxgw::calls::CallStarted {
            direction: pbxgw::calls::Direction::Internal,
            caller: Some("205".into()),
            callee: Some("206".into()),
        }),
    };
    gateway.appender().submit(started).await.unwrap();
    page.eval("showDetail('desk-live-1')").await;
    let hang_up = "document.querySelector('#detail-actions button[data-act=hangup]')";
    page.wait_for(&format!("{hang_up} !== null"), Duration::from_secs(10))
        .await;
    let result = "document.getElementById('action-result').textContent";
    for (button, action, label) in [
        ("hangup", "Hangup", "hang-up"),
        ("record", "MixMonitor", "recording"),
    ] {
        page.eval(&format!(
            "document.querySelector('#detail-actions button[data-act={button}]').click()"
        ))
        .await;
        page.wait_for(
            "document.getElementById('confirm').open",
            Duration::from_secs(5),
        )
        .await;
        page.eval("document.getElementById('confirm-yes').click()")
            .await;
        page.wait_for(
            &format!("{result}.startsWith('{label}:')"),
            Duration::from_secs(15),
        )
        .await;
        let shown = page.eval(result).await;
        assert_eq!(
            shown,
            format!("{label}: refused — refused: No such channel"),
            "{shown}"
        );
        let reached = ami
            .log
            .lock()
            .unwrap()
            .actions
            .iter()
            .any(|a| a.get("Action") == Some(action) && a.get("Channel") == Some(channel));
        assert!(reached, "{action} on {channel}");
    }
}
