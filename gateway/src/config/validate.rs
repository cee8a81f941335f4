//! Checks of a parsed configuration beyond its types: secrets resolved, ranges, and what
//! the keys mean together. Every problem names the key, the value (never a secret's) and the
//! fix.

use std::fmt;
use std::ops::RangeInclusive;

use super::*;

impl Config {
    fn validate_monitors(&self, problem: &mut dyn FnMut(&str, &dyn fmt::Display, &str)) {
        if self.monitor.len() > MAX_MONITORS {
            let fix = format!("watch at most {MAX_MONITORS} servers");
            problem("monitor", &self.monitor.len(), &fix);
        }
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.monitor.iter().enumerate() {
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if m.name.is_empty() || m.name.len() > 40 || !m.name.chars().all(plain) {
                let fix = "up to 40 letters, digits, '-', '_' or '.'";
                problem(&format!("monitor[{i}].name"), &format!("{:?}", m.name), fix);
            } else if !seen.insert(m.name.as_str()) {
                let fix = "give each [[monitor]] its own name";
                problem(&format!("monitor[{i}].name"), &format!("{:?}", m.name), fix);
            }
            let port = m.target.rsplit_once(':').and_then(|(host, port)| {
                (!host.is_empty()).then_some(())?;
                port.parse::<u16>().ok().filter(|p| *p > 0)
            });
            if port.is_none() {
                let fix = "host:port, e.g. \"crm.example.com:443\" or \"[2001:db8::1]:443\"";
                problem(
                    &format!("monitor[{i}].target"),
                    &format!("{:?}", m.target),
                    fix,
                );
            }
        }
    }

    /// Every duration key has an allowed range, so a value from the file can never
    /// overflow a clock or a timer, and nothing is silently clamped.
    fn validate_ranges(&self, problem: &mut dyn FnMut(&str, &dyn fmt::Display, &str)) {
        let mut check = |key: &str, value: Option<u64>, range: RangeInclusive<u64>, unit: &str| {
            if let Some(v) = value.filter(|v| !range.contains(v)) {
                let fix = format!("use {} to {} {unit}", range.start(), range.end());
                problem(key, &v, &fix);
            }
        };
        const DAY: u64 = 86_400;
        check(
            "contacts.central_sync_s",
            self.contacts.central_sync_s,
            60..=7 * DAY,
            "seconds",
        );
        check(
            "sms.cooldown_s",
            Some(self.sms.cooldown_s),
            0..=30 * DAY,
            "seconds",
        );
        check(
            "sms.validity_h",
            Some(self.sms.validity_h.into()),
            1..=24 * 7,
            "hours",
        );
        check(
            "store.history_days",
            Some(self.store.history_days.into()),
            1..=3_650,
            "days",
        );
        check(
            "store.batch_wait_ms",
            Some(self.store.batch_wait_ms),
            0..=1_000,
            "ms",
        );
        if let Some(m) = &self.modem {
            check(
                "modem.register_within_s",
                m.register_within_s,
                1..=3_600,
                "seconds",
            );
            check("modem.send_within_s", m.send_within_s, 1..=3_600, "seconds");
        }
        if let Some(w) = &self.uplink.webhook {
            check(
                "uplink.webhook.timeout_s",
                Some(w.timeout_s),
                1..=300,
                "seconds",
            );
        }
        if let Some(m) = &self.uplink.mqtt {
            check(
                "uplink.mqtt.keepalive_s",
                Some(m.keepalive_s),
                5..=3_600,
                "seconds",
            );
            let status = Some(m.status_interval_s);
            check(
                "uplink.mqtt.status_interval_s",
                status,
                1..=3_600,
                "seconds",
            );
        }
    }

    /// Each `[[pbx]]` block by its kind's own checks (`pbx/*/config.rs`).
    fn validate_pbxs(&self, problems: &mut Vec<Problem>) {
        for (i, pbx) in self.pbx.iter().enumerate() {
            pbx.validate(&mut Section::new(format!("pbx[{i}]"), problems));
        }
    }

