//! Links: every connection the gateway keeps (a PBX, a GSM module, the modem, an uplink) has
//! one state in one table, and is kept up by one supervisor.
//!
//! [`Links`] is the table: the status report, the status page and the LEDs read it; call
//! events carry a [`LinkState`] too, so this module sits below `calls` and `store` and
//! imports only the bottom modules (clock, backoff). [`supervise`] is the one reconnect loop:
//! a [`Link`] says how to connect and serve, and why it was lost; the loop owns the state
//! shown, the backoff, the slower retry after a refusal only the installer can fix, and
//! shutdown.

mod check;
pub mod quality;
mod registry;
mod state;
mod supervise;

pub(crate) use check::CheckStep;
pub use registry::{LinkStatus, Links};
pub use state::LinkState;
pub use supervise::LinkError;
pub(crate) use supervise::RECONNECTS;
pub(crate) use supervise::{refuse_until, supervise, Link, Policy, Retry};
