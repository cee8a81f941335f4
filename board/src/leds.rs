//! Front-panel LEDs. Every LED is an `embedded-hal` `OutputPin`: a GPIO character-device line
//! (the v2 interface, through `gpiocdev`), a sysfs LED-class device
//! (`/sys/class/leds/NAME/brightness`), or the console (development: prints changes). A
//! pattern per LED (off, on, slow or fast blink) is driven in software by [`LedBank::step`],
//! except where the sysfs LED has the kernel's `timer` trigger, which then blinks it.

use std::path::{Path, PathBuf};

use embedded_hal::digital::{ErrorType, OutputPin};

/// What an LED shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    Off,
    On,
    /// 1 Hz: connecting, or draining a backlog.
    SlowBlink,
    /// 4 Hz: needs the installer.
    FastBlink,
}

impl Pattern {
    /// (on, off) milliseconds of a blink.
    fn period_ms(self) -> Option<(u64, u64)> {
        match self {
            Pattern::SlowBlink => Some((500, 500)),
            Pattern::FastBlink => Some((125, 125)),
            _ => None,
        }
    }

    /// Whether the LED is lit `t_ms` into the pattern.
    pub fn lit_at(self, t_ms: u64) -> bool {
        match (self, self.period_ms()) {
            (Pattern::On, _) => true,
            (_, Some((on, off))) => t_ms % (on + off) < on,
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedError {
    #[error("LED {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("GPIO {chip} line {line}: {message}")]
    Gpio {
        chip: PathBuf,
        line: u32,
        message: String,
    },
}

impl embedded_hal::digital::Error for LedError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

/// A sysfs LED-class device.
pub struct SysfsLed {
    dir: PathBuf,
    max: String,
    lit: Option<bool>,
    /// The kernel blinks it (timer trigger) with these (on, off) ms.
    kernel_blink: Option<(u64, u64)>,
}

impl SysfsLed {
    /// `root` is `/sys/class/leds` on a box (a directory in tests).
    pub fn open(root: &Path, name: &str) -> Result<SysfsLed, LedError> {
        let dir = root.join(name);
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f)).map_err(|source| LedError::Io {
                path: dir.join(f),
                source,
            })
        };
        read("brightness")?;
        let max = read("max_brightness")
            .map(|m| m.trim().to_owned())
            .unwrap_or_else(|_| "1".into());
        Ok(SysfsLed {
            dir,
            max,
            lit: None,
            kernel_blink: None,
        })
    }

    fn write(&self, file: &str, value: &str) -> Result<(), LedError> {
        let path = self.dir.join(file);
        std::fs::write(&path, value).map_err(|source| LedError::Io { path, source })
    }

    /// Lets the kernel blink it when it offers the timer trigger; false if it does not.
    pub fn blink_in_kernel(&mut self, period: Option<(u64, u64)>) -> Result<bool, LedError> {
        if self.kernel_blink == period {
            return Ok(true);
        }
        let triggers = std::fs::read_to_string(self.dir.join("trigger")).unwrap_or_default();
        if !triggers
            .split_whitespace()
            .any(|t| t.trim_matches(['[', ']']) == "timer")
        {
            return Ok(false);
        }
        match period {
            Some((on, off)) => {
                self.write("trigger", "timer")?;
                self.write("delay_on", &on.to_string())?;
                self.write("delay_off", &off.to_string())?;
            }
            None => {
                self.write("trigger", "none")?;
                self.lit = None;
            }
        }
        self.kernel_blink = period;
        Ok(true)
    }
}

impl ErrorType for SysfsLed {
    type Error = LedError;
}

impl OutputPin for SysfsLed {
    fn set_low(&mut self) -> Result<(), LedError> {
        if self.lit != Some(false) {
            self.write("brightness", "0")?;
            self.lit = Some(false);
        }
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), LedError> {
        if self.lit != Some(true) {
            let max = self.max.clone();
            self.write("brightness", &max)?;
            self.lit = Some(true);
        }
        Ok(())
    }
}

/// An LED on the console: each change is logged (development boxes, the demo).
pub struct ConsoleLed {
    name: String,
    lit: Option<bool>,
}

impl ConsoleLed {
    pub fn new(name: &str) -> ConsoleLed {
        ConsoleLed {
            name: name.to_owned(),
            lit: None,
        }
    }
}

impl ErrorType for ConsoleLed {
    type Error = core::convert::Infallible;
}

impl OutputPin for ConsoleLed {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        if self.lit != Some(false) {
            tracing::debug!(led = %self.name, "LED off");
            self.lit = Some(false);
        }
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        if self.lit != Some(true) {
            tracing::debug!(led = %self.name, "LED on");
            self.lit = Some(true);
        }
        Ok(())
    }
}

/// A GPIO character-device line (the kernel's v2 interface, through `gpiocdev`) as an
/// `embedded-hal` output pin.
pub struct GpioLine {
    request: gpiocdev::Request,
    offset: u32,
}

/// A line the kernel would not set.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct GpioLineError(#[from] gpiocdev::Error);

impl embedded_hal::digital::Error for GpioLineError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl ErrorType for GpioLine {
    type Error = GpioLineError;
}

impl OutputPin for GpioLine {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        let inactive = gpiocdev::line::Value::Inactive;
        Ok(self.request.set_value(self.offset, inactive)?)
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        let active = gpiocdev::line::Value::Active;
        Ok(self.request.set_value(self.offset, active)?)
    }
}

