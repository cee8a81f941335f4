//! Asterisk ARI: events over a WebSocket (`/ari/events`), control over REST.
//!
//! `model.rs` types the events, `session.rs` keeps the WebSocket (ping, reconnect, resync),
//! `rest.rs` is the REST client and the control actions, `ivr.rs` the optional built-in Stasis
//! IVR; the correlator is `calls/ari.rs`.

/// What remote commands use of an ARI PBX: its REST control and where click-to-call rings.
#[derive(Clone)]
pub struct AriControl {
    pub rest: rest::AriRest,
    pub originate: crate::pbx::ami::control::OriginateSettings,
}

pub mod ivr;
pub mod model;
pub mod rest;
pub mod session;
