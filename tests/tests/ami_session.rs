//! The AMI session against a fake Asterisk Manager: both auth types, refusal, actions with
//! list answers and repeated Output lines.

use std::time::Duration;

use pbxgw::config::Secret;
use pbxgw::link::LinkError;
use pbxgw::pbx::ami::session::{AmiError, AmiSettings, AuthType, Connection};
use pbxgw_tests::sim::ami::{AmiSim, AmiSimBehaviour};

const SECRET: &str = "s3cr3t-AMI";

fn settings(port: u16, secret: &str, auth: AuthType) -> AmiSettings {
    AmiSettings {
        name: "asterisk".into(),
        host: "127.0.0.1".into(),
        port,
        username: "gw".into(),
        secret: Secret::new(secret),
        auth,
        events: "call,agent,system,user".into(),
        ping_every: Duration::from_secs(30),
        resync_every: Duration::from_secs(300),
        answer_within: Duration::from_secs(10),
        originate: Default::default(),
    }
}

#[tokio::test]
async fn md5_login_never_sends_the_secret_and_carries_the_events_filter() {
    let sim = AmiSim::start("gw", SECRET)
        .await
        .expect("a simulator on a loopback port");
    let c = Connection::open(&settings(sim.port(), SECRET, AuthType::Md5))
        .await
        .expect("login");
    assert_eq!(c.banner, "Asterisk Call Manager/11.0.0");
    let log = sim.log.lock().unwrap();
    assert_eq!(log.logins_ok, 1);
    let login = log
        .actions
        .iter()
        .find(|a| a.get("Action") == Some("Login"))
        .unwrap();
    assert_eq!(login.get("AuthType"), Some("MD5"));
    assert_eq!(login.get("Events"), Some("call,agent,system,user"));
    assert!(
        log.actions.iter().all(|a| !a.to_raw().contains(SECRET)),
        "the secret went over the wire"
    );
}

#[tokio::test]
async fn plain_login_and_a_refusal_that_says_what_to_fix() {
    let sim = AmiSim::start("gw", SECRET)
        .await
        .expect("a simulator on a loopback port");
    Connection::open(&settings(sim.port(), SECRET, AuthType::Plain))
        .await
        .expect("plain login");
    for auth in [AuthType::Plain, AuthType::Md5] {
        let e = Connection::open(&settings(sim.port(), "wrong", auth))
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(e, AmiError::LoginRefused(ref m) if m == "Authentication failed"),
            "{e}"
        );
        assert!(e.needs_installer());
        assert!(e.to_string().contains("manager.conf") && !e.to_string().contains("wrong"));
    }
    assert_eq!(sim.log.lock().unwrap().logins_refused, 2);
}

#[tokio::test]
async fn actions_are_matched_by_action_id_with_list_items_and_repeated_output() {
    let newchannel = |uid: &str| {
        format!("Event: Newchannel\r\nChannel: Local/201@ext-00000001;{uid}\r\nUniqueid: 1795316989.{uid}\r\nLinkedid: 1795316989.1\r\n\r\n")
    };
    let sim = AmiSim::start_with(
        "gw",
        SECRET,
        AmiSimBehaviour {
            events_after_login: vec![newchannel("1"), newchannel("2")],
            ..Default::default()
        },
    )
    .await
    .expect("a simulator on a loopback port");
    let mut c = Connection::open(&settings(sim.port(), SECRET, AuthType::Md5))
        .await
        .unwrap();
    let pong = c.call("Ping", &[]).await.unwrap();
    assert!(pong.is_success());
    assert_eq!(pong.response.get("Ping"), Some("Pong"));
    let channels = c.call("CoreShowChannels", &[]).await.unwrap();
    assert!(channels.is_success());
    assert_eq!(channels.items.len(), 2);
    assert!(channels
        .items
        .iter()
        .all(|i| i.event() == Some("CoreShowChannel")));
    let cmd = c
        .call("Command", &[("Command", "sip show peers")])
        .await
        .unwrap();
    assert_eq!(
        cmd.response.get_all("Output").collect::<Vec<_>>(),
        ["Name/username  Host", "2 sip peers"]
    );
    let bad = c.call("NoSuchAction", &[]).await.unwrap();
    assert!(!bad.is_success());
    assert_eq!(bad.message(), "Invalid/unknown command");
    // A value that would inject a second action is refused before the wire.
    assert!(matches!(
        c.call("Hangup", &[("Channel", "x\r\nAction: Logoff")])
            .await,
        Err(AmiError::BadHeader(_))
    ));
}

