//! The `pbxgw` command line, one file per concern: `run` (the gateway and the demo),
//! `check`, `events` (the event log and `status`), `sniff`, `sms`, `contacts`, `operators`, `calls`,
//! `central`. `anyhow`
//! lives here and in `main` only.

mod calls;
mod central;
mod check;
mod contacts;
mod events;
mod logging;
mod operators;
mod run;
mod service_user;
mod sms;
mod sniff;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, Config};
pub(crate) use calls::CallsCommand;
pub(crate) use central::CentralCommand;
pub(crate) use contacts::ContactsCommand;
pub(crate) use operators::OperatorsCommand;
pub(crate) use sms::SmsCommand;

#[derive(Debug, Parser)]
#[command(
    name = "pbxgw",
    version,
    about = "PBX event gateway",
    long_about = "PBX event gateway: terminates Slican CTIP and Asterisk AMI/ARI, keeps every \
call event in SQLite until the central side has acknowledged it, forwards events to MQTT, \
PostgreSQL and a CRM webhook, and sends SMS through the box's GSM modem.\n\n\
The configuration is /etc/pbxgw/pbxgw.toml (pbxgw config-template prints every key with its \
default; pbxgw check -c FILE checks one). PBXGW_LOG sets the log filter (default info); under \
systemd the log goes to the journal with priorities and fields such as LINK= and CALL_ID=. \
pbxgw run exits with status 78 when the configuration cannot be used.",
    after_help = "See the README in /usr/share/doc/pbxgw for the data path, the status page, \
the metrics and the MQTT topics."
)]
pub(crate) struct Cli {
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
        /// With --connect as root: the user the service runs as, whose access to the devices
        /// is checked (the packaged unit's is pbxgw).
        #[arg(long, default_value = "pbxgw", requires = "connect")]
        service_user: String,
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
    /// Import, list or remove operators (names and teams of extensions and agents).
    Operators {
        #[command(subcommand)]
        command: OperatorsCommand,
    },
    /// Export the call journal or the report as CSV for a spreadsheet.
    Calls {
        #[command(subcommand)]
        command: CallsCommand,
    },
    /// Work on the central PostgreSQL database the gateways write to.
    Central {
        #[command(subcommand)]
        command: CentralCommand,
    },
    /// The whole data path on this machine, no hardware: PBX simulators replaying real
    /// traffic, a modem on a pseudo-terminal, a gateway with a temporary data dir and its
    /// status page; call records and texts are printed as they happen.
    #[cfg(feature = "demo")]
    Demo {
        /// Stop after this many seconds (0: at Ctrl-C).
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Replay speed of the Asterisk captures (1 = real time; 0 = as fast as possible).
        #[arg(long, default_value_t = 4.0)]
        speed: f64,
        /// Replay speed of the Slican capture inside calls (its quiet hours are cut to half
        /// a second).
        #[arg(long, default_value_t = 15.0)]
        ctip_speed: f64,
        /// Show the gateway's log on stderr (also when `PBXGW_LOG` is set).
        #[arg(long)]
        log: bool,
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

/// sysexits' EX_CONFIG, for a configuration that cannot be used: the unit's
/// `RestartPreventExitStatus=` stops there instead of restarting every few seconds, since a
/// restart cannot fix the file.
pub const EXIT_BAD_CONFIG: u8 = 78;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(default_log_filter(&cli.command));
    match dispatch(cli.command, &cli.config) {
        Ok(code) => code,
        Err(e) => {
            logging::print_fatal(&format!("error: {e:#}"));
            if e.downcast_ref::<config::ConfigError>().is_some() {
                ExitCode::from(EXIT_BAD_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Log to journald under systemd, else to stderr (colour only on a terminal); the filter
/// comes from `PBXGW_LOG` (default `info`).
pub fn init_logging() {
    logging::init("info");
}

/// The filter when `PBXGW_LOG` is not set: the demo prints its own call lines and keeps the
/// log off unless asked (`--log`); every other command logs at `info`.
fn default_log_filter(command: &Command) -> &'static str {
    match command {
        #[cfg(feature = "demo")]
        Command::Demo { log: false, .. } => "off",
        _ => "info",
    }
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn dispatch(command: Command, config: &Path) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run => run::run(config),
        Command::Check {
            connect,
            service_user,
        } => check::check(config, connect.then_some(service_user.as_str())),
        Command::Events { since, follow } => {
            events::print_events(&Config::load(config)?, since, follow)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => events::status(&Config::load(config)?, json),
        Command::Sniff { pbx, output } => {
            let config = Config::load(config)?;
            runtime()?.block_on(sniff::sniff(&config, &pbx, output.as_deref()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sms { command } => sms::sms(command, config),
        Command::Contacts { command } => contacts::contacts(command, config),
        Command::Operators { command } => operators::operators(command, config),
        Command::Calls { command } => calls::calls(command, config),
        Command::Central { command } => central::central(command, config),
        #[cfg(feature = "demo")]
        Command::Demo {
            duration,
            speed,
            ctip_speed,
            api_port,
            mqtt,
            postgres,
            fixtures,
            log: _,
        } => run::demo(crate::demo::DemoOptions {
            duration: (duration > 0).then(|| std::time::Duration::from_secs(duration)),
            speed,
            ctip_speed,
            api_port,
            mqtt,
            postgres,
            fixtures,
        }),
        Command::ConfigTemplate => {
            print!("{}", config::TEMPLATE);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the gateway's database for the SMS queue, creating and migrating it if needed.
pub(super) fn sms_db(config: &Config) -> anyhow::Result<rusqlite::Connection> {
    let options = crate::store::StoreOptions::from_config(config);
    drop(crate::store::open(&options)?);
    Ok(crate::store::side_connection(&options.path)?)
}

/// The directory in the gateway's database, creating and migrating it if needed.
#[cfg(test)]
mod tests {
    use super::*;

    /// The man page the packages install is the shipped CLI's (without the demo):
    /// `PBXGW_BLESS=1 cargo test -p pbxgw --no-default-features --lib man_page` renews it.
    #[cfg(not(feature = "demo"))]
    #[test]
    fn the_man_page_is_the_clis() {
        use clap::CommandFactory;
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .date("2026-12-03")
            .render(&mut page)
            .expect("render");
        let page = String::from_utf8(page).expect("roff is UTF-8");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/man/pbxgw.1");
        if std::env::var_os("PBXGW_BLESS").is_some() {
            std::fs::write(path, &page).expect("write the man page");
            return;
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == page,
            "gateway/man/pbxgw.1 is stale: PBXGW_BLESS=1 cargo test -p pbxgw --no-default-features --lib man_page"
        );
    }

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
            parse(&["pbxgw", "operators", "import", "ops.csv", "-c", "x.toml"]).unwrap(),
            path
        );
        assert_eq!(
            parse(&["pbxgw", "status"]).unwrap(),
            PathBuf::from(config::DEFAULT_PATH)
        );
        assert!(parse(&["pbxgw", "run", "-c"]).is_err());
    }
}
