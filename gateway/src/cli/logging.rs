//! Where the log goes, chosen by what stderr is connected to.
//!
//! - Under systemd (stderr is the stream `JOURNAL_STREAM` names) the log goes to journald's
//!   native socket: one entry per event with its priority and the event's fields as journal
//!   fields (`LINK=ctip-1`, `PBX=…`, `CALL_ID=…`, `ERROR=…`), so `journalctl -p warning` and
//!   `journalctl LINK=ctip-1` work. Without the socket (a container, a chroot) the lines go to
//!   stderr prefixed `<N>` with their syslog priority, which journald reads as the priority.
//! - On a terminal: coloured lines with timestamps.
//! - Anywhere else (a pipe, a file): the same lines without colour codes.
//!
//! `PBXGW_LOG` sets the filter in every case (default `info`; `off` for the demo without `--log`).

use std::fmt;
use std::io::IsTerminal;
use std::os::fd::AsFd;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Where stderr leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// stderr is the journal stream systemd set up for this service.
    Journal,
    Terminal,
    Plain,
}

impl Destination {
    pub fn of_stderr() -> Destination {
        let stderr = std::io::stderr();
        if journal_stream_is(stderr.as_fd()) {
            Destination::Journal
        } else if stderr.is_terminal() {
            Destination::Terminal
        } else {
            Destination::Plain
        }
    }
}

/// systemd sets `JOURNAL_STREAM=<dev>:<inode>` of the stream it connects stdout/stderr to; a
/// child whose stderr was redirected elsewhere inherits the variable, so the stream itself is
/// compared, as sd_journal_stream_fd(3) tells services to do.
fn journal_stream_is(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(fd) else {
        return false;
    };
    dev.parse().ok() == Some(stat.st_dev) && ino.parse().ok() == Some(stat.st_ino)
}

/// The syslog priority journald gives a level: INFO is informational (6), not notice, so that
/// `-p notice` shows only what needs a look.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

fn journald_layer() -> std::io::Result<tracing_journald::Layer> {
    use tracing_journald::{Priority, PriorityMappings};
    let mappings = PriorityMappings {
        error: Priority::Error,
        warn: Priority::Warning,
        info: Priority::Informational,
        debug: Priority::Debug,
        trace: Priority::Debug,
    };
    Ok(tracing_journald::layer()?
        .with_field_prefix(None)
        .with_syslog_identifier("pbxgw".into())
        .with_priority_mappings(mappings))
}

/// Install the global subscriber for this process.
pub fn init(default_filter: &str) {
    let filter =
        || EnvFilter::try_from_env("PBXGW_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let destination = Destination::of_stderr();
    if destination == Destination::Journal {
        match journald_layer() {
            Ok(layer) => {
                tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .init();
                return;
            }
            Err(_) => {
                // journald reads the priority from the `<N>` prefix of each stderr line.
                tracing_subscriber::fmt()
                    .with_env_filter(filter())
                    .with_writer(std::io::stderr)
                    .event_format(SyslogPrefixed::default())
                    .init();
                return;
            }
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(destination == Destination::Terminal)
        .init();
}

/// The error that ends the process, on stderr: with the error priority's `<3>` prefix when
/// stderr is the journal, so `journalctl -p err` shows why the service stopped.
pub fn print_fatal(message: &str) {
    if Destination::of_stderr() == Destination::Journal {
        for line in message.lines() {
            eprintln!("<3>{line}");
        }
    } else {
        eprintln!("{message}");
    }
}

/// Lines as `<4>WARN link lost; will reconnect link=ctip-1 …`: no colour and no timestamp
/// (the journal stamps each line itself).
struct SyslogPrefixed {
    inner: Format<tracing_subscriber::fmt::format::Full, ()>,
}

impl Default for SyslogPrefixed {
    fn default() -> Self {
        SyslogPrefixed {
            inner: Format::default().without_time().with_ansi(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for SyslogPrefixed
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.inner.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_and_errors_keep_their_syslog_priority() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
    }
}
