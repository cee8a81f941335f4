//! `config.reload` `{}`: reads the configuration file again, as SIGHUP does. Valid, its SMS
//! rules, its number policy (`[numbers]`, the `[sms]` numbering plan) and the central
//! contact sync's period (`[contacts] central_sync_s`: started, changed or stopped) are in
//! force for the next event and command, answering `{"sms_rules"}`; invalid, the running
//! settings stay and the answer (`invalid_config`) names every problem. Other sections take a
//! restart.

use serde::{Deserialize, Serialize};

use super::request::Request;
use super::{refuse, Commands, Reach, Refusal};
use crate::config::Config;

#[derive(Deserialize)]
pub(super) struct ConfigReload {}

impl Request for ConfigReload {
    const SHAPE: &'static str = "{}";
}

#[derive(Serialize)]
pub(super) struct Reloaded {
    /// SMS rules in force now.
    sms_rules: usize,
}

/// What a reload changes besides who commands may reach: the SMS rules (read by each store
/// batch) and the contact sync's period (read by its task). Cheap to clone; clones share.
#[derive(Clone)]
pub struct Live {
    pub rules: std::sync::Arc<crate::sms::LiveRules>,
    /// `None` without `[uplink.postgres]` (there is nothing to sync from).
    pub contact_sync:
        Option<std::sync::Arc<tokio::sync::watch::Sender<Option<std::time::Duration>>>>,
}

/// Where `config.reload` reads the file, and what it changes.
pub struct ReloadTarget {
    /// The file the gateway was started from.
    pub path: std::path::PathBuf,
    pub live: Live,
}

impl Commands {
    pub(super) async fn config_reload(&self, _: ConfigReload) -> Result<Reloaded, Refusal> {
        let Some(target) = &self.reload else {
            return Err(refuse(
                "unsupported",
                "this gateway was not started from a configuration file",
            ));
        };
        let path = target.path.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|e| refuse("internal", e.to_string()))?;
        let config = loaded.map_err(|e| refuse("invalid_config", e.to_string()))?;
        Ok(Reloaded {
            sms_rules: self.apply(&config, &target.live),
        })
    }

    /// Puts `config`'s SMS rules, number policy and contact sync period in force; how many
    /// rules there are.
    pub fn apply(&self, config: &Config, live: &Live) -> usize {
        self.set_reach(Reach {
            plan: config.sms.plan(),
            policy: config.number_policy(),
        });
        if let Some(sync) = &live.contact_sync {
            let every = config
                .contacts
                .central_sync_s
                .map(std::time::Duration::from_secs);
            sync.send_if_modified(|now| std::mem::replace(now, every) != every);
        }
        live.rules.replace(config.sms.clone())
    }
}
