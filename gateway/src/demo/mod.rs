//! `pbxgw demo`: the whole data path on one machine, no hardware needed. In one process: a
//! Slican PBX simulator replaying the real timed CTIP stream (recorded timing inside calls
//! at `ctip_speed`, the quiet hours between calls cut short), a fake Asterisk replaying the
//! real AMI capture and another its ARI capture (a Stasis application; the gateway's built-in
//! IVR answers its callers), all three looped with fresh call ids and today's times, a GSM
//! modem simulator on a pseudo-terminal, and a gateway with a temporary data dir wired to
//! them with two SMS rules (IVR digit 1 and missed calls text the caller). It prints the
//! status page's link first, then each call record as the call ends and each text the modem
//! takes, then a supervisor's summary; events go up to MQTT when a broker listens on
//! localhost:1883 (or `--mqtt`), and to PostgreSQL with `--postgres`.

pub mod sim;
mod summary;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::runtime::{Gateway, StartError};
use crate::store::StoreError;
use sim::ami::{AmiSim, ReplayPlan};
use sim::ari::{AriSim, AriSimOptions};
use sim::ctip::{CtipSim, CtipSimOptions};
use sim::modem::{ModemSim, ModemSimOptions};
use sim::pace::Pace;
pub use summary::Summary;
use summary::{Replay, Shown};

/// The PBX names the demo's gateway knows its links by (the config and the call lines).
const SLICAN: &str = "slican";
const ASTERISK_AMI: &str = "asterisk";
const ASTERISK_ARI: &str = "asterisk-ari";
const CTIP_PIN: &str = "1234";
const AMI_SECRET: &str = "demo-secret";
/// The local API's token in the demo (printed; the box uses the configured one).
pub(crate) const API_TOKEN: &str = "demo-token-0123456789";

pub struct DemoOptions {
    /// Stop after this long; `None`: at Ctrl-C.
    pub duration: Option<Duration>,
    /// Replay speed of the Asterisk capture (1 = real time, 85 s; 0 = as fast as possible).
    pub speed: f64,
    /// Replay speed of the Slican capture inside calls (its quiet gaps are cut to half a
    /// second whatever the speed).
    pub ctip_speed: f64,
    /// The local API and status page (8080 when free, else any free port).
    pub api_port: u16,
    /// The broker to publish to; `None`: localhost:1883 if something listens there.
    pub mqtt: Option<SocketAddr>,
    pub postgres: Option<String>,
    /// The `shared/fixtures` folder (default: beside the repository this was built from).
    pub fixtures: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Fixtures(#[from] crate::fixtures::FixtureMissing),
    #[error("demo configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the {0} simulator: {1}")]
    Simulator(&'static str, std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the demo until the duration is up or Ctrl-C; prints the summary and returns it.
pub async fn run(options: DemoOptions) -> Result<Summary, DemoError> {
    let fixtures = options
        .fixtures
        .clone()
        .unwrap_or_else(crate::fixtures::dir);
    crate::fixtures::use_dir(&fixtures)?;
    let api = api_address(options.api_port);
    println!("status page: http://{api}/#token={API_TOKEN}");
    println!("starting the PBX simulators (CTIP, AMI and ARI replaying real traffic, looped with fresh call ids) and the modem on a pseudo-terminal...");
    let pace = Pace {
        speed: options.ctip_speed,
        ..Pace::DEMO
    };
    let ctip = CtipSim::start(CtipSimOptions {
        repeat: true,
        ..CtipSimOptions::new(CTIP_PIN).real_timed_stream(pace)
    })
    .await
    .map_err(|e| DemoError::Simulator("CTIP", e))?;
    let plan = ReplayPlan {
        speed: options.speed,
        repeat: true,
        ..Default::default()
    };
    let ami = AmiSim::replaying("gw", AMI_SECRET, plan)
        .await
        .map_err(|e| DemoError::Simulator("AMI", e))?;
    let ari = AriSim::start(AriSimOptions {
        speed: options.speed,
        repeat: true,
        ..AriSimOptions::new("gw", AMI_SECRET)
    })
    .await
    .map_err(|e| DemoError::Simulator("ARI", e))?;
    let modem = ModemSim::start(ModemSimOptions::default())
        .map_err(|e| DemoError::Simulator("modem", e))?;
    let data = TempDir::new()?;
    let mqtt = match options.mqtt {
        Some(a) => Some(a),
        None => listening(SocketAddr::from(([127, 0, 0, 1], 1883))).await,
    };
    let wiring = Wiring {
        data: data.0.clone(),
        ctip: ctip.port(),
        ami: ami.port(),
        ari: ari.url(),
        modem: modem.path.clone(),
        api,
        mqtt,
        postgres: options.postgres.clone(),
    };
    let config = Config::from_toml(&wiring.config_text(), std::path::Path::new("demo.toml"))?;
    let gateway = Gateway::start(&config).await?;
    wiring.print_banner();

    let started = std::time::Instant::now();
    let mut shown = Shown::new(&[
        (SLICAN, pace.speed),
        (ASTERISK_AMI, options.speed),
        (ASTERISK_ARI, options.speed),
    ]);
    let stop = async {
        match options.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => shown.print_new(&config, &modem)?,
        }
    }
    let seconds = started.elapsed().as_secs();
    shown.print_new(&config, &modem)?;
    let_uplinks_catch_up(&config, Duration::from_secs(3)).await;
    let replay = Replay {
        seconds,
        ctip_speed: pace.speed,
        ctip_quiet_cap_s: pace.quiet_cap.as_secs_f64(),
        asterisk_speed: options.speed,
    };
    let summary = Summary::collect(&gateway, &config, &shown, replay);
    print!("{summary}");
    gateway.stop().await;
    Ok(summary)
}

/// Gives the uplinks a moment to acknowledge what was stored until now, so the summary shows
/// settled figures rather than the one event still on the wire (a link that is down keeps
/// its backlog, and the summary says so).
async fn let_uplinks_catch_up(config: &Config, within: Duration) {
    let sinks = crate::uplink::configured_sinks(config);
    let Ok(reader) = crate::store::StoreReader::open(&config.db_path()) else {
        return;
    };
    let Ok(stored) = reader.stats(&sinks).map(|s| s.last_seq) else {
        return;
    };
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        match reader.stats(&sinks) {
            Ok(s) if s.sinks.iter().any(|b| b.acked_seq < stored) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            _ => return,
        }
    }
}

/// 127.0.0.1:`port` when free, else a free port.
fn api_address(port: u16) -> SocketAddr {
    let wanted = SocketAddr::from(([127, 0, 0, 1], port));
    match std::net::TcpListener::bind(wanted) {
        Ok(_) => wanted,
        Err(_) => std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .unwrap_or(wanted),
    }
}

/// `Some(addr)` when something accepts connections there.
async fn listening(addr: SocketAddr) -> Option<SocketAddr> {
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(Duration::from_millis(500), connect).await,
        Ok(Ok(_))
    )
    .then_some(addr)
}

