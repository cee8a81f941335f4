//! End-to-end test support for pbxgw: private service instances (Mosquitto, PostgreSQL) on
//! free loopback ports, the gateway as a real process, an MQTT collector standing in for
//! central IT, and producers of call events.
//!
//! Test code: failures here are test failures, so `expect` with a message that says what to
//! install or look at is the right tool.

pub mod bench;
pub mod cdr;
pub mod feeder;
pub mod harness;
/// The simulators live with `pbxgw demo`.
pub use pbxgw::demo::sim;
pub mod synthetic;
