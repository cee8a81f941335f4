//! Correlation stage: `PbxEvent`s from the connectors become [`CallEvent`]s, one call id per
//! real call across all its legs. This module holds the normalized model that every later
//! stage (store, uplinks, SMS rules, status page) works on; the per-protocol correlators
//! live beside it.

pub mod ctip;
pub mod event;
pub mod pipeline;
pub mod record;

pub use event::{
    AgentState, AgentStateChanged, CallAnswered, CallDtmf, CallEvent, CallHeld, CallRecording,
    CallRinging, CallStarted, CallTransferred, EventBody, LinkState, LinkStateChanged, Source,
    TransferKind,
};
pub use record::{CallRecord, Direction, Disposition, Transfer};
