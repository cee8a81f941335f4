//! Asterisk ARI: events over a WebSocket (`/ari/events`), control over REST.

pub mod model;
pub mod rest;
pub mod session;
