//! The front panel: link states become LED patterns, and the watchdogs are kicked while the
//! gateway's own loops are alive.
//!
//! | LED | shows | solid | slow blink | fast blink | off |
//! |---|---|---|---|---|---|
//! | pbx | every `pbx:*` link | all up | one connecting | one needs the installer (login refused) | none configured |
//! | uplink | every `uplink:*` link | all up | one connecting or draining a backlog | one needs the installer (TLS, auth) | none configured |
//! | modem | the `modem` link (or the PBX's GSM module) | up | connecting, registering | SIM/PIN/PUK, no SMS centre | no SMS route |
//! | fault | the box itself | events were dropped at the size cap, a database was quarantined, or the disk is low | | | all well |
//!
//! The worst state of a group wins: needs-installer, then down (shown as a slow blink: it is
//! being retried), then connecting, then up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use board::leds::{LedBank, Pattern};
use board::watchdog::Watchdogs;
use tokio_util::sync::CancellationToken;

use crate::link::LinkState;
use crate::link::{LinkStatus, Links};
use crate::store::{Appender, AsyncReader};

/// The pattern of one group of links (`None`: nothing of it is configured).
fn group_pattern<'a>(links: impl Iterator<Item = &'a LinkStatus>) -> Pattern {
    let mut worst: Option<LinkState> = None;
    for l in links {
        let rank = |s: LinkState| match s {
            LinkState::NeedsInstaller => 4,
            LinkState::Down => 3,
            LinkState::Connecting => 2,
            LinkState::Up => 1,
            LinkState::Off => 0,
        };
        if worst.is_none_or(|w| rank(l.state) > rank(w)) {
            worst = Some(l.state);
        }
    }
    match worst {
        None | Some(LinkState::Off) => Pattern::Off,
        Some(LinkState::Up) => Pattern::On,
        Some(LinkState::Connecting | LinkState::Down) => Pattern::SlowBlink,
        Some(LinkState::NeedsInstaller) => Pattern::FastBlink,
    }
}

/// The LED patterns for a snapshot of the links and the box's fault flag.
pub(crate) fn patterns(
    links: &BTreeMap<String, LinkStatus>,
    fault: bool,
) -> [(&'static str, Pattern); 4] {
    let of = |prefix: &str| {
        group_pattern(
            links
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(_, l)| l),
        )
    };
    let pbx_gsm = links
        .iter()
        .filter(|(n, _)| n.starts_with("pbx:") && n.matches(':').count() == 2);
    let modem = match links.get("modem") {
        Some(l) => group_pattern(std::iter::once(l)),
        None => group_pattern(pbx_gsm.map(|(_, l)| l)),
    };
    let pbx = group_pattern(
        links
            .iter()
            .filter(|(n, _)| n.starts_with("pbx:") && n.matches(':').count() == 1)
            .map(|(_, l)| l),
    );
    [
        ("pbx", pbx),
        ("uplink", of("uplink:")),
        ("modem", modem),
        ("fault", if fault { Pattern::On } else { Pattern::Off }),
    ]
}

/// The panel task: patterns every second, blinking every 125 ms, watchdog kicks while the
/// store writer answers.
pub(crate) struct Panel {
    pub leds: LedBank,
    pub watchdogs: Watchdogs,
    pub links: Links,
    pub appender: Appender,
    /// For the fault LED: dropped events, a quarantined database.
    pub reader: AsyncReader,
    /// For the fault LED: the disk the data lives on.
    pub data_dir: std::path::PathBuf,
    pub shutdown: CancellationToken,
}

impl Panel {
    pub async fn run(mut self) {
        let started = Instant::now();
        let mut blink = tokio::time::interval(Duration::from_millis(125));
        blink.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        let kick_every = self
            .watchdogs
            .systemd
            .as_ref()
            .and_then(|s| s.interval)
            .map_or(Duration::from_secs(5), |i| {
                (i / 2).max(Duration::from_secs(1))
            });
        let mut last_kick = Instant::now()
            .checked_sub(kick_every)
            .unwrap_or_else(Instant::now);
        self.watchdogs.ready();
        let mut reported = false;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = blink.tick() => {
                    let errors = self.leds.step(started.elapsed().as_millis() as u64);
                    if !errors.is_empty() && !reported {
                        tracing::warn!(errors = ?errors, "LEDs cannot be driven");
                        reported = true;
                    }
                }
                _ = every_second.tick() => {
                    let snapshot = self.links.snapshot();
                    let fault = fault(&self.reader, &self.data_dir).await;
                    for (role, pattern) in patterns(&snapshot, fault) {
                        self.leds.show(role, pattern);
                    }
                    if last_kick.elapsed() >= kick_every && alive(&self.appender).await {
                        let up = snapshot.values().filter(|l| l.state == LinkState::Up).count();
                        for e in self.watchdogs.kick(&format!("{up} of {} links up", snapshot.len())) {
                            tracing::warn!(error = %e, "watchdog not kicked");
                        }
                        last_kick = Instant::now();
                    }
                }
            }
        }
        self.watchdogs.stopping();
    }
}

