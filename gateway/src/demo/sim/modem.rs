//! A GSM modem on a real pseudo-terminal: the gateway opens the pty's slave path as its
//! serial port and talks AT to this simulator on the master side. It behaves like the
//! modems SMS daemons are built around: a SIM that wants its PIN (and locks after three
//! wrong ones), slow registration, a lost SMS centre, `+CMS ERROR`s, a hang after the PDU,
//! `^BOOT` noise between lines, delivery reports, and incoming texts stored with `+CMTI`.

use super::Locked;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ModemSimOptions {
    /// The SIM asks for this PIN.
    pub pin: Option<String>,
    pub puk_locked: bool,
    pub no_sim: bool,
    /// Registered this long after the SIM is unlocked.
    pub register_after: Duration,
    pub registration_denied: bool,
    /// The SMS centre the modem knows; `None` as if it lost it.
    pub smsc: Option<String>,
    /// (send number, 1-based; `+CMS ERROR` code) for the sends that fail.
    pub fail_sends: Vec<(usize, u16)>,
    /// Sends (1-based) after whose PDU the modem says nothing.
    pub hang_sends: Vec<usize>,
    /// `^BOOT:` lines every 50 ms, between everything else.
    pub boot_noise: bool,
    /// `+CDS:` reports for parts that asked for one, this long after `+CMGS`.
    pub report_after: Option<Duration>,
    /// How long the network takes to take one part.
    pub send_delay: Duration,
}

impl Default for ModemSimOptions {
    fn default() -> Self {
        ModemSimOptions {
            pin: None,
            puk_locked: false,
            no_sim: false,
            register_after: Duration::ZERO,
            registration_denied: false,
            smsc: Some("+48501200777".into()),
            fail_sends: vec![],
            hang_sends: vec![],
            boot_noise: false,
            report_after: Some(Duration::from_millis(100)),
            send_delay: Duration::ZERO,
        }
    }
}

#[derive(Debug, Default)]
pub struct ModemSimLog {
    /// Every SMS-SUBMIT PDU the modem took, with when its Ctrl-Z arrived.
    pub pdus: Vec<(Instant, String)>,
    pub pin_attempts: usize,
    pub commands: Vec<String>,
}

struct State {
    opts: ModemSimOptions,
    pin_ok: bool,
    puk: bool,
    unlocked_at: Option<Instant>,
    smsc: Option<String>,
    sends: usize,
    next_mr: u8,
    stored: BTreeMap<u32, String>,
    next_index: u32,
}

pub struct ModemSim {
    pub path: PathBuf,
    pub log: Arc<Mutex<ModemSimLog>>,
    state: Arc<Mutex<State>>,
    out: Arc<Mutex<File>>,
    stop: Arc<AtomicBool>,
    /// A hung modem: reads everything, answers nothing.
    mute: Arc<AtomicBool>,
    _slave: OwnedFd,
}

impl ModemSim {
    /// Every text the modem took, as (destination, text), in order; a PDU that does not
    /// decode is left out.
    pub fn submitted(&self) -> Vec<(String, String)> {
        let pdus: Vec<String> = self.log.locked().pdus.iter().map(|p| p.1.clone()).collect();
        pdus.iter()
            .filter_map(|hex| board::modem::pdu::decode_submit(hex).ok())
            .map(|(to, text, _)| (to, text))
            .collect()
    }

