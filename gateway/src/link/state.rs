use serde::{Deserialize, Serialize};

/// State of one link of the gateway (a PBX connector, an uplink, the modem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkState {
    /// Not configured.
    Off,
    /// Connecting, reconnecting or draining a backlog.
    Connecting,
    Up,
    /// Needs the installer: login refused, bad PIN, TLS failure.
    NeedsInstaller,
    Down,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Off => "off",
            LinkState::Connecting => "connecting",
            LinkState::Up => "up",
            LinkState::NeedsInstaller => "needs-installer",
            LinkState::Down => "down",
        }
    }
}
