//! `pbxgw check --connect` as root: would the service user open the same devices?
//!
//! An installer runs the check as root, where every device opens; the service then runs as
//! `pbxgw` and fails on the one the udev rules did not give it. So after the device steps,
//! each device they used is checked against the service user's uid and groups (owner, group
//! and other permission bits, as the kernel decides for a plain open). Switching user inside
//! the check itself is not done: the gateway has no capabilities to drop and no unsafe code to
//! do it with.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::link::CheckStep;

/// Who the service runs as: its uid and every group it is in.
pub(super) struct Account {
    pub name: String,
    pub uid: u32,
    pub groups: Vec<(u32, String)>,
}

impl Account {
    /// `name` from the user database, with its groups; `None` when there is no such user.
    pub fn look_up(name: &str) -> Option<Account> {
        let user = nix::unistd::User::from_name(name).ok()??;
        let c_name = std::ffi::CString::new(name).ok()?;
        let gids = nix::unistd::getgrouplist(&c_name, user.gid).unwrap_or_else(|_| vec![user.gid]);
        let groups = gids
            .into_iter()
            .map(|gid| {
                let group_name = nix::unistd::Group::from_gid(gid)
                    .ok()
                    .flatten()
                    .map_or_else(|| gid.to_string(), |g| g.name);
                (gid.as_raw(), group_name)
            })
            .collect();
        Some(Account {
            name: name.to_owned(),
            uid: user.uid.as_raw(),
            groups,
        })
    }

    /// Whether a plain open for reading and writing is allowed by the mode bits of a file
    /// owned by `uid`:`gid` (root's bypass and ACLs aside: the service is neither root nor
    /// given ACLs by the packages).
    pub fn may_read_write(&self, uid: u32, gid: u32, mode: u32) -> bool {
        let rw = if uid == self.uid {
            (mode >> 6) & 0o6
        } else if self.groups.iter().any(|(g, _)| *g == gid) {
            (mode >> 3) & 0o6
        } else {
            mode & 0o6
        };
        rw == 0o6
    }
}

/// The device files the device steps open: the modem's port, the profile's GPIO chips and
/// LED files, the kernel watchdog.
pub(super) fn devices(config: &Config) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(modem) = &config.modem {
        paths.push(modem.port.clone());
    }
    if let Ok(profile) = board::profile::Profile::load(&config.board.profile) {
        let outputs = profile
            .leds
            .values()
            .chain(profile.modem_power.iter().map(|p| &p.line));
        for output in outputs {
            match output {
                board::profile::Output::Gpio { gpio, .. } => paths.push(gpio.clone()),
                board::profile::Output::Sysfs { sysfs } => {
                    paths.push(config.board.leds_root.join(sysfs).join("brightness"));
                }
                board::profile::Output::Console { .. } => {}
            }
        }
    }
    if let Some(watchdog) = &config.board.watchdog_device {
        paths.push(watchdog.clone());
    }
    paths.sort();
    paths.dedup();
    paths
}

/// The step: every device the service user could not open, with the fix.
pub(super) fn check(paths: &[PathBuf], name: &str, account: Option<&Account>) -> CheckStep {
    let Some(account) = account else {
        // Not a failure of the box: a development machine runs the gateway as someone else.
        return CheckStep::Works(format!(
            "not checked: there is no user {name} here (the packages create pbxgw), so the device steps above ran as root only"
        ));
    };
    let groups: Vec<&str> = account.groups.iter().map(|(_, n)| n.as_str()).collect();
    let refused: Vec<String> = paths
        .iter()
        .filter_map(|path| refusal(path, account))
        .collect();
    if refused.is_empty() {
        CheckStep::Works(format!(
            "user {} (groups {}) may open {}",
            account.name,
            groups.join(", "),
            if paths.is_empty() {
                "no device (none configured)".to_owned()
            } else {
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
    } else {
        CheckStep::fails(
            format!(
                "user {} (groups {}) may not open {}",
                account.name,
                groups.join(", "),
                refused.join("; ")
            ),
            "The packages' udev rules (60-pbxgw.rules) give group pbxgw the GPIO chips, watchdogs and LEDs, dialout has the serial ports: `udevadm trigger`, or add the user to the device's group",
        )
    }
}

/// Why `account` could not open `path`, or `None` when it could.
fn refusal(path: &Path, account: &Account) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(meta) if account.may_read_write(meta.uid(), meta.gid(), meta.mode()) => None,
        Ok(meta) => {
            let group = nix::unistd::Group::from_gid(meta.gid().into())
                .ok()
                .flatten()
                .map_or_else(|| meta.gid().to_string(), |g| g.name);
            Some(format!(
                "{} (group {group}, mode {:o})",
                path.display(),
                meta.mode() & 0o777
            ))
        }
        Err(e) => Some(format!("{} ({e})", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pbxgw() -> Account {
        Account {
            name: "pbxgw".into(),
            uid: 109,
            groups: vec![(112, "pbxgw".into()), (20, "dialout".into())],
        }
    }

    #[test]
    fn the_mode_bits_decide_as_the_kernel_would() {
        let a = pbxgw();
        assert!(a.may_read_write(0, 20, 0o660), "ttyUSB: root:dialout 660");
        assert!(
            a.may_read_write(0, 112, 0o660),
            "gpiochip after the udev rule"
        );
        assert!(!a.may_read_write(0, 0, 0o600), "gpiochip without the rule");
        assert!(!a.may_read_write(0, 20, 0o640), "group may only read");
        assert!(a.may_read_write(109, 0, 0o600), "owned by the user");
        assert!(
            !a.may_read_write(109, 20, 0o060),
            "the owner's bits win for the owner"
        );
        assert!(a.may_read_write(0, 0, 0o666), "anyone");
    }

    #[test]
    fn a_device_the_user_cannot_open_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("ttyUSB2");
        let shut = dir.path().join("gpiochip0");
        std::fs::write(&open, "").unwrap();
        std::fs::write(&shut, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(&shut, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut a = pbxgw();
        a.uid = u32::MAX - 1; // not the files' owner, whoever runs the test
        let step = check(&[open.clone(), shut.clone()], "pbxgw", Some(&a)).to_string();
        assert!(
            step.contains("may not open") && step.contains("gpiochip0"),
            "{step}"
        );
        assert!(!step.contains("ttyUSB2"), "{step}");
        assert!(step.contains("60-pbxgw.rules"), "{step}");
        let missing = check(&[dir.path().join("ttyUSB9")], "pbxgw", Some(&a)).to_string();
        assert!(missing.contains("ttyUSB9"), "{missing}");
        let all = check(&[open], "pbxgw", Some(&a)).to_string();
        assert!(all.contains("may open"), "{all}");
        let nobody = check(&[], "pbxgw", None).to_string();
        assert!(
            nobody.contains("not checked: there is no user pbxgw"),
            "{nobody}"
        );
    }
}
