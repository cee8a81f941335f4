//! `pbxgw central prune`: retention on the central database, by dropping whole month
//! partitions of `pbxgw_events` (migration 005's `pbxgw_events_drop_before`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::uplink::postgres;

#[derive(Debug, Subcommand)]
pub enum CentralCommand {
    /// Drop the month partitions of pbxgw_events that end before now minus an age, and
    /// older rows of the default partition. Needs the tables' owner in [uplink.postgres] url.
    Prune {
        /// The age to keep: a number with d (days), w (weeks), mo (months) or y (years),
        /// e.g. 400d or 13mo.
        #[arg(long, value_parser = parse_age)]
        older_than: Age,
    },
}

/// An age as PostgreSQL's interval understands it.
#[derive(Debug, Clone, PartialEq)]
pub struct Age {
    count: u32,
    unit: &'static str,
}

impl Age {
    fn interval(&self) -> String {
        format!("{} {}", self.count, self.unit)
    }
}

fn parse_age(s: &str) -> Result<Age, String> {
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    let (count, unit) = s.split_at(digits);
    let count: u32 = count
        .parse()
        .map_err(|_| format!("{s:?}: expected a number then d, w, mo or y (e.g. 400d)"))?;
    let unit = match unit {
        "d" => "days",
        "w" => "weeks",
        "mo" => "months",
        "y" => "years",
        _ => return Err(format!("{s:?}: the unit is d, w, mo or y (e.g. 400d)")),
    };
    if count == 0 {
        return Err("an age of 0 would drop every month before the current one".into());
    }
    Ok(Age { count, unit })
}

pub(super) fn central(
    command: CentralCommand,
    config: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let config = Config::load(config)?;
    let pg = config
        .uplink
        .postgres
        .as_ref()
        .context("the configuration has no [uplink.postgres] section")?;
    let CentralCommand::Prune { older_than } = command;
    let dropped = super::runtime()?.block_on(async {
        let mut client = postgres::connect(pg, &config.gateway.id).await?;
        postgres::migrate(&mut client).await?;
        postgres::prune(&mut client, &older_than.interval()).await
    })?;
    if dropped.is_empty() {
        println!(
            "no partition of pbxgw_events is older than {}",
            older_than.interval()
        );
    }
    for name in dropped {
        println!("dropped {name}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_intervals() {
        assert_eq!(
            parse_age("400d").map(|a| a.interval()),
            Ok("400 days".into())
        );
        assert_eq!(
            parse_age("13mo").map(|a| a.interval()),
            Ok("13 months".into())
        );
        assert_eq!(parse_age("2y").map(|a| a.interval()), Ok("2 years".into()));
        for bad in ["", "d", "400", "400 d", "13m", "0d", "-1d", "99999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad:?} accepted");
        }
    }
}
