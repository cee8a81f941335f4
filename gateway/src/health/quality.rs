//! Link quality: round-trip times of each link (AMI `Ping`, the MQTT status publish's PUBACK),
//! kept for 24 hours and classified for the status page.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

const KEEP_MS: i64 = 24 * 3_600_000;
/// At one sample a minute, a day fits; faster probes keep the newest.
const MAX_SAMPLES: usize = 2880;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Excellent,
    Good,
    Average,
    Poor,
    Disconnected,
}

impl Quality {
    /// Under 50 ms excellent, 150 good, 400 average, else poor; no answer: disconnected.
    pub fn of(rtt: Option<Duration>) -> Quality {
        match rtt.map(|d| d.as_millis()) {
            None => Quality::Disconnected,
            Some(0..50) => Quality::Excellent,
            Some(50..150) => Quality::Good,
            Some(150..400) => Quality::Average,
            Some(_) => Quality::Poor,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub at_ms: i64,
    /// `None`: the probe went unanswered.
    pub rtt_ms: Option<u64>,
    pub quality: Quality,
}

/// Per link, the samples of the last 24 hours. Cheap to clone; clones share the history.
#[derive(Clone, Default)]
pub struct QualityLog(Arc<Mutex<BTreeMap<String, VecDeque<Sample>>>>);

impl QualityLog {
    pub fn record(&self, link: &str, rtt: Option<Duration>, now_ms: i64) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        let samples = map.entry(link.to_owned()).or_default();
        samples.push_back(Sample {
            at_ms: now_ms,
            rtt_ms: rtt.map(|d| d.as_millis() as u64),
            quality: Quality::of(rtt),
        });
        while samples.front().is_some_and(|s| now_ms - s.at_ms > KEEP_MS)
            || samples.len() > MAX_SAMPLES
        {
            samples.pop_front();
        }
    }

    /// Every link's history, oldest sample first.
    pub fn history(&self) -> BTreeMap<String, Vec<Sample>> {
        self.0
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_classified_and_kept_for_a_day() {
        let log = QualityLog::default();
        let ms = Duration::from_millis;
        log.record("pbx:a", Some(ms(10)), 0);
        log.record("pbx:a", Some(ms(100)), 1);
        log.record("pbx:a", Some(ms(200)), 2);
        log.record("pbx:a", Some(ms(900)), 3);
        log.record("pbx:a", None, 4);
        let q: Vec<Quality> = log.history()["pbx:a"].iter().map(|s| s.quality).collect();
        use Quality::*;
        assert_eq!(q, [Excellent, Good, Average, Poor, Disconnected]);
        log.record("pbx:a", Some(ms(10)), KEEP_MS + 4);
        assert_eq!(log.history()["pbx:a"].len(), 2, "older than a day is gone");
    }
}
