//! The front panel of a running gateway: LEDs of the `generic-sysfs` profile (a sysfs tree in
//! a temporary directory, written as the kernel's would be) follow the links, and systemd's
//! watchdog hears READY and WATCHDOG on a real notify socket. Its own test binary: it sets
//! `NOTIFY_SOCKET` for the process.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::wait_until;
use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};

fn fake_led(root: &std::path::Path, name: &str, triggers: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("brightness"), "0").unwrap();
    std::fs::write(dir.join("max_brightness"), "1").unwrap();
    std::fs::write(dir.join("trigger"), triggers).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leds_follow_the_links_and_systemd_hears_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let leds = dir.path().join("leds");
    for name in ["pbxgw:green:pbx", "pbxgw:green:uplink", "pbxgw:green:modem"] {
        fake_led(&leds, name, "[none] timer");
    }
    fake_led(&leds, "pbxgw:red:fault", "[none]");
    let notify_path = dir.path().join("notify");
    let systemd = UnixDatagram::bind(&notify_path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::env::set_var("NOTIFY_SOCKET", &notify_path);
    std::env::set_var("WATCHDOG_USEC", "2000000");
    // A PBX that refuses the login: the installer must act, the PBX LED blinks fast.
    let sim = CtipSim::start(CtipSimOptions {
        refuse: Some(11),
        ..CtipSimOptions::new("1234")
    })
    .await
    .expect("a simulator on a loopback port");
    let text = format!(
        "[gateway]\nid = \"panel\"\ndata_dir = {:?}\n[board]\nprofile = \"generic-sysfs\"\nleds_root = {leds:?}\n\
         [[pbx]]\nname = \"slican\"\nkind = \"ctip\"\nhost = \"127.0.0.1\"\nport = {}\npin = \"1234\"\n",
        dir.path().join("data"),
        sim.port()
    );
    let config = Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    let gateway = Gateway::start(&config).await.unwrap();
    let read =
        |led: &str, f: &str| std::fs::read_to_string(leds.join(led).join(f)).unwrap_or_default();
    let blinking = wait_until(Duration::from_secs(10), || {
        read("pbxgw:green:pbx", "trigger") == "timer"
            && read("pbxgw:green:pbx", "delay_on") == "125"
    })
    .await;
    assert!(
        blinking,
        "pbx LED: trigger {:?}",
        read("pbxgw:green:pbx", "trigger")
    );
    // Nothing configured: off. No fault: off (no timer trigger: driven through brightness).
    assert_eq!(read("pbxgw:green:uplink", "brightness"), "0");
    assert_eq!(read("pbxgw:green:modem", "brightness"), "0");
    assert_eq!(read("pbxgw:red:fault", "brightness"), "0");
    let mut heard = Vec::new();
    let mut buf = [0u8; 512];
    while heard.len() < 2 {
        let n = systemd.recv(&mut buf).expect("systemd hears the gateway");
        heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(heard[0], "READY=1");
    assert!(heard[1].starts_with("WATCHDOG=1\nSTATUS="), "{heard:?}");
    gateway.stop().await;
    let stopping = (0..5).any(|_| {
        systemd
            .recv(&mut buf)
            .is_ok_and(|n| String::from_utf8_lossy(&buf[..n]) == "STOPPING=1")
    });
    assert!(stopping);
}
