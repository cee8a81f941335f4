//! The inputs that killed, blinded or filled the box (issue 17), replayed against a gateway
//! process: it stays up, its memory stays bounded, the other links keep working and every
//! rejection is counted.
#![cfg(target_arch = "x86_64")]

use std::time::Duration;

use pbxgw_tests::harness::{free_port, http, peak_rss_kb, wait_for_port, wait_until, GatewayProc};
use pbxgw_tests::sim::ari::{AriSim, AriSimOptions};
use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};
use serde_json::Value;

const TOKEN: &str = "hostile-inputs-api-token";
/// Peak RSS allowed to the (debug) gateway through every attack here.
const RSS_BOUND_KB: u64 = 96 * 1024;

struct Gw {
    proc: GatewayProc,
    api: u16,
    _dir: tempfile::TempDir,
}

impl Gw {
    /// A gateway process with the local API and the given `[[pbx]]` blocks.
    fn start(pbx: &str) -> Gw {
        let dir = tempfile::tempdir().unwrap();
        let api = free_port();
        let config = dir.path().join("pbxgw.toml");
        std::fs::write(
            &config,
            format!(
                "[gateway]\nid = \"hostile\"\ndata_dir = {:?}\n[api]\nbind = \"127.0.0.1:{api}\"\ntoken = \"{TOKEN}\"\n{pbx}",
                dir.path().join("data")
            ),
        )
        .unwrap();
        let proc = GatewayProc::run_with_nofile(&config, &dir.path().join("log"), 1024);
        assert!(
            wait_for_port(api, Duration::from_secs(30)),
            "the API listens"
        );
        Gw {
            proc,
            api,
            _dir: dir,
        }
    }