/// A data dir of its own, removed when the demo ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!(
            "pbxgw-demo-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where the demo's parts listen.
struct Wiring {
    data: PathBuf,
    ctip: u16,
    ami: u16,
    ari: String,
    modem: PathBuf,
    api: SocketAddr,
    mqtt: Option<SocketAddr>,
    postgres: Option<String>,
}

impl Wiring {
    fn config_text(&self) -> String {
        let mut text = format!(
            r#"[gateway]
id = "demo"
data_dir = {data:?}

[[pbx]]
name = "{SLICAN}"
kind = "ctip"
host = "127.0.0.1"
port = {ctip}
pin = "{CTIP_PIN}"
ivr_map = {{ "999" = "9" }}

[[pbx]]
name = "{ASTERISK_AMI}"
kind = "ami"
host = "127.0.0.1"
port = {ami}
username = "gw"
secret = "{AMI_SECRET}"

[[pbx]]
name = "{ASTERISK_ARI}"
kind = "ari"
url = "{ari}"
username = "gw"
password = "{AMI_SECRET}"
app = "gwapp"
[pbx.ivr]
arg = "inbound"
prompt = "sound:welcome"
context = "inbound"
extension = "queue"

[modem]
port = {modem:?}

[sms]
rate_per_minute = 100

[[sms.rule]]
name = "ivr-callback"
on = "ivr_digit"
digit = "1"
text = "Dziękujemy za wybór 1. Konsultant oddzwoni na numer {{caller}}."

[[sms.rule]]
name = "missed"
on = "missed_call"
text = "Przepraszamy, nie odebraliśmy ({{time}}). Oddzwonimy wkrótce."

[commands]
allow = ["sms.send", "call.originate", "contacts.upsert", "contacts.delete", "operators.upsert", "operators.delete"]

[api]
bind = "{api}"
token = "{API_TOKEN}"
"#,
            data = self.data,
            ctip = self.ctip,
            ami = self.ami,
            ari = self.ari,
            modem = self.modem,
            api = self.api,
        );
        if let Some(mqtt) = self.mqtt {
            text += &format!(
                "\n[uplink.mqtt]\nhost = \"{}\"\nport = {}\nstatus_interval_s = 5\n",
                mqtt.ip(),
                mqtt.port()
            );
        }
        if let Some(url) = &self.postgres {
            text += &format!("\n[uplink.postgres]\nurl = {url:?}\n");
        }
        text
    }

    fn print_banner(&self) {
        println!(
            "gateway 'demo': Slican CTIP on :{}, Asterisk AMI on :{}, Asterisk ARI at {}, modem on {}",
            self.ctip,
            self.ami,
            self.ari,
            self.modem.display()
        );
        match self.mqtt {
            Some(m) => println!("uplink: MQTT broker {m}, topics pbxgw/v1/demo/#"),
            None => println!(
                "uplink: no MQTT broker on localhost:1883 (events stay in the local store)"
            ),
        }
        if self.postgres.is_some() {
            println!("uplink: PostgreSQL (tables pbxgw_events, pbxgw_calls)");
        }
        println!(
            "local API: curl -H 'Authorization: Bearer {API_TOKEN}' 'http://{}/api/calls?limit=5'\n",
            self.api
        );
    }
}
