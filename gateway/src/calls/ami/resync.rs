//! Link loss and resync: what Asterisk lists after a reconnect closes the calls that ended
//! unseen and adopts the channels that began unseen (rules in `calls/ami.rs`).

use super::*;

impl AmiCorrelator {
    /// The link dropped. Calls stay open: the resync after the reconnect decides.
    pub fn link_lost(&mut self, ts: i64) {
        self.lost_at.get_or_insert(ts);
    }

    /// The live picture after a (re)connect or a periodic check: `items` are the
    /// `CoreShowChannel` (and `QueueMember`) events of a list asked for at `asked_at`.
    /// Channels we hold that Asterisk no longer lists ended while we could not see them;
    /// channels it lists that we do not know are adopted.
    pub fn resync(&mut self, asked_at: i64, ts: i64, items: &[Message]) -> Vec<CallEvent> {
        let pbx = self.config.pbx.clone();
        let mut out = Out::new(Source::Ami, &pbx, ts, None);
        let ended_at = self.lost_at.take().unwrap_or(ts);
        let listed: HashSet<&str> = items
            .iter()
            .filter(|m| m.event() == Some("CoreShowChannel"))
            .filter_map(|m| m.get("Uniqueid"))
            .collect();
        let vanished: Vec<String> = self
            .channels
            .iter()
            .filter(|(uid, c)| c.born_at < asked_at && !listed.contains(uid.as_str()))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in vanished {
            self.drop_channel(&mut out, &uid, ended_at, Some("ended during link loss"));
        }
        for m in items {
            match m.event() {
                Some("CoreShowChannel") => self.adopt(&mut out, ts, m),
                Some("QueueMember") => self.presence.on_event(&mut out, "QueueMember", m),
                _ => {}
            }
        }
        out.events
    }

    /// A listed channel: refresh its call, or adopt it with what the list says.
    fn adopt(&mut self, out: &mut Out<'_>, ts: i64, m: &Message) {
        let Some(uid) = m.get("Uniqueid") else {
            return;
        };
        if let Some(ch) = self.channels.get(uid) {
            if let Some(call) = self.calls.get_mut(&ch.call) {
                call.last_seen = ts;
            }
            return;
        }
        if self.gone.contains_key(uid) {
            return;
        }
        let age_ms = listed_age_ms(m);
        self.new_channel(ts - age_ms, m);
        let Some(call) = self.channels.get(uid).map(|c| c.call.clone()) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.last_seen = ts;
            c.started_at = c.started_at.min(ts - age_ms);
            let bridged = known(m.get("BridgeId")).is_some();
            if bridged && m.get("ChannelStateDesc") == Some("Up") && c.answered_at.is_none() {
                // Talking when we arrived: answered no later than now.
                c.answered_at = Some(ts);
            }
        }
        self.announce(out, &call);
    }
}

/// Longest a listed channel is believed to have existed; a `Duration` past it (or below
/// zero) is garbage, and the channel counts as new.
const MAX_CHANNEL_AGE_S: i64 = 7 * 86_400;

/// How long a listed channel has existed, from its `Duration` (`HH:MM:SS`).
fn listed_age_ms(m: &Message) -> i64 {
    m.get("Duration")
        .and_then(parse_hms)
        .filter(|s| (0..=MAX_CHANNEL_AGE_S).contains(s))
        .map_or(0, |s| s * 1000)
}
