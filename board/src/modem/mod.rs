//! The GSM modem: the PDU codec for SMS, the AT engine, error meanings, and the device-level
//! steps (bring-up, sending, reading what arrived).

pub mod at;
pub mod device;
pub mod errors;
pub mod pdu;
