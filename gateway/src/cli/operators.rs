//! `pbxgw operators`: import, list and remove who works at each extension or agent id.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::contacts::{directory, imported, listed, removal};

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Add or replace operators from a CSV (header: extension/agent/id, name, team; `,` or
    /// `;`); bad rows are listed and skipped, the rest go in one transaction.
    Import { path: PathBuf },
    /// Every operator, by team.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove the operator of an extension or agent id.
    Delete { id: String },
}

pub(super) fn operators(command: OperatorsCommand, config: &Path) -> anyhow::Result<ExitCode> {
    match command {
        OperatorsCommand::Import { path } => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let entries = crate::contacts::operators::parse_csv(&bytes)
                .with_context(|| format!("cannot read operators from {}", path.display()))?;
            let report =
                directory(config)?.upsert_operators(entries, "import", crate::clock::now_ms())?;
            Ok(imported(&report))
        }
        OperatorsCommand::List { json } => {
            let all = directory(config)?.operators()?;
            listed(&all, json, |o| {
                let team = o.team.as_deref().unwrap_or("");
                format!("{:<12} {:<32} {team}", o.id, o.name)
            })
        }
        OperatorsCommand::Delete { id } => {
            let removed = directory(config)?.delete_operator(&id)?;
            Ok(removal(removed, &format!("no operator {id}")))
        }
    }
}
