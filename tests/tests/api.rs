//! The local HTTP API of a running gateway fed by the real Asterisk capture: health without a
//! token, everything else only with it; status, call journal with filters, one call with its
//! events, the event log, the SMS queue (and queuing a text), Prometheus metrics.

use std::time::Duration;

use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{bin_path, free_port, http, request, stored_events, wait_until};
use pbxgw_tests::sim::ami::{AmiSim, ReplayPlan};
use serde_json::Value;

const TOKEN: &str = "0123456789abcdef-api-token";

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A gateway with its API on a free port, fed the whole Asterisk capture (35 calls).
struct Fed {
    _ami: AmiSim,
    dir: tempfile::TempDir,
    port: u16,
    gateway: Gateway,
}

async fn fed_gateway() -> Fed {
    let ami = AmiSim::replaying("gw", "secret", ReplayPlan::default())
        .await
        .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = format!(
        "[gateway]\nid = \"gw-api\"\ndata_dir = {:?}\n[api]\nbind = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n\
         [[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"secret\"\nprobe_after_s = 1\n\
         recording_url_base = \"https://rec.example.com/r\"\nrecording_dir = \"/var/spool/asterisk/record\"\n",
        dir.path().join("data"),
        ami.port()
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    let settled = wait_until(Duration::from_secs(30), || {
        let events = stored_events(&config);
        ami.log.lock().unwrap().replay_done
            && events.iter().filter(|e| e.kind == "call.ended").count() == 35
    })
    .await;
    assert!(settled);
    let config_path = dir.path().join("pbxgw.toml");
    std::fs::write(&config_path, &text).unwrap();
    Fed {
        _ami: ami,
        dir,
        port,
        gateway,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_api_answers_with_the_token_only() {
    let fed = fed_gateway().await;
    let port = fed.port;
    let (code, body) = http(port, "GET", "/health", None, None).await;
    assert_eq!((code, json(&body)["ok"].clone()), (200, Value::Bool(true)));
    for path in ["/api/status", "/api/calls", "/metrics", "/api/sms"] {
        assert_eq!(
            http(port, "GET", path, None, None).await.0,
            401,
            "{path} without a token"
        );
        assert_eq!(
            http(port, "GET", path, Some("wrong-token-wrong-token"), None)
                .await
                .0,
            401,
            "{path} with a wrong one"
        );
    }
    let t = Some(TOKEN);
    let (code, body) = http(port, "GET", "/api/status", t, None).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["links"]["pbx:asterisk"]["state"], "up");
    assert!(!body.contains("secret"), "no secret in a response");

    let (_, body) = http(port, "GET", "/api/calls?limit=500", t, None).await;
    assert_eq!(json(&body)["calls"].as_array().unwrap().len(), 35);
    let (_, body) = http(port, "GET", "/api/calls?number=48224853154", t, None).await;
    let calls = json(&body)["calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 1, "{body}");
    assert_eq!(calls[0]["extension"], "302");
    let (_, body) = http(port, "GET", "/api/calls?extension=301", t, None).await;
    assert_eq!(json(&body)["calls"].as_array().unwrap().len(), 3, "{body}");
    assert_eq!(calls[0]["rang"][0]["extension"], "302");
    assert_eq!(calls[0]["rang"][0]["answered"], true);
    // 211 never answered: its two missed calls are found by the phone that rang.
    let (_, body) = http(port, "GET", "/api/calls?extension=211", t, None).await;
    let missed = json(&body)["calls"].as_array().unwrap().clone();
    assert_eq!(missed.len(), 2, "{body}");
    assert!(missed.iter().all(|c| c["disposition"] == "no-answer"
        && c["extension"].is_null()
        && c["rang"][0]["extension"] == "211"
        && c["rang"][0]["answered"] == false));
    // Every filter filters; a typo or a value nothing has is refused by name, never ignored.
    let count = |body: &str| json(body)["calls"].as_array().map_or(0, Vec::len);
    for (query, expected) in [
        ("disposition=no-answer", 2),
        ("disposition=busy", 2),
        ("direction=outbound", 0),
        ("direction=internal", 1),
        ("direction=inbound&disposition=abandoned&queue=overflow", 2),
        ("queue=sales", 5),
        ("agent=302", 2),
    ] {
        let (code, body) = http(port, "GET", &format!("/api/calls?{query}"), t, None).await;
        assert_eq!((code, count(&body)), (200, expected), "{query}: {body}");
    }
    for (query, named) in [
        (
            "disposition=missed",
            "disposition = \"missed\" is none of: answered, no-answer",
        ),
        ("direction=in", "direction = \"in\" is none of: inbound"),
        ("extention=211", "unknown field `extention`"),
    ] {
        let (code, body) = http(port, "GET", &format!("/api/calls?{query}"), t, None).await;
        let message = json(&body)["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(code, 400, "{query}: {body}");
        assert!(message.contains(named), "{query}: {message}");
    }
    // Paging by cursor: pages of 4 give each of the 35 calls once, newest first.
    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut path = "/api/calls?limit=4".to_owned();
    loop {
        let (_, body) = http(port, "GET", &path, t, None).await;
        let page = json(&body);
        for c in page["calls"].as_array().unwrap() {
            let id = c["call_id"].as_str().unwrap().to_owned();
            seen.push((c["started_ms"].as_i64().unwrap(), id));
        }
        let Some(next) = page["next"].as_object() else {
            break;
        };
        path = format!(
            "/api/calls?limit=4&before_ms={}&before_id={}",
            next["before_ms"],
            next["before_id"].as_str().unwrap()
        );
    }
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!((seen.len(), &seen), (35, &sorted));

    // The report agrees with a count over the journal, figure by figure.
    let (_, body) = http(port, "GET", "/api/calls?limit=500&state=ended", t, None).await;
    let journal = json(&body)["calls"].as_array().unwrap().clone();
    let (_, body) = http(port, "GET", "/api/report?from=0", t, None).await;
    let report = json(&body);
    let journal_count = |f: &dyn Fn(&Value) -> bool| journal.iter().filter(|c| f(c)).count();
    let missed = |c: &Value| {
        ["no-answer", "busy", "abandoned"].contains(&c["disposition"].as_str().unwrap_or(""))
    };
    let totals = &report["totals"];
    assert_eq!(totals["calls"], journal.len());
    assert_eq!(
        totals["answered"],
        journal_count(&|c| c["disposition"] == "answered")
    );
    assert_eq!(
        totals["inbound"],
        journal_count(&|c| c["direction"] == "inbound")
    );
    assert_eq!(
        totals["missed"],
        journal_count(&|c| c["direction"] == "inbound" && missed(c))
    );
    assert_eq!(
        (totals["calls"].as_u64(), totals["missed"].as_u64()),
        (Some(35), Some(6))
    );
    let hours: u64 = report["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(hours, 35);
    let (_, body) = http(port, "GET", "/api/agents?since_ms=0", t, None).await;
    assert_eq!(report["agents"], json(&body)["counts"]);
    let sales = report["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "sales")
        .unwrap();
    assert_eq!(
        (sales["offered"].as_u64(), sales["answered"].as_u64()),
        (
            Some(5),
            Some(
                journal_count(&|c| c["queue"] == "sales" && c["disposition"] == "answered") as u64
            )
        )
    );
    // The missed callers are the report's missed calls; the capture has no callback, so all
    // are open.
    let (_, body) = http(port, "GET", "/api/missed?from=0", t, None).await;
    let missed_view = json(&body);
    let callers = missed_view["callers"].as_array().unwrap();
    let tries: u64 = callers.iter().map(|c| c["tries"].as_u64().unwrap()).sum();
    assert_eq!(Some(tries), totals["missed"].as_u64(), "{body}");
    assert_eq!(missed_view["open"].as_u64(), Some(callers.len() as u64));
    assert_eq!(report["callbacks"]["open"], missed_view["open"]);
    assert_eq!(report["callbacks"]["closed"], 0);
    for bad in [
        "report?from=10&to=5",
        "report?form=0",
        "missed?to=0&from=1",
        "missed?x=1",
    ] {
        let (code, body) = http(port, "GET", &format!("/api/{bad}"), t, None).await;
        assert_eq!(code, 400, "{bad}: {body}");
    }
    let id = calls[0]["call_id"].as_str().unwrap().to_owned();
    let (code, body) = http(port, "GET", &format!("/api/calls/{id}"), t, None).await;
    assert_eq!(code, 200, "{body}");
    let detail = json(&body);
    assert_eq!(detail["call"]["caller"], "+48224853154");
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"call.started"));
    assert_eq!(kinds.last(), Some(&"call.ended"));
    assert!(kinds.contains(&"call.dtmf"));
    assert_eq!(
        http(port, "GET", "/api/calls/no-such-call", t, None)
            .await
            .0,
        404
    );

    let (_, body) = http(port, "GET", "/api/events?since=0&limit=5", t, None).await;
    let events = json(&body)["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["seq"], 1);

    // sms.send is not enabled in [commands] here: refused, typed.
    let (code, body) = http(
        port,
        "POST",
        "/api/sms",
        t,
        Some(r#"{"to":"601234567","text":"x"}"#),
    )
    .await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (403, Value::from("not_allowed")),
        "{body}"
    );
    let (_, body) = http(port, "GET", "/api/sms", t, None).await;
    assert_eq!(json(&body)["sms"].as_array().unwrap().len(), 0);
    // Any command runs as on MQTT, refused the same typed way.
    for (name, status, code) in [
        ("call.originate", 403, "not_allowed"),
        ("no.such", 501, "unsupported"),
    ] {
        let body = r#"{"extension":"201","number":"601234567"}"#;
        let path = format!("/api/commands/{name}");
        let (got, answer) = http(port, "POST", &path, t, Some(body)).await;
        assert_eq!(
            (got, json(&answer)["error"]["code"].clone()),
            (status, Value::from(code)),
            "{name}: {answer}"
        );
    }

    let (_, body) = http(port, "GET", "/api/agents", t, None).await;
    let agents = json(&body)["agents"].as_array().unwrap().clone();
    let a302 = agents
        .iter()
        .find(|a| a["agent"] == "302")
        .expect("agent 302 on the panel");
    assert!(a302["state"].is_string(), "{a302}");
    // The page itself: no token needed, no secret in it, and it reads the JSON above.
    let (code, page) = http(port, "GET", "/", None, None).await;
    assert_eq!(code, 200);
    assert!(!page.contains(TOKEN));
    for part in ["/api/stream", "/api/sms", "/api/calls/", "id=\"journal\""] {
        assert!(page.contains(part), "the page lacks {part}");
    }
    // AMI Pings every second here: the link's round trips are on record.
    let mut body = String::new();
    for _ in 0..50 {
        body = http(port, "GET", "/api/quality", t, None).await.1;
        if json(&body)["now"]["pbx:asterisk"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let q = json(&body);
    // Measured, and classified by its round trip (how fast depends on this machine).
    let last = q["history"]["pbx:asterisk"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let rtt = last["rtt_ms"]
        .as_u64()
        .map(std::time::Duration::from_millis);
    assert!(rtt.is_some(), "{body}");
    assert_eq!(
        last["quality"],
        serde_json::json!(pbxgw::link::quality::Quality::of(rtt)),
        "{body}"
    );
    assert!(!q["history"]["pbx:asterisk"].as_array().unwrap().is_empty());
    let (code, metrics) = http(port, "GET", "/metrics", t, None).await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("# TYPE pbxgw_events_stored_total counter")
            && metrics.contains("pbxgw_events_stored_total "),
        "{metrics}"
    );
    for name in [
        "pbxgw_build_info{",
        "pbxgw_events_dropped_total 0",
        "pbxgw_database_size_bytes ",
        "pbxgw_sms_texts{state=\"queued\"}",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
    pbxgw_tests::harness::promtool_check_metrics(&metrics);
    assert!(
        metrics.contains("pbxgw_link_up{link=\"pbx:asterisk\"} 1"),
        "{metrics}"
    );
    fed.gateway.stop().await;
}

fn csv_rows(body: &[u8], separator: u8) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(body).expect("UTF-8");
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a BOM first, so a spreadsheet reads UTF-8");
    csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a CSV row").iter().map(str::to_owned).collect())
        .collect()
}

/// The journal and the report as a spreadsheet gets them, from the API and from
/// `pbxgw calls export`: the same calls as the JSON journal, in its order; the report's
/// tables with the JSON report's figures; filters and refusals as the JSON routes have them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_and_the_report_download_as_csv() {
    let fed = fed_gateway().await;
    let (port, t) = (fed.port, Some(TOKEN));
    let (_, body) = http(port, "GET", "/api/calls?limit=500", t, None).await;
    let journal = json(&body)["calls"].as_array().unwrap().clone();
    let ids: Vec<&str> = journal
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();

    let response = request(port, "GET", "/api/calls.csv?sep=semicolon", t, None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"calls.csv\"")
    );
    let rows = csv_rows(&response.body, b';');
    let column = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let csv_ids: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r[column("call_id")].as_str())
        .collect();
    assert_eq!(csv_ids, ids);
    let first = &rows[1];
    assert_eq!(
        first[column("caller")],
        journal[0]["caller"].as_str().unwrap_or("")
    );
    assert_eq!(
        first[column("disposition")],
        journal[0]["disposition"].as_str().unwrap_or("")
    );
    assert!(rows[1..].iter().all(|r| r.len() == rows[0].len()));

    // The JSON journal's filters, and its refusals by name.
    let response = request(port, "GET", "/api/calls.csv?extension=211", t, None).await;
    let rows = csv_rows(&response.body, b',');
    assert_eq!(rows.len(), 3, "a header and 211's two missed calls");
    assert!(rows[1..]
        .iter()
        .all(|r| r[column("disposition")] == "no-answer" && r[column("rang")] == "211"));
    for (query, named) in [
        ("extention=211", "unknown field `extention`"),
        ("sep=pipe", "comma, semicolon, tab"),
        ("disposition=missed", "is none of"),
    ] {
        let (code, body) = http(port, "GET", &format!("/api/calls.csv?{query}"), t, None).await;
        assert_eq!(code, 400, "{query}: {body}");
        assert!(body.contains(named), "{query}: {body}");
    }
    assert_eq!(http(port, "GET", "/api/calls.csv", None, None).await.0, 401);

    // The report's agents and totals, figure for figure.
    let (_, body) = http(port, "GET", "/api/report?from=0", t, None).await;
    let report = json(&body);
    let response = request(port, "GET", "/api/report.csv?from=0&table=agents", t, None).await;
    let rows = csv_rows(&response.body, b',');
    assert_eq!(
        rows[0],
        [
            "agent",
            "calls",
            "answered",
            "missed",
            "talk_s",
            "avg_ring_s"
        ]
    );
    let agents = report["agents"].as_array().unwrap();
    assert_eq!(rows.len(), agents.len() + 1);
    for (row, agent) in rows[1..].iter().zip(agents) {
        assert_eq!(row[0], agent["agent"].as_str().unwrap());
        assert_eq!(row[1], agent["calls"].to_string());
        assert_eq!(row[3], agent["missed"].to_string());
    }
    let response = request(
        port,
        "GET",
        "/api/report.csv?from=0&table=totals&sep=tab",
        t,
        None,
    )
    .await;
    let rows = csv_rows(&response.body, b'\t');
    let total = |name: &str| rows[1][rows[0].iter().position(|c| c == name).unwrap()].clone();
    assert_eq!(total("calls"), report["totals"]["calls"].to_string());
    assert_eq!(total("missed"), report["totals"]["missed"].to_string());
    let (code, body) = http(port, "GET", "/api/report.csv?table=people", t, None).await;
    assert_eq!(code, 400, "{body}");

    // The command line writes the same journal (its binary is built for the build host).
    #[cfg(target_arch = "x86_64")]
    the_command_line_exports_the_same(&fed, &column("call_id"), &ids, &report);
    fed.gateway.stop().await;
}

/// `pbxgw calls export` on the fed gateway's database: the journal's calls in its order, and
/// the report's queues table.
#[cfg(target_arch = "x86_64")]
fn the_command_line_exports_the_same(fed: &Fed, call_id: &usize, ids: &[&str], report: &Value) {
    let out = fed.dir.path().join("calls.csv");
    let done = std::process::Command::new(bin_path("pbxgw"))
        .args([
            "calls",
            "export",
            "--from",
            "2000-01-01",
            "--to",
            "2099-12-31",
        ])
        .args(["--sep", "semicolon", "-o"])
        .arg(&out)
        .arg("-c")
        .arg(fed.dir.path().join("pbxgw.toml"))
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let rows = csv_rows(&std::fs::read(&out).unwrap(), b';');
    let cli_ids: Vec<&str> = rows[1..].iter().map(|r| r[*call_id].as_str()).collect();
    assert_eq!(cli_ids, ids);
    let done = std::process::Command::new(bin_path("pbxgw"))
        .args([
            "calls",
            "export",
            "--report",
            "queues",
            "--from",
            "2000-01-01",
            "--to",
            "2099-12-31",
        ])
        .arg("-c")
        .arg(fed.dir.path().join("pbxgw.toml"))
        .output()
        .unwrap();
    let rows = csv_rows(&done.stdout, b',');
    assert_eq!(rows.len(), report["queues"].as_array().unwrap().len() + 1);
    let done = std::process::Command::new(bin_path("pbxgw"))
        .args(["calls", "export", "--from", "2026-13-01"])
        .arg("-c")
        .arg(fed.dir.path().join("pbxgw.toml"))
        .output()
        .unwrap();
    assert!(!done.status.success());
    assert!(String::from_utf8_lossy(&done.stderr).contains("YYYY-MM-DD"));
}

/// The operator directory through the API: one edited, a spreadsheet's CSV imported with a
/// bad row named, both on the agents panel's answer; and the note of a caller's contact on
/// the call's detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_and_contact_notes_reach_the_desk() {
    let fed = fed_gateway().await;
    let (port, t) = (fed.port, Some(TOKEN));
    let put = r#"{"name":"Anna Nowak","team":"Obsługa"}"#;
    let (code, body) = http(port, "PUT", "/api/operators/302", t, Some(put)).await;
    assert_eq!(code, 201, "{body}");
    let (code, _) = http(port, "PUT", "/api/operators/302", t, Some(put)).await;
    assert_eq!(code, 200);
    let (code, body) = http(port, "PUT", "/api/operators/3%2002", t, Some(put)).await;
    assert_eq!(
        (code, json(&body)["error"]["code"].clone()),
        (422, Value::from("bad_request")),
        "{body}"
    );
    let csv = "Extension;Name;Team\n210;Jan Wiśniewski;Sprzedaż\n;No Id;x\n211;Ewa Zielińska;\n";
    let (code, body) = http(port, "POST", "/api/operators.csv", t, Some(csv)).await;
    assert_eq!(code, 200, "{body}");
    let import = json(&body)["import"].clone();
    assert_eq!(
        (import["added"].clone(), import["updated"].clone()),
        (2.into(), 0.into())
    );
    assert_eq!(
        import["skipped"][0],
        "line 3: the extension or agent id is empty"
    );
    let (code, body) = http(port, "POST", "/api/operators.csv", t, Some("who\nx\n")).await;
    assert_eq!(code, 400, "{body}");

    let (_, body) = http(port, "GET", "/api/agents", t, None).await;
    let operators = json(&body)["operators"].clone();
    let named: Vec<(&str, &str)> = operators
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap(), o["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named,
        [
            ("302", "Anna Nowak"),
            ("210", "Jan Wiśniewski"),
            ("211", "Ewa Zielińska")
        ]
    );
    assert_eq!(
        http(port, "DELETE", "/api/operators/211", t, None).await.0,
        204
    );
    assert_eq!(
        http(port, "DELETE", "/api/operators/211", t, None).await.0,
        404
    );
    let (_, body) = http(port, "GET", "/api/operators", t, None).await;
    assert_eq!(json(&body)["operators"].as_array().unwrap().len(), 2);

    // A contact's note shows on the detail of a call with that number.
    let (_, body) = http(port, "GET", "/api/calls?direction=inbound&limit=1", t, None).await;
    let call = json(&body)["calls"][0].clone();
    let caller = call["caller"]
        .as_str()
        .expect("an inbound call with a caller");
    let contact = r#"{"name":"Jan Kowalski","note":"prefers mornings"}"#;
    let path = format!("/api/contacts/{caller}");
    let (code, body) = http(port, "PUT", &path, t, Some(contact)).await;
    assert!(code == 200 || code == 201, "{code} {body}");
    let detail = format!("/api/calls/{}", call["call_id"].as_str().unwrap());
    let (_, body) = http(port, "GET", &detail, t, None).await;
    assert_eq!(json(&body)["contact"]["note"], "prefers mornings", "{body}");
    fed.gateway.stop().await;
}

/// A recorded call's record links its file below `recording_dir` at `recording_url_base`
/// (the capture's MixMonitor writes to /var/spool/asterisk/record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_calls_carry_a_link_central_can_open() {
    let fed = fed_gateway().await;
    let (port, t) = (fed.port, Some(TOKEN));
    let (_, body) = http(port, "GET", "/api/events?since=0&limit=1000", t, None).await;
    let ended: Vec<Value> = json(&body)["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "call.ended" && e["recording"].is_string())
        .cloned()
        .collect();
    assert!(!ended.is_empty(), "the capture records calls");
    for e in &ended {
        let file = e["recording"].as_str().unwrap();
        let name = file
            .strip_prefix("/var/spool/asterisk/record/")
            .expect(file);
        assert_eq!(
            e["recording_url"],
            format!("https://rec.example.com/r/{name}"),
            "{e}"
        );
    }
    fed.gateway.stop().await;
}

/// Reads a response's frames from a raw connection until `count` snapshot events came.
async fn snapshots(stream: &mut tokio::net::TcpStream, count: usize) -> Vec<Value> {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    let mut buf = [0u8; 65536];
    let mut found = Vec::new();
    while found.len() < count {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf))
            .await
            .expect("a snapshot within 20 s")
            .unwrap();
        assert!(n > 0, "the stream ended: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        found = text
            .split("event: snapshot\ndata: ")
            .skip(1)
            .filter_map(|f| f.split_once('\n').map(|(line, _)| line))
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
    }
    found
}

/// The page's event stream: a snapshot at once (status, live calls, agents, the quality
/// history), a new one when something is stored, and at most 8 streams at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_pushes_snapshots_and_is_bounded() {
    use tokio::io::AsyncWriteExt;
    let fed = fed_gateway().await;
    let open = || async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", fed.port))
            .await
            .unwrap();
        let head = format!(
            "GET /api/stream?since_ms=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s
    };
    let mut first = open().await;
    let snap = snapshots(&mut first, 1).await.remove(0);
    assert_eq!(snap["status"]["gw"], "gw-api", "{snap}");
    assert!(snap["live"]["calls"].is_array());
    assert!(snap["agents"]["counts"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    assert!(snap["quality"]["added"].is_object() && snap["quality"]["now"].is_object());
    let seq = snap["seq"].as_u64().unwrap();

    // Something stored: a new snapshot says so.
    let text = pbxgw::calls::CallEvent {
        ts_ms: 1,
        source: pbxgw::calls::Source::Gateway,
        pbx: "gateway".into(),
        call_id: None,
        raw: None,
        body: pbxgw::calls::EventBody::LinkState(pbxgw::calls::LinkStateChanged {
            link: "test".into(),
            state: pbxgw::link::LinkState::Up,
            detail: None,
        }),
    };
    fed.gateway.appender().submit(text).await.unwrap();
    let later = snapshots(&mut first, 2).await;
    assert!(
        later[1]["seq"].as_u64().unwrap() > seq,
        "{}",
        later[1]["seq"]
    );

    // Seven more fit; the ninth is refused, typed.
    let mut held = Vec::new();
    for _ in 0..7 {
        let mut s = open().await;
        snapshots(&mut s, 1).await;
        held.push(s);
    }
    let (code, body) = http(fed.port, "GET", "/api/stream", Some(TOKEN), None).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(json(&body)["error"]["code"], "busy");
    // A closed stream frees its place.
    drop(held.pop());
    let mut again = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut s = open().await;
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
        if n.is_ok_and(|n| n.is_ok_and(|n| String::from_utf8_lossy(&buf[..n]).contains(" 200 "))) {
            again = true;
            break;
        }
    }
    assert!(again, "a place again once a stream closed");
    fed.gateway.stop().await;
}
