//! The AMI session against a fake Asterisk Manager: both auth types, refusal, actions with
//! list answers and repeated Output lines.

use pbxgw::config::Secret;
use pbxgw::pbx::ami::session::{AmiError, AmiSettings, AuthType, Connection};
use pbxgw_tests::sim::ami::AmiSim;

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
    }
}

#[tokio::test]
async fn md5_login_never_sends_the_secret_and_carries_the_events_filter() {
    let sim = AmiSim::start("gw", SECRET).await;
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
    let sim = AmiSim::start("gw", SECRET).await;
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
    let sim = AmiSim::start("gw", SECRET).await;
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
