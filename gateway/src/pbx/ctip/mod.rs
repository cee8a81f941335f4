//! Slican CTIP (TCP 5524): the codec (pure) and the session (socket, login, liveness).

pub mod codec;
pub mod config;
pub mod control;
pub mod gsm;
pub mod session;
