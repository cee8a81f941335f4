//! `pbxgw check --connect`, the installer's checklist, against real parts: a CTIP PBX
//! simulator, a private Mosquitto and PostgreSQL, the modem simulator on a pty, and the
//! console LED profile. Exit 0 only when every step passes; each failure says what to fix.
#![cfg(target_arch = "x86_64")]

use pbxgw_tests::harness::{bin_path, Mosquitto, Postgres};
use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};
use pbxgw_tests::sim::modem::{ModemSim, ModemSimOptions};

/// The user running the test: as root the check then weighs the devices against it (the
/// machine's own pbxgw user, if any, may not open the test's pty).
fn me() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".into(), |u| u.name)
}

fn check(conf: &std::path::Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(bin_path("pbxgw"))
        .args([
            "check",
            "--connect",
            "--service-user",
            &me(),
            "-c",
            &conf.to_string_lossy(),
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_passes_or_says_what_to_fix() {
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let pbx = CtipSim::start(CtipSimOptions::new("1234"))
        .await
        .expect("a simulator on a loopback port");
    let modem = ModemSim::start(ModemSimOptions {
        pin: Some("4321".into()),
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pin: &str| {
        let conf = dir.path().join(name);
        std::fs::write(
            &conf,
            format!(
                "[gateway]\nid = \"check\"\ndata_dir = {:?}\n[[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {}\npin = \"1234\"\n\
                 [uplink.mqtt]\nhost = \"127.0.0.1\"\nport = {}\n[uplink.postgres]\nurl = {:?}\n[modem]\nport = {:?}\npin = \"{pin}\"\nregister_within_s = 5\n",
                dir.path().join("data"),
                pbx.port(),
                broker.port(),
                pg.url(),
                modem.path
            ),
        )
        .unwrap();
        conf
    };
    let wrong = write("wrong.toml", "9999");
    let (code, out) = check(&wrong);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("modem: FAILED") && out.contains("correct [modem] pin"),
        "{out}"
    );
    assert!(!out.contains("9999"), "the PIN is never printed: {out}");
    // The refusal is remembered: the next check does not spend another PIN attempt.
    let (_, out) = check(&wrong);
    assert!(out.contains("modem: FAILED"), "{out}");
    assert_eq!(modem.log.lock().unwrap().pin_attempts, 1);

    let good = write("good.toml", "4321");
    let (code, out) = check(&good);
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "1. config",
        "   PBX links: slican (ctip)\n   uplinks: mqtt, postgres\n",
        "2. PBX slican: reachable at 127.0.0.1:",
        "3. MQTT: connected to 127.0.0.1:",
        "a test publish was acknowledged",
        "4. PostgreSQL: connected (PostgreSQL ",
        "5. modem: SIM ready, registered to Orange PL, -73 dBm, SMS centre +48501200777",
        "6. LEDs: profile console: fault, modem, pbx, uplink lit in turn",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    if nix::unistd::geteuid().is_root() {
        let line = format!("7. devices as user {}: ", me());
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
        assert!(
            out.contains(&format!("may open {}", modem.path.display())),
            "{out}"
        );
    }
}
