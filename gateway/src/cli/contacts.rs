//! `pbxgw contacts`: import, search and remove the names of callers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::sms_db;
use crate::config::Config;
use anyhow::Context;

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Add or replace contacts from a CSV (header: number/phone, name, company, note) or a
    /// vCard file; bad entries are listed and skipped, the rest go in one transaction.
    Import {
        path: PathBuf,
        /// `csv` or `vcard` (default: by extension or content).
        #[arg(long)]
        format: Option<String>,
    },
    /// Contacts whose number, name or company contains TEXT (all when empty).
    Search {
        #[arg(default_value = "")]
        text: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Remove the contact of a number.
    Delete { number: String },
}

pub(super) fn directory(path: &Path) -> anyhow::Result<crate::contacts::Directory> {
    let config = Config::load(path)?;
    let db = sms_db(&config)?;
    Ok(crate::contacts::Directory::new(db, config.sms.plan()))
}

pub(super) fn contacts(command: ContactsCommand, config: &Path) -> anyhow::Result<ExitCode> {
    use crate::contacts::import::{self, Format};
    match command {
        ContactsCommand::Import { path, format } => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let format = match format.as_deref() {
                None => Format::detect(&path, &bytes),
                Some("csv") => Format::Csv,
                Some("vcard" | "vcf") => Format::Vcard,
                Some(other) => anyhow::bail!("format {other:?}: use csv or vcard"),
            };
            let entries = import::parse(&bytes, format)
                .with_context(|| format!("cannot read contacts from {}", path.display()))?;
            let mut directory = directory(config)?;
            let report = directory.upsert_many(entries, "import", crate::clock::now_ms())?;
            Ok(imported(&report))
        }
        ContactsCommand::Search { text, limit, json } => {
            let found = directory(config)?.search(&text, limit)?;
            listed(&found, json, |c| {
                let company = c.company.as_deref().unwrap_or("");
                format!("{:<16} {:<32} {company}", c.number, c.name)
            })
        }
        ContactsCommand::Delete { number } => {
            let removed = directory(config)?.delete(&number)?;
            Ok(removal(removed, &format!("no contact for {number}")))
        }
    }
}

/// Prints what an import did, each skipped entry with where it was.
pub(super) fn imported(report: &crate::contacts::ImportReport) -> ExitCode {
    for skipped in &report.skipped {
        println!("skipped {skipped}");
    }
    println!(
        "{} added, {} updated, {} skipped",
        report.added,
        report.updated,
        report.skipped.len()
    );
    ExitCode::SUCCESS
}

/// Prints rows as pretty JSON, or one `line` each.
pub(super) fn listed<T: serde::Serialize>(
    rows: &[T],
    json: bool,
    line: impl Fn(&T) -> String,
) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(rows)?);
    } else {
        rows.iter().for_each(|r| println!("{}", line(r)));
    }
    Ok(ExitCode::SUCCESS)
}

/// `removed`, or `missing` and a failure exit.
pub(super) fn removal(removed: bool, missing: &str) -> ExitCode {
    println!("{}", if removed { "removed" } else { missing });
    if removed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
