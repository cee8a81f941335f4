//! `demo`: the whole data path on this machine, no hardware needed. In one process:
//! a Slican PBX simulator replaying the real CTIP stream, a fake Asterisk replaying the real
//! AMI capture, a GSM modem simulator on a real pseudo-terminal, a private Mosquitto and
//! PostgreSQL as "central", and a gateway wired to all of them with two SMS rules (IVR digit
//! 1 -> text the caller; missed call -> text the caller) and central commands enabled.
//!
//! It prints what central receives as it arrives (each finished call from MQTT), each text
//! the modem sends, and at the end the gateway's status, PostgreSQL's row counts and the SMS
//! queue. `demo [--duration SECONDS] [--speed X]` (defaults 40 s; the AMI capture at 4x).

use std::time::Duration;

use clap::Parser;
use pbxgw::config::Config;
use pbxgw::runtime::Gateway;
use pbxgw_tests::harness::{Collector, Mosquitto, Postgres};
use pbxgw_tests::sim::ami::{AmiSim, ReplayPlan};
use pbxgw_tests::sim::ctip::{CtipSim, CtipSimOptions};
use pbxgw_tests::sim::modem::{ModemSim, ModemSimOptions};

#[derive(Parser)]
struct Args {
    /// Stop after this many seconds (Ctrl-C stops earlier).
    #[arg(long, default_value_t = 40)]
    duration: u64,
    /// Replay speed of the Asterisk capture (1 = real time, 85 s).
    #[arg(long, default_value_t = 4.0)]
    speed: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(demo(args))
}

const CTIP_PIN: &str = "1234";

const API_TOKEN: &str = "demo-token-0123456789";

/// The demo's ports: central's, the simulators', the local API's.
struct Ports {
    broker: u16,
    ctip: u16,
    ami: u16,
    api: u16,
}

fn config_text(dir: &std::path::Path, ports: &Ports, pg: &str, modem: &ModemSim) -> String {
    let Ports {
        broker,
        ctip,
        ami,
        api,
    } = ports;
    format!(
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
secret = "secret"

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
allow = ["sms.send", "call.originate"]

[api]
bind = "127.0.0.1:{api}"
token = "{API_TOKEN}"

[uplink.mqtt]
host = "127.0.0.1"
port = {broker}
status_interval_s = 5

[uplink.postgres]
url = {pg:?}
"#,
        data = dir.join("data"),
        modem = modem.path,
    )
}

async fn demo(args: Args) -> anyhow::Result<()> {
    println!("starting central (a private Mosquitto and PostgreSQL), the PBX simulators and the modem...");
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let ctip = CtipSim::start(CtipSimOptions {
        interval: Duration::from_millis(40),
        ..CtipSimOptions::new(CTIP_PIN).real_stream(usize::MAX)
    })
    .await;
    let plan = ReplayPlan {
        speed: args.speed,
        ..Default::default()
    };
    let ami = AmiSim::replaying("gw", "secret", plan).await;
    let modem = ModemSim::start(ModemSimOptions::default());
    let dir = tempfile::tempdir()?;
    // The local API on 8080 when it is free.
    let api = if std::net::TcpListener::bind("127.0.0.1:8080").is_ok() {
        8080
    } else {
        pbxgw_tests::harness::free_port()
    };
    let ports = Ports {
        broker: broker.port(),
        ctip: ctip.port(),
        ami: ami.port(),
        api,
    };
    let text = config_text(dir.path(), &ports, &pg.url(), &modem);
    let config = Config::from_toml(&text, std::path::Path::new("demo.toml"))?;
    let central = Collector::start(broker.port(), "pbxgw/v1/demo/#", "demo-central").await;
    let gateway = Gateway::start(&config).await?;
    println!(
        "gateway 'demo': Slican CTIP on :{}, Asterisk AMI on :{}, modem on {}, MQTT on :{}, PostgreSQL on :{}\n",
        ctip.port(),
        ami.port(),
        modem.path.display(),
        broker.port(),
        pg.port()
    );

    println!("local API: curl -H 'Authorization: Bearer {API_TOKEN}' 'http://127.0.0.1:{api}/api/calls?limit=5'\n");
    let (mut calls_shown, mut texts_shown) = (0, 0);
    let stop = tokio::time::sleep(Duration::from_secs(args.duration));
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                calls_shown = print_new_calls(&central, calls_shown);
                texts_shown = print_new_texts(&modem, texts_shown);
            }
        }
    }
    summary(&central, &pg, &config).await?;
    gateway.stop().await;
    Ok(())
}

/// Prints call records central received since `shown`; returns the new count.
fn print_new_calls(central: &Collector, shown: usize) -> usize {
    let calls: Vec<_> = central
        .messages()
        .into_iter()
        .filter(|m| m.topic.contains("/call/"))
        .collect();
    for m in &calls[shown.min(calls.len())..] {
        let r = &m.payload;
        let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
        let ivr = r["ivr_digits"]
            .as_str()
            .map(|d| format!(", IVR {d}"))
            .unwrap_or_default();
        println!(
            "call  {:<28} {:<8} {:>13} -> {:<10} {:<10} ext {:<5} {:>3} s talk{ivr}",
            s("call_id"),
            s("direction"),
            s("caller"),
            s("callee"),
            s("disposition"),
            s("extension"),
            r["billsec_s"],
        );
    }
    calls.len()
}

/// Prints the texts the modem took since `shown`; returns the new count.
fn print_new_texts(modem: &ModemSim, shown: usize) -> usize {
    let pdus: Vec<String> = modem
        .log
        .lock()
        .map(|l| l.pdus.iter().map(|p| p.1.clone()).collect())
        .unwrap_or_default();
    for hex in &pdus[shown.min(pdus.len())..] {
        if let Ok((to, text, _)) = board::modem::pdu::decode_submit(hex) {
            println!("SMS   to {to}: {text}");
        }
    }
    pdus.len()
}

async fn summary(central: &Collector, pg: &Postgres, config: &Config) -> anyhow::Result<()> {
    if let Some(s) = central.last_on("/status").map(|m| m.payload) {
        println!("\nretained status on pbxgw/v1/demo/status (links):");
        if let Some(links) = s["links"].as_object() {
            for (name, l) in links {
                println!(
                    "  {name:<16} {:<16} {}",
                    l["state"].as_str().unwrap_or("?"),
                    l["detail"].as_str().unwrap_or("")
                );
            }
        }
    }
    let client = pg.client().await;
    let count = |table: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map(|r| r.get::<_, i64>(0))
        }
    };
    println!(
        "\nPostgreSQL: {} rows in pbxgw_events, {} rows in pbxgw_calls",
        count("pbxgw_events").await?,
        count("pbxgw_calls").await?
    );
    println!(
        "MQTT: {} events received by the central subscriber",
        central.events().len()
    );
    let conn = rusqlite::Connection::open(config.db_path())?;
    let mut states = conn.prepare("SELECT state, count(*) FROM sms_out GROUP BY state")?;
    let states: Vec<String> = states
        .query_map([], |r| {
            Ok(format!(
                "{} {}",
                r.get::<_, i64>(1)?,
                r.get::<_, String>(0)?
            ))
        })?
        .collect::<Result<_, _>>()?;
    println!(
        "SMS queue: {}",
        if states.is_empty() {
            "empty".into()
        } else {
            states.join(", ")
        }
    );
    Ok(())
}