    /// Each `[[finesse]]` block by its own checks, and their names unique.
    fn validate_finesse(&self, problems: &mut Vec<Problem>) {
        let mut names = std::collections::HashSet::new();
        for (i, f) in self.finesse.iter().enumerate() {
            let mut s = Section::new(format!("finesse[{i}]"), problems);
            f.validate(&mut s);
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
            if f.name.is_empty() || !f.name.chars().all(plain) || !names.insert(f.name.as_str()) {
                let fix = "give each [[finesse]] its own name of letters, digits, '-' or '_'";
                s.problem("name", &format!("{:?}", f.name), fix);
            }
        }
        if self.finesse.len() > crate::pbx::finesse::MAX_FINESSE {
            problems.push(Problem {
                key: "finesse".into(),
                value: self.finesse.len().to_string(),
                fix: format!("watch at most {} teams", crate::pbx::finesse::MAX_FINESSE),
            });
        }
    }

    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        self.validate_the_rest(problems);
        self.validate_pbxs(problems);
        self.validate_finesse(problems);
    }

    fn validate_the_rest(&self, problems: &mut Vec<Problem>) {
        let mut problem = |key: &str, value: &dyn fmt::Display, fix: &str| {
            problems.push(Problem {
                key: key.into(),
                value: value.to_string(),
                fix: fix.into(),
            })
        };
        for (i, rule) in self.sms.rules.iter().enumerate() {
            let key = format!("sms.rule[{i}]");
            if rule.on == RuleTrigger::IvrDigit && rule.digit.is_none() {
                problem(
                    &format!("{key}.digit"),
                    &"(missing)",
                    "an ivr_digit rule needs digit = \"1\"",
                );
            }
            if rule.text.trim().is_empty() {
                problem(&format!("{key}.text"), &"\"\"", "write the text to send");
            }
            if let Some(bad) = crate::sms::rules::unknown_placeholder(&rule.text) {
                problem(
                    &format!("{key}.text"),
                    &bad,
                    "use {caller}, {extension}, {date} or {time}",
                );
            }
        }
        if self.contacts.central_sync_s.is_some() && self.uplink.postgres.is_none() {
            problem(
                "contacts.central_sync_s",
                &self.contacts.central_sync_s.unwrap_or_default(),
                "the sync reads PostgreSQL: add [uplink.postgres] or remove this key",
            );
        }
        self.validate_ranges(&mut problem);
        self.validate_monitors(&mut problem);
        if let Some(w) = &self.uplink.webhook {
            let url = w.url.as_ref().map_or("", |u| u.expose());
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.parse::<axum::http::Uri>().is_err() {
                // The URL may carry credentials: never echo it.
                problem(
                    "uplink.webhook.url",
                    &"(not shown)",
                    "set url, url_env or url_file to an http:// or https:// URL",
                );
            }
        }
        let weak_token = |a: &ApiConfig| a.token.as_ref().is_none_or(|t| t.expose().len() < 16);
        if self.api.as_ref().is_some_and(weak_token) {
            problem(
                "api.token",
                &"(missing or shorter than 16 characters)",
                "set token_file to a file holding a long random token (e.g. openssl rand -hex 24)",
            );
        }
        if let Err(e) = board::profile::Profile::load(&self.board.profile) {
            problem("board.profile", &self.board.profile, &e.to_string());
        }
        for (i, name) in self.commands.allow.iter().enumerate() {
            if !crate::commands::KNOWN.contains(&name.as_str()) {
                problem(
                    &format!("commands.allow[{i}]"),
                    name,
                    &format!("use one of {}", crate::commands::KNOWN.join(", ")),
                );
            }
        }
        if !self.sms.country_code.chars().all(|c| c.is_ascii_digit())
            || self.sms.country_code.is_empty()
        {
            problem(
                "sms.country_code",
                &self.sms.country_code,
                "digits only, e.g. \"48\"",
            );
        }
        let lists = [("allow", &self.numbers.allow), ("deny", &self.numbers.deny)];
        for (key, list) in lists {
            for (i, prefix) in list.iter().flatten().enumerate() {
                let digits = prefix.strip_prefix('+').unwrap_or("");
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    problem(
                        &format!("numbers.{key}[{i}]"),
                        &format!("{prefix:?}"),
                        "use an E.164 prefix such as \"+48\" or \"+48700\"",
                    );
                }
            }
        }
        if !is_topic_safe_id(&self.gateway.id) {
            problem(
                "gateway.id",
                &format!("{:?}", self.gateway.id),
                "use 1-64 letters, digits, '-' or '_' (it is part of every MQTT topic)",
            );
        }
        if self.store.max_size_mb < 4 {
            problem(
                "store.max_size_mb",
                &self.store.max_size_mb,
                "use at least 4 (MB)",
            );
        }
        if self.store.history_days == 0 {
            problem(
                "store.history_days",
                &0,
                "use at least 1 (days of acknowledged events kept for the status page)",
            );
        }
        if self.store.batch_max == 0 || self.store.batch_max > 100_000 {
            problem(
                "store.batch_max",
                &self.store.batch_max,
                "use 1..100000 events per transaction",
            );
        }
        if self.store.batch_wait_ms > 1000 {
            problem(
                "store.batch_wait_ms",
                &self.store.batch_wait_ms,
                "use 0..1000 ms",
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, pbx) in self.pbx.iter().enumerate() {
            let key = format!("pbx[{i}].name");
            let name = pbx.name();
            if !is_topic_safe_id(name) {
                problem(
                    &key,
                    &format!("{name:?}"),
                    "use 1-64 letters, digits, '-' or '_'",
                );
            } else if !names.insert(name) {
                problem(
                    &key,
                    &format!("{name:?}"),
                    "every [[pbx]] needs its own name",
                );
            }
        }
        if let Some(m) = &self.uplink.mqtt {
            if m.host.is_empty() {
                problem("uplink.mqtt.host", &"\"\"", "set the broker's host name");
            }
            if m.port == Some(0) {
                problem(
                    "uplink.mqtt.port",
                    &0,
                    "use 1..65535 (1883, or 8883 with TLS)",
                );
            }
            if m.topic_prefix.is_empty()
                || m.topic_prefix.ends_with('/')
                || m.topic_prefix.contains(['+', '#'])
            {
                problem(
                    "uplink.mqtt.topic_prefix",
                    &format!("{:?}", m.topic_prefix),
                    "use a topic without wildcards and without a trailing '/', e.g. \"pbxgw/v1\"",
                );
            }
            if m.max_inflight == 0 {
                problem("uplink.mqtt.max_inflight", &0, "use 1..65535");
            }
            if m.client_cert.is_some() != m.client_key.is_some() {
                problem(
                    "uplink.mqtt.client_cert",
                    &"(only one of client_cert/client_key set)",
                    "set both client_cert and client_key, or neither",
                );
            }
            if m.password.is_some() && m.tls.is_none() {
                problem(
                    "uplink.mqtt.tls",
                    &"(not set)",
                    "a password is set: set tls = true, or write tls = false to send it in the clear on a trusted LAN",
                );
            }
            if !m.tls() && (m.ca_file.is_some() || m.client_cert.is_some()) {
                problem(
                    "uplink.mqtt.tls",
                    &false,
                    "set tls = true, or remove ca_file/client_cert/client_key",
                );
            }
            for (k, file) in [
                ("ca_file", &m.ca_file),
                ("client_cert", &m.client_cert),
                ("client_key", &m.client_key),
            ] {
                if let Some(f) = file {
                    if !f.is_file() {
                        problem(
                            &format!("uplink.mqtt.{k}"),
                            &f.display(),
                            "no such file; give the path of a PEM file",
                        );
                    }
                }
            }
        }
        if let Some(p) = &self.uplink.postgres {
            match &p.url {
                None => problem(
                    "uplink.postgres.url",
                    &"(missing)",
                    "set url, url_env or url_file, e.g. postgresql://pbxgw@db.example/pbx",
                ),
                Some(url) => {
                    if url.expose().parse::<tokio_postgres::Config>().is_err() {
                        // The URL may carry a password: never echo it.
                        problem(
                            "uplink.postgres.url",
                            &"(hidden)",
                            "not a valid PostgreSQL URL; use postgresql://USER[:PASSWORD]@HOST[:PORT]/DB",
                        );
                    }
                }
            }
            if p.batch_size == 0 || p.batch_size > 50_000 {
                problem(
                    "uplink.postgres.batch_size",
                    &p.batch_size,
                    "use 1..50000 rows per transaction",
                );
            }
        }
    }
}

fn is_topic_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
