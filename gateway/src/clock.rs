//! The wall clock every stage stamps events with. A bottom module: it imports nothing of the
//! crate, and anything may use it.

use std::path::Path;
use std::sync::Mutex;

/// How far the box trusts its wall clock (`[gateway] clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockTrust {
    /// Unsynchronised while the time is before 2026 (a board without a real-time clock boots
    /// in 1970 or at its last saved time), or while systemd-timesyncd runs and has not yet
    /// synchronised.
    #[default]
    Auto,
    /// Always right (a real-time clock, or a time service pbxgw cannot see, such as chrony).
    Trusted,
    /// Never right: the store's tests.
    #[cfg(test)]
    #[serde(skip)]
    Wrong,
}

/// 2026-01-01T00:00Z: no clock showing an earlier time is right.
const FLOOR_MS: i64 = 1_767_225_600_000;

/// Where systemd-timesyncd says it has synchronised the clock (`synchronized`, a file).
const TIMESYNC_DIR: &str = "/run/systemd/timesync";

/// Whether events stamped now are to be flagged `clock_unsynced`; looked up at most once a
/// second.
pub fn unsynchronized(trust: ClockTrust) -> bool {
    static LAST: Mutex<Option<(i64, bool)>> = Mutex::new(None);
    match trust {
        ClockTrust::Trusted => return false,
        #[cfg(test)]
        ClockTrust::Wrong => return true,
        ClockTrust::Auto => {}
    }
    let now = now_ms();
    let Ok(mut last) = LAST.lock() else {
        return unsynchronized_by(now, Path::new(TIMESYNC_DIR));
    };
    match *last {
        Some((at, answer)) if (0..1000).contains(&(now - at)) => answer,
        _ => {
            let answer = unsynchronized_by(now, Path::new(TIMESYNC_DIR));
            *last = Some((now, answer));
            answer
        }
    }
}

/// The rule, with the time and the timesyncd directory given.
fn unsynchronized_by(now_ms: i64, timesync_dir: &Path) -> bool {
    now_ms < FLOOR_MS || (timesync_dir.is_dir() && !timesync_dir.join("synchronized").exists())
}

/// Milliseconds since the Unix epoch, now (0 on a clock set before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_is_unsynchronised_before_2026_or_until_timesyncd_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("absent");
        let now = 1_795_316_989_000;
        assert!(
            unsynchronized_by(0, &none),
            "1970: a board without a real-time clock"
        );
        assert!(
            !unsynchronized_by(now, &none),
            "no timesyncd: the time is trusted"
        );
        let timesync = dir.path().join("timesync");
        std::fs::create_dir(&timesync).unwrap();
        assert!(
            unsynchronized_by(now, &timesync),
            "timesyncd runs, not yet synchronised"
        );
        std::fs::write(timesync.join("synchronized"), "").unwrap();
        assert!(!unsynchronized_by(now, &timesync));
        assert!(!unsynchronized(ClockTrust::Trusted));
    }
}
