//! `pbxgw calls export`: the journal or a table of the report, as CSV for a spreadsheet.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::store::{CallQuery, Csv, ReportTable, Separator, EXPORT_PAGE};

#[derive(Debug, Subcommand)]
pub enum CallsCommand {
    /// Write the calls of some days as CSV (UTF-8 with BOM, the box's local time), or one
    /// table of their report with --report.
    Export {
        /// The first day, YYYY-MM-DD in local time (default: today).
        #[arg(long)]
        from: Option<String>,
        /// The last day, included (default: the first day).
        #[arg(long)]
        to: Option<String>,
        /// Instead of the calls, this table of the report: totals, agents, queues, hours.
        #[arg(long)]
        report: Option<ReportTable>,
        /// comma, semicolon (for spreadsheets whose decimal mark is a comma) or tab.
        #[arg(long, default_value = "comma")]
        sep: Separator,
        /// Only calls with this number (any part of it), or contact name or company.
        #[arg(long)]
        number: Option<String>,
        /// Only calls answered at or ringing this extension.
        #[arg(long)]
        extension: Option<String>,
        /// Only calls of this direction: inbound, outbound, internal, unknown.
        #[arg(long)]
        direction: Option<String>,
        /// Only calls ended so: answered, no-answer, busy, failed, abandoned, ...
        #[arg(long)]
        disposition: Option<String>,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// `YYYY-MM-DD`, or an error that shows the form.
fn day(text: &str) -> anyhow::Result<time::Date> {
    let form = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, form).with_context(|| format!("day {text:?}: write it as YYYY-MM-DD"))
}

fn today() -> time::Date {
    let now = time::OffsetDateTime::now_utc();
    now.to_offset(crate::timefmt::local_offset(now.unix_timestamp()))
        .date()
}

/// `[from's local midnight, the midnight after to)` in Unix ms.
fn days(from: Option<&str>, to: Option<&str>) -> anyhow::Result<(i64, i64)> {
    let first = from.map(day).transpose()?.unwrap_or_else(today);
    let last = to.map(day).transpose()?.unwrap_or(first);
    anyhow::ensure!(last >= first, "--to {last} is before --from {first}");
    let after = last
        .next_day()
        .context("--to is the last day the calendar has")?;
    let offset = crate::timefmt::local_offset;
    Ok((
        crate::timefmt::local_midnight_ms(first, offset),
        crate::timefmt::local_midnight_ms(after, offset),
    ))
}

pub(super) fn calls(command: CallsCommand, config: &Path) -> anyhow::Result<ExitCode> {
    let CallsCommand::Export {
        from,
        to,
        report,
        sep,
        number,
        extension,
        direction,
        disposition,
        output,
    } = command;
    let (from_ms, to_ms) = days(from.as_deref(), to.as_deref())?;
    let config = Config::load(config)?;
    let reader = super::events::open_reader(&config)?;
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    if let Some(table) = report {
        let report = reader.report(from_ms, to_ms, 20, &config.sms.plan())?;
        out.write_all(&Csv::report(&report, table, sep)?)?;
    } else {
        let query = CallQuery {
            number,
            extension,
            direction,
            disposition,
            since_ms: Some(from_ms),
            before_ms: Some(to_ms),
            limit: EXPORT_PAGE,
            ..CallQuery::default()
        };
        if let Some(why) = query.invalid_value() {
            anyhow::bail!("{why}");
        }
        let written = export_journal(&reader, query, sep, &mut out)?;
        if let Some(path) = &output {
            eprintln!("{written} calls written to {}", path.display());
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Every call `query` selects, a page at a time; how many.
fn export_journal(
    reader: &crate::store::StoreReader,
    mut query: CallQuery,
    sep: Separator,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let mut csv = Csv::journal(sep)?;
    let mut written = 0;
    loop {
        let rows = reader.calls(&query)?;
        for call in &rows {
            csv.call(call)?;
        }
        out.write_all(&csv.take()?)?;
        written += rows.len();
        match query.after(&rows) {
            Some(next) => query = next,
            None => return Ok(written),
        }
    }
}
