//! Health: the status report, the MQTT status topic and (with the board) the LEDs are all
//! views of the one table of link states in [`crate::link`].

pub mod panel;
mod status;
pub(crate) mod watch;

pub use status::StatusReport;
