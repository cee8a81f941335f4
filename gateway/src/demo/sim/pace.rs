//! When to send each line of the timed CTIP capture (`ctip/raw_stream_anon_timed.tsv`, three
//! days of a real exchange): while any call is up, the recorded gaps divided by a speed
//! factor, so talk and ring times stay proportional; while the exchange is quiet, at most a
//! cap, so the nights and the hours between calls do not stall the replay.

use std::collections::BTreeMap;
use std::time::Duration;

/// How the capture's time maps to the replay's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Capture seconds per replay second while a call is up.
    pub speed: f64,
    /// The longest wait while no call is up.
    pub quiet_cap: Duration,
}

impl Pace {
    /// The demo's: 15x inside calls, at most half a second between them. The capture's
    /// ~1,050 lines then take about fourteen minutes, and its first minute ends about ten
    /// answered calls with talk times of a few seconds (a minute's conversation is 4 s).
    pub const DEMO: Pace = Pace {
        speed: 15.0,
        quiet_cap: Duration::from_millis(500),
    };
}

/// A phone ringing longer than this is a capture artefact (a REL the log never got), not a
/// call still ringing: PBXs give up after a minute or two.
const STALE_RING_S: f64 = 600.0;
/// The same for a connected leg: the capture's longest conversation is about 40 minutes.
const STALE_TALK_S: f64 = 4.0 * 3600.0;

/// An extension's leg: since when, and whether it was answered.
#[derive(Debug, Clone, Copy)]
struct Leg {
    since_s: f64,
    talking: bool,
}

/// A capture line with the second it was received.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedLine {
    pub at_s: f64,
    pub line: String,
}

/// The lines of a `rx_ts<TAB>line` capture; rows whose time does not parse are skipped.
pub fn parse_timed(tsv: &str) -> Vec<TimedLine> {
    tsv.lines()
        .filter_map(|row| {
            let (ts, line) = row.split_once('\t')?;
            Some(TimedLine {
                at_s: capture_seconds(ts)?,
                line: line.to_owned(),
            })
        })
        .collect()
}

/// `2025-09-02 15:44:19.03303+02` as Unix seconds.
fn capture_seconds(ts: &str) -> Option<f64> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let base = time::PrimitiveDateTime::parse(ts.get(..19)?, format).ok()?;
    let rest = ts.get(19..)?;
    let sign_at = rest.find(['+', '-']).unwrap_or(rest.len());
    let fraction: f64 = match &rest[..sign_at] {
        "" => 0.0,
        f => format!("0{f}").parse().ok()?,
    };
    let offset_h: i64 = match &rest[sign_at..] {
        "" => 0,
        o => o.parse().ok()?,
    };
    Some((base.assume_utc().unix_timestamp() - offset_h * 3600) as f64 + fraction)
}

/// The wait after each line (the last one's is zero).
pub fn gaps(lines: &[TimedLine], pace: Pace) -> Vec<Duration> {
    let speed = if pace.speed > 0.0 { pace.speed } else { 1.0 };
    let mut open: BTreeMap<String, Leg> = BTreeMap::new();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        track_leg(&mut open, l);
        let Some(next) = lines.get(i + 1) else {
            out.push(Duration::ZERO);
            break;
        };
        open.retain(|_, leg| {
            let limit = if leg.talking {
                STALE_TALK_S
            } else {
                STALE_RING_S
            };
            next.at_s - leg.since_s <= limit
        });
        let gap = Duration::from_secs_f64(((next.at_s - l.at_s) / speed).max(0.0));
        out.push(if open.is_empty() {
            gap.min(pace.quiet_cap)
        } else {
            gap
        });
    }
    out
}