#[tokio::test]
async fn a_peer_that_is_not_asterisk_is_named() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        use tokio::io::AsyncWriteExt;
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    });
    let e = Connection::open(&settings(port, SECRET, AuthType::Md5))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, AmiError::NotAmi(ref b) if b.starts_with("SSH-2.0")),
        "{e}"
    );
}

mod running {
    use std::time::Duration;

    use pbxgw::link::LinkState;
    use pbxgw::link::Links;
    use pbxgw::pbx::ami::control::AmiControl;
    use pbxgw::pbx::ami::session::{AmiSession, AuthType};
    use pbxgw::pbx::PbxEvent;
    use pbxgw_tests::harness::wait_until;
    use pbxgw_tests::sim::ami::{AmiSim, AmiSimBehaviour};
    use tokio_util::sync::CancellationToken;

    use super::{settings, SECRET};

    fn start(
        sim: &AmiSim,
        secret: &str,
        ping_every: Duration,
    ) -> (
        Links,
        tokio::sync::mpsc::Receiver<PbxEvent<pbxgw::pbx::ami::codec::Message>>,
        CancellationToken,
    ) {
        let links = Links::new();
        let (tx, rx) = tokio::sync::mpsc::channel(100);
        let shutdown = CancellationToken::new();
        let (_control, requests) = AmiControl::channel(Duration::from_secs(10));
        let mut settings = settings(sim.port(), secret, AuthType::Md5);
        settings.ping_every = ping_every;
        tokio::spawn(
            AmiSession {
                settings,
                links: links.clone(),
                events: tx,
                control: requests,
                shutdown: shutdown.clone(),
            }
            .run(),
        );
        (links, rx, shutdown)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_flow_with_their_raw_text() {
        let hangup = "Event: Hangup\r\nPrivilege: call,all\r\nChannel: Local/201@ext-00000001;1\r\nLinkedid: 1795316989.2\r\nCause: 16\r\n\r\n";
        let sim = AmiSim::start_with(
            "gw",
            SECRET,
            AmiSimBehaviour {
                events_after_login: vec![hangup.into()],
                ..Default::default()
            },
        )
        .await
        .expect("a simulator on a loopback port");
        let (links, mut rx, shutdown) = start(&sim, SECRET, Duration::from_secs(30));
        let mut got = Vec::new();
        while got.len() < 3 {
            got.push(
                tokio::time::timeout(Duration::from_secs(5), rx.recv())
                    .await
                    .expect("events")
                    .expect("open"),
            );
        }
        assert!(matches!(got[0], PbxEvent::Up));
        let PbxEvent::Message { raw, message, .. } = &got[2] else {
            panic!("{:?}", got[2])
        };
        assert_eq!(message.event(), Some("Hangup"));
        assert_eq!(message.get("Cause"), Some("16"));
        assert!(raw.starts_with("Event: Hangup\r\n"));
        assert_eq!(links.snapshot()["pbx:asterisk"].state, LinkState::Up);
        shutdown.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unanswered_ping_drops_the_link_and_it_comes_back() {
        let sim = AmiSim::start_with(
            "gw",
            SECRET,
            AmiSimBehaviour {
                ignore_ping: true,
                ..Default::default()
            },
        )
        .await
        .expect("a simulator on a loopback port");
        let (links, mut rx, shutdown) = start(&sim, SECRET, Duration::from_secs(1));
        let lost = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(PbxEvent::Lost { reason, .. }) = rx.recv().await {
                    return reason;
                }
            }
        })
        .await
        .expect("the silent link is dropped");
        assert!(lost.contains("Ping"), "{lost}");
        assert!(
            wait_until(Duration::from_secs(10), || sim
                .log
                .lock()
                .unwrap()
                .logins_ok
                >= 2)
            .await
        );
        let _ = links;
        shutdown.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_login_is_an_installer_state_and_not_hammered() {
        let sim = AmiSim::start("gw", SECRET)
            .await
            .expect("a simulator on a loopback port");
        let (links, _rx, shutdown) = start(&sim, "wrong-secret", Duration::from_secs(30));
        let refused = wait_until(Duration::from_secs(10), || {
            links
                .snapshot()
                .get("pbx:asterisk")
                .is_some_and(|l| l.state == LinkState::NeedsInstaller)
        })
        .await;
        assert!(refused);
        let detail = links.snapshot()["pbx:asterisk"]
            .detail
            .clone()
            .unwrap_or_default();
        assert!(
            detail.contains("Authentication failed") && !detail.contains("wrong-secret"),
            "{detail}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(sim.log.lock().unwrap().logins_refused, 1);
        shutdown.cancel();
    }
}
