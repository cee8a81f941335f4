//! Link quality: round-trip times of each link (AMI `Ping`, the CTIP `WHO`/`RQST` probe, a
//! PostgreSQL `SELECT 1`, the MQTT status publish's PUBACK), kept for 24 hours (one sample a
//! minute, the worst) and classified for the status page. The history is saved in the data
//! directory now and then and at shutdown, and read back at start, so a restart does not
//! blank the charts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

const KEEP_MS: i64 = 24 * 3_600_000;
/// Samples of one minute are folded into one (the worst), so a day always fits whatever the
/// probe period.
const BUCKET_MS: i64 = 60_000;
const MAX_SAMPLES: usize = (KEEP_MS / BUCKET_MS) as usize + 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The saved history's file in the data directory.
pub const FILE: &str = "quality.bin";

/// The history could not be saved or read back.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a saved link history ({source})")]
    Format {
        path: std::path::PathBuf,
        source: postcard::Error,
    },
}

impl QualityLog {
    /// Writes the history to `path` (a new file renamed over the old one, so a power cut
    /// leaves one or the other whole).
    pub fn save(&self, path: &std::path::Path) -> Result<(), HistoryError> {
        let bytes =
            postcard::to_stdvec(&self.history()).map_err(|source| HistoryError::Format {
                path: path.to_owned(),
                source,
            })?;
        let io = |source| HistoryError::Io {
            path: path.to_owned(),
            source,
        };
        let partial = path.with_extension("partial");
        std::fs::write(&partial, bytes).map_err(io)?;
        std::fs::rename(&partial, path).map_err(io)
    }

    /// Adds the samples saved in `path` that are still within the day before `now_ms`, before
    /// any recorded since (a missing file is an empty history).
    pub fn load(&self, path: &std::path::Path, now_ms: i64) -> Result<(), HistoryError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(HistoryError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let saved: BTreeMap<String, Vec<Sample>> =
            postcard::from_bytes(&bytes).map_err(|source| HistoryError::Format {
                path: path.to_owned(),
                source,
            })?;
        let Ok(mut map) = self.0.lock() else {
            return Ok(());
        };
        for (link, samples) in saved {
            let mut current = map.remove(&link).unwrap_or_default();
            let since = current.front().map_or(i64::MAX, |s| s.at_ms);
            let older = samples
                .into_iter()
                .filter(|s| s.at_ms < since && (0..=KEEP_MS).contains(&(now_ms - s.at_ms)));
            let mut merged: VecDeque<Sample> = older.collect();
            merged.append(&mut current);
            while merged.len() > MAX_SAMPLES {
                merged.pop_front();
            }
            if !merged.is_empty() {
                map.insert(link, merged);
            }
        }
        Ok(())
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

    /// Saved, read back a day later minus a minute: what is still within the day comes
    /// back, the rest is gone; a damaged file is a typed error, a missing one no history.
    #[test]
    fn the_history_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let log = QualityLog::default();
        let t0 = 1_795_000_000_000;
        log.record("pbx:a", Some(Duration::from_millis(12)), t0);
        log.record("monitor:crm", None, t0 + 3 * BUCKET_MS);
        log.record(
            "monitor:crm",
            Some(Duration::from_millis(220)),
            t0 + 4 * BUCKET_MS,
        );
        log.save(&path).unwrap();
        let back = QualityLog::default();
        back.load(&path, t0 + 3 * BUCKET_MS + KEEP_MS).unwrap();
        let history = back.history();
        assert!(!history.contains_key("pbx:a"), "older than a day");
        assert_eq!(history["monitor:crm"], log.history()["monitor:crm"]);
        assert_eq!(history["monitor:crm"][1].quality, Quality::Average);

        QualityLog::default()
            .load(&dir.path().join("none"), t0)
            .unwrap();
        std::fs::write(&path, b"\xff\xff\xff").unwrap();
        let err = QualityLog::default().load(&path, t0).unwrap_err();
        assert!(
            err.to_string().contains("not a saved link history"),
            "{err}"
        );
    }

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
