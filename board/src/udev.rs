//! The udev rules both packages install (`board/udev/60-pbxgw.rules`): what the service user
//! may open, and which modems ModemManager leaves alone.
//!
//! The service runs as `pbxgw` with `DevicePolicy=closed`; the unit's `DeviceAllow=` lets it
//! reach GPIO chips, watchdogs and serial ports, and these rules make the nodes (and the LED
//! class's sysfs files, which are root's) writable by its group. A static rule cannot read the
//! configuration, so the modems are matched by the USB ids the built-in board profiles name;
//! the file is rendered from them and a test keeps the committed copy in step.

use crate::profile::{Profile, ProfileError};

/// The group the rules hand devices to: the service's own.
pub const GROUP: &str = "pbxgw";

const HEADER: &str = "\
# pbxgw: devices the service (user and group pbxgw) opens, and the modems ModemManager must
# leave to it. Rendered from the board profiles (board/profiles/*.toml, `modem_usb`) by
# board/src/udev.rs; regenerate with PBXGW_BLESS=1 cargo test -p board udev.

# GPIO chips: the LED and modem power lines (the GPIO character device).
SUBSYSTEM==\"gpio\", KERNEL==\"gpiochip[0-9]*\", GROUP=\"pbxgw\", MODE=\"0660\"

# Kernel watchdogs /dev/watchdogN (the unit allows char-watchdog; /dev/watchdog is systemd's).
SUBSYSTEM==\"watchdog\", KERNEL==\"watchdog[0-9]*\", GROUP=\"pbxgw\", MODE=\"0660\"

# LED class: brightness and trigger, and the timer trigger's delays once it is set (the kernel
# announces a trigger change with a change event).
ACTION==\"add|change\", SUBSYSTEM==\"leds\", RUN+=\"/bin/sh -c 'cd /sys%p && for f in brightness trigger delay_on delay_off; do [ -e $$f ] && chgrp pbxgw $$f && chmod g+w $$f; done; true'\"

# The board profiles' modems: ModemManager does not probe or hold their ports.
";

/// `vendor:product` as two lowercase 4-digit hex ids, or None.
pub fn usb_id(id: &str) -> Option<(String, String)> {
    let (vendor, product) = id.split_once(':')?;
    let hex4 = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex4(vendor) && hex4(product))
        .then(|| (vendor.to_ascii_lowercase(), product.to_ascii_lowercase()))
}

