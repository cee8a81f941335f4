//! A Slican PBX's CTIP side on a loopback port: answers WHO and LOGA (or refuses), answers
//! probes, and replays captured lines to each logged-in connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
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
    /// Close the FIRST connection after this many lines (a link drop mid-stream).
    pub drop_after: Option<usize>,
    /// After login, send nothing and answer nothing (a half-open link).
    pub silent: bool,
    /// Replay the lines to later connections too (by default only the first gets them).
    pub replay_on_reconnect: bool,
    /// Extensions with analog/SIP phones: PICK gets `NA 24` (use DIAL).
    pub analog: Vec<String>,
}

impl CtipSimOptions {
    pub fn new(pin: &str) -> CtipSimOptions {
        CtipSimOptions {
            pin: pin.into(),
            refuse: None,
            answer_who: true,
            lines: Vec::new(),
            interval: Duration::from_millis(1),
            drop_after: None,
            silent: false,
            replay_on_reconnect: false,
            analog: Vec::new(),
        }
    }

    /// The first `n` lines of the real NCP stream.
    pub fn real_stream(mut self, n: usize) -> Self {
        self.lines = super::fixture("ctip/raw_stream_anon.txt")
            .lines()
            .take(n)
            .map(str::to_owned)
            .collect();
        self
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
}

pub struct CtipSim {
    port: u16,
    pub stats: Arc<CtipSimStats>,
    task: tokio::task::JoinHandle<()>,
}

impl CtipSim {
    pub async fn start(options: CtipSimOptions) -> CtipSim {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stats = Arc::new(CtipSimStats::default());
        let s = stats.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let n = s.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket, options.clone(), s.clone(), n == 0));
            }
        });
        CtipSim { port, stats, task }
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
    let mut lines = BufReader::new(read).lines();
    let mut replay: Option<tokio::task::JoinHandle<()>> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim_end_matches('\r');
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
            stats
                .commands
                .lock()
                .expect("sim lock")
                .push(cmd.to_owned());
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
        if !o.interval.is_zero() {
            tokio::time::sleep(o.interval).await;
        }
    }
}
