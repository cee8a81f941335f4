//! The oracle of the subscribe-all capture: Asterisk's CDRs of the same minutes, one line per
//! call in `ari_all_expected_calls.jsonl`, and the comparisons the ARI and AMI connectors are
//! held to (every call exactly one record, no record for anything else, caller, answered and
//! talk time agreeing; each disagreement said in words).

use pbxgw::calls::{CallEvent, CallRecord, Disposition};
use pbxgw::pbx::ami::codec::Message;
use pbxgw::pbx::ari::model::AriEvent;

/// The call records among `events`, in the order they ended.
pub fn records(events: &[CallEvent]) -> Vec<CallRecord> {
    events
        .iter()
        .filter_map(CallEvent::record)
        .cloned()
        .collect()
}

/// One line of `ari_all_expected_calls.jsonl`: a call as Asterisk's CDRs tell it.
#[derive(Debug, serde::Deserialize)]
pub struct ExpectedCall {
    pub linkedid: String,
    pub flow: String,
    pub channel_ids: Vec<String>,
    pub caller: String,
    pub answered: bool,
    pub pbx_only: bool,
    pub billsec_s: Option<f64>,
}

pub fn expected_calls() -> Vec<ExpectedCall> {
    pbxgw::fixtures::fixture("asterisk/ari_all_expected_calls.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How a record disagrees with the CDRs' account of its call (empty: it agrees).
fn disagreement(r: &CallRecord, want: &ExpectedCall, slack_s: f64) -> Vec<String> {
    let mut wrong = Vec::new();
    if r.caller.as_deref() != Some(want.caller.as_str()) {
        wrong.push(format!("caller {:?}, CDR {}", r.caller, want.caller));
    }
    let answered = r.disposition == Disposition::Answered;
    if !want.pbx_only && answered != want.answered {
        wrong.push(format!(
            "{} ({:?}), CDR answered={}",
            r.disposition.as_str(),
            r.hangup_cause,
            want.answered
        ));
    }
    if let (true, Some(billsec)) = (want.answered, want.billsec_s) {
        if (r.billsec_s as f64 - billsec).abs() > slack_s {
            wrong.push(format!("billsec {} s, CDR {billsec} s", r.billsec_s));
        }
    }
    wrong
}

/// Every record of a replay against the CDRs: each call exactly one record, no record for
/// anything else, caller, answered and talk time agreeing within `slack_s` seconds. Returns
/// the disagreements.
pub fn compare_with_cdrs(records: &[CallRecord], pbx: &str, slack_s: f64) -> Vec<String> {
    let expected = expected_calls();
    let root = |r: &CallRecord| r.call_id.trim_start_matches(&format!("{pbx}-")).to_owned();
    let mut problems = Vec::new();
    for want in &expected {
        let mine: Vec<&CallRecord> = records
            .iter()
            .filter(|r| want.channel_ids.contains(&root(r)))
            .collect();
        match mine.as_slice() {
            [r] => {
                for wrong in disagreement(r, want, slack_s) {
                    problems.push(format!("{} ({}): {wrong}", want.linkedid, want.flow));
                }
            }
            _ => problems.push(format!(
                "{} ({}): {} records {:?}",
                want.linkedid,
                want.flow,
                mine.len(),
                mine.iter().map(|r| &r.call_id).collect::<Vec<_>>()
            )),
        }
    }
    for r in records {
        if !expected.iter().any(|w| w.channel_ids.contains(&root(r))) {
            problems.push(format!("a record for no call: {r:?}"));
        }
    }
    problems
}

/// The AMI stream of the same minutes (`ari_all_ami_events.jsonl`: one JSON object per
/// event, the headers as keys, `_t` the arrival time in epoch seconds).
pub fn ami_of_the_same_minutes() -> Vec<(i64, Message)> {
    let text = pbxgw::fixtures::fixture("asterisk/ari_all_ami_events.jsonl");
    let mut messages = Vec::new();
    for line in text.lines() {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let ts = (map["_t"].as_f64().unwrap() * 1000.0) as i64;
        let mut headers = Vec::new();
        for (key, value) in map.into_iter().filter(|(k, _)| k != "_t") {
            let values = match value {
                serde_json::Value::Array(items) => items,
                one => vec![one],
            };
            for v in values {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                headers.push((key.clone(), text));
            }
        }
        messages.push((ts, Message { headers }));
    }
    messages
}

/// The AMI correlator over the AMI stream of the same minutes.
pub fn ami_records() -> Vec<CallRecord> {
    use pbxgw::calls::ami::{AmiCorrelator, AmiCorrelatorConfig};
    let mut c = AmiCorrelator::new(AmiCorrelatorConfig::new("asterisk"));
    let mut events = Vec::new();
    for (ts, m) in ami_of_the_same_minutes() {
        events.extend(c.tick(ts));
        events.extend(c.on_message(ts, "", &m));
    }
    records(&events)
}

/// What a supervisor reads of one call, whichever connector watched it.
pub fn summary(r: &CallRecord) -> String {
    let transfers: Vec<String> = r
        .transfers
        .iter()
        .map(|t| format!("{:?} {:?}->{:?}", t.kind, t.from, t.to))
        .collect();
    format!(
        "caller {:?} callee {:?} {} ext {:?} agent {:?} queue {:?} transfers {transfers:?}",
        r.caller,
        r.callee,
        r.disposition.as_str(),
        r.extension,
        r.agent,
        r.queue,
    )
}

/// What `GET /channels` and `GET /bridges` would answer after the capture's first `upto`
/// frames: each live channel's latest snapshot, each bridge with its members.
pub fn snapshot(frames: &[AriEvent]) -> Vec<AriEvent> {
    use std::collections::BTreeMap;
    let mut channels: BTreeMap<String, pbxgw::pbx::ari::model::Channel> = BTreeMap::new();
    let mut bridges: BTreeMap<String, pbxgw::pbx::ari::model::Bridge> = BTreeMap::new();
    for e in frames {
        match e {
            AriEvent::ChannelDestroyed { channel, .. } => {
                channels.remove(&channel.id);
            }
            AriEvent::BridgeCreated { bridge, .. } => {
                bridges.insert(bridge.id.clone(), bridge.clone());
            }
            AriEvent::BridgeDestroyed { bridge, .. } => {
                bridges.remove(&bridge.id);
            }
            AriEvent::ChannelEnteredBridge { bridge, .. }
            | AriEvent::ChannelLeftBridge { bridge, .. }
            | AriEvent::BridgeMerged { bridge, .. } => {
                bridges.insert(bridge.id.clone(), bridge.clone());
            }
            _ => {}
        }
        if let Some(c) = e.channel() {
            if !matches!(e, AriEvent::ChannelDestroyed { .. }) {
                channels.insert(c.id.clone(), c.clone());
            }
        }
    }
    let timestamp = String::from("2026-12-02T00:00:00.000+0000");
    channels
        .into_values()
        .map(|channel| AriEvent::ChannelStateChange {
            timestamp: timestamp.clone(),
            channel,
        })
        .chain(bridges.into_values().map(|bridge| AriEvent::BridgeCreated {
            timestamp: timestamp.clone(),
            bridge,
        }))
        .collect()
}
