//! Remote commands over MQTT against a private Mosquitto: central sends `cmd/{name}` with a
//! `request_id`; the gateway acts (SMS queue -> modem on a pty, AMI control -> fake
//! Asterisk) and answers on `cmd-result/{request_id}` with a typed result.
#![cfg(target_arch = "x86_64")]

use std::time::Duration;

use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::wait_until;
use pbxgw_tests::harness::{Collector, Mosquitto};
use pbxgw_tests::sim::ami::{AmiSim, AmiSimBehaviour};
use pbxgw_tests::sim::modem::{ModemSim, ModemSimOptions};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_commands_are_run_once_and_answered_with_typed_results() {
    let broker = Mosquitto::start();
    let modem = ModemSim::start(ModemSimOptions::default())
        .expect("a modem simulator on a pseudo-terminal");
    // One call is up on 201, to record.
    let ami = AmiSim::start_with(
        "gw",
        "secret",
        AmiSimBehaviour {
            events_after_login: vec![
                "Event: Newchannel\r\nChannel: PJSIP/201-0000001a\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nChannelState: 6\r\nExten: 100\r\nContext: from-internal\r\n\r\n".into(),
            ],
            ..Default::default()
        },
    )
    .await
    .expect("a simulator on a loopback port");
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[gateway]\nid = \"gw-cmd\"\ndata_dir = {:?}\n[uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {}\n\
         [modem]\nport = {:?}\n[commands]\nallow = [\"sms.send\", \"call.originate\", \"record.start\", \"record.stop\", \"contacts.upsert\", \"contacts.delete\", \"operators.upsert\", \"operators.delete\"]\n\
         [[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"secret\"\n",
        dir.path().join("data"),
        broker.port(),
        modem.path,
        ami.port()
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    let results = Collector::start(
        broker.port(),
        "pbxgw/v1/gw-cmd/cmd-result/#",
        "central-results",
    )
    .await;
    for (link, limit) in [("uplink:mqtt", 10), ("modem", 10), ("pbx:asterisk", 10)] {
        let up = pbxgw_tests::harness::wait_for_link(
            &gateway,
            link,
            pbxgw::link::LinkState::Up,
            Duration::from_secs(limit),
        )
        .await;
        assert!(up, "{link}: {:?}", gateway.links().snapshot().get(link));
    }
    let (client, mut eventloop) = rumqttc::AsyncClient::new(
        rumqttc::MqttOptions::new("central", "127.0.0.1", broker.port()),
        10,
    );
    let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let send = |name: &str, body: &str| {
        let (client, topic, body) = (
            client.clone(),
            format!("pbxgw/v1/gw-cmd/cmd/{name}"),
            body.to_owned(),
        );
        async move {
            client
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, body)
                .await
                .unwrap()
        }
    };
    let answer = |id: &str| {
        let (suffix, id) = (format!("/cmd-result/{id}"), id.to_owned());
        let results = &results;
        async move {
            let got = wait_until(Duration::from_secs(15), || {
                results.last_on(&suffix).is_some()
            })
            .await;
            assert!(got, "no answer for {id}");
            results.last_on(&suffix).unwrap().payload
        }
    };
    // `status` answers the gateway's status report, the same as the retained `status` topic.
    send("status", r#"{"request_id":"st-1"}"#).await;
    let a = answer("st-1").await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["result"]["gw"], "gw-cmd", "{a}");
    assert_eq!(a["result"]["links"]["pbx:asterisk"]["state"], "up", "{a}");
    send(
        "sms.send",
        r#"{"request_id":"s-1","to":"601 234 567","text":"Zapraszamy jutro o 10:00."}"#,
    )
    .await;
    let a = answer("s-1").await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["result"]["to"], "+48601234567");
    let sms_id = a["result"]["sms_id"].clone();
    // The same request id again: the same answer, and one text only.
    send(
        "sms.send",
        r#"{"request_id":"s-1","to":"601 234 567","text":"Zapraszamy jutro o 10:00."}"#,
    )
    .await;
    let sent = wait_until(Duration::from_secs(10), || {
        modem.log.lock().unwrap().pdus.len() == 1
    })
    .await;
    assert!(sent);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(modem.log.lock().unwrap().pdus.len(), 1);
    let repeats = results
        .messages()
        .iter()
        .filter(|m| m.topic.ends_with("/cmd-result/s-1"))
        .count();
    assert_eq!(repeats, 2);
    assert!(results
        .messages()
        .iter()
        .filter(|m| m.topic.ends_with("/s-1"))
        .all(|m| m.payload["result"]["sms_id"] == sms_id));

    send(
        "call.originate",
        r#"{"request_id":"o-1","extension":"201","number":"+48221598154"}"#,
    )
    .await;
    let a = answer("o-1").await;
    assert_eq!(
        (a["ok"].clone(), a["result"]["message"].clone()),
        (
            Value::Bool(true),
            Value::from("Originate successfully queued")
        ),
        "{a}"
    );

    // Recording a live call on demand: MixMonitor with a file named after the channel, then
    // StopMixMonitor; the answer names the file.
    send(
        "record.start",
        r#"{"request_id":"r-1","channel":"PJSIP/201-0000001a"}"#,
    )
    .await;
    let a = answer("r-1").await;
    assert_eq!(a["ok"], true, "{a}");
    let file = a["result"]["recording"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        file.starts_with("pbxgw-PJSIP-201-0000001a-") && file.ends_with(".wav"),
        "{a}"
    );
    send(
        "record.stop",
        r#"{"request_id":"r-2","channel":"PJSIP/201-0000001a"}"#,
    )
    .await;
    assert_eq!(answer("r-2").await["ok"], true);
    send(
        "record.stop",
        r#"{"request_id":"r-3","channel":"PJSIP/999-00000099"}"#,
    )
    .await;
    let a = answer("r-3").await;
    assert_eq!(
        (a["error"]["code"].clone(), a["error"]["message"].clone()),
        (Value::from("refused"), Value::from("No such channel")),
        "{a}"
    );
    let actions: Vec<(String, String)> = ami
        .log
        .lock()
        .unwrap()
        .actions
        .iter()
        .filter(|m| m.get("Action").is_some_and(|a| a.ends_with("MixMonitor")))
        .map(|m| {
            let file = m.get("File").unwrap_or_default().to_owned();
            (m.get("Action").unwrap_or_default().to_owned(), file)
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("MixMonitor".to_owned(), file),
            ("StopMixMonitor".to_owned(), String::new()),
            ("StopMixMonitor".to_owned(), String::new())
        ]
    );

    // Central IT keeps the box's directory: add, then remove.
    send(
        "contacts.upsert",
        r#"{"request_id":"c-1","number":"0048 601 234 567","name":"Jan Kowalski","company":"ACME"}"#,
    )
    .await;
    let a = answer("c-1").await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["result"]["contact"]["number"], "+48601234567");
    assert_eq!(a["result"]["contact"]["source"], "mqtt");
    let directory = pbxgw::contacts::Directory::open(&config.db_path(), config.sms.plan()).unwrap();
    assert_eq!(
        directory.lookup("601234567").unwrap().map(|c| c.name),
        Some("Jan Kowalski".into())
    );
    send(
        "contacts.delete",
        r#"{"request_id":"c-2","number":"+48601234567"}"#,
    )
    .await;
    assert_eq!(answer("c-2").await["result"]["removed"], true);
    assert_eq!(directory.lookup("601234567").unwrap(), None);

    // And the operator directory: who works at an extension.
    send(
        "operators.upsert",
        r#"{"request_id":"op-1","id":"201","name":"Anna Nowak","team":"Sales"}"#,
    )
    .await;
    let a = answer("op-1").await;
    assert_eq!(a["result"]["added"], true, "{a}");
    assert_eq!(a["result"]["operator"]["source"], "mqtt", "{a}");
    let operators = directory.operators().unwrap();
    assert_eq!(operators.len(), 1);
    assert_eq!(operators[0].team.as_deref(), Some("Sales"));
    send(
        "operators.upsert",
        r#"{"request_id":"op-2","id":"2 1","name":"x"}"#,
    )
    .await;
    assert_eq!(answer("op-2").await["error"]["code"], "bad_request");
    send("operators.delete", r#"{"request_id":"op-3","id":"201"}"#).await;
    assert_eq!(answer("op-3").await["result"]["removed"], true);
    assert!(directory.operators().unwrap().is_empty());

    for (name, body, code) in [
        (
            "call.hangup",
            r#"{"request_id":"h-1","channel":"PJSIP/201-1"}"#,
            "not_allowed",
        ),
        (
            "sms.send",
            r#"{"request_id":"b-1","to":"601234567"}"#,
            "bad_request",
        ),
        (
            "sms.send",
            r#"{"request_id":"i-1","to":"201","text":"x"}"#,
            "invalid_number",
        ),
        ("reboot", r#"{"request_id":"u-1"}"#, "unsupported"),
        (
            "sms.send",
            r#"{"request_id":"n-1","to":"0090 9001234567","text":"x"}"#,
            "not_allowed_number",
        ),
        (
            "call.originate",
            r#"{"request_id":"n-2","extension":"201","number":"0048 700 123 456"}"#,
            "not_allowed_number",
        ),
        (
            "sms.send",
            r#"{"request_id":"n-3","to":"+481111111111111111111111111111","text":"x"}"#,
            "not_allowed_number",
        ),
        (
            "contacts.upsert",
            r#"{"request_id":"c-3","number":"601234567"}"#,
            "bad_request",
        ),
    ] {
        send(name, body).await;
        let id = serde_json::from_str::<Value>(body).unwrap()["request_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let a = answer(&id).await;
        assert_eq!(
            (a["ok"].clone(), a["error"]["code"].clone()),
            (Value::Bool(false), Value::from(code)),
            "{name}: {a}"
        );
    }
    pump.abort();
    gateway.stop().await;
}

/// A gateway with MQTT commands against a fake Asterisk that never answers `Originate` (so a
/// call is still being placed when its copy arrives).
async fn gateway_with_slow_originate(
    broker: &Mosquitto,
    dir: &std::path::Path,
) -> (AmiSim, Config, Gateway) {
    let ami = AmiSim::start_with(
        "gw",
        "secret",
        pbxgw_tests::sim::ami::AmiSimBehaviour {
            ignore_actions: vec!["originate".into()],
            ..Default::default()
        },
    )
    .await
    .expect("a simulator on a loopback port");
    let text = format!(
        "[gateway]\nid = \"gw-cmd\"\ndata_dir = {:?}\n[uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {}\n\
         [commands]\nallow = [\"call.originate\"]\n\
         [[pbx]]\nname = \"asterisk\"\nkind = \"ami\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"gw\"\nsecret = \"secret\"\n",
        dir.join("data"),
        broker.port(),
        ami.port()
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    for link in ["uplink:mqtt", "pbx:asterisk"] {
        let up = pbxgw_tests::harness::wait_for_link(
            &gateway,
            link,
            pbxgw::link::LinkState::Up,
            Duration::from_secs(10),
        )
        .await;
        assert!(up, "{link}");
    }
    (ami, config, gateway)
}

fn central(port: u16, id: &str) -> (rumqttc::AsyncClient, tokio::task::JoinHandle<()>) {
    let (client, mut eventloop) =
        rumqttc::AsyncClient::new(rumqttc::MqttOptions::new(id, "127.0.0.1", port), 1000);
    let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    (client, pump)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_pair_places_one_call_and_a_ping_flood_leaves_the_events_flowing() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (ami, _config, gateway) = gateway_with_slow_originate(&broker, dir.path()).await;
    let (client, pump) = central(broker.port(), "central-dup");
    let originate = r#"{"request_id":"dup-1","extension":"201","number":"+48221598154"}"#;
    for _ in 0..2 {
        client
            .publish(
                "pbxgw/v1/gw-cmd/cmd/call.originate",
                rumqttc::QoS::AtLeastOnce,
                false,
                originate,
            )
            .await
            .unwrap();
    }
    let originates = || {
        ami.log
            .lock()
            .unwrap()
            .actions
            .iter()
            .filter(|a| {
                a.get("Action")
                    .is_some_and(|v| v.eq_ignore_ascii_case("originate"))
            })
            .count()
    };
    assert!(wait_until(Duration::from_secs(10), || originates() >= 1).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(originates(), 1, "the duplicate pair placed one call");

    // 20,000 pings as fast as the broker takes them.
    let events = Collector::start(broker.port(), "pbxgw/v1/gw-cmd/event/#", "central-events").await;
    for i in 0..20_000 {
        let body = format!("{{\"request_id\":\"p-{i}\"}}");
        client
            .publish(
                "pbxgw/v1/gw-cmd/cmd/ping",
                rumqttc::QoS::AtMostOnce,
                false,
                body,
            )
            .await
            .unwrap();
    }
    let dropped = wait_until(Duration::from_secs(30), || {
        gateway
            .links()
            .counters()
            .get("commands:dropped")
            .copied()
            .unwrap_or(0)
            > 1_000
    })
    .await;
    assert!(dropped, "{:?}", gateway.links().counters());
    // The event uplink stayed up: an event made now reaches central.
    let seq = gateway
        .appender()
        .append(pbxgw::calls::CallEvent {
            ts_ms: pbxgw::clock::now_ms(),
            source: pbxgw::calls::Source::Gateway,
            pbx: "gateway".into(),
            call_id: None,
            raw: None,
            body: pbxgw::calls::EventBody::CallDtmf(pbxgw::calls::CallDtmf { digit: "5".into() }),
        })
        .await
        .unwrap();
    assert!(
        events
            .wait_for_all(seq..=seq, Duration::from_secs(15))
            .await,
        "the event arrived"
    );
    let link = gateway.links().snapshot()["uplink:mqtt"].clone();
    assert_eq!(link.state, pbxgw::link::LinkState::Up, "{link:?}");
    pump.abort();
    gateway.stop().await;
}
