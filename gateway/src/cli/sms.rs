//! `pbxgw sms`: queue a text for the running gateway, or list the queue.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::sms_db;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum SmsCommand {
    /// Queue a text; the running gateway sends it through the modem.
    Send {
        #[arg(long)]
        to: String,
        #[arg(long)]
        text: String,
        /// A request id: the same id never queues twice (default: a new one).
        #[arg(long)]
        id: Option<String>,
    },
    /// The newest texts in the queue with their state.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn sms(command: SmsCommand, config: &Path) -> anyhow::Result<ExitCode> {
    use crate::sms::queue::{self, Queued};
    match command {
        SmsCommand::Send { to, text, id } => {
            let config = Config::load(config)?;
            let destination = crate::numbers::typed(&to, &config.sms.plan())?;
            config.number_policy().check(&destination)?;
            let id = id.unwrap_or_else(|| format!("{:016x}", fastrand::u64(..)));
            let request = crate::sms::rules::Enqueue {
                dedupe_key: format!("cli:{id}"),
                origin: "cli".into(),
                call_id: None,
                destination,
                text,
            };
            let conn = sms_db(&config)?;
            match queue::enqueue(&conn, &request, crate::clock::now_ms(), 0)? {
                Queued::Queued(n) => println!(
                    "queued as #{n} to {} (request id {id})",
                    request.destination
                ),
                Queued::Duplicate => println!("request id {id} was queued before; nothing new"),
                Queued::OptedOut => {
                    println!(
                        "{} asked not to be texted (do-not-text list); not queued",
                        request.destination
                    );
                    return Ok(ExitCode::FAILURE);
                }
                Queued::Cooldown => println!("not queued: cooldown"),
            }
            Ok(ExitCode::SUCCESS)
        }
        SmsCommand::List { limit, json } => {
            let config = Config::load(config)?;
            let rows = queue::list(&sms_db(&config)?, limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:>6}  {:<9}  {:<16}  {:>3}  {:<20}  text / error",
                "id", "state", "to", "try", "updated"
            );
            for r in rows {
                let note = r
                    .error_text
                    .clone()
                    .unwrap_or_else(|| r.text.chars().take(40).collect());
                println!(
                    "{:>6}  {:<9}  {:<16}  {:>3}  {:<20}  {note}",
                    r.id,
                    r.state,
                    r.destination,
                    r.attempts,
                    crate::timefmt::rfc3339_ms(r.updated_ms)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
