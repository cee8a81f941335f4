//! `pbxgw demo` as the README runs it: the real binary, simulators replaying the captured
//! traffic, the modem on a pty, publishing to a (private) MQTT broker; it prints call
//! records and texts as they happen, a summary, and exits 0 after its minute.
//!
//! The pty modem, Mosquitto and Chromium are native to the build host: x86_64 only.
#![cfg(target_arch = "x86_64")]

use std::time::Duration;

use pbxgw_tests::harness::{bin_path, free_port, wait_until, Browser, Collector, Mosquitto};

const TOKEN: &str = "demo-token-0123456789";

/// The README's main job exactly as a newcomer runs it (`pbxgw demo`, default duration),
/// publishing to a private broker: readable call lines with the captures' talk times, every
/// kind of call, texts, a summary whose figures add up, and a status page that shows real
/// durations after a while (screenshot kept in the test output).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_looks_like_a_day_at_the_exchange() {
    let broker = Mosquitto::start();
    let central = Collector::start(broker.port(), "pbxgw/v1/demo/call/#", "demo-central").await;
    let api = free_port();
    let started = std::time::Instant::now();
    let mut demo = tokio::process::Command::new(bin_path("pbxgw"))
        .args(["demo", "--api-port"])
        .arg(api.to_string())
        .arg("--mqtt")
        .arg(format!("127.0.0.1:{}", broker.port()))
        .env_remove("PBXGW_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (mut stdout, mut stderr) = (demo.stdout.take().unwrap(), demo.stderr.take().unwrap());
    let output = tokio::spawn(async move {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = tokio::join!(
            tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut out),
            tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err),
        );
        (out, err)
    });
    let page = wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", api)).is_ok()
    })
    .await;
    assert!(page, "the status page answers while the demo runs");

    // After 40 s the page a newcomer opens has a journal and agents with real durations.
    tokio::time::sleep(Duration::from_secs(40).saturating_sub(started.elapsed())).await;
    let mut browser = Browser::open(&format!("http://127.0.0.1:{api}/#token={TOKEN}")).await;
    let filled = "[...document.querySelectorAll('#journal tr')].slice(1)\
                    .some(tr => tr.cells[5] && /^[0-9:]+$/.test(tr.cells[5].textContent) \
                                && tr.cells[5].textContent !== '0:00') \
                  && [...document.querySelectorAll('#agents tr')].slice(1)\
                    .some(tr => tr.cells[7] && /^[0-9:]+$/.test(tr.cells[7].textContent) \
                                && tr.cells[7].textContent !== '0:00')";
    browser.wait_for(filled, Duration::from_secs(15)).await;
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-status-page.png");
    browser.screenshot(&shot).await;
    println!("demo status page screenshot: {}", shot.display());
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000));
    drop(browser);

    let status = tokio::time::timeout(Duration::from_secs(60), demo.wait())
        .await
        .expect("the demo stops after its default minute")
        .unwrap();
    let (out, err) = output.await.unwrap();
    assert!(status.success(), "{out}\n{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(60),
        "the default is a minute"
    );
    assert!(err.trim().is_empty(), "no log without --log:\n{err}");
    assert!(
        out.lines()
            .next()
            .unwrap_or("")
            .starts_with("status page: http://127.0.0.1:"),
        "the link comes first:\n{out}"
    );
    assert!(!out.contains('\x1b'), "no colour codes");

    let calls: Vec<CallLine> = out.lines().filter_map(CallLine::parse).collect();
    for pbx in ["slican", "asterisk", "asterisk-ari"] {
        assert!(calls.iter().any(|c| c.pbx == pbx), "no {pbx} call:\n{out}");
    }
    for kind in [
        "answered",
        "no-answer",
        "busy",
        "abandoned",
        "failed",
        "pbx-only",
    ] {
        assert!(
            calls.iter().any(|c| c.disposition == kind),
            "no {kind} call:\n{out}"
        );
    }
    assert!(out.contains(", IVR "), "an IVR call:\n{out}");
    assert!(out.contains("\nSMS   to +48"), "a text:\n{out}");

    // Every answered Slican call talked for its recorded time over the speed (15x), and its
    // line reads that back: the time times the speed, within a few recorded seconds.
    let mut recorded = recorded_ctip_talks();
    let slican: Vec<&CallLine> = calls
        .iter()
        .filter(|c| c.pbx == "slican" && c.disposition == "answered")
        .collect();
    assert!(
        slican.iter().filter(|c| c.seconds > 0).count() >= 5,
        "several Slican calls with real talk times:\n{out}"
    );
    for c in &slican {
        let shown = c
            .recorded
            .unwrap_or_else(|| panic!("{c:?} reads back to nothing"));
        assert!(
            (shown as f64 / 15.0 - c.seconds as f64).abs() <= 1.0,
            "{c:?}: the recorded time is the talk time times 15"
        );
        let at = recorded.iter().position(|(ext, talk)| {
            Some(ext.as_str()) == c.extension.as_deref()
                && (talk - shown as f64).abs() <= 5.0 + talk * 0.02
        });
        let Some(at) = at else {
            panic!("{c:?} matches no recorded talk time: {recorded:?}");
        };
        recorded.remove(at);
    }
    assert!(
        calls.iter().all(|c| c.recorded.is_some()),
        "every line reads back to the capture:\n{out}"
    );
    assert!(
        calls
            .iter()
            .filter(|c| c.pbx != "slican" && c.disposition == "answered")
            .any(|c| c.seconds > 0),
        "Asterisk calls with real talk times:\n{out}"
    );

    // The summary: the calls printed, by disposition, and consistent records.
    let summary = &out[out.find("--- summary").expect("a summary")..];
    assert!(
        summary.contains(&format!("calls ended     {} (", calls.len())),
        "{summary}"
    );
    for line in [
        "replayed: Slican CTIP at 15x",
        "answer rate     ",
        " as recorded)",
        "missed callers  ",
        "per agent or extension",
        "texts sent      ",
        "uplink mqtt ",
    ] {
        assert!(summary.contains(line), "no {line:?}:\n{summary}");
    }
    assert!(!summary.contains("inconsistent"), "{summary}");
    let talked = summary
        .lines()
        .skip_while(|l| !l.starts_with("per agent"))
        .skip(2)
        .take_while(|l| l.starts_with("  ") && !l.starts_with("  ..."))
        .filter(|l| l.split_whitespace().last() != Some("0:00"))
        .count();
    assert!(talked >= 3, "agents with talk time:\n{summary}");
    let received = wait_until(Duration::from_secs(5), || {
        central.messages().len() >= calls.len()
    })
    .await;
    assert!(
        received,
        "central got {} of {} records",
        central.messages().len(),
        calls.len()
    );
}

