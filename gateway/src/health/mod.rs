//! Health: every link reports its state here; the status report, the MQTT status topic and
//! (with the board) the LEDs are all views of the same table.

mod links;
pub mod panel;
pub mod quality;
mod status;

pub use links::{LinkStatus, Links};
pub use status::StatusReport;