// Free functions, not methods: a borrow of the whole panel (its LEDs are not Sync) held
// across an await would make the task !Send.

/// Events were dropped, a database was quarantined, or the data disk is nearly full.
async fn fault(reader: &AsyncReader, data_dir: &std::path::Path) -> bool {
    let stored = reader.call(|r| r.stats(&[])).await;
    stored.is_ok_and(|s| !fault_reasons(s.dropped, s.quarantined, data_dir).is_empty())
}

/// Why the fault LED is lit (empty: it is off), for the panel and the status page alike,
/// so whoever sees it lit can read what to do.
pub(crate) fn fault_reasons(
    dropped: u64,
    quarantined: u64,
    data_dir: &std::path::Path,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if dropped > 0 {
        reasons.push(format!("events dropped at the size cap: {dropped}"));
    }
    if quarantined > 0 {
        reasons.push(format!("databases quarantined: {quarantined}"));
    }
    if let Some(free) = low_disk(data_dir) {
        reasons.push(format!("disk low: {free}"));
    }
    reasons
}

/// The gateway's own loops are alive: this task runs, and the store writer answers.
async fn alive(appender: &Appender) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(5), appender.flush()).await,
        Ok(Ok(()))
    )
}

/// Under 5% or 50 MB free where the data lives: what is left, said for a person.
// The casts are needed on armv7, where these counters are 32-bit.
#[allow(clippy::unnecessary_cast)]
fn low_disk(dir: &std::path::Path) -> Option<String> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    let free = s.blocks_available() as u64 * s.fragment_size() as u64;
    let total = s.blocks() as u64 * s.fragment_size() as u64;
    let low = free < 50 * 1024 * 1024 || (total > 0 && free * 20 < total);
    low.then(|| {
        format!(
            "{} MB free of {} MB",
            free / (1024 * 1024),
            total / (1024 * 1024)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(states: &[(&str, LinkState)]) -> BTreeMap<String, LinkStatus> {
        let l = Links::new();
        for (name, state) in states {
            l.set(name, *state, None);
        }
        l.snapshot()
    }

    #[test]
    fn the_worst_link_of_a_group_sets_its_led() {
        use LinkState::*;
        let all = links(&[
            ("pbx:slican", Up),
            ("pbx:asterisk", NeedsInstaller),
            ("uplink:mqtt", Up),
            ("uplink:postgres", Connecting),
            ("modem", Up),
        ]);
        let p = patterns(&all, false);
        assert_eq!(
            p,
            [
                ("pbx", Pattern::FastBlink),
                ("uplink", Pattern::SlowBlink),
                ("modem", Pattern::On),
                ("fault", Pattern::Off)
            ]
        );
        let none = patterns(&BTreeMap::new(), true);
        assert_eq!(
            none,
            [
                ("pbx", Pattern::Off),
                ("uplink", Pattern::Off),
                ("modem", Pattern::Off),
                ("fault", Pattern::On)
            ]
        );
        // Without a modem, the PBX's GSM module is the modem LED; it is not a PBX link.
        let gsm = patterns(
            &links(&[("pbx:slican", Up), ("pbx:slican:G001", Down)]),
            false,
        );
        assert_eq!(
            (gsm[0], gsm[2]),
            (("pbx", Pattern::On), ("modem", Pattern::SlowBlink))
        );
    }

    #[test]
    fn the_fault_led_says_why_it_is_lit() {
        let here = std::path::Path::new(".");
        let disk = fault_reasons(0, 0, here);
        assert!(disk.iter().all(|r| r.starts_with("disk low: ")), "{disk:?}");
        let both = fault_reasons(12, 1, here);
        assert_eq!(
            both[..2],
            [
                "events dropped at the size cap: 12".to_owned(),
                "databases quarantined: 1".to_owned()
            ]
        );
    }
}
