//! The ARI event model as Asterisk 22 sends it on `/ari/events` (one compact JSON object per
//! WebSocket text frame), typed for what the gateway uses. Fields the gateway does not read
//! are ignored; an event type it does not know is kept as [`Decoded::Unknown`] and counted;
//! a known type with a broken body is a [`DecodeError`], never a panic.

use serde::Deserialize;

/// `{"name","number"}` of a caller or connected line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CallerId {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub number: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DialplanCep {
    #[serde(default)]
    pub context: String,
    #[serde(default)]
    pub exten: String,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub app_name: String,
    #[serde(default)]
    pub app_data: String,
}

/// A channel snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Channel {
    pub id: String,
    pub name: String,
    /// Down, Rsrvd, OffHook, Dialing, Ring, Ringing, Up, Busy, ...
    pub state: String,
    #[serde(default)]
    pub caller: CallerId,
    #[serde(default)]
    pub connected: CallerId,
    #[serde(default)]
    pub dialplan: DialplanCep,
    #[serde(default)]
    pub creationtime: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Bridge {
    pub id: String,
    #[serde(default)]
    pub bridge_type: String,
    #[serde(default)]
    pub name: String,
    /// Who made it: `ConfBridge`, `Parking`, `Stasis`, or empty for a dialplan bridge.
    #[serde(default)]
    pub creator: String,
    #[serde(default)]
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Playback {
    pub id: String,
    #[serde(default)]
    pub media_uri: String,
    #[serde(default)]
    pub target_uri: String,
    #[serde(default)]
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LiveRecording {
    pub name: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub state: String,
    /// `channel:<id>` or `bridge:<id>`.
    #[serde(default)]
    pub target_uri: String,
}

/// The events the gateway reads. `timestamp` is Asterisk's, e.g.
/// `2026-11-22T03:09:49.069+0000`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum AriEvent {
    StasisStart {
        timestamp: String,
        #[serde(default)]
        args: Vec<String>,
        channel: Channel,
    },
    StasisEnd {
        timestamp: String,
        channel: Channel,
    },
    ChannelCreated {
        timestamp: String,
        channel: Channel,
    },
    ChannelStateChange {
        timestamp: String,
        channel: Channel,
    },
    ChannelDestroyed {
        timestamp: String,
        #[serde(default)]
        cause: i64,
        #[serde(default)]
        cause_txt: String,
        channel: Channel,
    },
    ChannelHangupRequest {
        timestamp: String,
        #[serde(default)]
        cause: Option<i64>,
        channel: Channel,
    },
    ChannelDtmfReceived {
        timestamp: String,
        digit: String,
        channel: Channel,
    },
    Dial {
        timestamp: String,
        #[serde(default)]
        dialstatus: String,
        #[serde(default)]
        dialstring: Option<String>,
        /// Where the dialled party forwarded the call, if it did.
        #[serde(default)]
        forward: String,
        peer: Channel,
        #[serde(default)]
        caller: Option<Box<Channel>>,
    },
    ChannelEnteredBridge {
        timestamp: String,
        bridge: Bridge,
        channel: Channel,
    },
    ChannelLeftBridge {
        timestamp: String,
        bridge: Bridge,
        channel: Channel,
    },
    BridgeCreated {
        timestamp: String,
        bridge: Bridge,
    },
    BridgeDestroyed {
        timestamp: String,
        bridge: Bridge,
    },
    /// `bridge_from`'s channels moved into `bridge` (an attended transfer joining two calls).
    BridgeMerged {
        timestamp: String,
        bridge: Bridge,
        bridge_from: Bridge,
    },
    /// `channel` sent `transferee` to `exten`@`context`.
    BridgeBlindTransfer {
        timestamp: String,
        channel: Channel,
        #[serde(default)]
        transferee: Option<Box<Channel>>,
        #[serde(default)]
        replace_channel: Option<Box<Channel>>,
        #[serde(default)]
        exten: String,
        #[serde(default)]
        context: String,
        #[serde(default)]
        result: String,
    },
    /// The transferer (talking to the transferee on its first leg and to the target on its
    /// second) joined the two.
    BridgeAttendedTransfer {
        timestamp: String,
        transferer_first_leg: Box<Channel>,
        #[serde(default)]
        transferer_second_leg: Option<Box<Channel>>,
        #[serde(default)]
        transferee: Option<Box<Channel>>,
        #[serde(default)]
        transfer_target: Option<Box<Channel>>,
        #[serde(default)]
        replace_channel: Option<Box<Channel>>,
        #[serde(default)]
        result: String,
    },
    ChannelHold {
        timestamp: String,
        channel: Channel,
    },
    ChannelUnhold {
        timestamp: String,
        channel: Channel,
    },
    PlaybackStarted {
        timestamp: String,
        playback: Playback,
    },
    PlaybackFinished {
        timestamp: String,
        playback: Playback,
    },
    RecordingStarted {
        timestamp: String,
        recording: LiveRecording,
    },
    RecordingFinished {
        timestamp: String,
        recording: LiveRecording,
    },
    RecordingFailed {
        timestamp: String,
        recording: LiveRecording,
    },
    ChannelVarset {
        timestamp: String,
        variable: String,
        #[serde(default)]
        value: String,
        #[serde(default)]
        channel: Option<Channel>,
    },
    ChannelDialplan {
        timestamp: String,
        #[serde(default)]
        dialplan_app: String,
        #[serde(default)]
        dialplan_app_data: String,
        channel: Channel,
    },
    ChannelCallerId {
        timestamp: String,
        channel: Channel,
    },
    ChannelConnectedLine {
        timestamp: String,
        channel: Channel,
    },
    /// A device (a phone, or a pseudo-device such as `Local/...` or `Queue:...`) changed state.
    DeviceStateChanged {
        timestamp: String,
        device_state: DeviceState,
    },
    /// An endpoint (`PJSIP/201`) registered or went away.
    EndpointStateChange {
        timestamp: String,
        endpoint: Endpoint,
    },
}

/// `{"name":"PJSIP/201","state":"NOT_INUSE"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeviceState {
    pub name: String,
    #[serde(default)]
    pub state: String,
}

