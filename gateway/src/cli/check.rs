//! `pbxgw check [--connect]`: the configuration, then every link tried as the gateway
//! would, one numbered step each.

use std::path::Path;
use std::process::ExitCode;

use super::{runtime, service_user};
use crate::config::{Config, ConfigError};
use crate::link::CheckStep;
use crate::uplink::configured_sinks;
use std::time::Duration;

/// `connect`: the service user's name, to try every link and device as well.
pub(super) fn check(path: &Path, connect: Option<&str>) -> anyhow::Result<ExitCode> {
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
        .map(|p| format!("{} ({})", p.name(), p.kind().as_str()))
        .collect();
    println!("   PBX links: {}", listed(pbx, "add a [[pbx]] block"));
    println!(
        "   uplinks: {}",
        listed(configured_sinks(&config), "events stay on this box")
    );
    let Some(service_user) = connect else {
        return Ok(ExitCode::SUCCESS);
    };
    let steps = runtime()?.block_on(connect_checks(&config, service_user));
    for (i, (what, step)) in steps.iter().enumerate() {
        println!("{}. {what}: {step}", i + 2);
    }
    Ok(if steps.iter().all(|(_, step)| step.works()) {
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
async fn connect_checks(config: &Config, service_user: &str) -> Vec<(String, CheckStep)> {
    let mut steps: Vec<(String, CheckStep)> = check_pbx_logins(config)
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
        steps.push(("PostgreSQL".into(), r.into()));
    }
    if let Some(modem) = &config.modem {
        let db = crate::store::StoreOptions::from_config(config);
        let r = match tokio::task::spawn_blocking(move || crate::store::open(&db).map(|_| db.path))
            .await
        {
            Ok(Ok(path)) => crate::sms::worker::probe(modem, &path).await,
            Ok(Err(e)) => CheckStep::failed(e),
            Err(e) => CheckStep::failed(e),
        };
        steps.push(("modem".into(), r));
    }
    steps.push(("LEDs".into(), led_self_test(config).await));
    // As root every device opens; the service runs as its own user.
    if nix::unistd::geteuid().is_root() {
        let account = service_user::Account::look_up(service_user);
        steps.push((
            format!("devices as user {service_user}"),
            service_user::check(
                &service_user::devices(config),
                service_user,
                account.as_ref(),
            ),
        ));
    }
    steps
}

/// Lights each LED of the board profile in turn, so the installer sees every one work.
async fn led_self_test(config: &Config) -> CheckStep {
    use board::leds::Pattern;
    let profile = match board::profile::Profile::load(&config.board.profile) {
        Ok(profile) => profile,
        Err(e) => return CheckStep::failed(e),
    };
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
        CheckStep::Works(format!(
            "profile {}: {} lit in turn; watch the panel",
            profile.name,
            roles.join(", ")
        ))
    } else {
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        CheckStep::fails(
            format!("profile {}: {}", profile.name, errors.join("; ")),
            "Check [board] profile and the wiring",
        )
    }
}

/// One line per PBX, saying what works or what to fix.
async fn check_pbx_logins(config: &Config) -> Vec<(String, CheckStep)> {
    use crate::config::PbxConfig;
    use crate::pbx::ctip::session::{Connection, CtipError, CtipSettings};
    let mut out = Vec::new();
    for pbx in &config.pbx {
        let result = match pbx {
            PbxConfig::Ctip(pbx) => {
                let settings = CtipSettings::from_config(pbx);
                let at = format!("{}:{}", settings.host, settings.port);
                match Connection::open(&settings).await {
                    Ok(c) => CheckStep::Works(format!(
                        "reachable at {at}, logged in ({})",
                        c.identity.who.as_deref().unwrap_or("no WHO answer: CTIP before v14")
                    )),
                    Err(e @ (CtipError::LoginRefused { .. } | CtipError::LoginError)) => CheckStep::fails(
                        e,
                        "Check the pin (the CTI key set in the PBX) and that CTI is enabled for the extensions",
                    ),
                    Err(e @ CtipError::Connect { .. }) => CheckStep::fails(
                        e,
                        format!("Check host and port, and that the PBX's LAN module allows CTIP on {at}"),
                    ),
                    Err(e) => CheckStep::failed(e),
                }
            }
            PbxConfig::Ami(pbx) => check_ami_login(pbx).await,
            PbxConfig::Ari(pbx) => crate::pbx::ari::session::probe(pbx).await,
        };
        out.push((pbx.name().to_owned(), result));
    }
    out
}

/// Logs in to an Asterisk and lists its channels: what `check --connect` says about AMI.
async fn check_ami_login(pbx: &crate::config::AmiConfig) -> CheckStep {
    use crate::pbx::ami::session::{AmiError, AmiSettings, Connection};
    let settings = AmiSettings::from_config(pbx);
    let at = format!("{}:{}", settings.host, settings.port);
    let mut c = match Connection::open(&settings).await {
        Ok(c) => c,
        Err(e @ AmiError::LoginRefused(_)) => {
            return CheckStep::fails(
                e,
                format!(
                "The [{}] section of manager.conf needs this secret, and a permit= for this box",
                settings.username
            ),
            )
        }
        Err(e @ (AmiError::Connect { .. } | AmiError::NotAmi(_))) => {
            return CheckStep::fails(
                e,
                format!("Check host and port, and enabled = yes / bindaddr in manager.conf ({at})"),
            )
        }
        Err(e) => return CheckStep::failed(e),
    };
    match c.call("CoreShowChannels", &[]).await {
        Ok(list) if list.is_success() => CheckStep::Works(format!(
            "reachable at {at}, logged in ({}), {} channels up",
            c.banner,
            list.items.len()
        )),
        Ok(list) => CheckStep::fails(
            format!("logged in, but CoreShowChannels was refused ({})", list.message()),
            "Give the user read = call,agent,system and write = call,agent,originate in manager.conf",
        ),
        Err(e) => CheckStep::failed(e),
    }
}
