//! Watchdogs: systemd's (`sd_notify`: READY=1, WATCHDOG=1, STATUS=..., STOPPING=1 on the
//! datagram socket named by `$NOTIFY_SOCKET`) and the kernel's `/dev/watchdog` (any write
//! kicks it; writing `V` before closing disarms it on a clean stop, "magic close"). The
//! gateway kicks only while its own loops report alive, so a hung gateway gets restarted.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    #[error("systemd notify socket {path}: {source}")]
    Notify {
        path: String,
        source: std::io::Error,
    },
    #[error("watchdog device {path}: {source}")]
    Device {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// systemd's notify socket.
pub struct SystemdNotify {
    socket: UnixDatagram,
    path: String,
    /// `$WATCHDOG_USEC`: systemd restarts us if no WATCHDOG=1 comes within it.
    pub interval: Option<Duration>,
}

impl SystemdNotify {
    /// From `$NOTIFY_SOCKET` / `$WATCHDOG_USEC`; `None` when not run by systemd with
    /// `Type=notify`.
    pub fn from_env() -> Result<Option<SystemdNotify>, WatchdogError> {
        let Ok(path) = std::env::var("NOTIFY_SOCKET") else {
            return Ok(None);
        };
        let interval = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_micros);
        SystemdNotify::connect(&path, interval).map(Some)
    }

    pub fn connect(path: &str, interval: Option<Duration>) -> Result<SystemdNotify, WatchdogError> {
        let err = |source| WatchdogError::Notify {
            path: path.to_owned(),
            source,
        };
        let socket = UnixDatagram::unbound().map_err(err)?;
        if let Some(abstract_name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(abstract_name).map_err(err)?;
            socket.connect_addr(&addr).map_err(err)?;
        } else {
            socket.connect(path).map_err(err)?;
        }
        Ok(SystemdNotify {
            socket,
            path: path.to_owned(),
            interval,
        })
    }

    pub fn notify(&self, state: &str) -> Result<(), WatchdogError> {
        self.socket
            .send(state.as_bytes())
            .map(|_| ())
            .map_err(|source| WatchdogError::Notify {
                path: self.path.clone(),
                source,
            })
    }
}

/// The kernel's watchdog device.
pub struct DeviceWatchdog {
    file: std::fs::File,
    path: PathBuf,
}

impl DeviceWatchdog {
    /// Opening arms it: from now on it must be kicked.
    pub fn open(path: &Path) -> Result<DeviceWatchdog, WatchdogError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|source| WatchdogError::Device {
                path: path.to_owned(),
                source,
            })?;
        Ok(DeviceWatchdog {
            file,
            path: path.to_owned(),
        })
    }

    pub fn kick(&mut self) -> Result<(), WatchdogError> {
        self.write(b"k")
    }

    /// Disarms it for a clean stop ("magic close").
    pub fn disarm(mut self) -> Result<(), WatchdogError> {
        self.write(b"V")
    }

    fn write(&mut self, b: &[u8]) -> Result<(), WatchdogError> {
        self.file
            .write_all(b)
            .and_then(|_| self.file.flush())
            .map_err(|source| WatchdogError::Device {
                path: self.path.clone(),
                source,
            })
    }
}

/// Whichever watchdogs this box has.
#[derive(Default)]
pub struct Watchdogs {
    pub systemd: Option<SystemdNotify>,
    pub device: Option<DeviceWatchdog>,
}

impl Watchdogs {
    pub fn ready(&self) {
        if let Some(s) = &self.systemd {
            let _ = s.notify("READY=1");
        }
    }

    /// One kick of each, with a status line for `systemctl status`.
    pub fn kick(&mut self, status: &str) -> Vec<WatchdogError> {
        let mut errors = Vec::new();
        if let Some(s) = &self.systemd {
            if let Err(e) = s.notify(&format!("WATCHDOG=1\nSTATUS={status}")) {
                errors.push(e);
            }
        }
        if let Some(d) = &mut self.device {
            if let Err(e) = d.kick() {
                errors.push(e);
            }
        }
        errors
    }

    /// A clean stop: tell systemd, disarm the device.
    pub fn stopping(self) {
        if let Some(s) = &self.systemd {
            let _ = s.notify("STOPPING=1");
        }
        if let Some(d) = self.device {
            let _ = d.disarm();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_hears_ready_kicks_and_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let notify =
            SystemdNotify::connect(path.to_str().unwrap(), Some(Duration::from_secs(30))).unwrap();
        let mut dogs = Watchdogs {
            systemd: Some(notify),
            device: None,
        };
        dogs.ready();
        assert!(dogs.kick("3 links up").is_empty());
        dogs.stopping();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        for _ in 0..3 {
            let n = listener.recv(&mut buf).unwrap();
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(
            got,
            ["READY=1", "WATCHDOG=1\nSTATUS=3 links up", "STOPPING=1"]
        );
    }

    #[test]
    fn the_device_is_kicked_and_disarmed_with_the_magic_v() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, "").unwrap();
        let mut dogs = Watchdogs {
            systemd: None,
            device: Some(DeviceWatchdog::open(&path).unwrap()),
        };
        assert!(dogs.kick("ok").is_empty());
        dogs.stopping();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kV");
        assert!(DeviceWatchdog::open(&dir.path().join("none")).is_err());
    }
}
