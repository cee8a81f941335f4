//! Link quality: round-trip times of each link (AMI `Ping`, the CTIP `WHO`/`RQST` probe, a
//! PostgreSQL `SELECT 1`, the MQTT status publish's PUBACK), kept for 24 hours (one sample a
//! minute, the worst) and classified for the status page.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

const KEEP_MS: i64 = 24 * 3_600_000;
/// Samples of one minute are folded into one (the worst), so a day always fits whatever the
/// probe period.
const BUCKET_MS: i64 = 60_000;
const MAX_SAMPLES: usize = (KEEP_MS / BUCKET_MS) as usize + 1;

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
        let sample = Sample {
            at_ms: now_ms,
            rtt_ms: rtt.map(|d| d.as_millis() as u64),
            quality: Quality::of(rtt),
        };
        match samples.back_mut() {
            Some(last) if last.at_ms.div_euclid(BUCKET_MS) == now_ms.div_euclid(BUCKET_MS) => {
                if worse(&sample, last) {
                    *last = Sample {
                        at_ms: last.at_ms,
                        ..sample
                    };
                }
            }
            _ => samples.push_back(sample),
        }
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

/// No answer is worst; else the slower round trip.
fn worse(a: &Sample, b: &Sample) -> bool {
    match (a.rtt_ms, b.rtt_ms) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => x > y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_classified_and_kept_for_a_day() {
        let log = QualityLog::default();
        let ms = Duration::from_millis;
        let minute = |m: i64| m * BUCKET_MS;
        log.record("pbx:a", Some(ms(10)), minute(0));
        log.record("pbx:a", Some(ms(100)), minute(1));
        log.record("pbx:a", Some(ms(200)), minute(2));
        log.record("pbx:a", Some(ms(900)), minute(3));
        log.record("pbx:a", None, minute(4));
        let q: Vec<Quality> = log.history()["pbx:a"].iter().map(|s| s.quality).collect();
        use Quality::*;
        assert_eq!(q, [Excellent, Good, Average, Poor, Disconnected]);
        log.record("pbx:a", Some(ms(10)), KEEP_MS + minute(4));
        assert_eq!(log.history()["pbx:a"].len(), 2, "older than a day is gone");
    }

    #[test]
    fn a_minute_keeps_its_worst_sample_so_a_day_always_fits() {
        let log = QualityLog::default();
        let ms = Duration::from_millis;
        log.record("l", Some(ms(20)), 0);
        log.record("l", Some(ms(300)), 1_000);
        log.record("l", Some(ms(40)), 2_000);
        let h = log.history();
        assert_eq!(h["l"].len(), 1);
        assert_eq!((h["l"][0].at_ms, h["l"][0].rtt_ms), (0, Some(300)));
        log.record("l", None, 3_000);
        assert_eq!(log.history()["l"][0].quality, Quality::Disconnected);
        // A probe every second for a whole day.
        for s in 0..86_400 {
            log.record("fast", Some(ms(5)), s * 1_000);
        }
        let day = &log.history()["fast"];
        assert_eq!(day.len(), 1440);
        assert_eq!(day[0].at_ms, 0, "the first minute is still there");
    }
}
