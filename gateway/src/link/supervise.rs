//! The one reconnect loop every link runs in.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{LinkState, Links};
use crate::backoff::Backoff;

/// Why one connection of a link ended.
pub trait LinkError: std::fmt::Display {
    /// True for failures only the installer can fix (a refused login or PIN, TLS, grants):
    /// shown as "needs installer", and retried slowly so a wrong secret cannot lock the
    /// account or the SIM.
    fn needs_installer(&self) -> bool;
}

/// What the loop does after a lost connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Wait out the backoff, then connect again.
    AfterBackoff,
    /// Connect again now: the link already did what recovers it (a modem power cycle).
    Now,
}

/// One link as the supervisor sees it.
pub(crate) trait Link {
    type Error: LinkError;

    /// The name in the links table: `pbx:slican`, `pbx:slican:G001`, `modem`, `uplink:mqtt`.
    fn name(&self) -> String;

    /// One connection: connect, mark the link up in the table once it is, and serve until it
    /// is lost. `Ok` ends the supervision for good (shutdown, or nobody left to serve).
    async fn connected(&mut self) -> Result<(), Self::Error>;

    /// After a lost connection, before the wait: e.g. tell the correlator that open calls
    /// cannot be followed any more. The table already shows the failure.
    async fn lost(&mut self, _error: &Self::Error) -> Retry {
        Retry::AfterBackoff
    }

    /// While waiting to reconnect (returns at `until`): e.g. answer control requests with
    /// "not connected" instead of leaving them to time out.
    async fn while_down(&mut self, until: Instant) {
        tokio::time::sleep_until(until).await
    }
}

impl<L: Link> Link for &mut L {
    type Error = L::Error;
    fn name(&self) -> String {
        (**self).name()
    }
    async fn connected(&mut self) -> Result<(), Self::Error> {
        (**self).connected().await
    }
    async fn lost(&mut self, error: &Self::Error) -> Retry {
        (**self).lost(error).await
    }
    async fn while_down(&mut self, until: Instant) {
        (**self).while_down(until).await
    }
}

/// Waits until `until`, answering each request that comes meanwhile with `refuse` (a
/// link's `while_down`: requests fail at once with "not connected" instead of timing out).
pub(crate) async fn refuse_until<R>(
    requests: &mut tokio::sync::mpsc::Receiver<R>,
    until: Instant,
    mut refuse: impl FnMut(R),
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return,
            Some(req) = requests.recv() => refuse(req),
        }
    }
}

/// How a link retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// The first wait after a failure; it doubles up to `cap`, with jitter.
    pub base: Duration,
    pub cap: Duration,
    /// A connection that lasted this long starts the backoff over.
    pub reset_after: Duration,
    /// The least wait after a failure only the installer can fix.
    pub installer_wait: Duration,
}

impl Policy {
    /// PBX links: a refused login is retried once a minute at most, so a wrong secret
    /// cannot get the PBX to lock the account.
    pub const PBX: Policy = Policy {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        reset_after: Duration::from_secs(60),
        installer_wait: Duration::from_secs(60),
    };
    /// SIM links (the modem, a PBX's GSM module): a refused PIN is never retried quickly,
    /// since a PUK lock would strand the SIM.
    pub const SIM: Policy = Policy {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        reset_after: Duration::from_secs(60),
        installer_wait: Duration::from_secs(300),
    };
    /// Uplinks: the central side is retried on the plain backoff.
    pub(crate) const UPLINK: Policy = Policy {
        base: Duration::from_millis(500),
        cap: Duration::from_secs(60),
        reset_after: Duration::from_secs(30),
        installer_wait: Duration::ZERO,
    };

    fn wait(&self, backoff: &mut Backoff, needs_installer: bool) -> Duration {
        let wait = backoff.next_delay();
        if needs_installer {
            wait.max(self.installer_wait)
        } else {
            wait
        }
    }
}

/// The counter (`<link>:reconnects`) of each time a link was lost and is tried again.
pub(crate) const RECONNECTS: &str = "reconnects";