/// A GPIO line requested as an output (off at first), under the gateway's name; with
/// `active_low` the kernel inverts it, so "high" still means lit.
pub fn gpio_line(chip: &Path, line: u32, active_low: bool) -> Result<GpioLine, LedError> {
    let mut builder = gpiocdev::Request::builder();
    builder
        .on_chip(chip)
        .with_consumer("pbxgw")
        .with_line(line)
        .as_output(gpiocdev::line::Value::Inactive);
    if active_low {
        builder.as_active_low();
    }
    let request = builder.request().map_err(|e| LedError::Gpio {
        chip: chip.to_owned(),
        line,
        message: e.to_string(),
    })?;
    Ok(GpioLine {
        request,
        offset: line,
    })
}

/// Any output pin, its error made a message: so LEDs of different kinds share one bank.
pub trait Led: Send + Sync {
    fn set(&mut self, lit: bool) -> Result<(), String>;
    /// Hands a blink to hardware; false when software must blink it.
    fn blink_in_hardware(&mut self, _period: Option<(u64, u64)>) -> bool {
        false
    }
}

/// An `OutputPin` as a bank member.
pub struct PinLed<P>(pub P);

impl<P: OutputPin + Send + Sync> Led for PinLed<P> {
    fn set(&mut self, lit: bool) -> Result<(), String> {
        let r = if lit {
            self.0.set_high()
        } else {
            self.0.set_low()
        };
        r.map_err(|e| format!("{:?}", embedded_hal::digital::Error::kind(&e)))
    }
}

impl Led for SysfsLed {
    fn set(&mut self, lit: bool) -> Result<(), String> {
        let r = if lit { self.set_high() } else { self.set_low() };
        r.map_err(|e| e.to_string())
    }

    fn blink_in_hardware(&mut self, period: Option<(u64, u64)>) -> bool {
        self.blink_in_kernel(period).unwrap_or(false)
    }
}

/// The LEDs of a box by role (pbx, uplink, modem, fault), each with its pattern.
pub struct LedBank {
    leds: Vec<(String, Box<dyn Led>, Pattern, bool)>,
}

impl LedBank {
    pub fn new(leds: Vec<(String, Box<dyn Led>)>) -> LedBank {
        LedBank {
            leds: leds
                .into_iter()
                .map(|(n, l)| (n, l, Pattern::Off, false))
                .collect(),
        }
    }

    pub fn roles(&self) -> Vec<&str> {
        self.leds.iter().map(|(n, ..)| n.as_str()).collect()
    }

    /// Sets the pattern of the LED with this role (no such LED: nothing to show).
    pub fn show(&mut self, role: &str, pattern: Pattern) {
        for (name, led, current, hardware) in &mut self.leds {
            if name == role && *current != pattern {
                *current = pattern;
                *hardware = led.blink_in_hardware(pattern.period_ms());
            }
        }
    }

    pub fn pattern(&self, role: &str) -> Option<Pattern> {
        self.leds
            .iter()
            .find(|(n, ..)| n == role)
            .map(|(_, _, p, _)| *p)
    }

    /// Drives every software-blinked LED for time `t_ms`; returns the errors met.
    pub fn step(&mut self, t_ms: u64) -> Vec<String> {
        let mut errors = Vec::new();
        for (name, led, pattern, hardware) in &mut self.leds {
            if *hardware {
                continue;
            }
            if let Err(e) = led.set(pattern.lit_at(t_ms)) {
                errors.push(format!("LED {name}: {e}"));
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_led(root: &Path, name: &str, triggers: &str) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("brightness"), "0\n").unwrap();
        std::fs::write(dir.join("max_brightness"), "255\n").unwrap();
        std::fs::write(dir.join("trigger"), triggers).unwrap();
    }

    #[test]
    fn patterns_over_time() {
        assert!(Pattern::On.lit_at(123) && !Pattern::Off.lit_at(0));
        assert!(Pattern::SlowBlink.lit_at(100) && !Pattern::SlowBlink.lit_at(600));
        assert!(
            Pattern::FastBlink.lit_at(0)
                && !Pattern::FastBlink.lit_at(130)
                && Pattern::FastBlink.lit_at(260)
        );
    }

    #[test]
    fn a_sysfs_led_is_driven_through_brightness_or_blinked_by_the_kernel() {
        let root = tempfile::tempdir().unwrap();
        fake_led(root.path(), "pbx", "[none] heartbeat");
        fake_led(root.path(), "fault", "none [timer] heartbeat");
        let pbx = SysfsLed::open(root.path(), "pbx").unwrap();
        let fault = SysfsLed::open(root.path(), "fault").unwrap();
        let mut bank = LedBank::new(vec![
            ("pbx".into(), Box::new(pbx)),
            ("fault".into(), Box::new(fault)),
        ]);
        bank.show("pbx", Pattern::SlowBlink);
        bank.show("fault", Pattern::FastBlink);
        let read =
            |led: &str, f: &str| std::fs::read_to_string(root.path().join(led).join(f)).unwrap();
        assert!(bank.step(100).is_empty());
        assert_eq!(read("pbx", "brightness"), "255");
        bank.step(600);
        assert_eq!(read("pbx", "brightness"), "0");
        // The fault LED has the timer trigger: the kernel blinks it at 4 Hz.
        assert_eq!(
            (
                read("fault", "trigger").as_str(),
                read("fault", "delay_on").as_str()
            ),
            ("timer", "125")
        );
        assert!(SysfsLed::open(root.path(), "missing").is_err());
    }

    #[test]
    fn console_leds_take_patterns() {
        let mut bank = LedBank::new(vec![(
            "modem".into(),
            Box::new(PinLed(ConsoleLed::new("modem"))),
        )]);
        bank.show("modem", Pattern::On);
        bank.show("nothing", Pattern::On);
        assert!(bank.step(0).is_empty());
        assert_eq!(bank.pattern("modem"), Some(Pattern::On));
        assert_eq!(bank.roles(), ["modem"]);
    }
}