/// RING, ECHO and CONN put an extension on a call; REL takes it off.
fn track_leg(open: &mut BTreeMap<String, Leg>, l: &TimedLine) {
    let mut fields = l.line.trim_start_matches('a').split(' ');
    let (Some(verb), Some(extension)) = (fields.next(), fields.next()) else {
        return;
    };
    let ringing = Leg {
        since_s: l.at_s,
        talking: false,
    };
    match verb {
        "RING" | "ECHO" => {
            open.entry(extension.to_owned()).or_insert(ringing);
        }
        "CONN" => {
            let leg = open.entry(extension.to_owned()).or_insert(ringing);
            if !leg.talking {
                *leg = Leg {
                    since_s: l.at_s,
                    talking: true,
                };
            }
        }
        "REL" => {
            open.remove(extension);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at_s: f64, line: &str) -> TimedLine {
        TimedLine {
            at_s,
            line: line.into(),
        }
    }

    const PACE: Pace = Pace {
        speed: 10.0,
        quiet_cap: Duration::from_millis(500),
    };

    #[test]
    fn capture_times_parse_with_their_offset() {
        let rows = "rx_ts\tline\n2025-09-02 15:44:19.03303+02\taRING 105_ 1 0 2 _ x\n2025-09-02 15:44:20+02\taREL 105_ 1\n";
        let lines = parse_timed(rows);
        assert_eq!(lines.len(), 2);
        assert!(
            (lines[0].at_s - 1_756_820_659.033_03).abs() < 1e-6,
            "{lines:?}"
        );
        assert!((lines[1].at_s - lines[0].at_s - 0.96697).abs() < 1e-6);
    }

    #[test]
    fn inside_a_call_gaps_stay_proportional_and_quiet_gaps_are_capped() {
        let lines = [
            line(0.0, "aRING 105_ 351 0 517 _ x"),
            line(5.0, "aCONN 105_ 351 0"),
            line(65.0, "aREL 105_ 1"),
            line(7265.0, "aRING 101_ 902 0 517 _ x"),
            line(7275.0, "aREL 101_ 39"),
        ];
        let g = gaps(&lines, PACE);
        assert_eq!(
            g,
            [
                Duration::from_millis(500),
                Duration::from_secs(6),
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::ZERO,
            ]
        );
    }

    #[test]
    fn a_leg_the_capture_never_released_stops_counting() {
        let lines = [
            line(0.0, "aRING 109_ 902 0 517 _ x"),
            line(3600.0, "aRING 105_ 351 0 517 _ x"),
            line(3610.0, "aCONN 105_ 351 0"),
            line(6010.0, "aREL 105_ 1"),
            line(90_000.0, "aSTAT 101_ H f d l a p c q"),
        ];
        let g = gaps(&lines, PACE);
        assert_eq!(g[0], Duration::from_millis(500), "stale at the next line");
        assert_eq!(g[1], Duration::from_secs(1));
        assert_eq!(
            g[2],
            Duration::from_secs(240),
            "a 40-minute talk is not stale"
        );
        assert_eq!(g[3], Duration::from_millis(500));
    }

    #[test]
    fn the_real_capture_keeps_every_call_in_order_and_ends_in_minutes() {
        let lines = parse_timed(&crate::fixtures::fixture("ctip/raw_stream_anon_timed.tsv"));
        assert!(lines.len() > 1000);
        let g = gaps(&lines, Pace::DEMO);
        assert_eq!(g.len(), lines.len());
        let total: Duration = g.iter().sum();
        assert!(
            total > Duration::from_secs(300) && total < Duration::from_secs(1200),
            "{total:?}"
        );
        // Every CONN..REL of an extension lasts its recorded time over the speed.
        let mut at = Duration::ZERO;
        let mut conn: BTreeMap<&str, (f64, Duration)> = BTreeMap::new();
        let mut talks = 0;
        for (l, gap) in lines.iter().zip(&g) {
            let mut f = l.line.trim_start_matches('a').split(' ');
            match (f.next(), f.next()) {
                (Some("CONN"), Some(ext)) => {
                    conn.insert(ext, (l.at_s, at));
                }
                (Some("REL"), Some(ext)) => {
                    if let Some((from_s, from)) = conn.remove(ext) {
                        let want = (l.at_s - from_s) / Pace::DEMO.speed;
                        let got = (at - from).as_secs_f64();
                        assert!((got - want).abs() < 1e-3, "{ext}: {got} vs {want}");
                        talks += 1;
                    }
                }
                _ => {}
            }
            at += *gap;
        }
        assert!(talks > 50, "{talks}");
    }

    proptest::proptest! {
        /// Any sequence of lines: no wait is negative, none exceeds the recorded gap over
        /// the speed, and the quiet ones never exceed the cap.
        #[test]
        fn waits_are_bounded(
            steps in proptest::collection::vec(
                (0.0f64..100_000.0, 0usize..5, 100u32..110),
                1..60,
            ),
            speed in 0.5f64..50.0,
        ) {
            let verbs = ["RING", "CONN", "REL", "STAT", "ECHO"];
            let mut at = 0.0;
            let lines: Vec<TimedLine> = steps
                .iter()
                .map(|(gap, verb, ext)| {
                    at += gap;
                    line(at, &format!("a{} {ext}_ 1 0", verbs[*verb]))
                })
                .collect();
            let pace = Pace { speed, quiet_cap: Duration::from_millis(500) };
            let g = gaps(&lines, pace);
            proptest::prop_assert_eq!(g.len(), lines.len());
            for (i, wait) in g.iter().enumerate().take(lines.len() - 1) {
                let recorded = (lines[i + 1].at_s - lines[i].at_s) / speed;
                proptest::prop_assert!(wait.as_secs_f64() <= recorded + 1e-6);
            }
        }
    }
}