    async fn status(&self) -> Value {
        let (code, body) = http(self.api, "GET", "/api/status", Some(TOKEN), None).await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn counter(&self, name: &str) -> u64 {
        self.status().await["counters"][name].as_u64().unwrap_or(0)
    }

    /// Up, never panicked, within the memory bound.
    fn assert_alive(&mut self) {
        assert!(
            self.proc.is_running(),
            "the gateway died:\n{}",
            self.proc.log()
        );
        let log = self.proc.log();
        assert!(!log.contains("panicked"), "{log}");
        let rss = peak_rss_kb(self.proc.pid().unwrap());
        assert!(rss < RSS_BOUND_KB, "peak RSS {rss} KiB");
    }
}

async fn link_state(gw: &Gw, link: &str) -> String {
    gw.status().await["links"][link]["state"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ctip_line_in_the_pbx_code_page_and_api_bodies_that_are_not_objects() {
    let mut lines = vec![
        "aSTAT  \u{a5}\u{a5}".to_owned(),
        "aUTAG  \u{a5}\u{a5} x".to_owned(),
    ];
    lines.extend(CtipSimOptions::new("1234").real_stream(60).lines);
    let sim = CtipSim::start(CtipSimOptions {
        lines,
        replay_on_reconnect: true,
        ..CtipSimOptions::new("1234")
    })
    .await
    .unwrap();
    let mut gw = Gw::start(&format!(
        "[[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {}\npin = \"1234\"\n",
        sim.port()
    ));
    let calls = wait_until(Duration::from_secs(30), || {
        let (code, body) = futures_block(http(gw.api, "GET", "/api/calls", Some(TOKEN), None));
        code == 200 && body.contains("\"call_id\"")
    })
    .await;
    assert!(calls, "the lines after the bad ones became calls");
    assert_eq!(link_state(&gw, "pbx:slican").await, "up");
    for body in ["[1]", "\"x\"", "5", "true", "{", ""] {
        let (code, answer) = http(gw.api, "POST", "/api/sms", Some(TOKEN), Some(body)).await;
        assert_eq!(code, 400, "{body:?} -> {answer}");
        assert!(answer.contains("bad_request"), "{answer}");
    }
    assert_eq!(http(gw.api, "GET", "/health", None, None).await.0, 200);
    every_route_with_values_no_client_sends(&gw).await;
    gw.assert_alive();
}

/// Each route of the API with path, query and body values of other types and contents:
/// a typed answer every time (never a 5xx), and the box lives on.
async fn every_route_with_values_no_client_sends(gw: &Gw) {
    let texts = [
        "",
        "%00",
        "%FF%FE",
        "-1",
        "18446744073709551616",
        "1e308",
        "%C4%85%C4%99%E6%BC%A2",
        "a%20b",
        "..%2F..%2Fetc",
        "x".repeat(3000).leak(),
    ];
    let bodies = [
        "",
        "null",
        "[]",
        "{}",
        "{\"number\":5}",
        "{\"number\":\"+48601234567\",\"name\":[1]}",
        "{\"number\":\"\\u0000\",\"name\":\"\\u0085\"}",
        "{\"to\":{},\"text\":7}",
        "\"\\ud800\"",
        "{\"name\":\"x\"}",
    ];
    for t in texts {
        for path in [
            format!("/api/calls?number={t}&since_ms={t}&limit={t}"),
            format!("/api/calls/{t}"),
            format!("/api/events?since={t}&limit={t}"),
            format!("/api/agents?since_ms={t}"),
            format!("/api/contacts?search={t}&limit={t}"),
            format!("/api/contacts/{t}"),
            format!("/api/sms?limit={t}"),
        ] {
            let (code, body) = http(gw.api, "GET", &path, Some(TOKEN), None).await;
            assert!((200..500).contains(&code), "GET {path}: {code} {body}");
        }
        for body in bodies {
            for (method, path) in [
                ("POST", "/api/contacts".to_owned()),
                ("PUT", format!("/api/contacts/{t}")),
                ("DELETE", format!("/api/contacts/{t}")),
                ("POST", "/api/sms".to_owned()),
            ] {
                let (code, answer) = http(gw.api, method, &path, Some(TOKEN), Some(body)).await;
                assert!(
                    (200..500).contains(&code) || code == 503,
                    "{method} {path} {body}: {code} {answer}"
                );
            }
        }
    }
}

/// `GET /health`'s status, 0 when the connection is refused or reset.
async fn health(port: u16) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return 0;
    };
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut answer = Vec::new();
    if s.write_all(request).await.is_err() || s.read_to_end(&mut answer).await.is_err() {
        return 0;
    }
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Runs a future to completion from sync code inside the test's runtime.
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_hundred_half_sent_requests_cannot_take_the_api() {
    use tokio::io::AsyncWriteExt;
    let mut gw = Gw::start("");
    let mut held = Vec::new();
    for _ in 0..1_100 {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", gw.api)).await else {
            continue;
        };
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
        held.push(s);
    }
    // The slots free as the header-read timeout closes the half-sent requests; /health
    // answers again while the attacker still holds every socket it opened.
    let answered = wait_until(Duration::from_secs(40), || {
        futures_block(health(gw.api)) == 200
    })
    .await;
    assert!(answered, "/health answers during the attack");
    let fds = std::fs::read_dir(format!("/proc/{}/fd", gw.proc.pid().unwrap()))
        .unwrap()
        .count();
    assert!(fds < 200, "{fds} descriptors open");
    assert!(gw.counter("api:refused_connections").await >= 900);
    drop(held);
    gw.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_ari_event_names_and_a_sixty_mb_message() {
    let first_frames = (0..5_000)
        .map(|i| format!("{{\"type\":\"Invented{i}\",\"application\":\"gwapp\"}}"))
        .collect();
    let sim = AriSim::start(AriSimOptions {
        first_frames,
        huge_message: Some(60 * 1024 * 1024),
        ..AriSimOptions::new("gw", "secret")
    })
    .await
    .unwrap();
    let mut gw = Gw::start(&format!(
        "[[pbx]]\nname = \"asterisk\"\nkind = \"ari\"\nurl = \"{}\"\nusername = \"gw\"\npassword = \"secret\"\napp = \"gwapp\"\n",
        sim.url()
    ));
    let replayed = wait_until(Duration::from_secs(60), || {
        let log = sim.log.lock().unwrap();
        log.ws_connects >= 2 && log.replay_done
    })
    .await;
    assert!(
        replayed,
        "the gateway reconnected after the huge message and took the replay"
    );
    let status = gw.status().await;
    let counters = status["counters"].as_object().unwrap();
    assert_eq!(counters["pbx:asterisk:unknown"], 5_000, "{counters:?}");
    assert_eq!(counters["pbx:asterisk:oversized"], 1, "{counters:?}");
    assert!(counters.len() < 64, "{} counters", counters.len());
    assert!(
        status.to_string().len() < 64 * 1024,
        "the status stays small"
    );
    let calls = wait_until(Duration::from_secs(30), || {
        let (_, calls) = futures_block(http(gw.api, "GET", "/api/calls", Some(TOKEN), None));
        calls.contains("\"call_id\"")
    })
    .await;
    assert!(calls, "the replay became calls");
    gw.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_ami_banner() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let total = total.clone();
            tokio::spawn(async move {
                let chunk = vec![b'A'; 64 * 1024];
                while s.write_all(&chunk).await.is_ok() {
                    total.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                    if total.load(std::sync::atomic::Ordering::Relaxed) > 256 * 1024 * 1024 {
                        break;
                    }
                }
            });
        }
    });
    let mut gw = Gw::start(&format!(
        "[[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"gw\"\nsecret = \"s\"\n"
    ));
    let refused = wait_until(Duration::from_secs(30), || {
        futures_block(link_state(&gw, "pbx:asterisk")) == "needs-installer"
    })
    .await;
    assert!(refused, "{}", gw.status().await["links"]);
    let detail = gw.status().await["links"]["pbx:asterisk"]["detail"].to_string();
    assert!(
        detail.contains("not an Asterisk Manager banner"),
        "{detail}"
    );
    gw.assert_alive();
}

/// PostgreSQL without `sslmode=disable` in the URL requires TLS: a server without it (the
/// harness's private one) is refused, not silently used in the clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_tls_is_refused_unless_the_url_says_so() {
    let pg = pbxgw_tests::harness::Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:{}/postgres", pg.port());
    let text = format!(
        "[gateway]\nid = \"tls\"\ndata_dir = {:?}\n[uplink.postgres]\nurl = {url:?}\n",
        dir.path().join("data")
    );
    let config = pbxgw::config::Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    assert!(config.warnings().is_empty());
    let gateway = pbxgw::runtime::Gateway::start(&config).await.unwrap();
    let refused = wait_until(Duration::from_secs(20), || {
        gateway
            .links()
            .snapshot()
            .get("uplink:postgres")
            .is_some_and(|l| l.detail.as_deref().is_some_and(|d| d.contains("TLS")))
    })
    .await;
    assert!(
        refused,
        "{:?}",
        gateway.links().snapshot().get("uplink:postgres")
    );
    gateway.stop().await;
}
