use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use super::LinkState;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkStatus {
    pub state: LinkState,
    pub detail: Option<String>,
    /// When the link entered this state (Unix ms).
    pub since_ms: i64,
}

/// Most distinct counter names kept (the gateway itself uses a few dozen).
pub(crate) const MAX_COUNTERS: usize = 256;
/// Where counts for names past [`MAX_COUNTERS`] go.
pub(crate) const OVERFLOW_COUNTER: &str = "counters:other";

/// The table of link states, and counters of what each link saw (unknown or malformed
/// lines, test frames...). Cheap to clone; every clone updates the same tables.
#[derive(Clone)]
pub struct Links {
    tx: Arc<watch::Sender<BTreeMap<String, LinkStatus>>>,
    counters: Arc<std::sync::Mutex<BTreeMap<String, u64>>>,
    /// Round-trip times of the links that measure them.
    pub quality: super::quality::QualityLog,
}

impl Default for Links {
    fn default() -> Self {
        Links::new()
    }
}

impl Links {
    pub fn new() -> Links {
        Links {
            tx: Arc::new(watch::channel(BTreeMap::new()).0),
            counters: Arc::default(),
            quality: Default::default(),
        }
    }

    /// Sets a link's state. Watchers are woken only when the state or detail changed, and
    /// `since` moves only when the state did.
    pub fn set(&self, link: &str, state: LinkState, detail: Option<String>) {
        self.tx.send_if_modified(|table| match table.get_mut(link) {
            Some(s) if s.state == state && s.detail == detail => false,
            Some(s) => {
                if s.state != state {
                    s.since_ms = crate::clock::now_ms();
                    tracing::info!(
                        link,
                        state = state.as_str(),
                        detail = detail.as_deref().unwrap_or(""),
                        "link state"
                    );
                }
                s.state = state;
                s.detail = detail;
                true
            }
            None => {
                tracing::info!(
                    link,
                    state = state.as_str(),
                    detail = detail.as_deref().unwrap_or(""),
                    "link state"
                );
                table.insert(
                    link.to_owned(),
                    LinkStatus {
                        state,
                        detail,
                        since_ms: crate::clock::now_ms(),
                    },
                );
                true
            }
        });
    }

    /// Adds one to a counter, e.g. `pbx:slican:unknown`. Past [`MAX_COUNTERS`] names, a new
    /// name counts in [`OVERFLOW_COUNTER`] instead, so the status stays small whatever a peer
    /// sends.
    pub fn count(&self, name: &str) {
        if let Ok(mut c) = self.counters.lock() {
            if let Some(n) = c.get_mut(name) {
                *n += 1;
            } else if c.len() < MAX_COUNTERS {
                c.insert(name.to_owned(), 1);
            } else {
                *c.entry(OVERFLOW_COUNTER.to_owned()).or_default() += 1;
            }
        }
    }

    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn snapshot(&self) -> BTreeMap<String, LinkStatus> {
        self.tx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<String, LinkStatus>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_past_the_bound_fold_into_one() {
        let links = Links::new();
        for i in 0..5_000 {
            links.count(&format!("pbx:ari:unknown:Kind{i}"));
        }
        links.count("pbx:ari:unknown:Kind0");
        let counters = links.counters();
        assert_eq!(counters.len(), MAX_COUNTERS + 1);
        assert_eq!(counters["pbx:ari:unknown:Kind0"], 2);
        assert_eq!(counters[OVERFLOW_COUNTER], (5_000 - MAX_COUNTERS) as u64);
    }
}
