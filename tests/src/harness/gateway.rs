use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

/// A binary built by this workspace, next to the running test's own executable
/// (`target/<profile>/` or `target/<triple>/<profile>/`).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built; run `cargo test --workspace` (or `cargo build --workspace --bins`) first",
        path.display()
    );
    path
}

/// The configuration a test gateway runs with.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub id: String,
    pub data_dir: PathBuf,
    pub mqtt_port: Option<u16>,
    pub pg_url: Option<String>,
    pub max_size_mb: u64,
    pub replay_rate: u32,
    pub sync: &'static str,
}

impl TestConfig {
    pub fn new(id: &str, data_dir: &Path) -> TestConfig {
        TestConfig {
            id: id.into(),
            data_dir: data_dir.into(),
            mqtt_port: None,
            pg_url: None,
            max_size_mb: 512,
            replay_rate: 0,
            sync: "normal",
        }
    }

    pub fn to_toml(&self) -> String {
        let mut s = format!(
            "[gateway]\nid = {:?}\ndata_dir = {:?}\n\n[store]\nmax_size_mb = {}\nsync = {:?}\n",
            self.id, self.data_dir, self.max_size_mb, self.sync
        );
        if let Some(port) = self.mqtt_port {
            s += &format!(
                "\n[uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nreplay_rate = {}\nkeepalive_s = 5\nstatus_interval_s = 1\n",
                self.replay_rate
            );
        }
        if let Some(url) = &self.pg_url {
            s += &format!("\n[uplink.postgres]\nurl = {url:?}\n");
        }
        s
    }

    /// Writes the file and returns its path.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.to_toml()).expect("write config");
        path.to_owned()
    }
}

/// The gateway (or the feeder, which is the gateway plus a synthetic producer) as a child
/// process whose log goes to a file.
pub struct GatewayProc {
    child: Option<Child>,
    log: PathBuf,
}

impl GatewayProc {
    pub fn spawn(bin: &str, args: &[&str], log: &Path) -> GatewayProc {
        let mut command = Command::new(bin_path(bin));
        command.args(args).env("PBXGW_LOG", "info,pbxgw=debug");
        GatewayProc::start(command, log)
    }

    /// Starts `command` with its stderr appended to `log`.
    fn start(mut command: Command, log: &Path) -> GatewayProc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open gateway log");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn gateway");
        GatewayProc {
            child: Some(child),
            log: log.to_owned(),
        }
    }

    /// `pbxgw run -c CONFIG` with at most `nofile` open files (systemd's default soft limit
    /// is 1024), through the shell's `ulimit`.
    pub fn run_with_nofile(config: &Path, log: &Path, nofile: u32) -> GatewayProc {
        let bin = bin_path("pbxgw");
        let script = format!("ulimit -n {nofile} && exec \"$0\" run -c \"$1\"");
        let args = [
            "-c",
            &script,
            &bin.to_string_lossy(),
            &config.to_string_lossy(),
        ];
        let mut command = Command::new("sh");
        command.args(args).env("PBXGW_LOG", "info");
        GatewayProc::start(command, log)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `pbxgw run -c CONFIG`.
    pub fn run(config: &Path, log: &Path) -> GatewayProc {
        GatewayProc::spawn("pbxgw", &["run", "-c", &config.to_string_lossy()], log)
    }

    /// The gateway with a synthetic producer: `count` events at `rate` per second
    /// (0 = as fast as accepted). With `exit_when_done` it stops cleanly after the last one.
    pub fn feed(
        config: &Path,
        log: &Path,
        rate: u32,
        count: u64,
        exit_when_done: bool,
    ) -> GatewayProc {
        let (rate, count) = (rate.to_string(), count.to_string());
        let mut args = vec![
            "-c",
            config.to_str().expect("utf-8 path"),
            "--rate",
            &rate,
            "--count",
            &count,
        ];
        if exit_when_done {
            args.push("--exit-when-done");
        }
        GatewayProc::spawn("pbxgw-feed", &args, log)
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::signal_and_wait(&mut child, Signal::SIGKILL, Duration::from_secs(10));
        }
    }

    /// SIGTERM and wait for the clean exit.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        super::signal_and_wait(&mut child, Signal::SIGTERM, Duration::from_secs(20))
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for the process to exit on its own.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        self.kill9();
    }
}
