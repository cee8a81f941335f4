//! Asterisk Manager Interface (TCP 5038): the codec (pure), the session (login, actions,
//! keep-alive, resync) and call control. Correlation into calls is in `calls::ami`.

pub mod codec;
pub mod config;
pub mod control;
pub mod session;
