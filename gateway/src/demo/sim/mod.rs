//! Simulated peers that speak the real protocols and replay captured traffic: a Slican PBX
//! (CTIP), an Asterisk (AMI), and a GSM modem on a pseudo-terminal. `pbxgw demo` and the
//! end-to-end tests run the gateway against them.

pub mod ami;
pub mod ari;
pub mod ctip;
pub mod modem;
