//! Asterisk Manager Interface (TCP 5038): the codec (pure). The session, resync and actions
//! arrive with the rest of the AMI connector.

pub mod codec;
