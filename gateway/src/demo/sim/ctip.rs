//! A Slican PBX's CTIP side on a loopback port: answers WHO and LOGA (or refuses), answers
//! probes, and replays captured lines to each logged-in connection.

use super::pace::{gaps, parse_timed, Pace};
use super::Locked;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

type Writer = Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct CtipSimOptions {
    pub pin: String,
    /// Refuse every login with `NA <code>`.
    pub refuse: Option<u16>,
    /// A PBX before CTIP v14 does not answer WHO.
    pub answer_who: bool,
    /// Wire lines (with the `a`), replayed after login.
    pub lines: Vec<String>,
    pub interval: Duration,
    /// The wait after each line, as recorded (`real_timed_stream`); `interval` where absent.
    pub gaps: Vec<Duration>,
    /// Start over after the last line, for as long as the connection lasts.
    pub repeat: bool,
    /// After this many lines, send the rest at this interval instead (a burst).
    pub burst_after: Option<(usize, Duration)>,
    /// Close the FIRST connection after this many lines (a link drop mid-stream).
    pub drop_after: Option<usize>,
    /// After login, send nothing and answer nothing (a half-open link).
    pub silent: bool,
    /// Replay the lines to later connections too (by default only the first gets them).
    pub replay_on_reconnect: bool,
    /// Extensions with analog/SIP phones: PICK gets `NA 24` (use DIAL).
    pub analog: Vec<String>,
    /// GSM module: incoming SMS (SMSG lines) held until acknowledged with SOK, re-sent on
    /// every LOGI as a real module does.
    pub gsm_inbox: Vec<String>,
    /// GSM module: answer the first SMSS with `NA 4` (busy).
    pub gsm_busy_first: bool,
    /// GSM module: the SMS centre rejects every SMS (`SMSA R 70`).
    pub gsm_reject: bool,
}

impl CtipSimOptions {
    pub fn new(pin: &str) -> CtipSimOptions {
        CtipSimOptions {
            pin: pin.into(),
            refuse: None,
            answer_who: true,
            lines: Vec::new(),
            interval: Duration::from_millis(1),
            gaps: Vec::new(),
            repeat: false,
            burst_after: None,
            drop_after: None,
            silent: false,
            replay_on_reconnect: false,
            analog: Vec::new(),
            gsm_inbox: Vec::new(),
            gsm_busy_first: false,
            gsm_reject: false,
        }
    }

    /// The first `n` lines of the real NCP stream.
    pub fn real_stream(mut self, n: usize) -> Self {
        self.lines = crate::fixtures::fixture("ctip/raw_stream_anon.txt")
            .lines()
            .take(n)
            .map(str::to_owned)
            .collect();
        self
    }

    /// The whole timed capture, paced as `pace` says (recorded timing inside calls).
    pub fn real_timed_stream(mut self, pace: Pace) -> Self {
        let timed = parse_timed(&crate::fixtures::fixture("ctip/raw_stream_anon_timed.tsv"));
        self.gaps = gaps(&timed, pace);
        self.lines = timed.into_iter().map(|l| l.line).collect();
        self
    }

    /// The wait after line `i`.
    fn wait_after(&self, i: usize) -> Duration {
        match (self.gaps.get(i), self.burst_after) {
            (Some(gap), _) => *gap,
            (None, Some((after, interval))) if i + 1 >= after => interval,
            (None, _) => self.interval,
        }
    }
}

#[derive(Debug, Default)]
pub struct CtipSimStats {
    pub connections: AtomicUsize,
    pub logins: AtomicUsize,
    pub refused: AtomicUsize,
    pub probes: AtomicUsize,
    pub lines_sent: AtomicUsize,
    /// Every command line received after login (LOGA excluded: it holds the PIN).
    pub commands: std::sync::Mutex<Vec<String>>,
    /// GSM: SMSG/SMSR lines not yet acknowledged, by index.
    pub gsm_unacked: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    pub gsm_sent: AtomicUsize,
}

pub struct CtipSim {
    port: u16,
    pub stats: Arc<CtipSimStats>,
    task: tokio::task::JoinHandle<()>,
}

