//! The GSM modem: the PDU codec for SMS, and (with the AT engine) the way to talk to it.

pub mod pdu;
