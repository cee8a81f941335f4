//! Asterisk Manager Interface (TCP 5038): the codec (pure) and the session (login, actions,
//! keep-alive). Correlation into calls and resync arrive with the rest of the AMI connector.

pub mod codec;
pub mod session;