/// Keeps `link` up until it ends itself or `shutdown` is cancelled: shows it connecting,
/// then down or needing the installer with the reason after each failure, and reconnects
/// after the policy's wait.
pub(crate) async fn supervise<L: Link>(
    mut link: L,
    links: &Links,
    policy: Policy,
    shutdown: &CancellationToken,
) {
    let name = link.name();
    let mut backoff = Backoff::new(policy.base, policy.cap);
    loop {
        links.set(&name, LinkState::Connecting, None);
        let started = Instant::now();
        let error = tokio::select! {
            r = link.connected() => match r {
                Ok(()) => return,
                Err(e) => e,
            },
            _ = shutdown.cancelled() => return,
        };
        let installer = error.needs_installer();
        tracing::warn!(link = %name, error = %error, "link lost; will reconnect");
        links.count(&format!("{name}:{RECONNECTS}"));
        let state = if installer {
            LinkState::NeedsInstaller
        } else {
            LinkState::Down
        };
        links.set(&name, state, Some(error.to_string()));
        if started.elapsed() >= policy.reset_after {
            backoff.reset();
        }
        let retry = tokio::select! {
            r = link.lost(&error) => r,
            _ = shutdown.cancelled() => return,
        };
        if retry == Retry::Now {
            continue;
        }
        let until = Instant::now() + policy.wait(&mut backoff, installer);
        tokio::select! {
            _ = link.while_down(until) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug)]
    struct Refused(bool);
    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(if self.0 {
                "login refused"
            } else {
                "connection reset"
            })
        }
    }
    impl LinkError for Refused {
        fn needs_installer(&self) -> bool {
            self.0
        }
    }

    /// Fails with the scripted errors, then ends; records what the table showed meanwhile.
    struct Scripted {
        script: Vec<Refused>,
        links: Links,
        seen: Arc<Mutex<Vec<(LinkState, Instant)>>>,
        /// What the table showed when each loss was reported to the link.
        failures: Vec<(LinkState, Option<String>)>,
    }
    impl Link for Scripted {
        type Error = Refused;
        fn name(&self) -> String {
            "pbx:test".into()
        }
        async fn connected(&mut self) -> Result<(), Refused> {
            let state = self.links.snapshot()["pbx:test"].state;
            self.seen.lock().unwrap().push((state, Instant::now()));
            match self.script.pop() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        async fn lost(&mut self, _error: &Refused) -> Retry {
            let now = &self.links.snapshot()["pbx:test"];
            self.failures.push((now.state, now.detail.clone()));
            Retry::AfterBackoff
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_waits_the_installer_wait_and_a_drop_the_backoff() {
        let links = Links::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut link = Scripted {
            script: vec![Refused(false), Refused(true)],
            links: links.clone(),
            seen: seen.clone(),
            failures: Vec::new(),
        };
        let start = Instant::now();
        supervise(&mut link, &links, Policy::PBX, &CancellationToken::new()).await;
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|(s, _)| *s == LinkState::Connecting));
        // The refusal came first: at least a minute; the drop after it: the backoff's first
        // step (base 1 s, halved by jitter at most).
        assert!(seen[1].1 - start >= Duration::from_secs(60));
        let second = seen[2].1 - seen[1].1;
        assert!(second >= Duration::from_millis(500) && second <= Duration::from_secs(2));
        assert_eq!(
            link.failures,
            [
                (LinkState::NeedsInstaller, Some("login refused".into())),
                (LinkState::Down, Some("connection reset".into()))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_wait() {
        let links = Links::new();
        let shutdown = CancellationToken::new();
        let link = Scripted {
            script: vec![Refused(true)],
            links: links.clone(),
            seen: Arc::default(),
            failures: Vec::new(),
        };
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stop.cancel();
        });
        let start = Instant::now();
        supervise(link, &links, Policy::PBX, &shutdown).await;
        assert!(Instant::now() - start < Duration::from_secs(6));
        assert_eq!(
            links.snapshot()["pbx:test"].state,
            LinkState::NeedsInstaller
        );
    }
}
