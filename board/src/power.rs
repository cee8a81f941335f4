//! The modem's power key or reset line: the last step of the SMS recovery ladder, for a
//! modem that no longer answers even after its port was re-opened. A reset line (`RESET_N`)
//! takes one pulse; a power key (`PWRKEY`) takes two, off and then on again.

use std::time::Duration;

use crate::leds::Led;

pub struct PowerLine {
    line: Box<dyn Led>,
    pulse: Duration,
    pulses: u32,
    /// Between the pulses of a power key: the modem's power-down time.
    between: Duration,
    /// After the last pulse, until the modem answers on its port again.
    boot: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("modem power line: {0}")]
pub struct PowerError(String);

impl PowerLine {
    pub fn new(line: Box<dyn Led>, spec: &crate::profile::PowerSpec) -> PowerLine {
        PowerLine {
            line,
            pulse: Duration::from_millis(spec.pulse_ms),
            pulses: spec.pulses.max(1),
            between: Duration::from_secs(spec.off_s),
            boot: Duration::from_secs(spec.boot_s),
        }
    }

    /// Pulses the line as the board needs, then waits for the modem to boot. The line is
    /// left released even when a pulse fails halfway.
    pub async fn cycle(&mut self) -> Result<(), PowerError> {
        for n in 0..self.pulses {
            if n > 0 {
                tokio::time::sleep(self.between).await;
            }
            let pressed = self.line.set(true);
            tokio::time::sleep(self.pulse).await;
            let released = self.line.set(false);
            pressed.and(released).map_err(PowerError)?;
        }
        tokio::time::sleep(self.boot).await;
        Ok(())
    }
}
