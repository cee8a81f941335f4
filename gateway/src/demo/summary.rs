//! What the demo prints: a line per call as it ends and per text the modem takes, then a
//! closing summary a supervisor reads as a day at the exchange (calls by disposition, answer
//! rate, missed callers and callbacks, talk time per agent or extension, texts, and what
//! each uplink has acknowledged).

use std::collections::BTreeMap;
use std::fmt;

use super::sim::modem::ModemSim;
use super::DemoError;
use crate::calls::{CallRecord, EventBody};
use crate::config::Config;
use crate::runtime::Gateway;
use crate::store::StoreReader;
use crate::store::{AgentCounts, Callbacks, Totals};

/// What has been printed so far.
pub(super) struct Shown {
    /// Each PBX's replay speed, to read a time back to the recorded one.
    speeds: BTreeMap<String, f64>,
    seq: u64,
    texts: usize,
    /// Ended calls by disposition.
    dispositions: BTreeMap<&'static str, usize>,
    /// Talk time of the answered calls as the captures recorded it.
    recorded_talk_s: f64,
    /// Calls whose record ends before it starts (there must be none).
    inconsistent: usize,
}

impl Shown {
    /// `speeds`: each PBX's name and the speed its capture is replayed at.
    pub(super) fn new(speeds: &[(&str, f64)]) -> Shown {
        Shown {
            speeds: speeds.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
            seq: 0,
            texts: 0,
            dispositions: BTreeMap::new(),
            recorded_talk_s: 0.0,
            inconsistent: 0,
        }
    }

    /// Prints the calls that ended and the texts the modem took since last time.
    pub(super) fn print_new(&mut self, config: &Config, modem: &ModemSim) -> Result<(), DemoError> {
        let reader = StoreReader::open(&config.db_path())?;
        loop {
            let events = reader.events_after(self.seq, 1000)?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            self.seq = last;
            for event in events {
                if let Ok(EventBody::CallEnded(record)) = &event.body {
                    let speed = self.speeds.get(&event.pbx).copied();
                    println!("{}", call_line(&event.pbx, record, speed));
                    self.count(record, speed);
                }
            }
        }
        let sent = modem.submitted();
        for (to, text) in sent.iter().skip(self.texts) {
            println!("SMS   to {to}: {text}");
        }
        self.texts = self.texts.max(sent.len());
        Ok(())
    }

    fn count(&mut self, r: &CallRecord, speed: Option<f64>) {
        *self.dispositions.entry(r.disposition.as_str()).or_default() += 1;
        if let Some(answered) = r.answered_at {
            self.recorded_talk_s += as_recorded_s(r.ended_at - answered, speed).unwrap_or(0.0);
        }
        if r.ended_at < r.started_at || r.answered_at.is_some_and(|a| a < r.started_at) {
            self.inconsistent += 1;
        }
    }
}

/// A call as it ended: its talk time (answered) or ring time (the others) as the gateway
/// measured it, and what that stands for in the capture (the time times the replay speed).
fn call_line(pbx: &str, r: &CallRecord, speed: Option<f64>) -> String {
    let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let ivr = r
        .ivr_digits
        .as_ref()
        .map(|d| format!(", IVR {d}"))
        .unwrap_or_default();
    let (seconds, what, span_ms) = match r.answered_at {
        Some(answered) => (r.billsec_s.max(0) as u64, "talk", r.ended_at - answered),
        None => {
            let ms = r.ended_at - r.started_at;
            (ms.max(0) as u64 / 1000, "ring", ms)
        }
    };
    let recorded = as_recorded_s(span_ms, speed)
        .map(|s| format!(" (recorded {})", clock(s.round() as u64)))
        .unwrap_or_default();
    format!(
        "call  {pbx:<12} {:<9} {:>13} -> {:<10} {:<10} ext {:<5} {:>6} {what}{recorded}{ivr}",
        r.direction.as_str(),
        s(&r.caller),
        s(&r.callee),
        r.disposition.as_str(),
        s(&r.extension),
        clock(seconds),
    )
}