    /// Opens a pseudo-terminal; the gateway opens [`ModemSim::path`] as its serial port.
    pub fn start(opts: ModemSimOptions) -> std::io::Result<ModemSim> {
        use nix::sys::termios;
        let pty = nix::pty::openpty(None, None)?;
        // Raw from the start: no echo, no line editing, whatever opens the slave.
        if let Ok(mut t) = termios::tcgetattr(&pty.slave) {
            termios::cfmakeraw(&mut t);
            let _ = termios::tcsetattr(&pty.slave, termios::SetArg::TCSANOW, &t);
        }
        let path = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
        ))?;
        let master = File::from(pty.master);
        let out = Arc::new(Mutex::new(master.try_clone()?));
        let unlocked = opts.pin.is_none() && !opts.no_sim && !opts.puk_locked;
        let state = Arc::new(Mutex::new(State {
            pin_ok: opts.pin.is_none(),
            puk: opts.puk_locked,
            unlocked_at: unlocked.then(Instant::now),
            smsc: opts.smsc.clone(),
            sends: 0,
            next_mr: 1,
            stored: BTreeMap::new(),
            next_index: 1,
            opts,
        }));
        let log = Arc::new(Mutex::new(ModemSimLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let sim = ModemSim {
            path,
            log,
            state,
            out,
            stop,
            mute: Arc::new(AtomicBool::new(false)),
            _slave: pty.slave,
        };
        sim.spawn_reader(master);
        if sim.state.locked().opts.boot_noise {
            let (out, stop) = (sim.out.clone(), sim.stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = out.locked().write_all(b"\r\n^BOOT:26156451,0,0,0,72\r\n");
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        Ok(sim)
    }

    /// An incoming text: stored in the SIM and announced with `+CMTI`.
    pub fn receive(&self, deliver_pdu_hex: &str) {
        let index = {
            let mut st = self.state.locked();
            let i = st.next_index;
            st.next_index += 1;
            st.stored.insert(i, deliver_pdu_hex.to_owned());
            i
        };
        write(&self.out, &format!("\r\n+CMTI: \"SM\",{index}\r\n"));
    }

    /// Hangs (or revives) the modem: while muted it answers nothing.
    pub fn set_mute(&self, mute: bool) {
        self.mute.store(mute, Ordering::SeqCst);
    }

    /// The mute switch, for a thread that plays the modem's power supply.
    pub fn mute_handle(&self) -> Arc<AtomicBool> {
        self.mute.clone()
    }

    /// Texts still stored in the SIM.
    pub fn stored(&self) -> usize {
        self.state.locked().stored.len()
    }

    fn spawn_reader(&self, mut master: File) {
        let (state, log, out, stop, mute) = (
            self.state.clone(),
            self.log.clone(),
            self.out.clone(),
            self.stop.clone(),
            self.mute.clone(),
        );
        std::thread::spawn(move || {
            let mut input: VecDeque<u8> = VecDeque::new();
            let mut pdu_len: Option<usize> = None;
            let mut buf = [0u8; 1024];
            while !stop.load(Ordering::Relaxed) {
                let n = match master.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if mute.load(Ordering::SeqCst) {
                    input.clear();
                    pdu_len = None;
                    continue;
                }
                input.extend(&buf[..n]);
                loop {
                    if pdu_len.is_some() {
                        let Some(end) = input.iter().position(|b| *b == 0x1a || *b == 0x1b) else {
                            break;
                        };
                        let bytes: Vec<u8> = input.drain(..=end).collect();
                        pdu_len = None;
                        if bytes[end] == 0x1b {
                            continue; // cancelled
                        }
                        let hex = String::from_utf8_lossy(&bytes[..end]).trim().to_owned();
                        submitted(&state, &log, &out, hex);
                        continue;
                    }
                    let Some(end) = input.iter().position(|b| *b == b'\r') else {
                        // A stray ESC outside text entry: drop it.
                        input.retain(|b| *b != 0x1b);
                        break;
                    };
                    let line: Vec<u8> = input.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line)
                        .trim_matches(|c: char| c.is_whitespace() || c == '\u{1b}')
                        .to_owned();
                    if line.is_empty() {
                        continue;
                    }
                    log.locked().commands.push(line.clone());
                    let (answer, prompt) = command(&state, &log, &line);
                    if prompt.is_some() {
                        pdu_len = prompt;
                    }
                    write(&out, &answer);
                }
            }
        });
    }
}

impl Drop for ModemSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn write(out: &Mutex<File>, text: &str) {
    let _ = out.locked().write_all(text.as_bytes());
}

const OK: &str = "\r\nOK\r\n";

/// The answer to one command line, and whether it opened text entry (`AT+CMGS`).
fn command(state: &Mutex<State>, log: &Mutex<ModemSimLog>, line: &str) -> (String, Option<usize>) {
    let mut st = state.locked();
    let registered = st
        .unlocked_at
        .is_some_and(|t| t.elapsed() >= st.opts.register_after)
        && !st.opts.registration_denied;
    let upper = line.to_ascii_uppercase();
    let answer = match upper.as_str() {
        "AT" | "ATE0" | "ATE1" | "AT+CMEE=1" | "AT+CMGF=0" | "AT+CFUN=0" | "AT+CFUN=1" => OK.into(),
        "AT+CGMM" => "\r\nSIM7600E-H\r\n\r\nOK\r\n".into(),
        "AT+CGSN" => "\r\n861234567890123\r\n\r\nOK\r\n".into(),
        "AT+CPIN?" if st.opts.no_sim => "\r\n+CME ERROR: 10\r\n".into(),
        "AT+CPIN?" if st.puk => "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n".into(),
        "AT+CPIN?" if !st.pin_ok => "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n".into(),
        "AT+CPIN?" => "\r\n+CPIN: READY\r\n\r\nOK\r\n".into(),
        "AT+CREG?" if st.opts.registration_denied => "\r\n+CREG: 0,3\r\n\r\nOK\r\n".into(),
        "AT+CREG?" if registered => "\r\n+CREG: 0,1\r\n\r\nOK\r\n".into(),
        "AT+CREG?" => "\r\n+CREG: 0,2\r\n\r\nOK\r\n".into(),
        "AT+CEREG?" => "\r\nERROR\r\n".into(), // a 2G/3G modem
        "AT+CSQ" => "\r\n+CSQ: 20,99\r\n\r\nOK\r\n".into(),
        "AT+COPS?" => "\r\n+COPS: 0,0,\"Orange PL\",2\r\n\r\nOK\r\n".into(),
        "AT+CSCA?" => match &st.smsc {
            Some(s) => format!("\r\n+CSCA: \"{s}\",145\r\n\r\nOK\r\n"),
            None => "\r\n+CSCA: \"\",129\r\n\r\nOK\r\n".into(),
        },
        _ if upper.starts_with("AT+CSCA=") => {
            st.smsc = line.split('"').nth(1).map(str::to_owned);
            OK.into()
        }
        _ if upper.starts_with("AT+CNMI=") => OK.into(),
        _ if upper.starts_with("AT+CPIN=") => {
            log.locked().pin_attempts += 1;
            let given = line.split('"').nth(1).unwrap_or_default();
            if st.puk {
                "\r\n+CME ERROR: 12\r\n".into()
            } else if st.opts.pin.as_deref() == Some(given) {
                st.pin_ok = true;
                st.unlocked_at = Some(Instant::now());
                OK.into()
            } else {
                if log.locked().pin_attempts >= 3 {
                    st.puk = true;
                }
                "\r\n+CME ERROR: 16\r\n".into()
            }
        }
        _ if upper.starts_with("AT+CMGS=") => {
            if !registered {
                "\r\n+CMS ERROR: 331\r\n".into()
            } else {
                let len = line[8..].trim().parse().unwrap_or(0);
                return ("\r\n> ".into(), Some(len));
            }
        }
        _ if upper.starts_with("AT+CMGR=") => {
            let index: u32 = line[8..].trim().parse().unwrap_or(0);
            match st.stored.get(&index) {
                Some(pdu) => format!("\r\n+CMGR: 0,,{}\r\n{pdu}\r\n\r\nOK\r\n", pdu.len() / 2 - 1),
                None => "\r\n+CMS ERROR: 321\r\n".into(),
            }
        }
        _ if upper.starts_with("AT+CMGD=") => {
            let index: u32 = line[8..].trim().parse().unwrap_or(0);
            st.stored.remove(&index);
            OK.into()
        }
        _ => "\r\nERROR\r\n".into(),
    };
    (answer, None)
}

/// A PDU arrived after the prompt: the network's answer, and later its delivery report.
fn submitted(
    state: &Arc<Mutex<State>>,
    log: &Arc<Mutex<ModemSimLog>>,
    out: &Arc<Mutex<File>>,
    hex: String,
) {
    log.locked().pdus.push((Instant::now(), hex.clone()));
    let (answer, report, delay) = {
        let mut st = state.locked();
        st.sends += 1;
        let n = st.sends;
        if st.opts.hang_sends.contains(&n) {
            return;
        }
        if let Some(&(_, code)) = st.opts.fail_sends.iter().find(|(at, _)| *at == n) {
            (format!("\r\n+CMS ERROR: {code}\r\n"), None, Duration::ZERO)
        } else {
            let mr = st.next_mr;
            st.next_mr = st.next_mr.wrapping_add(1);
            let report = st
                .opts
                .report_after
                .filter(|_| wants_report(&hex))
                .and_then(|after| status_report(&hex, mr).map(|r| (after, r)));
            (
                format!("\r\n+CMGS: {mr}\r\n\r\nOK\r\n"),
                report,
                st.opts.send_delay,
            )
        }
    };
    let out = out.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        write(&out, &answer);
        if let Some((after, pdu)) = report {
            std::thread::sleep(after);
            write(
                &out,
                &format!("\r\n+CDS: {}\r\n{pdu}\r\n", pdu.len() / 2 - 1),
            );
        }
    });
}