/// `{"technology":"PJSIP","resource":"201","state":"online",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Endpoint {
    pub technology: String,
    pub resource: String,
    #[serde(default)]
    pub state: String,
}

/// The event types [`AriEvent`] knows.
const KNOWN: [&str; 28] = [
    "StasisStart",
    "StasisEnd",
    "ChannelCreated",
    "ChannelStateChange",
    "ChannelDestroyed",
    "ChannelHangupRequest",
    "ChannelDtmfReceived",
    "Dial",
    "ChannelEnteredBridge",
    "ChannelLeftBridge",
    "BridgeCreated",
    "BridgeDestroyed",
    "BridgeMerged",
    "BridgeBlindTransfer",
    "BridgeAttendedTransfer",
    "ChannelHold",
    "ChannelUnhold",
    "PlaybackStarted",
    "PlaybackFinished",
    "RecordingStarted",
    "RecordingFinished",
    "RecordingFailed",
    "ChannelVarset",
    "ChannelDialplan",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "DeviceStateChanged",
    "EndpointStateChange",
];

/// One WebSocket frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Event(Box<AriEvent>),
    /// A type this gateway does not use (`ApplicationReplaced`, `ChannelUserevent`, ...).
    Unknown {
        kind: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("ARI frame is not a JSON object with a \"type\": {0}")]
    NotAnEvent(String),
    #[error("ARI {kind} event does not have the expected fields: {message}")]
    BadEvent { kind: String, message: String },
}

/// Decodes one text frame.
pub fn decode(frame: &str) -> Result<Decoded, DecodeError> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: String,
    }
    let head: Head =
        serde_json::from_str(frame).map_err(|e| DecodeError::NotAnEvent(e.to_string()))?;
    if !KNOWN.contains(&head.kind.as_str()) {
        return Ok(Decoded::Unknown { kind: head.kind });
    }
    serde_json::from_str(frame)
        .map(|e| Decoded::Event(Box::new(e)))
        .map_err(|e| DecodeError::BadEvent {
            kind: head.kind,
            message: e.to_string(),
        })
}

impl AriEvent {
    pub fn timestamp(&self) -> &str {
        use AriEvent::*;
        match self {
            StasisStart { timestamp, .. }
            | StasisEnd { timestamp, .. }
            | ChannelCreated { timestamp, .. }
            | ChannelStateChange { timestamp, .. }
            | ChannelDestroyed { timestamp, .. }
            | ChannelHangupRequest { timestamp, .. }
            | ChannelDtmfReceived { timestamp, .. }
            | Dial { timestamp, .. }
            | ChannelEnteredBridge { timestamp, .. }
            | ChannelLeftBridge { timestamp, .. }
            | BridgeCreated { timestamp, .. }
            | BridgeDestroyed { timestamp, .. }
            | BridgeMerged { timestamp, .. }
            | BridgeBlindTransfer { timestamp, .. }
            | BridgeAttendedTransfer { timestamp, .. }
            | ChannelHold { timestamp, .. }
            | ChannelUnhold { timestamp, .. }
            | PlaybackStarted { timestamp, .. }
            | PlaybackFinished { timestamp, .. }
            | RecordingStarted { timestamp, .. }
            | RecordingFinished { timestamp, .. }
            | RecordingFailed { timestamp, .. }
            | ChannelVarset { timestamp, .. }
            | ChannelDialplan { timestamp, .. }
            | ChannelCallerId { timestamp, .. }
            | ChannelConnectedLine { timestamp, .. }
            | DeviceStateChanged { timestamp, .. }
            | EndpointStateChange { timestamp, .. } => timestamp,
        }
    }

