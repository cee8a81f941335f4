use std::collections::BTreeMap;

use serde::Serialize;

use crate::link::LinkStatus;
use crate::store::StoreStats;

/// What the gateway says about itself: `pbxgw status`, the retained MQTT status, the API.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub v: u32,
    pub gw: String,
    pub online: bool,
    pub ts: String,
    pub version: &'static str,
    pub links: BTreeMap<String, LinkStatus>,
    /// What the links saw that did not become events: unknown or malformed lines, test
    /// frames, orphan messages.
    pub counters: BTreeMap<String, u64>,
    /// Events not yet acknowledged, per sink.
    pub backlog: BTreeMap<String, u64>,
    /// Age in seconds of the oldest event not yet acknowledged, per sink.
    pub oldest_unacked_s: BTreeMap<String, Option<i64>>,
    /// Unacknowledged events lost to the size cap or a full disk since the database was made.
    pub dropped: u64,
    pub quarantined: u64,
    pub last_seq: u64,
    pub db_bytes: u64,
}

impl StatusReport {
    pub fn new(
        gw: &str,
        links: BTreeMap<String, LinkStatus>,
        counters: BTreeMap<String, u64>,
        stats: &StoreStats,
    ) -> StatusReport {
        let now = crate::clock::now_ms();
        StatusReport {
            v: 1,
            gw: gw.to_owned(),
            online: true,
            ts: crate::timefmt::rfc3339_ms(now),
            version: env!("CARGO_PKG_VERSION"),
            links,
            counters,
            backlog: stats
                .sinks
                .iter()
                .map(|s| (s.sink.clone(), s.backlog))
                .collect(),
            oldest_unacked_s: stats
                .sinks
                .iter()
                .map(|s| {
                    (
                        s.sink.clone(),
                        s.oldest_unacked_ms.map(|t| (now - t).max(0) / 1000),
                    )
                })
                .collect(),
            dropped: stats.dropped,
            quarantined: stats.quarantined,
            last_seq: stats.last_seq,
            db_bytes: stats.db_bytes,
        }
    }

    /// The Last Will: what the broker publishes when the gateway vanishes.
    pub(crate) fn offline_json(gw: &str) -> String {
        serde_json::json!({ "v": 1, "gw": gw, "online": false }).to_string()
    }
}
