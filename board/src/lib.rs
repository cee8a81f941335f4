//! The hardware layer of the pbxgw box: front-panel LEDs, the GSM modem (AT engine and PDU
//! codec), the watchdog, serial ports, and the board profiles that say which lines and ports
//! one model of box has. It knows nothing about PBXs; the gateway reaches hardware only
//! through this crate's types.
//!
//! `modem` arrives with the SMS work; `leds`, `watchdog` and `profiles` with the LED and
//! watchdog work.

// Every system interface goes through a crate (nix, tokio, gpiocdev, tz-rs): no unsafe here.
#![forbid(unsafe_code)]

pub mod leds;
pub mod modem;
pub mod power;
pub mod profile;
pub mod serial;
pub mod udev;
pub mod watchdog;