impl CtipSim {
    /// Listens on a free loopback port.
    pub async fn start(options: CtipSimOptions) -> std::io::Result<CtipSim> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let stats = Arc::new(CtipSimStats::default());
        let s = stats.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let n = s.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket, options.clone(), s.clone(), n == 0));
            }
        });
        Ok(CtipSim { port, stats, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for CtipSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    socket: tokio::net::TcpStream,
    o: CtipSimOptions,
    stats: Arc<CtipSimStats>,
    first: bool,
) {
    let (read, write) = socket.into_split();
    let write = Arc::new(tokio::sync::Mutex::new(write));
    let mut reader = BufReader::new(read);
    let mut replay: Option<tokio::task::JoinHandle<()>> = None;
    let mut raw = Vec::new();
    let cp = crate::pbx::ctip::codec::CodePage::ibm852();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let decoded = cp.decode(&raw);
        let line = decoded.trim_end_matches(['\r', '\n']);
        if let Some(rest) = line.strip_prefix('a') {
            if gsm(rest, &o, &stats, &write).await {
                continue;
            }
        }
        let Some(cmd) = line.strip_prefix('a') else {
            continue;
        };
        let (verb, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let logged_in = replay.is_some();
        let answer = match verb {
            _ if o.silent && logged_in => None,
            "WHO" if o.answer_who => {
                Some("aOK NCP-000 NO03914 v1.23.0140/15 2025.10.10 01:54'59".to_owned())
            }
            "WHO" => None,
            "LOGA" => {
                if let Some(code) = o.refuse {
                    stats.refused.fetch_add(1, Ordering::SeqCst);
                    Some(format!("aNA {code}"))
                } else if arg == o.pin {
                    stats.logins.fetch_add(1, Ordering::SeqCst);
                    if replay.is_none() {
                        replay = Some(tokio::spawn(send_lines(
                            write.clone(),
                            o.clone(),
                            stats.clone(),
                            first && !o.silent,
                        )));
                    }
                    Some("aOK NCP 1.23 15".to_owned())
                } else {
                    stats.refused.fetch_add(1, Ordering::SeqCst);
                    Some("aNA 11".to_owned())
                }
            }
            "PICK" if o.analog.iter().any(|a| arg.trim_end_matches('_') == a) => {
                Some("aNA 24".to_owned())
            }
            // A system phone lifts its speaker: OK, then the dial tone.
            "PICK" => Some(format!("aOK\r\naDRDY {arg}")),
            "DIAL" | "HANG" | "REJ" if arg.starts_with("999") => Some("aNA 7".to_owned()),
            "DIAL" | "HANG" | "REJ" => Some("aOK".to_owned()),
            "RQST" => {
                stats.probes.fetch_add(1, Ordering::SeqCst);
                Some(format!("aSTAT {arg} h f d l a p c q"))
            }
            _ => Some("aERROR".to_owned()),
        };
        if verb != "LOGA" && logged_in {
            stats.commands.locked().push(cmd.to_owned());
        }
        if verb == "WHO" && stats.logins.load(Ordering::SeqCst) > 0 {
            stats.probes.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(answer) = answer {
            let mut w = write.lock().await;
            if w.write_all(format!("{answer}\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    }
    if let Some(r) = replay {
        r.abort();
    }
}

async fn send_lines(
    write: Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>,
    o: CtipSimOptions,
    stats: Arc<CtipSimStats>,
    first: bool,
) {
    if !first && !o.replay_on_reconnect {
        return;
    }
    loop {
        for (i, line) in o.lines.iter().enumerate() {
            if first && o.drop_after == Some(i) {
                let _ = write.lock().await.shutdown().await;
                return;
            }
            if write
                .lock()
                .await
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            stats.lines_sent.fetch_add(1, Ordering::SeqCst);
            let wait = o.wait_after(i);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        if !o.repeat || o.lines.is_empty() {
            return;
        }
        // The next round starts after a quiet moment, as the capture's next day would.
        tokio::time::sleep(o.interval.max(Duration::from_millis(500))).await;
    }
}

async fn say(write: &Writer, lines: &[String]) {
    let cp = crate::pbx::ctip::codec::CodePage::ibm852();
    let mut w = write.lock().await;
    for l in lines {
        let mut bytes = cp.encode(l);
        bytes.extend_from_slice(b"\r\n");
        let _ = w.write_all(&bytes).await;
    }
}

/// The GSM-module verbs; true when the line was one of them.
async fn gsm(cmd: &str, o: &CtipSimOptions, stats: &Arc<CtipSimStats>, write: &Writer) -> bool {
    let (verb, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
    match verb {
        "LOGI" => {
            let pin = arg.split_once(' ').map(|(_, p)| p).unwrap_or("");
            if pin != o.pin {
                say(write, &["aNA 11".to_owned()]).await;
                return true;
            }
            let mut lines = vec!["aOK IPU 6.55p 15 599888777".to_owned()];
            {
                let mut unacked = stats.gsm_unacked.locked();
                for l in &o.gsm_inbox {
                    let index = l.split(' ').nth(2).unwrap_or("0").to_owned();
                    unacked.entry(index).or_insert_with(|| l.clone());
                }
                lines.extend(unacked.values().cloned());
            }
            say(write, &lines).await;
            true
        }
        "SMSS" => {
            stats.commands.locked().push(cmd.to_owned());
            let n = stats.gsm_sent.fetch_add(1, Ordering::SeqCst);
            if o.gsm_busy_first && n == 0 {
                say(write, &["aNA 4".to_owned()]).await;
                return true;
            }
            let mut f = arg.split(' ');
            let module = f.next().unwrap_or("G001").to_owned();
            let dest = f.next().unwrap_or("").to_owned();
            let order = 100 + n;
            say(write, &["aOK".to_owned()]).await;
            let (write, stats, reject) = (write.clone(), stats.clone(), o.gsm_reject);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if reject {
                    say(&write, &[format!("aSMSA {module} R 70")]).await;
                    return;
                }
                let index = (50 + n).to_string();
                let report = format!("aSMSR {module} D {index} {order} {dest}");
                stats.gsm_unacked.locked().insert(index, report.clone());
                say(&write, &[format!("aSMSA {module} C {order}"), report]).await;
            });
            true
        }
        "SOK" => {
            let index = arg.split(' ').nth(1).unwrap_or("");
            stats.gsm_unacked.locked().remove(index);
            stats.commands.locked().push(cmd.to_owned());
            say(write, &["aOK".to_owned()]).await;
            true
        }
        _ => false,
    }
}
