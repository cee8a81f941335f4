use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Value,
    pub retained: bool,
}

/// Central IT's side of MQTT: a persistent-session QoS 1 subscriber that survives broker
/// restarts (the broker queues for it while it is away) and records everything it receives.
pub struct Collector {
    messages: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    pub async fn start(port: u16, filter: &str, client_id: &str) -> Collector {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let sink = messages.clone();
        let filter = filter.to_owned();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.subscribe(&filter, QoS::AtLeastOnce).await;
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let payload = serde_json::from_slice(&p.payload).unwrap_or_else(|_| {
                            Value::String(String::from_utf8_lossy(&p.payload).into_owned())
                        });
                        sink.lock().expect("collector lock").push(Received {
                            topic: p.topic,
                            payload,
                            retained: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
            .await
            .expect("collector could not subscribe within 10 s")
            .expect("collector task ended");
        Collector { messages, task }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().expect("collector lock").clone()
    }

    /// Every event message received, by seq (duplicates kept).
    pub fn events(&self) -> BTreeMap<u64, Vec<Value>> {
        let mut by_seq: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
        for m in self.messages() {
            if m.topic.contains("/event/") {
                if let Some(seq) = m.payload["seq"].as_u64() {
                    by_seq.entry(seq).or_default().push(m.payload);
                }
            }
        }
        by_seq
    }

    pub fn has_all(&self, range: &RangeInclusive<u64>) -> bool {
        let events = self.events();
        range.clone().all(|s| events.contains_key(&s))
    }

    pub async fn wait_for_all(&self, range: RangeInclusive<u64>, limit: Duration) -> bool {
        super::wait_until(limit, || self.has_all(&range)).await
    }

    /// Every seq of `range` arrived, nothing outside it, and duplicates are the same event
    /// (same gw, seq, kind, ts, call id): what central dedupes on. Returns the duplicate count.
    pub fn assert_complete(&self, range: RangeInclusive<u64>) -> usize {
        let events = self.events();
        let missing: Vec<u64> = range.clone().filter(|s| !events.contains_key(s)).collect();
        assert!(
            missing.is_empty(),
            "{} seqs missing, first {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        let outside: Vec<u64> = events
            .keys()
            .copied()
            .filter(|s| !range.contains(s))
            .collect();
        assert!(
            outside.is_empty(),
            "unexpected seqs {:?}",
            &outside[..outside.len().min(10)]
        );
        let mut duplicates = 0;
        for (seq, copies) in &events {
            let key = |v: &Value| {
                (
                    v["gw"].clone(),
                    v["seq"].clone(),
                    v["kind"].clone(),
                    v["ts"].clone(),
                    v["call_id"].clone(),
                )
            };
            for c in &copies[1..] {
                assert_eq!(key(c), key(&copies[0]), "duplicate of seq {seq} differs");
                duplicates += 1;
            }
        }
        duplicates
    }

    /// The last retained message on a topic ending with `suffix`.
    pub fn last_on(&self, suffix: &str) -> Option<Received> {
        self.messages()
            .into_iter()
            .rev()
            .find(|m| m.topic.ends_with(suffix))
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}
