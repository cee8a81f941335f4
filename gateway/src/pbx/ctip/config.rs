//! A `[[pbx]]` block of `kind = "ctip"`: a Slican PBX's CTIP port.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{Secret, Section};

/// The keys of a CTIP block besides `name` and `kind`; a key of another kind
/// is refused by name before the block is read.
pub(crate) const CONFIG_KEYS: &[&str] = &[
    "host",
    "port",
    "pin",
    "pin_env",
    "pin_file",
    "pin_credential",
    "codepage",
    "probe_after_s",
    "ivr_map",
    "currency",
    "gsm_module",
    "gsm_pin",
    "gsm_pin_env",
    "gsm_pin_file",
    "gsm_pin_credential",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CtipConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The CTIP login PIN (`LOGA`).
    pub pin: Option<Secret>,
    /// The PBX's code page for text (852 = IBM852, Polish).
    pub codepage: u16,
    /// Probe a silent link after this many seconds.
    pub probe_after_s: u64,
    /// Extension -> IVR digit: a call reaching the extension chose that digit.
    pub ivr_map: BTreeMap<String, String>,
    /// The currency of the PBX's advice of charge (`AOC`), ISO 4217.
    pub currency: String,
    /// The PBX's GSM module (`G001`): the SMS route when the box has no `[modem]`.
    pub gsm_module: Option<String>,
    /// The GSM module's SIM PIN (its own `LOGI` login).
    pub gsm_pin: Option<Secret>,
}

impl Default for CtipConfig {
    fn default() -> Self {
        CtipConfig {
            name: String::new(),
            host: String::new(),
            port: 5524,
            pin: None,
            codepage: 852,
            probe_after_s: 60,
            ivr_map: BTreeMap::new(),
            currency: "PLN".into(),
            gsm_module: None,
            gsm_pin: None,
        }
    }
}

impl CtipConfig {
    pub(crate) fn validate(&self, s: &mut Section<'_>) {
        s.address(&self.host, self.port);
        s.required("pin", self.pin.is_some(), "ctip");
        if self.gsm_module.is_some() {
            s.required("gsm_pin", self.gsm_pin.is_some(), "ctip");
        }
        s.range("probe_after_s", self.probe_after_s, 1..=3_600, "seconds");
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            s.problem(
                "currency",
                &format!("{:?}", self.currency),
                "use an ISO 4217 code such as \"PLN\" or \"EUR\"",
            );
        }
        if super::codec::CodePage::by_number(self.codepage).is_none() {
            s.problem(
                "codepage",
                &self.codepage,
                "use a single-byte OEM code page such as 852 (Polish) or 437",
            );
        }
        for (ext, digit) in &self.ivr_map {
            if ext.is_empty()
                || digit.is_empty()
                || !digit
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            {
                s.problem(
                    "ivr_map",
                    &format!("{ext:?} = {digit:?}"),
                    "map an extension to the digit(s) that lead there, e.g. \"999\" = \"9\"",
                );
            }
        }
    }
}
