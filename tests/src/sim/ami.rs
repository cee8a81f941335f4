//! A fake Asterisk Manager on a loopback port: the real banner, Login with a plain secret or
//! an MD5 challenge (refusing as Asterisk does, then closing), Ping, a list action
//! (CoreShowChannels) and Command with repeated Output lines.

use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};
use pbxgw::pbx::ami::codec::{Decoded, Decoder, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Default)]
pub struct AmiSimLog {
    /// Every action received, with its headers.
    pub actions: Vec<Message>,
    pub logins_ok: usize,
    pub logins_refused: usize,
}

/// How the fake Asterisk behaves beyond the basics.
#[derive(Debug, Clone, Default)]
pub struct AmiSimBehaviour {
    /// Messages (raw text, CRLF-terminated, ending with an empty line) sent after login.
    pub events_after_login: Vec<String>,
    /// Never answer Ping (a half-open link).
    pub ignore_ping: bool,
}

pub struct AmiSim {
    port: u16,
    pub log: Arc<Mutex<AmiSimLog>>,
    task: tokio::task::JoinHandle<()>,
}

const CHALLENGE: &str = "840415273";

impl AmiSim {
    pub async fn start(username: &str, secret: &str) -> AmiSim {
        AmiSim::start_with(username, secret, AmiSimBehaviour::default()).await
    }

    pub async fn start_with(username: &str, secret: &str, behaviour: AmiSimBehaviour) -> AmiSim {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(AmiSimLog::default()));
        let (user, secret, l) = (username.to_owned(), secret.to_owned(), log.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(
                    socket,
                    user.clone(),
                    secret.clone(),
                    l.clone(),
                    behaviour.clone(),
                ));
            }
        });
        AmiSim { port, log, task }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for AmiSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply(id: &str, lines: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in lines {
        s.push_str(&format!("{k}: {v}\r\n"));
        if *k == "Response" {
            s.push_str(&format!("ActionID: {id}\r\n"));
        }
    }
    s.push_str("\r\n");
    s
}

async fn serve(
    mut socket: tokio::net::TcpStream,
    user: String,
    secret: String,
    log: Arc<Mutex<AmiSimLog>>,
    behaviour: AmiSimBehaviour,
) {
    if socket
        .write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut decoder = Decoder::without_banner();
    let mut buf = [0u8; 4096];
    let mut logged_in = false;
    loop {
        let Ok(n) = socket.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        decoder.push(&buf[..n]);
        while let Some(Decoded::Message(m)) = decoder.next_decoded() {
            log.lock().expect("sim lock").actions.push(m.clone());
            let id = m.action_id().unwrap_or("").to_owned();
            let action = m.get("Action").unwrap_or("").to_ascii_lowercase();
            let out = match action.as_str() {
                "challenge" => reply(&id, &[("Response", "Success"), ("Challenge", CHALLENGE)]),
                "login" => {
                    let md5_key = hex(&Md5::digest(format!("{CHALLENGE}{secret}").as_bytes()));
                    let ok = m.get("Username") == Some(user.as_str())
                        && (m.get("Secret") == Some(secret.as_str()) || m.get("Key") == Some(md5_key.as_str()));
                    if ok {
                        logged_in = true;
                        log.lock().expect("sim lock").logins_ok += 1;
                        reply(&id, &[("Response", "Success"), ("Message", "Authentication accepted")])
                            + "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
                            + &behaviour.events_after_login.concat()
                    } else {
                        log.lock().expect("sim lock").logins_refused += 1;
                        let _ = socket
                            .write_all(reply(&id, &[("Response", "Error"), ("Message", "Authentication failed")]).as_bytes())
                            .await;
                        return; // Asterisk closes after a failed login.
                    }
                }
                _ if !logged_in => reply(&id, &[("Response", "Error"), ("Message", "Permission denied")]),
                "ping" if behaviour.ignore_ping => String::new(),
                "ping" => reply(&id, &[("Response", "Success"), ("Ping", "Pong"), ("Timestamp", "1795316989.000000")]),
                "coreshowchannels" => {
                    reply(&id, &[("Response", "Success"), ("EventList", "start"), ("Message", "Channels will follow")])
                        + &format!("Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: Local/201@ext-00000001;1\r\nLinkedid: 1795316989.2\r\n\r\n")
                        + &format!("Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: Local/201@ext-00000001;2\r\nLinkedid: 1795316989.2\r\n\r\n")
                        + &format!("Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 2\r\n\r\n")
                }
                "command" => reply(&id, &[("Response", "Success"), ("Message", "Command output follows"), ("Output", "Name/username  Host"), ("Output", "2 sip peers")]),
                _ => reply(&id, &[("Response", "Error"), ("Message", "Invalid/unknown command")]),
            };
            if socket.write_all(out.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
