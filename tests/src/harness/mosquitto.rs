use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

/// A private Mosquitto on a free loopback port, with persistence in its own temp dir so a
/// persistent subscriber keeps its queue across a broker restart.
pub struct Mosquitto {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut m = Mosquitto {
            port: super::free_port(),
            dir,
            child: None,
        };
        m.write_config();
        m.restart();
        m
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn conf_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    fn write_config(&self) {
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {dir}/\nmax_queued_messages 0\nlog_dest file {dir}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\n",
            port = self.port,
            dir = self.dir.path().display()
        );
        if super::is_root() {
            // As root mosquitto would switch to its own user, which cannot write our dir.
            conf.push_str("user root\n");
        }
        std::fs::write(self.conf_path(), conf).expect("write mosquitto.conf");
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "mosquitto already running");
        let bin = super::find_binary("mosquitto", &[], "mosquitto");
        let child = Command::new(bin)
            .arg("-c")
            .arg(self.conf_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        self.child = Some(child);
        assert!(
            super::wait_for_port(self.port, Duration::from_secs(10)),
            "mosquitto did not listen on {} (log in {})",
            self.port,
            self.dir.path().display()
        );
    }

    /// Stops it gracefully (it saves its persistence file on the way out).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::signal_and_wait(&mut child, Signal::SIGTERM, Duration::from_secs(10));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}
