//! What journald receives from `pbxgw run` under systemd, checked without systemd.
//!
//! systemd tells a service its stderr is the journal through `JOURNAL_STREAM=<dev>:<inode>`;
//! the tests point it at the log file they give the gateway as stderr. The gateway then talks
//! to `/run/systemd/journal/socket`, a fixed path: each test runs the gateway in a private
//! mount namespace (`unshare`) whose `/run` is empty, or holds the test's own datagram socket
//! where journald's would be. Either way the machine's own journald (if any) never sees a line.
//!
//! It spawns the gateway's binary, built for the build host: x86_64 only.
#![cfg(target_arch = "x86_64")]

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pbxgw_tests::harness::{bin_path, free_port};

/// A gateway whose one PBX link (`ctip-lab`) points at a port nobody listens on: it logs
/// `pbxgw running` (info) and `link lost; will reconnect` (warn, with `link=`) at once.
fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("pbxgw.toml");
    std::fs::write(
        &path,
        format!(
            "[gateway]\nid = \"gw-journal\"\ndata_dir = {:?}\n[[pbx]]\nname = \"ctip-lab\"\n\
             kind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {}\npin = \"1234\"\n",
            dir.join("data"),
            free_port()
        ),
    )
    .unwrap();
    path
}

/// `pbxgw run` in a new user and mount namespace with an empty `/run`; with `journal`, that
/// directory is bind-mounted on `/run/systemd/journal`. stderr goes to `log`, which
/// `JOURNAL_STREAM` names.
fn spawn_under_systemd_env(dir: &Path, journal: Option<&Path>, log: &Path) -> Child {
    let stderr = std::fs::File::create(log).unwrap();
    let meta = stderr.metadata().unwrap();
    let bind = match journal {
        Some(d) => format!("mount --bind {} /run/systemd/journal && ", d.display()),
        None => String::new(),
    };
    let script = format!(
        "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && {bind}exec \"$0\" run -c \"$1\""
    );
    let bin = bin_path("pbxgw");
    let config = config(dir);
    let child = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .arg(&bin)
        .arg(&config)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("PBXGW_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("unshare (util-linux) runs");
    child
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The gateway's stderr once it has logged the lost link, the gateway stopped.
fn stderr_once_the_link_is_lost(child: Child, log: &Path) -> String {
    let read = || std::fs::read_to_string(log).unwrap_or_default();
    let found = wait_for(Duration::from_secs(20), || {
        read().contains("link lost; will reconnect")
    });
    stop(child);
    let text = read();
    assert!(found, "{text}");
    text
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// One entry of journald's native protocol: `KEY=value` lines, or `KEY`, a newline, a 64-bit
/// little-endian length and the value for values that hold a newline.
fn parse_entry(mut data: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    while !data.is_empty() {
        let line_end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
        let line = &data[..line_end];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            fields.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            data = data.get(line_end + 1..).unwrap_or(&[]);
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &data[line_end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            fields.insert(key, String::from_utf8_lossy(&rest[8..8 + len]).into_owned());
            data = rest.get(8 + len + 1..).unwrap_or(&[]);
        }
    }
    fields
}

#[test]
fn under_systemd_each_event_reaches_journald_with_its_priority_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::fs::create_dir(&journal).unwrap();
    let socket = UnixDatagram::bind(journal.join("socket")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let log = dir.path().join("stderr.log");
    let child = spawn_under_systemd_env(dir.path(), Some(&journal), &log);

    let mut entries = Vec::new();
    let mut buf = vec![0u8; 65536];
    let found = wait_for(Duration::from_secs(20), || {
        while let Ok(n) = socket.recv(&mut buf) {
            if n > 0 {
                entries.push(parse_entry(&buf[..n]));
            }
        }
        let running = entries
            .iter()
            .any(|e| e.get("MESSAGE").is_some_and(|m| m == "pbxgw running"));
        let lost = entries.iter().any(|e| {
            e.get("MESSAGE")
                .is_some_and(|m| m.contains("link lost; will reconnect"))
        });
        running && lost
    });
    stop(child);
    assert!(
        found,
        "entries: {entries:#?}\nstderr: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let running = entries
        .iter()
        .find(|e| e.get("MESSAGE").is_some_and(|m| m == "pbxgw running"))
        .unwrap();
    assert_eq!(
        running["PRIORITY"], "6",
        "info is informational: {running:?}"
    );
    assert_eq!(running["SYSLOG_IDENTIFIER"], "pbxgw");
    assert_eq!(running["GATEWAY"], "gw-journal", "fields keep their names");

    let lost = entries
        .iter()
        .find(|e| {
            e.get("MESSAGE")
                .is_some_and(|m| m.contains("link lost; will reconnect"))
        })
        .unwrap();
    assert_eq!(lost["PRIORITY"], "4", "a warning is a warning: {lost:?}");
    assert_eq!(
        lost["LINK"], "pbx:ctip-lab",
        "journalctl LINK=pbx:ctip-lab finds it"
    );
    assert!(lost.contains_key("ERROR"), "{lost:?}");
    assert!(
        std::fs::read_to_string(&log).unwrap().is_empty(),
        "nothing is logged twice through stderr"
    );
}

#[test]
fn without_the_journal_socket_stderr_lines_carry_their_priority_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let child = spawn_under_systemd_env(dir.path(), None, &log);
    let text = stderr_once_the_link_is_lost(child, &log);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}: {text}"))
            .to_owned()
    };
    assert!(line("pbxgw running").starts_with("<6>"), "{text}");
    let lost = line("link lost; will reconnect");
    assert!(lost.starts_with("<4>"), "{text}");
    assert!(lost.contains("link=pbx:ctip-lab"), "{lost}");
    assert!(!text.contains('\u{1b}'), "no colour codes: {text:?}");
}

#[test]
fn off_a_terminal_the_log_is_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let child = Command::new(bin_path("pbxgw"))
        .args(["run", "-c"])
        .arg(config(dir.path()))
        .env_remove("JOURNAL_STREAM")
        .env("PBXGW_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let text = stderr_once_the_link_is_lost(child, &log);
    assert!(!text.contains('\u{1b}'), "no colour codes: {text:?}");
    assert!(
        text.lines().all(|l| !l.starts_with('<')),
        "no priority prefix outside the journal: {text}"
    );
}
