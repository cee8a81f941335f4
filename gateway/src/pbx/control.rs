//! What a remote command asks of a PBX, whatever its kind: [`CallControl`], which each kind's
//! control handle implements (`ctip/control.rs`, `ami/control.rs`, `ari/mod.rs`), and
//! [`PbxControl`], which hands a call to the kind that runs. A kind that cannot do something
//! (a transfer over CTIP) answers [`ControlFailure::Unsupported`] saying which kind can.

use serde::Serialize;

use super::PbxControl;

/// What the PBX said when it did it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Done {
    /// The PBX's own words (AMI's `Message:`, CTIP's answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The channel the action made or acted on (ARI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The recording's name (`record.start`): what `record.stop` takes on ARI, the file name
    /// in Asterisk's monitor directory on AMI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ControlFailure {
    /// The PBX (or its queue) said no, in its words.
    #[error("{0}")]
    Refused(String),
    #[error("no answer from the PBX in time")]
    Timeout,
    #[error("{0}")]
    NotConnected(&'static str),
    /// An argument the PBX cannot take (a missing channel, a number with letters).
    #[error("{0}")]
    Invalid(String),
    /// This kind of PBX cannot do it.
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("{0}")]
    Internal(String),
}

pub(crate) type ControlResult = Result<Done, ControlFailure>;

/// Which call a hang-up means: Asterisk names channels, a Slican names extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallRef {
    pub channel: Option<String>,
    pub extension: Option<String>,
}

impl CallRef {
    pub fn channel(&self) -> Result<&str, ControlFailure> {
        required(self.channel.as_deref(), "channel")
    }

    pub fn extension(&self) -> Result<&str, ControlFailure> {
        required(self.extension.as_deref(), "extension")
    }
}

fn required<'a>(value: Option<&'a str>, key: &str) -> Result<&'a str, ControlFailure> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ControlFailure::Invalid(format!("{key:?} is missing or not a string")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    Blind,
    /// The agent consults the target first.
    Attended,
}

/// Pausing an agent (queue member) in one queue or all of them.
#[derive(Debug, Clone)]
pub struct QueuePause {
    pub interface: String,
    pub queue: Option<String>,
    pub paused: bool,
    pub reason: Option<String>,
}

/// The call control every PBX kind offers remote commands.
pub(crate) trait CallControl {
    /// Click-to-call: ring the agent's `extension`, then dial `number` from it.
    async fn originate(
        &self,
        extension: &str,
        number: &str,
        caller_id: Option<&str>,
    ) -> ControlResult;

    async fn hangup(&self, call: &CallRef) -> ControlResult;

    async fn transfer(
        &self,
        _channel: &str,
        _exten: &str,
        _context: &str,
        _kind: TransferKind,
    ) -> ControlResult {
        Err(ControlFailure::Unsupported(
            "transfers need an Asterisk (AMI) PBX",
        ))
    }

    async fn queue_pause(&self, _pause: &QueuePause) -> ControlResult {
        Err(ControlFailure::Unsupported(
            "queues need an Asterisk (AMI) PBX",
        ))
    }

    /// Starts recording `channel` as `name`.
    async fn record(&self, _channel: &str, _name: &str) -> ControlResult {
        Err(ControlFailure::Unsupported(RECORDS_ITSELF))
    }

    /// Stops recording `channel` (ARI needs the recording's `name`).
    async fn stop_recording(&self, _channel: &str, _name: Option<&str>) -> ControlResult {
        Err(ControlFailure::Unsupported(RECORDS_ITSELF))
    }
}

const RECORDS_ITSELF: &str =
    "recording on demand needs an Asterisk PBX; a Slican records by its own rules";

impl CallControl for PbxControl {
    async fn originate(
        &self,
        extension: &str,
        number: &str,
        caller_id: Option<&str>,
    ) -> ControlResult {
        match self {
            PbxControl::Ctip(c) => c.originate(extension, number, caller_id).await,
            PbxControl::Ami(c) => c.originate(extension, number, caller_id).await,
            PbxControl::Ari(c) => c.originate(extension, number, caller_id).await,
        }
    }

    async fn hangup(&self, call: &CallRef) -> ControlResult {
        match self {
            PbxControl::Ctip(c) => c.hangup(call).await,
            PbxControl::Ami(c) => c.hangup(call).await,
            PbxControl::Ari(c) => c.hangup(call).await,
        }
    }

    async fn transfer(
        &self,
        channel: &str,
        exten: &str,
        context: &str,
        kind: TransferKind,
    ) -> ControlResult {
        match self {
            PbxControl::Ctip(c) => c.transfer(channel, exten, context, kind).await,
            PbxControl::Ami(c) => c.transfer(channel, exten, context, kind).await,
            PbxControl::Ari(c) => c.transfer(channel, exten, context, kind).await,
        }
    }

    async fn queue_pause(&self, pause: &QueuePause) -> ControlResult {
        match self {
            PbxControl::Ctip(c) => c.queue_pause(pause).await,
            PbxControl::Ami(c) => c.queue_pause(pause).await,
            PbxControl::Ari(c) => c.queue_pause(pause).await,
        }
    }

    async fn record(&self, channel: &str, name: &str) -> ControlResult {
        match self {
            PbxControl::Ctip(c) => c.record(channel, name).await,
            PbxControl::Ami(c) => c.record(channel, name).await,
            PbxControl::Ari(c) => c.record(channel, name).await,
        }
    }

    async fn stop_recording(&self, channel: &str, name: Option<&str>) -> ControlResult {
        match self {
            PbxControl::Ctip(c) => c.stop_recording(channel, name).await,
            PbxControl::Ami(c) => c.stop_recording(channel, name).await,
            PbxControl::Ari(c) => c.stop_recording(channel, name).await,
        }
    }
}
