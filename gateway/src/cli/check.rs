//! `pbxgw check [--connect]`: the configuration, then every link tried as the gateway
//! would, one numbered step each.

use std::path::Path;
use std::process::ExitCode;

use super::runtime;
use crate::config::{Config, ConfigError};
use crate::uplink::configured_sinks;
use std::time::Duration;

pub(super) fn check(path: &Path, connect: bool) -> anyhow::Result<ExitCode> {
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
pub(super) fn listed(items: Vec<String>, when_none: &str) -> String {
    if items.is_empty() {
        format!("none ({when_none})")
    } else {
        items.join(", ")
    }
}

/// The installer's checklist after the config: each PBX, the uplinks, the modem, the LEDs.
pub(super) async fn connect_checks(config: &Config) -> Vec<(String, Result<String, String>)> {
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
pub(super) async fn led_self_test(config: &Config) -> Result<String, String> {
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
pub(super) async fn check_pbx_logins(config: &Config) -> Vec<(String, Result<String, String>)> {
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
pub(super) async fn check_ami_login(pbx: &crate::config::PbxConfig) -> Result<String, String> {
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
