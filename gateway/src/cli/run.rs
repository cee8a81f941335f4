//! `pbxgw run` and `pbxgw demo`.

use std::path::Path;
use std::process::ExitCode;

use super::runtime;
use crate::config::Config;

/// The gateway, until SIGTERM/SIGINT; SIGHUP reloads the SMS rules.
pub(super) fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    runtime()?.block_on(crate::runtime::run(config, path.to_owned()))?;
    Ok(ExitCode::SUCCESS)
}

/// The whole data path with simulated PBXs and modem.
#[cfg(feature = "demo")]
pub(super) fn demo(options: crate::demo::DemoOptions) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(crate::demo::run(options))?;
    Ok(ExitCode::SUCCESS)
}
