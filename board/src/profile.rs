//! Board profiles: one data file per model of box (`board/profiles/*.toml`, built in; or a
//! file of the installer's), saying where its LEDs and its modem's power line are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::leds::{gpio_line, ConsoleLed, Led, LedBank, LedError, PinLed, SysfsLed};
use crate::power::PowerLine;

/// The built-in profiles by name.
const BUILT_IN: [(&str, &str); 3] = [
    ("console", include_str!("../profiles/console.toml")),
    (
        "generic-sysfs",
        include_str!("../profiles/generic-sysfs.toml"),
    ),
    ("rpi4", include_str!("../profiles/rpi4.toml")),
];

/// Every built-in profile.
pub fn built_in() -> Result<Vec<Profile>, ProfileError> {
    built_in_names().into_iter().map(Profile::load).collect()
}

pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

/// Where one LED (or output line) is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Output {
    Gpio {
        gpio: PathBuf,
        line: u32,
        #[serde(default)]
        active_low: bool,
    },
    Sysfs {
        sysfs: String,
    },
    Console {
        console: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    /// Role (`pbx`, `uplink`, `modem`, `fault`) -> where.
    pub leds: BTreeMap<String, Output>,
    /// The modem's power/reset line, pulsed by the last step of the SMS recovery ladder.
    pub modem_power: Option<PowerSpec>,
    /// USB ids (`vendor:product`, hex) of the modems this box is built with: the packaged
    /// udev rules keep ModemManager off their ports (`board/udev/60-pbxgw.rules`).
    #[serde(default)]
    pub modem_usb: Vec<String>,
}

/// The modem's power key or reset line and how to pulse it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PowerSpec {
    #[serde(flatten)]
    pub line: Output,
    /// How long one press lasts.
    #[serde(default = "default_pulse_ms")]
    pub pulse_ms: u64,
    /// 1 for a reset line; 2 for a power key (off, then on).
    #[serde(default = "one")]
    pub pulses: u32,
    /// Between two presses: the modem's power-down time.
    #[serde(default = "default_off_s")]
    pub off_s: u64,
    /// After the last press, until the modem answers on its port.
    #[serde(default = "default_boot_s")]
    pub boot_s: u64,
}

fn default_pulse_ms() -> u64 {
    1000
}

fn one() -> u32 {
    1
}

fn default_off_s() -> u64 {
    5
}

fn default_boot_s() -> u64 {
    15
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("board profile {0:?} is neither built in ({1}) nor a readable file")]
    Unknown(String, String),
    #[error("board profile {path}: {message}")]
    Invalid { path: String, message: String },
}

impl Profile {
    /// A built-in profile by name, or a profile file by path.
    pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
        let text = match BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            Some((_, text)) => (*text).to_owned(),
            None => std::fs::read_to_string(name_or_path).map_err(|_| {
                ProfileError::Unknown(name_or_path.to_owned(), built_in_names().join(", "))
            })?,
        };
        toml::from_str(&text).map_err(|e| ProfileError::Invalid {
            path: name_or_path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Opens every LED; `sysfs_root` is `/sys/class/leds` on a box. An LED that cannot be
    /// opened is reported and left out, so one broken LED does not stop the others.
    pub fn open_leds(&self, sysfs_root: &Path) -> (LedBank, Vec<LedError>) {
        let mut leds: Vec<(String, Box<dyn Led>)> = Vec::new();
        let mut errors = Vec::new();
        for (role, output) in &self.leds {
            match output.open(role, sysfs_root) {
                Ok(l) => leds.push((role.clone(), l)),
                Err(e) => errors.push(e),
            }
        }
        (LedBank::new(leds), errors)
    }

    /// The modem's power line, when this box has one.
    pub fn open_modem_power(&self, sysfs_root: &Path) -> Result<Option<PowerLine>, LedError> {
        let Some(spec) = &self.modem_power else {
            return Ok(None);
        };
        let line = spec.line.open("modem-power", sysfs_root)?;
        Ok(Some(PowerLine::new(line, spec)))
    }
}

impl Output {
    /// Opens the line as an output, named `role` on the console.
    pub fn open(&self, role: &str, sysfs_root: &Path) -> Result<Box<dyn Led>, LedError> {
        match self {
            Output::Console { .. } => Ok(Box::new(PinLed(ConsoleLed::new(role)))),
            Output::Sysfs { sysfs } => {
                SysfsLed::open(sysfs_root, sysfs).map(|l| Box::new(l) as Box<dyn Led>)
            }
            Output::Gpio {
                gpio,
                line,
                active_low,
            } => gpio_line(gpio, *line, *active_low).map(|p| Box::new(PinLed(p)) as Box<dyn Led>),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_profiles_load() {
        for name in built_in_names() {
            let p = Profile::load(name).unwrap();
            assert_eq!(p.name, name);
            let roles: Vec<&str> = p.leds.keys().map(String::as_str).collect();
            assert_eq!(roles, ["fault", "modem", "pbx", "uplink"], "{name}");
        }
        let rpi = Profile::load("rpi4").unwrap();
        let power = rpi.modem_power.expect("the rpi4 wiring has a power key");
        assert!(matches!(power.line, Output::Gpio { line: 5, .. }));
        assert_eq!((power.pulses, power.pulse_ms), (2, 1000));
        assert!(matches!(
            Profile::load("nope"),
            Err(ProfileError::Unknown(..))
        ));
    }

    #[test]
    fn a_missing_led_is_reported_and_the_rest_work() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pbxgw:green:pbx");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("brightness"), "0").unwrap();
        let (bank, errors) = Profile::load("generic-sysfs")
            .unwrap()
            .open_leds(root.path());
        assert_eq!(bank.roles(), ["pbx"]);
        assert_eq!(errors.len(), 3);
        let gpio: Profile = toml::from_str(
            "name = \"x\"\n[leds]\npbx = { gpio = \"/nonexistent/gpiochip9\", line = 3 }\n",
        )
        .unwrap();
        let (bank, errors) = gpio.open_leds(root.path());
        assert!(bank.roles().is_empty() && errors.len() == 1, "{errors:?}");
        assert!(errors[0]
            .to_string()
            .contains("/nonexistent/gpiochip9 line 3"));

        // A path that is not a GPIO chip (a profile's typo) is refused, not a panic.
        let not_a_chip = root.path().join("gpiochip0");
        std::fs::write(&not_a_chip, "").unwrap();
        let text = format!("name = \"x\"\n[leds]\npbx = {{ gpio = {not_a_chip:?}, line = 1 }}\n");
        let typo: Profile = toml::from_str(&text).unwrap();
        let (bank, errors) = typo.open_leds(root.path());
        assert!(bank.roles().is_empty() && errors.len() == 1, "{errors:?}");
    }
}
