//! pbxgw: the gateway service. The modules follow the data path (DESIGN.md):
//! `pbx` (connectors) -> `calls` (correlation) -> `store` (durable log) -> `uplink` (sinks),
//! and `sms` (rules -> queue -> modem), with `health` beside them. Every connection (PBX,
//! GSM module, modem, uplink) keeps its state in `link` and runs under its one supervisor.
//! `contacts` names the numbers in call records.

// Every system interface goes through a crate (nix, tokio, gpiocdev, tz-rs): no unsafe here.
#![forbid(unsafe_code)]

pub mod api;
pub(crate) mod backoff;
pub mod calls;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod contacts;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(any(test, feature = "demo"))]
pub mod fixtures;
pub mod health;
#[cfg(test)]
mod layers;
pub mod link;
#[cfg(test)]
mod mutate;
pub mod numbers;
pub mod pbx;
pub mod runtime;
pub mod sms;
pub mod store;
pub(crate) mod timefmt;
pub mod tls;
pub mod uplink;