/// The rules file for these profiles' modems (each USB id once, in order).
pub fn rules(profiles: &[Profile]) -> Result<String, ProfileError> {
    let mut ids: Vec<(String, String)> = Vec::new();
    for profile in profiles {
        for id in &profile.modem_usb {
            let parsed = usb_id(id).ok_or_else(|| ProfileError::Invalid {
                path: profile.name.clone(),
                message: format!("modem_usb {id:?} is not vendor:product in hex (2c7c:0125)"),
            })?;
            if !ids.contains(&parsed) {
                ids.push(parsed);
            }
        }
    }
    let mut text = HEADER.to_owned();
    for (vendor, product) in ids {
        text += &format!(
            "ACTION==\"add|change\", SUBSYSTEMS==\"usb\", ATTRS{{idVendor}}==\"{vendor}\", ATTRS{{idProduct}}==\"{product}\", ENV{{ID_MM_DEVICE_IGNORE}}=\"1\"\n"
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const COMMITTED: &str = include_str!("../udev/60-pbxgw.rules");

    #[test]
    fn udev_the_committed_rules_are_the_profiles_rendering() {
        let rendered = rules(&crate::profile::built_in().unwrap()).unwrap();
        if std::env::var_os("PBXGW_BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/udev/60-pbxgw.rules");
            std::fs::write(path, &rendered).unwrap();
            return;
        }
        assert_eq!(
            COMMITTED, rendered,
            "board/udev/60-pbxgw.rules is stale: PBXGW_BLESS=1 cargo test -p board udev"
        );
    }

    /// One `KEY{attr}OP"value"` of a rule.
    #[derive(Debug)]
    struct Term {
        key: String,
        attr: Option<String>,
        op: String,
        value: String,
    }

    const MATCH_KEYS: [&str; 6] = [
        "ACTION",
        "SUBSYSTEM",
        "SUBSYSTEMS",
        "KERNEL",
        "ATTRS",
        "ENV",
    ];
    const ASSIGN_KEYS: [&str; 4] = ["GROUP", "MODE", "RUN", "ENV"];

    /// udev's rule syntax (udev(7)): comma-separated terms, each a key (with `{attr}` where the
    /// key takes one), an operator and a double-quoted value; a line holds one rule.
    fn parse_rule(line: &str) -> Result<Vec<Term>, String> {
        let mut terms = Vec::new();
        let mut rest = line.trim();
        while !rest.is_empty() {
            let key_end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .ok_or("a key without an operator")?;
            let key = rest[..key_end].to_owned();
            rest = &rest[key_end..];
            let attr = if let Some(r) = rest.strip_prefix('{') {
                let close = r.find('}').ok_or("an unclosed {")?;
                let attr = r[..close].to_owned();
                rest = &r[close + 1..];
                Some(attr)
            } else {
                None
            };
            let op = ["==", "!=", "+=", "-=", ":=", "="]
                .into_iter()
                .find(|op| rest.starts_with(op))
                .ok_or_else(|| format!("no operator after {key}"))?;
            rest = rest[op.len()..]
                .strip_prefix('"')
                .ok_or_else(|| format!("{key}'s value is not quoted"))?;
            let close = rest.find('"').ok_or("an unclosed value")?;
            let value = rest[..close].to_owned();
            rest = rest[close + 1..].trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            } else if !rest.is_empty() {
                return Err(format!("no comma after {key}"));
            }
            let is_match = op == "==" || op == "!=";
            let known = if is_match {
                MATCH_KEYS.contains(&key.as_str())
            } else {
                ASSIGN_KEYS.contains(&key.as_str())
            };
            if !known {
                return Err(format!("{key}{op} is not a key this file should use"));
            }
            if matches!(key.as_str(), "ATTRS" | "ENV") != attr.is_some() {
                return Err(format!("{key} and its {{attribute}} do not go together"));
            }
            terms.push(Term {
                key,
                attr,
                op: op.to_owned(),
                value,
            });
        }
        Ok(terms)
    }

    /// udev's patterns: `*`, `?`, `[...]` classes and `|` alternatives.
    fn glob(pattern: &str, text: &str) -> bool {
        pattern
            .split('|')
            .any(|p| glob_one(p.as_bytes(), text.as_bytes()))
    }

    fn glob_one(p: &[u8], t: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') => (0..=t.len()).any(|i| glob_one(&p[1..], &t[i..])),
            Some(b'?') => !t.is_empty() && glob_one(&p[1..], &t[1..]),
            Some(b'[') => {
                let Some(close) = p.iter().position(|&b| b == b']') else {
                    return false;
                };
                let class = &p[1..close];
                let Some(&c) = t.first() else { return false };
                let hit = class
                    .windows(3)
                    .any(|w| w[1] == b'-' && w[0] <= c && c <= w[2])
                    || class.contains(&c);
                hit && glob_one(&p[close + 1..], &t[1..])
            }
            Some(&b) => t.first() == Some(&b) && glob_one(&p[1..], &t[1..]),
        }
    }

    /// A device as udev sees it: its properties and the attributes of it and its parents.
    struct Device(BTreeMap<&'static str, &'static str>);

    impl Device {
        fn get(&self, term: &Term) -> &str {
            let name = match &term.attr {
                Some(a) => format!("{}{{{a}}}", term.key),
                None => term.key.clone(),
            };
            self.0.get(name.as_str()).copied().unwrap_or("")
        }
    }

    /// The assignments of every rule whose matches all hold for `device`.
    fn apply(rules: &str, device: &Device) -> BTreeMap<String, String> {
        let mut assigned = BTreeMap::new();
        for line in rules
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let terms = parse_rule(line).unwrap();
            let matches = terms
                .iter()
                .filter(|t| t.op == "==" || t.op == "!=")
                .all(|t| glob(&t.value, device.get(t)) == (t.op == "=="));
            if matches {
                for t in terms.iter().filter(|t| t.op != "==" && t.op != "!=") {
                    let key = match &t.attr {
                        Some(a) => format!("{}{{{a}}}", t.key),
                        None => t.key.clone(),
                    };
                    assigned.insert(key, t.value.clone());
                }
            }
        }
        assigned
    }

    #[test]
    fn udev_every_rule_parses_and_each_assigns_something() {
        let mut count = 0;
        for line in COMMITTED
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let terms = parse_rule(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(terms.iter().any(|t| t.op == "=" || t.op == "+="), "{line}");
            count += 1;
        }
        assert!(count >= 5, "{COMMITTED}");
        assert!(parse_rule("SUBSYSTEM==\"gpio\" GROUP=\"x\"").is_err());
        assert!(parse_rule("SUBSYSTEM==gpio").is_err());
        assert!(parse_rule("ATTRS==\"x\", GROUP=\"x\"").is_err());
    }

    #[test]
    fn udev_rules_grant_the_group_what_the_service_opens_and_nothing_else() {
        let dev = |pairs: &[(&'static str, &'static str)]| Device(pairs.iter().copied().collect());
        let gpio = apply(
            COMMITTED,
            &dev(&[
                ("ACTION", "add"),
                ("SUBSYSTEM", "gpio"),
                ("KERNEL", "gpiochip0"),
            ]),
        );
        assert_eq!(gpio.get("GROUP").map(String::as_str), Some(GROUP));
        assert_eq!(gpio.get("MODE").map(String::as_str), Some("0660"));
        let watchdog = apply(
            COMMITTED,
            &dev(&[
                ("ACTION", "add"),
                ("SUBSYSTEM", "watchdog"),
                ("KERNEL", "watchdog0"),
            ]),
        );
        assert_eq!(watchdog.get("GROUP").map(String::as_str), Some(GROUP));
        let led = apply(
            COMMITTED,
            &dev(&[
                ("ACTION", "change"),
                ("SUBSYSTEM", "leds"),
                ("KERNEL", "pbxgw:green:pbx"),
            ]),
        );
        assert!(led["RUN"].contains("chgrp pbxgw $$f"), "{led:?}");
        assert!(led["RUN"].contains("delay_on"), "{led:?}");

        for (vendor, product) in [("2c7c", "0125"), ("1e0e", "9001"), ("2c7c", "0121")] {
            let modem = Device(
                [
                    ("ACTION", "add"),
                    ("SUBSYSTEM", "tty"),
                    ("SUBSYSTEMS", "usb"),
                    ("KERNEL", "ttyUSB2"),
                    ("ATTRS{idVendor}", vendor),
                    ("ATTRS{idProduct}", product),
                ]
                .into_iter()
                .collect(),
            );
            let set = apply(COMMITTED, &modem);
            assert_eq!(
                set.get("ENV{ID_MM_DEVICE_IGNORE}").map(String::as_str),
                Some("1"),
                "{vendor}:{product}"
            );
            assert!(!set.contains_key("GROUP"), "serial ports stay dialout's");
        }
        let other_usb_serial = dev(&[
            ("ACTION", "add"),
            ("SUBSYSTEM", "tty"),
            ("SUBSYSTEMS", "usb"),
            ("KERNEL", "ttyUSB0"),
            ("ATTRS{idVendor}", "0403"),
            ("ATTRS{idProduct}", "6001"),
        ]);
        assert!(
            apply(COMMITTED, &other_usb_serial).is_empty(),
            "an FTDI cable is untouched"
        );
        let disk = dev(&[("ACTION", "add"), ("SUBSYSTEM", "block"), ("KERNEL", "sda")]);
        assert!(apply(COMMITTED, &disk).is_empty());
    }

    #[test]
    fn udev_a_malformed_usb_id_is_refused() {
        assert_eq!(usb_id("2C7C:0125"), Some(("2c7c".into(), "0125".into())));
        for bad in [
            "2c7c",
            "2c7c:125",
            "2c7c:01255",
            "zz7c:0125",
            "2c7c:0125:1",
            "",
        ] {
            assert_eq!(usb_id(bad), None, "{bad}");
        }
        let mut p = Profile::load("rpi4").unwrap();
        p.modem_usb.push("quectel".into());
        assert!(rules(&[p]).is_err());
    }
}