fn octets(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// TP-SRR in a SUBMIT (after the empty SMSC field).
fn wants_report(hex: &str) -> bool {
    octets(hex).get(1).is_some_and(|f| f & 0x20 != 0)
}

/// A delivered SMS-STATUS-REPORT for the part with reference `mr`.
fn status_report(submit_hex: &str, mr: u8) -> Option<String> {
    let b = octets(submit_hex);
    let da_digits = usize::from(*b.get(3)?);
    let da = b.get(3..5 + da_digits.div_ceil(2))?;
    let mut r = vec![0x00, 0x06, mr];
    r.extend_from_slice(da);
    r.extend_from_slice(&[0x62, 0x11, 0x22, 0x21, 0x43, 0x00, 0x80]);
    r.extend_from_slice(&[0x62, 0x11, 0x22, 0x21, 0x43, 0x10, 0x80]);
    r.push(0x00);
    Some(r.iter().map(|x| format!("{x:02X}")).collect())
}

/// An SMS-DELIVER PDU in UCS-2 from `from` (international, `+...`): what a phone's reply
/// looks like to the modem.
pub fn deliver_pdu(from: &str, text: &str) -> String {
    let digits = from.trim_start_matches('+');
    let mut b = vec![0x00, 0x04, digits.len() as u8, 0x91];
    let d = digits.as_bytes();
    for pair in d.chunks(2) {
        let lo = pair[0] - b'0';
        let hi = pair.get(1).map_or(0xF, |c| c - b'0');
        b.push(hi << 4 | lo);
    }
    b.extend_from_slice(&[0x00, 0x08, 0x62, 0x11, 0x22, 0x21, 0x43, 0x00, 0x80]);
    let ucs: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    b.push(ucs.len() as u8);
    b.extend_from_slice(&ucs);
    b.iter().map(|x| format!("{x:02X}")).collect()
}
