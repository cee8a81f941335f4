//! The `pbxgw` command line. `anyhow` lives here and in `main` only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, Config, ConfigError};
use crate::store::{StoreReader, StoreStats};
use crate::uplink::{configured_sinks, json::event_json};

#[derive(Debug, Parser)]
#[command(name = "pbxgw", version, about = "PBX event gateway")]
pub struct Cli {
    /// The configuration file (before or after the command).
    #[arg(short, long, global = true, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway until SIGTERM/SIGINT.
    Run,
    /// Validate the configuration; exit 0 when it is usable, else list every problem.
    Check {
        /// Also try each PBX login, the uplinks (a test publish, the schema), the modem
        /// (SIM, registration, signal, SMS centre), and light each LED in turn.
        #[arg(long)]
        connect: bool,
    },
    /// Print the local event log as JSON lines.
    Events {
        /// Only events with a seq greater than this.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Keep printing new events as they are stored.
        #[arg(long)]
        follow: bool,
    },
    /// Per-sink backlog, oldest unacknowledged event, dropped count, database size.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Log in to one PBX and write every raw line with its arrival time (nothing is stored).
    Sniff {
        /// The `[[pbx]] name` to connect to.
        #[arg(long)]
        pbx: String,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Queue a text, or list the SMS queue.
    Sms {
        #[command(subcommand)]
        command: SmsCommand,
    },
    /// Import, search or remove contacts (names for call records and the status page).
    Contacts {
        #[command(subcommand)]
        command: ContactsCommand,
    },
    /// The whole data path on this machine, no hardware: PBX simulators replaying real
    /// traffic, a modem on a pseudo-terminal, a gateway with a temporary data dir and its
    /// status page; call records and texts are printed as they happen.
    #[cfg(feature = "demo")]
    Demo {
        /// Stop after this many seconds (default: at Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
        /// Replay speed of the Asterisk capture (1 = real time; 0 = as fast as possible).
        #[arg(long, default_value_t = 4.0)]
        speed: f64,
        /// The status page and API port on 127.0.0.1 (another one when busy).
        #[arg(long, default_value_t = 8080)]
        api_port: u16,
        /// The MQTT broker (default: 127.0.0.1:1883 when one listens there).
        #[arg(long)]
        mqtt: Option<std::net::SocketAddr>,
        /// A PostgreSQL URL to write to as well.
        #[arg(long)]
        postgres: Option<String>,
        /// The shared/fixtures folder with the captured traffic.
        #[arg(long)]
        fixtures: Option<PathBuf>,
    },
    /// Print a commented configuration template.
    ConfigTemplate,
}

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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match dispatch(cli.command, &cli.config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Log to stderr; the filter comes from `PBXGW_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PBXGW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn dispatch(command: Command, config: &Path) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run => {
            let config = Config::load(config)?;
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            runtime()?.block_on(crate::runtime::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { connect } => check(config, connect),
        Command::Events { since, follow } => {
            let config = Config::load(config)?;
            print_events(&config, since, follow)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => {
            let config = Config::load(config)?;
            let stats = open_reader(&config)?.stats(&configured_sinks(&config))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", status_table(&config, &stats));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sniff { pbx, output } => {
            let config = Config::load(config)?;
            runtime()?.block_on(sniff(&config, &pbx, output.as_deref()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sms { command } => sms(command, config),
        Command::Contacts { command } => contacts(command, config),
        #[cfg(feature = "demo")]
        Command::Demo {
            duration,
            speed,
            api_port,
            mqtt,
            postgres,
            fixtures,
        } => {
            let options = crate::demo::DemoOptions {
                duration: duration.map(Duration::from_secs),
                speed,
                api_port,
                mqtt,
                postgres,
                fixtures,
            };
            let summary = runtime()?.block_on(crate::demo::run(options))?;
            println!(
                "{} calls ended, {} texts sent",
                summary.calls, summary.texts
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ConfigTemplate => {
            print!("{}", config::TEMPLATE);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(path: &Path, connect: bool) -> anyhow::Result<ExitCode> {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(ConfigError::Invalid { path, problems }) => {
            println!(
                "1. config {}: {} problem(s)",
                path.display(),
                problems.len()
            );
            for (i, p) in problems.iter().enumerate() {
                println!(
                    "   {}. {}\n      value: {}\n      fix: {}",
                    i + 1,
                    p.key,
                    p.value,
                    p.fix
                );
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            println!("1. {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("1. config {}: valid", path.display());
    for warning in config.warnings() {
        println!("   warning: {warning}");
    }
    println!(
        "   gateway id {:?}, data in {}",
        config.gateway.id,
        config.gateway.data_dir.display()
    );
    let pbx = config
        .pbx
        .iter()
        .map(|p| format!("{} ({})", p.name, p.kind.as_str()))
        .collect();
    println!("   PBX links: {}", listed(pbx, "add a [[pbx]] block"));
    println!(
        "   uplinks: {}",
        listed(configured_sinks(&config), "events stay on this box")
    );
    if !connect {
        return Ok(ExitCode::SUCCESS);
    }
    let steps = runtime()?.block_on(connect_checks(&config));
    let mut ok = true;
    for (i, (what, result)) in steps.iter().enumerate() {
        match result {
            Ok(line) => println!("{}. {what}: {line}", i + 2),
            Err(line) => {
                ok = false;
                println!("{}. {what}: FAILED - {line}", i + 2);
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `a, b`, or `none (what that means)` for an installer reading an empty list.
fn listed(items: Vec<String>, when_none: &str) -> String {
    if items.is_empty() {
        format!("none ({when_none})")
    } else {
        items.join(", ")
    }
}

/// The installer's checklist after the config: each PBX, the uplinks, the modem, the LEDs.
async fn connect_checks(config: &Config) -> Vec<(String, Result<String, String>)> {
    let mut steps: Vec<(String, Result<String, String>)> = check_pbx_logins(config)
        .await
        .into_iter()
        .map(|(name, r)| (format!("PBX {name}"), r))
        .collect();
    if let Some(mqtt) = &config.uplink.mqtt {
        steps.push((
            "MQTT".into(),
            crate::uplink::mqtt::probe(mqtt, &config.gateway.id).await,
        ));
    }
    if let Some(pg) = &config.uplink.postgres {
        let r = crate::uplink::postgres::probe(pg, &config.gateway.id).await;
        steps.push(("PostgreSQL".into(), r.map_err(|e| e.to_string())));
    }
    if let Some(modem) = &config.modem {
        let db = crate::store::StoreOptions::from_config(config);
        let r = match tokio::task::spawn_blocking(move || crate::store::open(&db).map(|_| db.path))
            .await
        {
            Ok(Ok(path)) => crate::sms::worker::probe(modem, &path).await,
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        steps.push(("modem".into(), r));
    }
    steps.push(("LEDs".into(), led_self_test(config).await));
    steps
}

/// Lights each LED of the board profile in turn, so the installer sees every one work.
async fn led_self_test(config: &Config) -> Result<String, String> {
    use board::leds::Pattern;
    let profile =
        board::profile::Profile::load(&config.board.profile).map_err(|e| e.to_string())?;
    let (mut leds, errors) = profile.open_leds(&config.board.leds_root);
    let roles: Vec<String> = leds.roles().iter().map(|r| r.to_string()).collect();
    for role in &roles {
        leds.show(role, Pattern::On);
        leds.step(0);
        tokio::time::sleep(Duration::from_millis(400)).await;
        leds.show(role, Pattern::Off);
        leds.step(0);
    }
    if errors.is_empty() {
        Ok(format!(
            "profile {}: {} lit in turn; watch the panel",
            profile.name,
            roles.join(", ")
        ))
    } else {
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        Err(format!(
            "profile {}: {}; check [board] profile and the wiring",
            profile.name,
            errors.join("; ")
        ))
    }
}

/// One line per PBX, saying what works or what to fix.
async fn check_pbx_logins(config: &Config) -> Vec<(String, Result<String, String>)> {
    use crate::pbx::ctip::session::{Connection, CtipError, CtipSettings};
    let mut out = Vec::new();
    for pbx in &config.pbx {
        let result = match pbx.kind {
            crate::config::PbxKind::Ctip => {
                let settings = CtipSettings::from_config(pbx);
                let at = format!("{}:{}", settings.host, settings.port);
                match Connection::open(&settings).await {
                    Ok(c) => Ok(format!(
                        "reachable at {at}, logged in ({})",
                        c.identity.who.as_deref().unwrap_or("no WHO answer: CTIP before v14")
                    )),
                    Err(e @ (CtipError::LoginRefused { .. } | CtipError::LoginError)) => Err(format!(
                        "{e}. Check the pin (the CTI key set in the PBX) and that CTI is enabled for the extensions"
                    )),
                    Err(e @ CtipError::Connect { .. }) => Err(format!(
                        "{e}. Check host and port, and that the PBX's LAN module allows CTIP on {at}"
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
            crate::config::PbxKind::Ami => check_ami_login(pbx).await,
            crate::config::PbxKind::Ari => crate::pbx::ari::session::probe(pbx).await,
        };
        out.push((pbx.name.clone(), result));
    }
    out
}

/// Logs in to an Asterisk and lists its channels: what `check --connect` says about AMI.
async fn check_ami_login(pbx: &crate::config::PbxConfig) -> Result<String, String> {
    use crate::pbx::ami::session::{AmiError, AmiSettings, Connection};
    let settings = AmiSettings::from_config(pbx);
    let at = format!("{}:{}", settings.host, settings.port);
    let mut c = match Connection::open(&settings).await {
        Ok(c) => c,
        Err(e @ AmiError::LoginRefused(_)) => {
            return Err(format!(
            "{e}. The [{}] section of manager.conf needs this secret, and a permit= for this box",
            settings.username
        ))
        }
        Err(e @ (AmiError::Connect { .. } | AmiError::NotAmi(_))) => {
            return Err(format!(
                "{e}. Check host and port, and enabled = yes / bindaddr in manager.conf ({at})"
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    match c.call("CoreShowChannels", &[]).await {
        Ok(list) if list.is_success() => Ok(format!(
            "reachable at {at}, logged in ({}), {} channels up",
            c.banner,
            list.items.len()
        )),
        Ok(list) => Err(format!(
            "logged in, but CoreShowChannels was refused ({}): give the user read = call,agent,system and write = call,agent,originate in manager.conf",
            list.message()
        )),
        Err(e) => Err(e.to_string()),
    }
}

async fn sniff(config: &Config, name: &str, output: Option<&Path>) -> anyhow::Result<()> {
    use crate::pbx::ctip::session::CtipSettings;
    let Some(pbx) = config.pbx.iter().find(|p| p.name == name) else {
        let names: Vec<_> = config.pbx.iter().map(|p| p.name.as_str()).collect();
        anyhow::bail!(
            "no [[pbx]] named {name:?} in the config (there are: {})",
            names.join(", ")
        );
    };
    anyhow::ensure!(
        pbx.kind == crate::config::PbxKind::Ctip,
        "sniff speaks CTIP; {name:?} is kind = {:?}",
        pbx.kind.as_str()
    );
    let settings = CtipSettings::from_config(pbx);
    let mut out: Box<dyn std::io::Write + Send> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if crate::runtime::wait_for_signal().await.is_ok() {
            on_signal.cancel();
        }
    });
    let lines = crate::pbx::ctip::session::sniff(&settings, &mut *out, stop).await?;
    eprintln!("sniff: {lines} lines");
    Ok(())
}

fn open_reader(config: &Config) -> anyhow::Result<StoreReader> {
    let path = config.db_path();
    anyhow::ensure!(
        path.exists(),
        "no event database at {} yet; it is created by `pbxgw run`",
        path.display()
    );
    Ok(StoreReader::open(&path)?)
}

fn print_events(config: &Config, since: u64, follow: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let reader = open_reader(config)?;
    let mut after = since;
    let stdout = std::io::stdout();
    loop {
        let batch = reader.events_after(after, 1000)?;
        let mut out = stdout.lock();
        for e in &batch {
            let mut line = event_json(&config.gateway.id, e, false);
            if let Some(fields) = line.as_object_mut() {
                fields.insert("raw".into(), serde_json::json!(e.raw));
            }
            if writeln!(out, "{line}").is_err() {
                return Ok(()); // reader went away (e.g. `| head`)
            }
        }
        out.flush().ok();
        if let Some(last) = batch.last() {
            after = last.seq;
            continue;
        }
        if !follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn status_table(config: &Config, stats: &StoreStats) -> String {
    let now = crate::clock::now_ms();
    let mut s = String::new();
    s += &format!(
        "gateway {}  database {} ({:.1} MB)\n",
        config.gateway.id,
        config.db_path().display(),
        stats.db_bytes as f64 / 1_048_576.0
    );
    s += &format!(
        "events: last seq {}, {} kept (seq {}..)\n",
        stats.last_seq,
        stats.rows,
        stats.first_seq.map_or("-".into(), |f| f.to_string())
    );
    if stats.sinks.is_empty() {
        s += "no uplink configured\n";
    }
    for sink in &stats.sinks {
        let oldest = sink.oldest_unacked_ms.map_or("-".to_string(), |t| {
            format!("{} s ago", (now - t).max(0) / 1000)
        });
        s += &format!(
            "sink {:<9} acked seq {:<10} backlog {:<8} oldest unacknowledged {}\n",
            sink.sink, sink.acked_seq, sink.backlog, oldest
        );
    }
    s += &format!(
        "dropped (unacknowledged events evicted at the size cap or on a full disk): {}\n",
        stats.dropped
    );
    s += &format!("corrupt databases quarantined: {}", stats.quarantined);
    if let Some(q) = &stats.last_quarantine {
        s += &format!(" (last: {q})");
    }
    s += "\n";
    s
}

/// Opens the gateway's database for the SMS queue, creating and migrating it if needed.
fn sms_db(config: &Config) -> anyhow::Result<rusqlite::Connection> {
    let options = crate::store::StoreOptions::from_config(config);
    drop(crate::store::open(&options)?);
    Ok(crate::store::side_connection(&options.path)?)
}

/// The directory in the gateway's database, creating and migrating it if needed.
fn directory(path: &Path) -> anyhow::Result<crate::contacts::Directory> {
    let config = Config::load(path)?;
    let db = sms_db(&config)?;
    Ok(crate::contacts::Directory::new(db, config.sms.plan()))
}

fn contacts(command: ContactsCommand, config: &Path) -> anyhow::Result<ExitCode> {
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
            for skipped in &report.skipped {
                println!("skipped {skipped}");
            }
            println!(
                "{} added, {} updated, {} skipped",
                report.added,
                report.updated,
                report.skipped.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        ContactsCommand::Search { text, limit, json } => {
            let found = directory(config)?.search(&text, limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            }
            for c in found.iter().filter(|_| !json) {
                let company = c.company.as_deref().unwrap_or("");
                println!("{:<16} {:<32} {company}", c.number, c.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        ContactsCommand::Delete { number } => {
            if directory(config)?.delete(&number)? {
                println!("removed");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("no contact for {number}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

fn sms(command: SmsCommand, config: &Path) -> anyhow::Result<ExitCode> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One `--config` for every command, before or after it, nested ones included.
    #[test]
    fn the_config_option_is_one_and_goes_anywhere() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.config);
        let path = PathBuf::from("x.toml");
        assert_eq!(parse(&["pbxgw", "-c", "x.toml", "run"]).unwrap(), path);
        assert_eq!(
            parse(&["pbxgw", "run", "--config", "x.toml"]).unwrap(),
            path
        );
        assert_eq!(
            parse(&["pbxgw", "sms", "list", "-c", "x.toml"]).unwrap(),
            path
        );
        assert_eq!(
            parse(&["pbxgw", "contacts", "delete", "600", "-c", "x.toml"]).unwrap(),
            path
        );
        assert_eq!(
            parse(&["pbxgw", "status"]).unwrap(),
            PathBuf::from(config::DEFAULT_PATH)
        );
        assert!(parse(&["pbxgw", "run", "-c"]).is_err());
    }
}
