use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use crate::calls::LinkState;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkStatus {
    pub state: LinkState,
    pub detail: Option<String>,
    /// When the link entered this state (Unix ms).
    pub since_ms: i64,
}

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
                    s.since_ms = crate::store::now_ms();
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
                        since_ms: crate::store::now_ms(),
                    },
                );
                true
            }
        });
    }

    /// Adds one to a counter, e.g. `pbx:slican:unknown`.
    pub fn count(&self, name: &str) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(name.to_owned()).or_default() += 1;
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