/// A printed call line:
/// `call  PBX DIRECTION CALLER -> CALLEE DISPOSITION ext EXT M:SS talk (recorded M:SS)`.
#[derive(Debug)]
struct CallLine {
    pbx: String,
    disposition: String,
    extension: Option<String>,
    seconds: u64,
    /// The time as the capture recorded it.
    recorded: Option<u64>,
}

/// `m:ss` or `h:mm:ss` in seconds.
fn seconds(clock: &str) -> Option<u64> {
    clock
        .split(':')
        .try_fold(0u64, |acc, part| Some(acc * 60 + part.parse::<u64>().ok()?))
}

impl CallLine {
    fn parse(line: &str) -> Option<CallLine> {
        let f: Vec<&str> = line.strip_prefix("call  ")?.split_whitespace().collect();
        let ext_at = f.iter().position(|w| *w == "ext")?;
        let recorded = (f.get(ext_at + 4) == Some(&"(recorded"))
            .then(|| seconds(f.get(ext_at + 5)?.trim_end_matches([')', ','])))
            .flatten();
        Some(CallLine {
            pbx: f.first()?.to_string(),
            disposition: f.get(ext_at - 1)?.to_string(),
            extension: f
                .get(ext_at + 1)
                .filter(|e| **e != "-")
                .map(|e| e.to_string()),
            seconds: seconds(f.get(ext_at + 2)?)?,
            recorded,
        })
    }
}

/// (extension, seconds from CONN to REL) of every talk in the timed capture.
fn recorded_ctip_talks() -> Vec<(String, f64)> {
    use pbxgw::demo::sim::pace::parse_timed;
    let lines = parse_timed(&pbxgw::fixtures::fixture("ctip/raw_stream_anon_timed.tsv"));
    let mut conn = std::collections::HashMap::new();
    let mut talks = Vec::new();
    for l in lines {
        let mut f = l.line.trim_start_matches('a').split(' ');
        match (f.next(), f.next()) {
            (Some("CONN"), Some(ext)) => {
                conn.insert(ext.trim_end_matches('_').to_owned(), l.at_s);
            }
            (Some("REL"), Some(ext)) => {
                let ext = ext.trim_end_matches('_');
                if let Some(from) = conn.remove(ext) {
                    talks.push((ext.to_owned(), l.at_s - from));
                }
            }
            _ => {}
        }
    }
    talks
}

/// An installer pointing `--fixtures` at an incomplete copy gets told which capture is
/// missing before anything starts, not a crash of a simulator halfway through.
#[tokio::test]
async fn a_fixtures_folder_without_the_ari_capture_is_refused_up_front() {
    let copy = tempfile::tempdir().unwrap();
    let real = pbxgw::fixtures::dir();
    for name in [
        "ctip/raw_stream_anon_timed.tsv",
        "asterisk/ami_session.raw",
        "asterisk/ami_session.chunks.jsonl",
    ] {
        let to = copy.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(real.join(name), to).unwrap();
    }
    let out = tokio::process::Command::new(bin_path("pbxgw"))
        .args(["demo", "--duration", "5", "--fixtures"])
        .arg(copy.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("ari_events.jsonl"), "{stderr}");
    assert!(stderr.contains("pass --fixtures"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("starting the PBX simulators"),
        "nothing starts"
    );
}
