//! `GET /metrics`: the gateway's state in the OpenMetrics text format, written by
//! `prometheus-client` (counters end in `_total`, units are in the names).
//!
//! Every value is read at scrape time from where it already lives (the store, the link table,
//! the command and SMS queues), so nothing here can drift from what the status page shows.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::link::{LinkState, LinkStatus};
use crate::store::StoreStats;

type Labels = Vec<(&'static str, String)>;

/// What a scrape reports, gathered before it is written.
pub(super) struct Snapshot {
    pub store: StoreStats,
    pub now_ms: i64,
    pub links: std::collections::BTreeMap<String, LinkStatus>,
    pub counters: std::collections::BTreeMap<String, u64>,
    pub commands: Vec<((&'static str, &'static str), u64)>,
    pub sms: Vec<(&'static str, u64)>,
}

/// Counter suffixes that say a peer sent something the gateway could not use.
const DISCARD_REASONS: [&str; 4] = ["malformed", "unknown", "oversized", "garbage"];

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn gauges(registry: &mut Registry, name: &str, help: &str, samples: Vec<(Labels, i64)>) {
    let family = Family::<Labels, Gauge>::default();
    for (labels, value) in samples {
        family.get_or_create(&labels).set(value);
    }
    registry.register(name, help, family);
}

fn counters(registry: &mut Registry, name: &str, help: &str, samples: Vec<(Labels, u64)>) {
    let family = Family::<Labels, Counter>::default();
    for (labels, value) in samples {
        family.get_or_create(&labels).inc_by(value);
    }
    registry.register(name, help, family);
}

/// `pbx:slican:malformed` → (`pbx:slican`, `malformed`); the link's own counters
/// (`reconnects`) and the rest (`api:timeouts`) are told apart by the caller.
fn split_counter<'a>(name: &'a str, reasons: &[&str]) -> Option<(&'a str, &'a str)> {
    let mut start = 0;
    for part in name.split(':') {
        if reasons.contains(&part) && start > 0 {
            return Some((&name[..start - 1], part));
        }
        start += part.len() + 1;
    }
    None
}

pub(super) fn render(s: &Snapshot) -> Result<String, std::fmt::Error> {
    let mut r = Registry::default();
    gauges(
        &mut r,
        "pbxgw_build_info",
        "The running gateway's version and target; always 1",
        vec![(
            vec![
                ("version", env!("CARGO_PKG_VERSION").to_owned()),
                ("arch", std::env::consts::ARCH.to_owned()),
            ],
            1,
        )],
    );
    counter(
        &mut r,
        "pbxgw_events_stored",
        "Events stored since the database was created (the last sequence number)",
        s.store.last_seq,
    );
    counter(
        &mut r,
        "pbxgw_events_dropped",
        "Unacknowledged events dropped at the size cap or on a full disk",
        s.store.dropped,
    );
    gauge(
        &mut r,
        "pbxgw_database_size_bytes",
        "Size of the event database and its write-ahead log",
        s.store.db_bytes as i64,
    );
    let sink = |name: &str| vec![("sink", name.to_owned())];
    gauges(
        &mut r,
        "pbxgw_sink_backlog_events",
        "Events the sink has not had acknowledged",
        s.store
            .sinks
            .iter()
            .map(|b| (sink(&b.sink), b.backlog as i64))
            .collect(),
    );
    gauges(
        &mut r,
        "pbxgw_sink_oldest_unacked_seconds",
        "Age of the oldest event the sink has not had acknowledged; 0 when it is caught up",
        s.store
            .sinks
            .iter()
            .map(|b| {
                let age_ms = b.oldest_unacked_ms.map_or(0, |ts| (s.now_ms - ts).max(0));
                (sink(&b.sink), age_ms / 1000)
            })
            .collect(),
    );
    let link = |name: &str| vec![("link", name.to_owned())];
    gauges(
        &mut r,
        "pbxgw_link_up",
        "1 when the link is up",
        s.links
            .iter()
            .map(|(name, l)| (link(name), i64::from(l.state == LinkState::Up)))
            .collect(),
    );
    let reconnect = [crate::link::RECONNECTS];
    let mut reconnects = Vec::new();
    let mut discarded = Vec::new();
    let mut other = Vec::new();
    for (name, &count) in &s.counters {
        if let Some((l, _)) = split_counter(name, &reconnect) {
            reconnects.push((link(l), count));
        } else if let Some((l, reason)) = split_counter(name, &DISCARD_REASONS) {
            discarded.push((
                vec![("link", l.to_owned()), ("reason", reason.to_owned())],
                count,
            ));
        } else {
            other.push((vec![("what", name.clone())], count));
        }
    }
    counters(
        &mut r,
        "pbxgw_link_reconnects",
        "Times the link was lost and tried again",
        reconnects,
    );
    counters(
        &mut r,
        "pbxgw_link_input_discarded",
        "Lines or frames from the peer that were not used, by reason",
        merge(discarded),
    );
    counters(
        &mut r,
        "pbxgw_occurrences",
        "Other things the gateway counts (API timeouts, refused connections, dropped commands)",
        other,
    );
    counters(
        &mut r,
        "pbxgw_commands",
        "Remote commands by how they ended: ok, a refusal's code, or repeated",
        s.commands
            .iter()
            .map(|((command, result), n)| {
                (
                    vec![
                        ("command", (*command).to_owned()),
                        ("result", (*result).to_owned()),
                    ],
                    *n,
                )
            })
            .collect(),
    );
    gauges(
        &mut r,
        "pbxgw_sms_texts",
        "Texts in the SMS queue by state",
        s.sms
            .iter()
            .map(|(state, n)| (vec![("state", (*state).to_owned())], *n as i64))
            .collect(),
    );
    let mut out = String::new();
    encode(&mut out, &r)?;
    Ok(out)
}

/// Several counters that map to one label set (`unknown:KindA`, `unknown:KindB`) add up.
fn merge(samples: Vec<(Labels, u64)>) -> Vec<(Labels, u64)> {
    let mut merged: Vec<(Labels, u64)> = Vec::new();
    for (labels, n) in samples {
        match merged.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, total)) => *total += n,
            None => merged.push((labels, n)),
        }
    }
    merged
}

