//! What the desk's hang-up, transfer and record buttons name for a live call: the commands
//! take the PBX's own handle (an Asterisk channel, a Slican extension), which the call
//! journal does not keep; the call's first stored event does (the raw AMI `Newchannel`, the
//! ARI `ChannelCreated`/`StasisStart` JSON).

use serde_json::{json, Value};

use crate::store::{CallSummary, StoredEvent};

/// `{"pbx", "source", "channel"?, "extension"?}` for a live call; `None` for an ended one or
/// one whose PBX named no handle.
pub(super) fn live_control(row: Option<&CallSummary>, events: &[StoredEvent]) -> Option<Value> {
    let row = row.filter(|r| r.state == "live")?;
    let first = events.iter().find(|e| e.raw.is_some())?;
    let raw = first.raw.as_deref().unwrap_or_default();
    let (channel, extension) = match first.source.as_str() {
        "ami" => (ami_channel(raw), None),
        "ari" => (ari_channel(raw), None),
        "ctip" => (None, row.extension.clone()),
        _ => (None, None),
    };
    if channel.is_none() && extension.is_none() {
        return None;
    }
    Some(json!({
        "pbx": row.pbx, "source": first.source, "channel": channel, "extension": extension,
    }))
}

/// The `Channel:` header of a raw AMI event.
fn ami_channel(raw: &str) -> Option<String> {
    raw.lines()
        .find_map(|l| l.strip_prefix("Channel: "))
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
}

/// The `channel.id` of a raw ARI event (what ARI's REST calls name a channel by).
fn ari_channel(raw: &str) -> Option<String> {
    let event: Value = serde_json::from_str(raw).ok()?;
    Some(event["channel"]["id"].as_str()?.to_owned()).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, extension: Option<&str>) -> CallSummary {
        CallSummary {
            call_id: "c".into(),
            pbx: "p".into(),
            state: state.into(),
            direction: None,
            caller: None,
            callee: None,
            extension: extension.map(Into::into),
            agent: None,
            queue: None,
            started_ms: 0,
            answered_ms: None,
            ended_ms: None,
            disposition: None,
            caller_name: None,
            company: None,
            rang: vec![],
        }
    }

    fn event(source: &str, raw: &str) -> StoredEvent {
        StoredEvent {
            seq: 1,
            ts_ms: 0,
            source: source.into(),
            pbx: "p".into(),
            kind: "call.started".into(),
            call_id: Some("c".into()),
            raw: Some(raw.into()),
            body: Err(String::new()),
            clock_unsynced: false,
        }
    }

    #[test]
    fn each_protocol_names_its_handle_and_ended_calls_none() {
        let ami = event(
            "ami",
            "Event: Newchannel\r\nChannel: PJSIP/201-0000001a\r\nUniqueid: 1.1",
        );
        let got = live_control(Some(&row("live", None)), std::slice::from_ref(&ami)).unwrap();
        assert_eq!(got["channel"], "PJSIP/201-0000001a");
        assert_eq!(live_control(Some(&row("ended", None)), &[ami]), None);
        let ari = event(
            "ari",
            r#"{"type":"StasisStart","channel":{"id":"1795316989.12","name":"PJSIP/201-1"}}"#,
        );
        let got = live_control(Some(&row("live", None)), &[ari]).unwrap();
        assert_eq!(got["channel"], "1795316989.12");
        let ctip = event("ctip", "RING 101_ 600100200 0 517471313 _ 600100200");
        let got =
            live_control(Some(&row("live", Some("101"))), std::slice::from_ref(&ctip)).unwrap();
        assert_eq!(
            (got["extension"].as_str(), got["channel"].is_null()),
            (Some("101"), true)
        );
        assert_eq!(
            live_control(Some(&row("live", None)), &[ctip]),
            None,
            "ringing: nobody to hang up yet"
        );
        assert_eq!(
            live_control(Some(&row("live", None)), &[event("ari", "not json")]),
            None
        );
    }
}
