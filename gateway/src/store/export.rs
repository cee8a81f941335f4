//! The journal and the report as CSV a spreadsheet opens cleanly: UTF-8 with a byte-order
//! mark (so names with diacritics survive Excel), a header row, times in the box's local time
//! as `YYYY-MM-DD hh:mm:ss`, durations in whole seconds, and the separator the reader's
//! locale expects (`;` where the decimal mark is a comma).

use std::str::FromStr;

use super::reader::{CallQuery, CallSummary};
use super::report::Report;

const BOM: &[u8] = "\u{feff}".as_bytes();

/// The field separator: `,` by default, `;` for spreadsheets in comma-decimal locales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Separator {
    #[default]
    Comma,
    Semicolon,
    Tab,
}

impl Separator {
    fn byte(self) -> u8 {
        match self {
            Separator::Comma => b',',
            Separator::Semicolon => b';',
            Separator::Tab => b'\t',
        }
    }
}

impl FromStr for Separator {
    type Err = String;

    fn from_str(s: &str) -> Result<Separator, String> {
        match s {
            "comma" | "," => Ok(Separator::Comma),
            "semicolon" | ";" => Ok(Separator::Semicolon),
            "tab" | "\t" => Ok(Separator::Tab),
            other => Err(format!(
                "separator {other:?} is none of: comma, semicolon, tab"
            )),
        }
    }
}

/// Which of the report's tables: one table per file, as spreadsheets want them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportTable {
    Totals,
    #[default]
    Agents,
    Queues,
    Hours,
}

impl ReportTable {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportTable::Totals => "totals",
            ReportTable::Agents => "agents",
            ReportTable::Queues => "queues",
            ReportTable::Hours => "hours",
        }
    }
}

impl FromStr for ReportTable {
    type Err = String;

    fn from_str(s: &str) -> Result<ReportTable, String> {
        match s {
            "totals" => Ok(ReportTable::Totals),
            "agents" => Ok(ReportTable::Agents),
            "queues" => Ok(ReportTable::Queues),
            "hours" => Ok(ReportTable::Hours),
            other => Err(format!(
                "table {other:?} is none of: totals, agents, queues, hours"
            )),
        }
    }
}

