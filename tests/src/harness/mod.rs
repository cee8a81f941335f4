mod browser;
mod collector;
mod finesse;
mod gateway;
mod http;
mod mosquitto;
mod pgbouncer;
mod postgres;

pub use browser::Browser;
pub use collector::{Collector, Received};
pub use finesse::FakeFinesse;
pub use gateway::{bin_path, GatewayProc, TestConfig};
pub use http::{http, request, Response};
pub use mosquitto::Mosquitto;
pub use pgbouncer::PgBouncer;
pub use postgres::Postgres;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind a loopback port")
}

/// Finds a service binary on PATH or in the given extra directories, or fails the test
/// naming the Debian package to install.
pub fn find_binary(name: &str, extra_dirs: &[PathBuf], package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().cloned())
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` not found: install the Debian package `{package}` (apt-get install {package})")
        })
}

/// Polls `f` until it returns true or `limit` passes; returns whether it did.
pub async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

pub fn wait_for_port(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Sends `signal` to a child and waits up to `limit` for it to exit.
pub(crate) fn signal_and_wait(
    child: &mut std::process::Child,
    signal: nix::sys::signal::Signal,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, signal);
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().ok();
    None
}

/// Peak resident set size of a process in KiB (`VmHWM`), 0 if it cannot be read.
pub fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Every event in the store of the gateway configured by `config` (empty if none yet).
pub fn stored_events(config: &pbxgw::config::Config) -> Vec<pbxgw::store::StoredEvent> {
    pbxgw::store::StoreReader::open(&config.db_path())
        .and_then(|r| r.events_after(0, 100_000))
        .unwrap_or_default()
}

/// The call records the gateway has stored, in the order they ended.
pub fn stored_records(config: &pbxgw::config::Config) -> Vec<pbxgw::calls::CallRecord> {
    stored_events(config)
        .into_iter()
        .filter_map(|e| match e.body {
            Ok(pbxgw::calls::EventBody::CallEnded(r)) => Some(*r),
            _ => None,
        })
        .collect()
}

/// Waits until the gateway's link `name` is in `state`; false after `limit`.
pub async fn wait_for_link(
    gateway: &pbxgw::runtime::Gateway,
    name: &str,
    state: pbxgw::link::LinkState,
    limit: Duration,
) -> bool {
    wait_until(limit, || {
        gateway
            .links()
            .snapshot()
            .get(name)
            .is_some_and(|l| l.state == state)
    })
    .await
}

/// `promtool check metrics` (Debian's `prometheus` package) on a scrape: the text parses and
/// follows Prometheus' naming conventions. Panics with promtool's findings.
pub fn promtool_check_metrics(scrape: &str) {
    use std::io::Write;
    let promtool = find_binary("promtool", &[], "prometheus");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("write the scrape to promtool");
    let out = child.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{scrape}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