/// The media type of [`render`]'s text.
pub(super) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The media type of [`to_prometheus_text`]'s.
pub(super) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The same samples in Prometheus' own text format, for scrapers that do not ask for
/// OpenMetrics (promtool, older Prometheus, curl): a counter's family is named with its
/// `_total` like its samples, and the OpenMetrics-only `# UNIT` and `# EOF` lines go.
pub(super) fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let family = ["# HELP ", "# TYPE "].into_iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let name = rest.split(' ').next()?;
            // ok: `name` is the start of `rest`, so its length is a character boundary
            counters
                .contains(&name)
                .then(|| (p, name, &rest[name.len()..]))
        });
        match family {
            Some((prefix, name, rest)) => out += &format!("{prefix}{name}_total{rest}"),
            None => out += line,
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counter_families_with_their_total() {
        let om = "# HELP a_events Events.\n# TYPE a_events counter\na_events_total 3\n\
                  # HELP b_bytes Size.\n# TYPE b_bytes gauge\n# UNIT b_bytes bytes\nb_bytes 5\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_events_total Events.\n# TYPE a_events_total counter\na_events_total 3\n\
             # HELP b_bytes Size.\n# TYPE b_bytes gauge\nb_bytes 5\n"
        );
    }

    #[test]
    fn a_scrape_names_each_sink_link_and_command() {
        let store = StoreStats {
            last_seq: 42,
            first_seq: Some(1),
            rows: 42,
            dropped: 3,
            evicted_total: 3,
            quarantined: 0,
            last_quarantine: None,
            db_bytes: 4096,
            sinks: vec![
                crate::store::SinkBacklog {
                    sink: "mqtt".into(),
                    acked_seq: 30,
                    backlog: 12,
                    oldest_unacked_ms: Some(1_000_000 - 90_500),
                },
                crate::store::SinkBacklog {
                    sink: "postgres".into(),
                    acked_seq: 42,
                    backlog: 0,
                    oldest_unacked_ms: None,
                },
            ],
        };
        let links = [
            ("pbx:slican", LinkState::Up),
            ("uplink:mqtt", LinkState::Down),
        ]
        .into_iter()
        .map(|(n, state)| {
            let status = LinkStatus {
                state,
                detail: None,
                since_ms: 0,
            };
            (n.to_owned(), status)
        })
        .collect();
        let counters = [
            ("uplink:mqtt:reconnects", 4),
            ("pbx:ari:unknown:KindA", 2),
            ("pbx:ari:unknown:KindB", 5),
            ("pbx:slican:malformed", 1),
            ("api:timeouts", 7),
        ]
        .into_iter()
        .map(|(n, c)| (n.to_owned(), c))
        .collect();
        let text = render(&Snapshot {
            store,
            now_ms: 1_000_000,
            links,
            counters,
            commands: vec![(("sms.send", "ok"), 2), (("sms.send", "rate_limited"), 1)],
            sms: vec![("queued", 1), ("failed", 0)],
        })
        .unwrap();
        let text = to_prometheus_text(&text);
        for sample in [
            "pbxgw_events_stored_total 42",
            "pbxgw_events_dropped_total 3",
            "pbxgw_database_size_bytes 4096",
            "pbxgw_sink_backlog_events{sink=\"mqtt\"} 12",
            "pbxgw_sink_oldest_unacked_seconds{sink=\"mqtt\"} 90",
            "pbxgw_sink_oldest_unacked_seconds{sink=\"postgres\"} 0",
            "pbxgw_link_up{link=\"pbx:slican\"} 1",
            "pbxgw_link_up{link=\"uplink:mqtt\"} 0",
            "pbxgw_link_reconnects_total{link=\"uplink:mqtt\"} 4",
            "pbxgw_link_input_discarded_total{link=\"pbx:ari\",reason=\"unknown\"} 7",
            "pbxgw_link_input_discarded_total{link=\"pbx:slican\",reason=\"malformed\"} 1",
            "pbxgw_occurrences_total{what=\"api:timeouts\"} 7",
            "pbxgw_commands_total{command=\"sms.send\",result=\"rate_limited\"} 1",
            "pbxgw_sms_texts{state=\"queued\"} 1",
        ] {
            assert!(text.lines().any(|l| l == sample), "{sample} in\n{text}");
        }
    }

    #[test]
    fn counters_split_into_link_and_reason() {
        assert_eq!(
            split_counter("pbx:ari:unknown:Kind0", &DISCARD_REASONS),
            Some(("pbx:ari", "unknown"))
        );
        assert_eq!(
            split_counter("pbx:slican:malformed", &DISCARD_REASONS),
            Some(("pbx:slican", "malformed"))
        );
        assert_eq!(split_counter("api:timeouts", &DISCARD_REASONS), None);
        assert_eq!(split_counter("unknown", &DISCARD_REASONS), None);
        assert_eq!(
            split_counter("uplink:mqtt:reconnects", &["reconnects"]),
            Some(("uplink:mqtt", "reconnects"))
        );
    }
}
