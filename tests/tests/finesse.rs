//! Agents from Cisco Finesse, against a fake Finesse serving the developer guide's `Team`
//! document (no capture of a real Finesse exists): the team's states become `agent.state`
//! events keyed by extension, with the not-ready reason, and only changes are sent; a refused
//! login shows the link as needing the installer, without the password; a Finesse that goes
//! away shows the link down, and polling resumes when it is back.

use std::time::Duration;

use pbxgw::calls::{AgentState, EventBody};
use pbxgw::config::Config;
use pbxgw::link::LinkState;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{stored_events, wait_until, FakeFinesse};

const PASSWORD: &str = "sup-Secret-7431";

/// (agent, state, reason) of every `agent.state` stored, in order.
fn states(config: &Config) -> Vec<(String, AgentState, Option<String>)> {
    stored_events(config)
        .into_iter()
        .filter(|e| e.source == "finesse")
        .filter_map(|e| match e.body {
            Ok(EventBody::AgentState(a)) => Some((a.agent, a.state, a.reason)),
            _ => None,
        })
        .collect()
}

fn link(gateway: &Gateway, name: &str) -> Option<(LinkState, String)> {
    let snapshot = gateway.links().snapshot();
    let l = snapshot.get(&format!("finesse:{name}"))?;
    Some((l.state, l.detail.clone().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finesse_states_reach_the_panel_and_its_failures_show_on_the_link() {
    let mut finesse = FakeFinesse::start("sup", PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[gateway]\nid = \"gw-finesse\"\ndata_dir = {:?}\n\
         [[finesse]]\nname = \"cc\"\nurl = \"{url}\"\nusername = \"sup\"\npassword = \"{PASSWORD}\"\nteam = \"34\"\npoll_every_s = 1\n\
         [[finesse]]\nname = \"wrong\"\nurl = \"{url}\"\nusername = \"sup\"\npassword = \"not-it\"\nteam = \"34\"\npoll_every_s = 1\n",
        dir.path().join("data"),
        url = finesse.url(),
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    let gateway = Gateway::start(&config).await.unwrap();

    let first = wait_until(Duration::from_secs(20), || states(&config).len() == 3).await;
    assert!(first, "{:?}", states(&config));
    let lunch = Some("Lunch Break".to_owned());
    assert_eq!(
        states(&config),
        [
            ("1001001".to_owned(), AgentState::Unavailable, None),
            ("1001002".to_owned(), AgentState::Paused, lunch),
            ("1001003".to_owned(), AgentState::Talking, None),
        ]
    );
    let (state, detail) = link(&gateway, "cc").expect("the link");
    assert_eq!(state, LinkState::Up);
    assert_eq!(detail, "team My Team: 3 agents");
    // The panel's source: each agent's latest state, with the reason.
    let now = pbxgw::store::StoreReader::open(&config.db_path())
        .unwrap()
        .agents()
        .unwrap();
    let jack = now.iter().find(|a| a.agent == "1001002").expect("Jack");
    assert_eq!(jack.reason.as_deref(), Some("Lunch Break"));

    // A refused login: needs the installer, says why, never shows the password.
    let refused = wait_until(Duration::from_secs(10), || {
        link(&gateway, "wrong").is_some_and(|(s, _)| s == LinkState::NeedsInstaller)
    })
    .await;
    let (_, detail) = link(&gateway, "wrong").unwrap();
    assert!(refused && detail.contains("401"), "{detail}");
    assert!(!detail.contains("not-it") && !detail.contains(PASSWORD));

    // Polls that find nothing new send nothing; Jack back from lunch is one event.
    let before = finesse.requests();
    assert!(wait_until(Duration::from_secs(10), || finesse.requests() >= before + 3).await);
    assert_eq!(states(&config).len(), 3, "no change, no event");
    finesse.edit("<state>NOT_READY</state>", "<state>READY</state>");
    let ready = wait_until(Duration::from_secs(10), || states(&config).len() == 4).await;
    assert!(ready, "{:?}", states(&config));
    assert_eq!(
        states(&config)[3],
        ("1001002".to_owned(), AgentState::Ready, None)
    );

    // Finesse goes away: the link is down and says so; back, it is up and the change made
    // meanwhile arrives.
    finesse.stop();
    let down = wait_until(Duration::from_secs(15), || {
        link(&gateway, "cc").is_some_and(|(s, _)| s == LinkState::Down)
    })
    .await;
    let (_, detail) = link(&gateway, "cc").unwrap();
    assert!(down && detail.contains("cannot reach Finesse"), "{detail}");
    finesse.edit("<state>TALKING</state>", "<state>WORK</state>");
    finesse.restart().await;
    let back = wait_until(Duration::from_secs(30), || states(&config).len() == 5).await;
    assert!(back, "{:?}", states(&config));
    assert_eq!(
        states(&config)[4],
        ("1001003".to_owned(), AgentState::WrapUp, None)
    );
    assert_eq!(link(&gateway, "cc").unwrap().0, LinkState::Up);
    gateway.stop().await;
}
