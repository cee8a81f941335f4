//! Connectors: each keeps one session to its PBX and turns bytes into typed messages with the
//! raw line beside them. Correlation into calls happens in `calls`.

pub mod ami;
pub mod ctip;

/// What a connector hands to its correlator.
#[derive(Debug, Clone)]
pub enum PbxEvent<M> {
    /// A message, stamped on arrival, with the raw line it came from.
    Message { ts_ms: i64, raw: String, message: M },
    /// Logged in; events flow.
    Up,
    /// The link dropped; open calls cannot be followed any more.
    Lost { ts_ms: i64, reason: String },
}
