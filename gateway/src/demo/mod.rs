//! `pbxgw demo`: the whole data path on one machine, no hardware needed. In one process: a
//! Slican PBX simulator replaying the real CTIP stream, a fake Asterisk replaying the real AMI
//! capture and another its ARI capture (a Stasis application; the gateway's built-in IVR
//! answers its callers), a GSM modem simulator on a pseudo-terminal, and a gateway with a
//! temporary data dir wired to them with two SMS rules (IVR digit 1 and missed calls text the caller). It
//! prints each call record as the call ends and each text the modem takes; the status page
//! answers on 127.0.0.1:8080; events go up to MQTT when a broker listens on localhost:1883
//! (or `--mqtt`), and to PostgreSQL with `--postgres`.

pub mod sim;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::calls::{CallRecord, EventBody};
use crate::config::Config;
use crate::runtime::{Gateway, StartError};
use crate::store::{StoreError, StoreReader};
use sim::ami::{AmiSim, ReplayPlan};
use sim::ari::{AriSim, AriSimOptions};
use sim::ctip::{CtipSim, CtipSimOptions};
use sim::modem::{ModemSim, ModemSimOptions};

const CTIP_PIN: &str = "1234";
const AMI_SECRET: &str = "demo-secret";
/// The local API's token in the demo (printed; the box uses the configured one).
pub(crate) const API_TOKEN: &str = "demo-token-0123456789";

pub struct DemoOptions {
    /// Stop after this long; `None`: at Ctrl-C.
    pub duration: Option<Duration>,
    /// Replay speed of the Asterisk capture (1 = real time, 85 s; 0 = as fast as possible).
    pub speed: f64,
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

/// What central would have seen, counted at the end.
#[derive(Debug, Default)]
pub struct DemoSummary {
    pub calls: usize,
    pub texts: usize,
}

/// Runs the demo until the duration is up or Ctrl-C.
pub async fn run(options: DemoOptions) -> Result<DemoSummary, DemoError> {
    let fixtures = options
        .fixtures
        .clone()
        .unwrap_or_else(crate::fixtures::dir);
    crate::fixtures::use_dir(&fixtures)?;
    println!("starting the PBX simulators (CTIP, AMI and ARI replaying real traffic) and the modem on a pseudo-terminal...");
    let ctip = CtipSim::start(CtipSimOptions {
        interval: Duration::from_millis(40),
        ..CtipSimOptions::new(CTIP_PIN).real_stream(usize::MAX)
    })
    .await
    .map_err(|e| DemoError::Simulator("CTIP", e))?;
    let plan = ReplayPlan {
        speed: options.speed,
        ..Default::default()
    };
    let ami = AmiSim::replaying("gw", AMI_SECRET, plan)
        .await
        .map_err(|e| DemoError::Simulator("AMI", e))?;
    let ari = AriSim::start(AriSimOptions {
        speed: options.speed,
        ..AriSimOptions::new("gw", AMI_SECRET)
    })
    .await
    .map_err(|e| DemoError::Simulator("ARI", e))?;
    let modem = ModemSim::start(ModemSimOptions::default())
        .map_err(|e| DemoError::Simulator("modem", e))?;
    let data = TempDir::new()?;
    let api = api_address(options.api_port);
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

    let mut shown = Shown::default();
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
    shown.print_new(&config, &modem)?;
    print_summary(&gateway, &config).await;
    gateway.stop().await;
    Ok(DemoSummary {
        calls: shown.calls,
        texts: shown.texts,
    })
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
name = "slican"
kind = "ctip"
host = "127.0.0.1"
port = {ctip}
pin = "{CTIP_PIN}"
ivr_map = {{ "999" = "9" }}

[[pbx]]
name = "asterisk"
kind = "ami"
host = "127.0.0.1"
port = {ami}
username = "gw"
secret = "{AMI_SECRET}"

[[pbx]]
name = "asterisk-ari"
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
            "status page: http://{}/#token={API_TOKEN}\nlocal API:   curl -H 'Authorization: Bearer {API_TOKEN}' 'http://{}/api/calls?limit=5'\n",
            self.api, self.api
        );
    }
}

/// What has been printed so far.
#[derive(Default)]
struct Shown {
    seq: u64,
    calls: usize,
    texts: usize,
}

impl Shown {
    /// Prints the calls that ended and the texts the modem took since last time.
    fn print_new(&mut self, config: &Config, modem: &ModemSim) -> Result<(), DemoError> {
        let reader = StoreReader::open(&config.db_path())?;
        loop {
            let events = reader.events_after(self.seq, 1000)?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            self.seq = last;
            for event in events {
                if let Ok(EventBody::CallEnded(record)) = &event.body {
                    println!("{}", call_line(&event.pbx, record));
                    self.calls += 1;
                }
            }
        }
        let pdus: Vec<String> = modem
            .log
            .lock()
            .map(|l| l.pdus.iter().map(|p| p.1.clone()).collect())
            .unwrap_or_default();
        for hex in pdus.iter().skip(self.texts) {
            if let Ok((to, text, _)) = board::modem::pdu::decode_submit(hex) {
                println!("SMS   to {to}: {text}");
            }
        }
        self.texts = self.texts.max(pdus.len());
        Ok(())
    }
}

fn call_line(pbx: &str, r: &CallRecord) -> String {
    let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let ivr = r
        .ivr_digits
        .as_ref()
        .map(|d| format!(", IVR {d}"))
        .unwrap_or_default();
    format!(
        "call  {pbx:<12} {:<9} {:>13} -> {:<10} {:<10} ext {:<5} {:>3} s talk{ivr}",
        r.direction.as_str(),
        s(&r.caller),
        s(&r.callee),
        r.disposition.as_str(),
        s(&r.extension),
        r.billsec_s,
    )
}

async fn print_summary(gateway: &Gateway, config: &Config) {
    println!("\nlinks:");
    for (name, l) in gateway.links().snapshot() {
        println!(
            "  {name:<16} {:<16} {}",
            l.state.as_str(),
            l.detail.as_deref().unwrap_or("")
        );
    }
    let ivr: Vec<String> = gateway
        .links()
        .counters()
        .into_iter()
        .filter_map(|(name, n)| {
            let (pbx, outcome) = name.strip_prefix("pbx:")?.split_once(":ivr:")?;
            Some(format!("{pbx} {outcome} {n}"))
        })
        .collect();
    if !ivr.is_empty() {
        println!("built-in IVR: {}", ivr.join(", "));
    }
    let sinks = crate::uplink::configured_sinks(config);
    if let Ok(stats) = StoreReader::open(&config.db_path()).and_then(|r| r.stats(&sinks)) {
        println!("store: {} events", stats.last_seq);
        for s in &stats.sinks {
            println!("  {:<10} {} not yet acknowledged", s.sink, s.backlog);
        }
    }
    let texts = crate::store::side_connection(&config.db_path())
        .and_then(|c| crate::sms::queue::list(&c, 1000));
    if let Ok(texts) = texts {
        let mut states = std::collections::BTreeMap::<String, usize>::new();
        for t in texts {
            *states.entry(t.state).or_default() += 1;
        }
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!(
            "SMS queue: {}",
            if states.is_empty() {
                "empty".into()
            } else {
                states.join(", ")
            }
        );
    }
}