    /// The channel the event is about, where it is about one.
    pub fn channel(&self) -> Option<&Channel> {
        use AriEvent::*;
        match self {
            StasisStart { channel, .. }
            | StasisEnd { channel, .. }
            | ChannelCreated { channel, .. }
            | ChannelStateChange { channel, .. }
            | ChannelDestroyed { channel, .. }
            | ChannelHangupRequest { channel, .. }
            | ChannelDtmfReceived { channel, .. }
            | ChannelEnteredBridge { channel, .. }
            | ChannelLeftBridge { channel, .. }
            | ChannelHold { channel, .. }
            | ChannelUnhold { channel, .. }
            | ChannelDialplan { channel, .. }
            | ChannelCallerId { channel, .. }
            | ChannelConnectedLine { channel, .. }
            | BridgeBlindTransfer { channel, .. } => Some(channel),
            BridgeAttendedTransfer {
                transferer_first_leg,
                ..
            } => Some(transferer_first_leg),
            Dial { peer, .. } => Some(peer),
            ChannelVarset { channel, .. } => channel.as_ref(),
            _ => None,
        }
    }
}

/// The frames of a capture (one per line) that decode to a known event, with Asterisk's time
/// of each; the rest are skipped.
pub fn captured_events(text: &str) -> impl Iterator<Item = (i64, &str, AriEvent)> + '_ {
    text.lines().filter_map(|line| match decode(line) {
        Ok(Decoded::Event(e)) => Some((timestamp_ms(e.timestamp())?, line, *e)),
        _ => None,
    })
}

/// Asterisk's ARI time (`2026-11-22T03:09:49.069+0000`) as Unix milliseconds.
pub(crate) fn timestamp_ms(ts: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    let t = time::OffsetDateTime::parse(ts, &format).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_captured_frame_decodes() {
        let capture = crate::fixtures::fixture("asterisk/ari_events.jsonl");
        let mut kinds = std::collections::BTreeMap::new();
        for line in capture.lines() {
            match decode(line) {
                Ok(Decoded::Event(e)) => {
                    assert!(timestamp_ms(e.timestamp()).is_some(), "{line}");
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    *kinds.entry(v["type"].to_string()).or_insert(0) += 1;
                }
                other => panic!("{other:?}: {line}"),
            }
        }
        assert_eq!(kinds.values().sum::<i32>(), 210);
        assert_eq!(kinds.len(), 18, "{kinds:?}");
    }

    /// What `subscribeAll` delivers: every frame decodes; only `ChannelUserevent` (the
    /// dialplan's `UserEvent()`) is a type the gateway does not read.
    #[test]
    fn every_frame_of_the_whole_pbx_decodes() {
        let capture = crate::fixtures::fixture("asterisk/ari_all_events.jsonl");
        let mut unknown = std::collections::BTreeSet::new();
        let mut transfers = 0;
        for line in capture.lines() {
            match decode(line) {
                Ok(Decoded::Event(e)) => {
                    assert!(timestamp_ms(e.timestamp()).is_some(), "{line}");
                    transfers += usize::from(matches!(
                        *e,
                        AriEvent::BridgeBlindTransfer { .. }
                            | AriEvent::BridgeAttendedTransfer { .. }
                            | AriEvent::BridgeMerged { .. }
                    ));
                }
                Ok(Decoded::Unknown { kind }) => {
                    unknown.insert(kind);
                }
                Err(e) => panic!("{e}: {line}"),
            }
        }
        assert_eq!(
            unknown.into_iter().collect::<Vec<_>>(),
            ["ChannelUserevent"]
        );
        assert_eq!(transfers, 6);
        assert_eq!(captured_events(&capture).count(), 3_941 - 6);
    }

    #[test]
    fn unknown_and_broken_frames_are_typed() {
        assert_eq!(
            decode(r#"{"type":"ApplicationReplaced","application":"x"}"#),
            Ok(Decoded::Unknown {
                kind: "ApplicationReplaced".into()
            })
        );
        assert!(matches!(
            decode(r#"{"type":"StasisStart","timestamp":"x"}"#),
            Err(DecodeError::BadEvent { .. })
        ));
        assert!(matches!(decode("[1,2]"), Err(DecodeError::NotAnEvent(_))));
        assert!(matches!(decode(""), Err(DecodeError::NotAnEvent(_))));
        assert_eq!(
            timestamp_ms("2026-11-22T03:09:49.069+0000"),
            Some(1_795_316_989_069)
        );
        assert_eq!(
            timestamp_ms("2026-11-22T04:09:49.069+0100"),
            Some(1_795_316_989_069)
        );
        assert_eq!(timestamp_ms("yesterday"), None);
    }

    proptest::proptest! {
        #[test]
        fn no_frame_panics(frame in ".{0,300}") {
            let _ = decode(&frame);
        }

        #[test]
        fn mangled_captured_frames_do_not_panic(line in 0usize..210, cut in 0usize..2000, byte in 0u8..128) {
            let capture = crate::fixtures::fixture("asterisk/ari_events.jsonl");
            let frame = capture.lines().nth(line).unwrap_or("");
            let mut bytes = frame.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = cut % bytes.len();
                bytes[at] = byte;
                bytes.truncate(at + (cut % 7) * 40);
            }
            let _ = decode(&String::from_utf8_lossy(&bytes));
        }
    }
}
