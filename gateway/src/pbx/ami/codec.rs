//! AMI wire format, pure and incremental: bytes in (split anywhere, as TCP delivers them),
//! messages out. A message is `Key: Value` lines ending with an empty line; the connection
//! starts with a one-line banner (`Asterisk Call Manager/11.0.0`).
//!
//! Tolerated, as real Asterisk sends it: missing `Privilege`, empty values, `<unknown>`,
//! repeated keys (the `Command` action's `Output:` lines), lines without a colon, bare LF line
//! ends, invalid UTF-8 (decoded lossily). A message larger than [`MAX_MESSAGE`] is dropped
//! and reported, and the decoder resynchronizes at the next empty line.

use std::fmt::Write as _;

/// Far above the largest real message (2.3 KB in the capture).
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;
/// Longest banner line (`Asterisk Call Manager/11.0.0` is 28 bytes). A peer that sends more
/// without a line end is no Asterisk: its bytes are dropped as one oversized item.
pub(crate) const MAX_BANNER: usize = 256;

/// One AMI message: its headers in order, repeated keys kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub headers: Vec<(String, String)>,
}

impl Message {
    /// The first value of `key` (keys compare case-insensitively, as Asterisk does).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    /// The `Response:` of an action's answer. An event is never a response, even when it
    /// carries that header (`OriginateResponse` does).
    pub fn response(&self) -> Option<&str> {
        match self.event() {
            Some(_) => None,
            None => self.get("Response"),
        }
    }

    pub(crate) fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// The message as it was on the wire (CRLF line ends), for the event log.
    pub fn to_raw(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.headers {
            if k.is_empty() {
                let _ = write!(s, "{v}\r\n");
            } else {
                let _ = write!(s, "{k}: {v}\r\n");
            }
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The first line of a connection, e.g. `Asterisk Call Manager/11.0.0`.
    Banner(String),
    Message(Message),
    /// A message over [`MAX_MESSAGE`] bytes was dropped.
    Oversized(usize),
}

#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
    banner_done: bool,
    /// Bytes of an oversized message dropped so far.
    skipping: usize,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// A decoder for a stream that has no banner (e.g. replaying messages only).
    pub fn without_banner() -> Decoder {
        Decoder {
            banner_done: true,
            ..Decoder::default()
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes pushed but not yet part of a decoded message (0 at a message boundary).
    #[cfg(feature = "demo")]
    pub(crate) fn pending_bytes(&self) -> usize {
        self.buf.len() - self.pos + self.skipping
    }

    pub fn next_decoded(&mut self) -> Option<Decoded> {
        if !self.banner_done {
            let unread = &self.buf[self.pos..];
            let Some(end) = unread.iter().position(|&b| b == b'\n') else {
                if unread.len() > MAX_BANNER {
                    let size = unread.len();
                    self.banner_done = true;
                    self.pos = self.buf.len();
                    return Some(Decoded::Oversized(size));
                }
                return None;
            };
            self.banner_done = true;
            let line = trim_cr(&unread[..end]);
            let banner = String::from_utf8_lossy(line).into_owned();
            self.pos += end + 1;
            return Some(Decoded::Banner(banner));
        }
        loop {
            let unread = &self.buf[self.pos..];
            let Some((len, end)) = message_end(unread) else {
                if unread.len() > MAX_MESSAGE {
                    // Keep the tail: it may hold the start of the terminator.
                    let keep = 3.min(unread.len());
                    self.skipping += unread.len() - keep;
                    self.pos = self.buf.len() - keep;
                }
                return None;
            };
            let body = &unread[..len];
            self.pos += end;
            if self.skipping > 0 || body.len() > MAX_MESSAGE {
                let size = self.skipping + body.len();
                self.skipping = 0;
                return Some(Decoded::Oversized(size));
            }
            let message = parse_headers(body);
            if message.headers.is_empty() {
                continue; // stray empty lines between messages
            }
            return Some(Decoded::Message(message));
        }
    }
}

impl crate::pbx::WireDecoder for Decoder {
    type Item = Decoded;
    fn push(&mut self, bytes: &[u8]) {
        Decoder::push(self, bytes)
    }
    fn next_item(&mut self) -> Option<Decoded> {
        self.next_decoded()
    }
}

/// Where the first message in `b` ends: (length of its body, bytes to consume).
fn message_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(nl) = b[i..].iter().position(|&c| c == b'\n') {
        let at = i + nl;
        // An empty line: "\n\n" or "\n\r\n", or a message starting with a line end.
        let next = &b[at + 1..];
        if next.first() == Some(&b'\n') {
            return Some((at, at + 2));
        }
        if next.starts_with(b"\r\n") {
            return Some((at, at + 3));
        }
        if at == 0 || (at == 1 && b[0] == b'\r') {
            return Some((0, at + 1));
        }
        i = at + 1;
    }
    None
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_headers(body: &[u8]) -> Message {
    let text = String::from_utf8_lossy(body);
    let headers = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|line| match line.split_once(':') {
            Some((k, v)) if !k.is_empty() && !k.contains(' ') => {
                (k.to_owned(), v.strip_prefix(' ').unwrap_or(v).to_owned())
            }
            _ => (String::new(), line.to_owned()),
        })
        .collect();
    Message { headers }
}

/// An action header value that would break the framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AMI header {key:?} contains a line break or is empty")]
pub struct BadHeader {
    pub key: String,
}

/// Encodes an action: `Action`, `ActionID`, then the headers, then the empty line.
pub(crate) fn encode_action(
    action: &str,
    action_id: &str,
    headers: &[(&str, &str)],
) -> Result<String, BadHeader> {
    let mut s = String::new();
    for (k, v) in [("Action", action), ("ActionID", action_id)]
        .iter()
        .chain(headers)
    {
        if k.is_empty() || k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(BadHeader {
                key: (*k).to_owned(),
            });
        }
        let _ = write!(s, "{k}: {v}\r\n");
    }
    s.push_str("\r\n");
    Ok(s)
}

#[cfg(test)]
mod tests;