/// A span the gateway measured, in seconds of the capture; `None` when the replay runs at
/// its recorded pace (nothing to read back) or as fast as it can (nothing to read back to).
fn as_recorded_s(span_ms: i64, speed: Option<f64>) -> Option<f64> {
    let speed = speed.filter(|s| s.is_finite() && *s > 0.0 && *s != 1.0)?;
    Some(span_ms.max(0) as f64 / 1000.0 * speed)
}

/// `m:ss`, or `h:mm:ss` from an hour on.
fn clock(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// How the captures were replayed, so a talk time can be read back to the recorded one.
pub(super) struct Replay {
    pub seconds: u64,
    pub ctip_speed: f64,
    pub ctip_quiet_cap_s: f64,
    pub asterisk_speed: f64,
}

/// The closing summary.
pub struct Summary {
    replay: Replay,
    dispositions: BTreeMap<&'static str, usize>,
    recorded_talk_s: f64,
    inconsistent: usize,
    totals: Option<Totals>,
    callbacks: Option<Callbacks>,
    agents: Vec<AgentCounts>,
    texts: usize,
    queue: BTreeMap<String, usize>,
    ivr: Vec<String>,
    links: Vec<(String, String)>,
    events: u64,
    /// (sink, acknowledged, waiting).
    uplinks: Vec<(String, u64, u64)>,
}

impl Summary {
    pub(super) fn collect(
        gateway: &Gateway,
        config: &Config,
        shown: &Shown,
        replay: Replay,
    ) -> Summary {
        let reader = StoreReader::open(&config.db_path()).ok();
        let report = reader.as_ref().and_then(|r| {
            let plan = config.sms.plan();
            r.report(0, crate::clock::now_ms() + 86_400_000, 30, &plan)
                .ok()
        });
        let sinks = crate::uplink::configured_sinks(config);
        let stats = reader.as_ref().and_then(|r| r.stats(&sinks).ok());
        let mut queue = BTreeMap::new();
        if let Ok(texts) = crate::store::side_connection(&config.db_path())
            .and_then(|c| crate::sms::queue::list(&c, 10_000))
        {
            for t in texts {
                *queue.entry(t.state).or_default() += 1;
            }
        }
        let links = gateway.links();
        let mut agents = report
            .as_ref()
            .map(|r| r.agents.clone())
            .unwrap_or_default();
        agents.sort_by(|a, b| b.talk_s.cmp(&a.talk_s).then(a.agent.cmp(&b.agent)));
        Summary {
            replay,
            dispositions: shown.dispositions.clone(),
            recorded_talk_s: shown.recorded_talk_s,
            inconsistent: shown.inconsistent,
            totals: report.as_ref().map(|r| r.totals.clone()),
            callbacks: report.map(|r| r.callbacks),
            agents,
            texts: shown.texts,
            queue,
            ivr: links
                .counters()
                .into_iter()
                .filter_map(|(name, n)| {
                    let (pbx, outcome) = name.strip_prefix("pbx:")?.split_once(":ivr:")?;
                    Some(format!("{pbx} {outcome} {n}"))
                })
                .collect(),
            links: links
                .snapshot()
                .into_iter()
                .map(|(name, l)| (name, l.state.as_str().to_owned()))
                .collect(),
            events: stats.as_ref().map_or(0, |s| s.last_seq),
            uplinks: stats
                .map(|s| {
                    s.sinks
                        .into_iter()
                        .map(|b| (b.sink, b.acked_seq, b.backlog))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub fn calls(&self) -> usize {
        self.dispositions.values().sum()
    }

    pub fn texts(&self) -> usize {
        self.texts
    }
}

/// Rows of the per-agent table printed at most.
const AGENT_ROWS: usize = 12;

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.replay;
        writeln!(f, "\n--- summary after {} s ---", r.seconds)?;
        writeln!(
            f,
            "replayed: Slican CTIP at {}x inside calls (quiet gaps cut to {} s), Asterisk at {}x;\n          a time here times that speed is the recorded one (shown in brackets)",
            r.ctip_speed, r.ctip_quiet_cap_s, r.asterisk_speed
        )?;
        let by: Vec<String> = self
            .dispositions
            .iter()
            .map(|(d, n)| format!("{n} {d}"))
            .collect();
        writeln!(f, "calls ended     {} ({})", self.calls(), by.join(", "))?;
        if self.inconsistent > 0 {
            writeln!(
                f,
                "inconsistent    {} calls end before they start",
                self.inconsistent
            )?;
        }
        if let Some(t) = &self.totals {
            let rate = t
                .answer_rate
                .map_or("-".to_owned(), |a| format!("{:.0}%", a * 100.0));
            writeln!(
                f,
                "answer rate     {rate} of inbound calls ({} answered, {} missed)",
                t.answered, t.missed
            )?;
            writeln!(
                f,
                "talk time       {} in total ({} as recorded)",
                clock(t.talk_s),
                clock(self.recorded_talk_s.round() as u64)
            )?;
        }
        if let Some(c) = &self.callbacks {
            writeln!(
                f,
                "missed callers  {}: {} reached since, {} still to call back",
                c.missed_callers, c.closed, c.open
            )?;
        }
        if !self.agents.is_empty() {
            writeln!(f, "per agent or extension (busiest first):")?;
            writeln!(
                f,
                "  {:<16} {:>5} {:>8} {:>6} {:>8}",
                "who", "calls", "answered", "missed", "talk"
            )?;
            for a in self.agents.iter().take(AGENT_ROWS) {
                writeln!(
                    f,
                    "  {:<16} {:>5} {:>8} {:>6} {:>8}",
                    a.agent,
                    a.calls,
                    a.answered,
                    a.missed,
                    clock(a.talk_s)
                )?;
            }
            if self.agents.len() > AGENT_ROWS {
                writeln!(f, "  ... and {} more", self.agents.len() - AGENT_ROWS)?;
            }
        }
        let queue: Vec<String> = self.queue.iter().map(|(s, n)| format!("{n} {s}")).collect();
        writeln!(
            f,
            "texts sent      {} (SMS queue: {})",
            self.texts,
            if queue.is_empty() {
                "empty".into()
            } else {
                queue.join(", ")
            }
        )?;
        if !self.ivr.is_empty() {
            writeln!(f, "built-in IVR    {}", self.ivr.join(", "))?;
        }
        let links: Vec<String> = self.links.iter().map(|(n, s)| format!("{n} {s}")).collect();
        writeln!(f, "links           {}", links.join(", "))?;
        writeln!(f, "events stored   {}", self.events)?;
        for (sink, acked, waiting) in &self.uplinks {
            writeln!(
                f,
                "  uplink {sink:<9} {acked} acknowledged, {waiting} waiting"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talk_times_read_as_a_clock() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(75), "1:15");
        assert_eq!(clock(3_725), "1:02:05");
    }

    #[test]
    fn a_call_line_reads_back_to_the_recorded_time() {
        // Answered 2 s in, ended 62 s in: a minute of talk, at 15x a quarter of an hour.
        let record = CallRecord::example("c1", 1_000_000).with_durations();
        let line = call_line("slican", &record, Some(15.0));
        assert!(line.ends_with("  1:00 talk (recorded 15:00)"), "{line}");

        // 0.4 s of talk shows 0:00 here and the 6 s the capture holds.
        let short = CallRecord {
            ended_at: record.answered_at.unwrap_or_default() + 400,
            ..record.clone()
        }
        .with_durations();
        let line = call_line("slican", &short, Some(15.0));
        assert!(line.ends_with("  0:00 talk (recorded 0:06)"), "{line}");

        let missed = CallRecord {
            answered_at: None,
            ivr_digits: Some("1".into()),
            ..record.clone()
        }
        .with_durations();
        let line = call_line("asterisk", &missed, Some(4.0));
        assert!(
            line.ends_with("  1:02 ring (recorded 4:08), IVR 1"),
            "{line}"
        );
    }

    #[test]
    fn nothing_to_read_back_at_the_recorded_pace_or_as_fast_as_possible() {
        let record = CallRecord::example("c1", 0).with_durations();
        for speed in [None, Some(1.0), Some(0.0), Some(f64::NAN)] {
            let line = call_line("asterisk", &record, speed);
            assert!(line.ends_with("  1:00 talk"), "{speed:?}: {line}");
        }
    }
}