/// Writing CSV into memory fails only on a field the writer refuses; said, never panicked on.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the CSV: {0}")]
pub struct ExportError(#[from] csv::Error);

/// A CSV document built a page at a time: `take` hands out what is written so far (the first
/// piece starts with the BOM and the header), so a journal of any length is exported in
/// bounded memory.
pub struct Csv {
    writer: csv::Writer<Vec<u8>>,
    separator: Separator,
    /// The box's UTC offset at a moment (its time zone; a fixed one in tests).
    offset: fn(i64) -> time::UtcOffset,
}

fn writer(separator: Separator, start: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .delimiter(separator.byte())
        .from_writer(start)
}

impl Csv {
    pub fn new(separator: Separator, header: &[&str]) -> Result<Csv, ExportError> {
        Csv::with_offset(separator, header, crate::timefmt::local_offset)
    }

    fn with_offset(
        separator: Separator,
        header: &[&str],
        offset: fn(i64) -> time::UtcOffset,
    ) -> Result<Csv, ExportError> {
        let mut writer = writer(separator, BOM.to_vec());
        writer.write_record(header)?;
        Ok(Csv {
            writer,
            separator,
            offset,
        })
    }

    fn time(&self, ms: Option<i64>) -> String {
        ms.map(|ms| crate::timefmt::local_datetime(ms, self.offset))
            .unwrap_or_default()
    }

    fn record(&mut self, fields: &[String]) -> Result<(), ExportError> {
        Ok(self.writer.write_record(fields)?)
    }

    /// What is written since the last `take`.
    pub fn take(&mut self) -> Result<Vec<u8>, ExportError> {
        let done = std::mem::replace(&mut self.writer, writer(self.separator, Vec::new()));
        done.into_inner()
            .map_err(|e| ExportError(csv::Error::from(e.into_error())))
    }
}

/// The journal's columns: what a supervisor filters and sums in a spreadsheet.
pub const CALL_COLUMNS: [&str; 18] = [
    "started",
    "answered",
    "ended",
    "direction",
    "caller",
    "caller_name",
    "company",
    "callee",
    "extension",
    "agent",
    "queue",
    "disposition",
    "wait_s",
    "talk_s",
    "rang",
    "state",
    "pbx",
    "call_id",
];

fn seconds(from: i64, to: Option<i64>) -> String {
    to.map(|to| ((to - from).max(0) / 1000).to_string())
        .unwrap_or_default()
}

impl Csv {
    pub fn journal(separator: Separator) -> Result<Csv, ExportError> {
        Csv::new(separator, &CALL_COLUMNS)
    }

    pub fn call(&mut self, c: &CallSummary) -> Result<(), ExportError> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let rang: Vec<&str> = c.rang.iter().map(|o| o.extension.as_str()).collect();
        let row = [
            self.time(Some(c.started_ms)),
            self.time(c.answered_ms),
            self.time(c.ended_ms),
            text(&c.direction),
            text(&c.caller),
            text(&c.caller_name),
            text(&c.company),
            text(&c.callee),
            text(&c.extension),
            text(&c.agent),
            text(&c.queue),
            text(&c.disposition),
            seconds(c.started_ms, c.answered_ms.or(c.ended_ms)),
            c.answered_ms
                .map(|a| seconds(a, c.ended_ms))
                .unwrap_or_default(),
            rang.join(" "),
            c.state.clone(),
            c.pbx.clone(),
            c.call_id.clone(),
        ];
        self.record(&row)
    }

    /// One table of the report.
    pub fn report(
        report: &Report,
        table: ReportTable,
        separator: Separator,
    ) -> Result<Vec<u8>, ExportError> {
        Csv::report_with_offset(report, table, separator, crate::timefmt::local_offset)
    }

    fn report_with_offset(
        report: &Report,
        table: ReportTable,
        separator: Separator,
        offset: fn(i64) -> time::UtcOffset,
    ) -> Result<Vec<u8>, ExportError> {
        let header: &[&str] = match table {
            ReportTable::Totals => &[
                "from",
                "to",
                "calls",
                "inbound",
                "outbound",
                "internal",
                "answered",
                "missed",
                "answer_rate_pct",
                "talk_s",
                "missed_callers",
                "called_back",
                "still_open",
                "avg_callback_wait_s",
            ],
            ReportTable::Agents => &[
                "agent",
                "calls",
                "answered",
                "missed",
                "talk_s",
                "avg_ring_s",
            ],
            ReportTable::Queues => &[
                "queue",
                "offered",
                "answered",
                "abandoned",
                "avg_wait_s",
                "service_level_pct",
                "service_level_s",
            ],
            ReportTable::Hours => &["hour", "calls", "answered", "missed"],
        };
        let mut csv = Csv::with_offset(separator, header, offset)?;
        let secs = |ms: u64| format!("{:.1}", ms as f64 / 1000.0);
        let pct = |share: f64| format!("{:.1}", share * 100.0);
        match table {
            ReportTable::Totals => {
                let (t, c) = (&report.totals, &report.callbacks);
                let row = [
                    csv.time(Some(report.from_ms)),
                    csv.time(Some(report.to_ms)),
                    t.calls.to_string(),
                    t.inbound.to_string(),
                    t.outbound.to_string(),
                    t.internal.to_string(),
                    t.answered.to_string(),
                    t.missed.to_string(),
                    t.answer_rate.map(pct).unwrap_or_default(),
                    t.talk_s.to_string(),
                    c.missed_callers.to_string(),
                    c.closed.to_string(),
                    c.open.to_string(),
                    secs(c.avg_wait_ms),
                ];
                csv.record(&row)?;
            }
            ReportTable::Agents => {
                for a in &report.agents {
                    let row = [
                        a.agent.clone(),
                        a.calls.to_string(),
                        a.answered.to_string(),
                        a.missed.to_string(),
                        a.talk_s.to_string(),
                        secs(a.avg_ring_ms),
                    ];
                    csv.record(&row)?;
                }
            }
            ReportTable::Queues => {
                for q in &report.queues {
                    let row = [
                        q.queue.clone(),
                        q.offered.to_string(),
                        q.answered.to_string(),
                        q.abandoned.to_string(),
                        secs(q.avg_wait_ms),
                        pct(q.service_level),
                        report.service_level_s.to_string(),
                    ];
                    csv.record(&row)?;
                }
            }
            ReportTable::Hours => {
                for h in &report.hours {
                    let row = [
                        csv.time(Some(h.hour_ms)),
                        h.calls.to_string(),
                        h.answered.to_string(),
                        h.missed.to_string(),
                    ];
                    csv.record(&row)?;
                }
            }
        }
        csv.take()
    }
}

/// Journal pages for an export: 500 calls each, newest first, until a short page.
pub const EXPORT_PAGE: u32 = 500;

impl CallQuery {
    /// The query for the page after `page` (`None` when `page` was the last one).
    pub fn after(&self, page: &[CallSummary]) -> Option<CallQuery> {
        let last = page.last().filter(|_| page.len() == self.limit as usize)?;
        Some(CallQuery {
            before_ms: Some(last.started_ms),
            before_id: Some(last.call_id.clone()),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests;
