//! `config.reload` `{}`: reads the configuration file again, as SIGHUP does. Valid, its SMS
//! rules and its number policy (`[numbers]`, the `[sms]` numbering plan) are in force for the
//! next event and command, answering `{"sms_rules"}`; invalid, the running settings stay and
//! the answer (`invalid_config`) names every problem. Other sections take a restart.

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

/// What a reload changes: the SMS rules (read by each store batch) and who commands may reach.
pub struct ReloadTarget {
    /// The file the gateway was started from.
    pub path: std::path::PathBuf,
    pub rules: std::sync::Arc<crate::sms::LiveRules>,
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
            sms_rules: self.apply(&config, &target.rules),
        })
    }

    /// Puts `config`'s SMS rules and number policy in force; how many rules there are.
    pub fn apply(&self, config: &Config, rules: &crate::sms::LiveRules) -> usize {
        self.set_reach(Reach {
            plan: config.sms.plan(),
            policy: config.number_policy(),
        });
        rules.replace(config.sms.clone())
    }
}
