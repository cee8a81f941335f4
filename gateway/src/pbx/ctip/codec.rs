//! CTIP wire format (Slican "Protokół CTIP" 15.01), pure: bytes in, typed messages out.
//!
//! Frame: `a` + text + CR LF, both directions; the LAN module also sends bare `t` + CR LF
//! test frames. Fields are separated by one space; free text uses `_` for spaces, except the
//! last field of SMSS/SMSG. Text is in the PBX code page (IBM852 for Polish); every byte
//! decodes (the table is complete), so no line is ever garbled into an error.

use std::fmt;

/// Longest line accepted (the longest real message, SMSG with 160 characters, is far below).
pub(crate) const MAX_LINE: usize = 4096;

/// One frame off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `a` + text: the text without the `a` and the line end, still in the PBX code page.
    Message(Vec<u8>),
    /// A bare `t`: the LAN module's test frame, proof the link is alive.
    Test,
    /// A line without the `a` discriminator (the spec says to ignore it).
    Garbage(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; its bytes were dropped up to the next line end.
    Oversized(usize),
}

/// Splits a byte stream into frames. Lines end with LF (CR LF on the wire; a lone LF is
/// accepted too). Feed bytes as they arrive; take frames until `None`.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf` (consumed lines are dropped in bulk, not one by
    /// one, so a large burst is split in linear time).
    pos: usize,
    /// Bytes of an oversized line dropped so far; > 0 while skipping to its end.
    skipping: usize,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let unread = &self.buf[self.pos..];
            let Some(end) = unread.iter().position(|&b| b == b'\n') else {
                if unread.len() > MAX_LINE {
                    self.skipping += unread.len();
                    self.buf.clear();
                    self.pos = 0;
                }
                return None;
            };
            let mut line = &unread[..end];
            self.pos += end + 1;
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if self.skipping > 0 || line.len() > MAX_LINE {
                let size = self.skipping + line.len();
                self.skipping = 0;
                return Some(Frame::Oversized(size));
            }
            match line {
                [] => continue,
                [b't'] => return Some(Frame::Test),
                [b'a', rest @ ..] => return Some(Frame::Message(rest.to_vec())),
                _ => return Some(Frame::Garbage(line.to_vec())),
            }
        }
    }
}

impl crate::pbx::WireDecoder for FrameDecoder {
    type Item = Frame;
    fn push(&mut self, bytes: &[u8]) {
        FrameDecoder::push(self, bytes)
    }
    fn next_item(&mut self) -> Option<Frame> {
        self.next_frame()
    }
}

/// The PBX's code page for text fields.
#[derive(Clone, Copy)]
pub struct CodePage(&'static [char; 128]);

impl CodePage {
    /// IBM852, what Polish Slican PBXs use.
    pub fn ibm852() -> CodePage {
        CodePage(&oem_cp::code_table::DECODING_TABLE_CP852)
    }

    /// A code page by number (852, 437, 850, ...), if it is a single-byte OEM code page with
    /// a complete table.
    pub(crate) fn by_number(cp: u16) -> Option<CodePage> {
        match oem_cp::code_table::DECODING_TABLE_CP_MAP.get(&cp)? {
            oem_cp::code_table_type::TableType::Complete(table) => Some(CodePage(table)),
            oem_cp::code_table_type::TableType::Incomplete(_) => None,
        }
    }

    pub fn decode(&self, bytes: &[u8]) -> String {
        oem_cp::decode_string_complete_table(bytes, self.0)
    }

    /// Encodes text for the PBX; characters the code page lacks become `?`.
    pub fn encode(&self, text: &str) -> Vec<u8> {
        text.chars()
            .map(|c| {
                if c.is_ascii() {
                    c as u8
                } else {
                    self.0
                        .iter()
                        .position(|&t| t == c)
                        .map_or(b'?', |i| 0x80 + i as u8)
                }
            })
            .collect()
    }
}

impl fmt::Debug for CodePage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodePage")
    }
}

/// The eight STAT flags (spec p.21); upper case = on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFlags {
    pub hook: Hook,
    pub forward: bool,
    pub dnd: bool,
    pub locked: bool,
    pub account: bool,
    pub parked: bool,
    pub call_waiting: bool,
    pub queued: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    OffHook,
    OnHook,
    OutOfOrder,
}

/// A REL cause (spec p.26). Other values are possible; they keep their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelCause(pub u16);

impl RelCause {
    pub(crate) const INVALID_NUMBER: RelCause = RelCause(15);
    pub(crate) const REJECTED: RelCause = RelCause(16);
    pub(crate) const BUSY: RelCause = RelCause(17);
    pub(crate) const OUT_OF_ORDER: RelCause = RelCause(18);

    pub fn meaning(self) -> &'static str {
        match self.0 {
            1 => "normal",
            2 => "phone locked",
            3 => "call time limit",
            4 => "charge limit",
            5 => "no permission",
            6 => "service accepted",
            7 => "service rejected",
            10 => "dialling timeout",
            15 => "invalid number",
            16 => "rejected by the callee",
            17 => "callee busy",
            18 => "callee out of order",
            25 => "CLIR not allowed",
            26 => "urgent call not allowed",
            27 => "private call not allowed",
            28 => "priority ring not allowed",
            31 => "service active",
            32 => "service inactive",
            33 => "service absent",
            35 => "callee did not answer",
            38 => "forwarded",
            39 => "picked up elsewhere",
            40 => "callee has do-not-disturb",
            46 => "outside call limit",
            47 => "wake-up done",
            _ => "other",
        }
    }
}

/// An NA refusal code (spec Annex 1, p.40).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NaCode(pub u16);

impl NaCode {
    pub fn meaning(self) -> &'static str {
        match self.0 {
            1 => "not logged in",
            2 => "on-hook",
            3 => "no call",
            4 => "busy or unavailable, retry in a few seconds",
            5 => "called by a group",
            6 => "cannot transfer to an outside line",
            7 => "no such number",
            8 => "no permission",
            9 => "service parameters unavailable",
            10 => "malicious-call identification impossible",
            11 => "wrong key (PIN)",
            12 => "no key set in the PBX",
            13 => "no account",
            14 => "not a system phone",
            15 => "not a subscriber",
            16 => "dialling impossible",
            17 => "subscriber off or faulty",
            18 => "phone locked",
            19 => "CTI is disabled for the extensions (CTI=0 in the PBX configuration)",
            20 => "too many wrong keys; the PBX blocks logins for a while",
            21 => "GSM module busy",
            22 => "SMS too long",
            23 => "GSM path faulty, retry after 30 s or more",
            24 => "use DIAL (analog or SIP phone)",
            101..=106 => "CTI server problem",
            107 => "someone else logged in to this GSM module",
            _ => "unknown refusal",
        }
    }
}

/// A CTIP message from the PBX, typed. Fields keep the PBX's own spelling (extensions with
/// their `_` padding, numbers with `/` for internal); helpers normalize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Stat {
        ext: String,
        flags: StatFlags,
    },
    Echo {
        ext: String,
        digits: String,
    },
    Ring {
        ext: String,
        caller: String,
        port: String,
        dialled: String,
        /// The held party (`_` or `-` on the wire = none).
        held: Option<String>,
        /// Phone-book name with `_` for spaces (`_` alone = none).
        comment: Option<String>,
    },
    Cw {
        ext: String,
        number: String,
        comment: Option<String>,
    },
    Conn {
        ext: String,
        number: String,
        port: String,
    },
    Rel {
        ext: String,
        cause: RelCause,
    },
    Drdy {
        ext: String,
    },
    Aoc {
        ext: String,
        amount: String,
    },
    Utag {
        ext: String,
        tag: String,
    },
    Recb {
        ext: String,
        rec_id: String,
    },
    Recc {
        ext: String,
        rec_id: String,
    },
    Rece {
        ext: String,
        rec_id: String,
        ip: String,
        path: String,
    },
    /// SMS centre accepted (order id) or rejected (error) a message from a GSM module.
    Smsa {
        module: String,
        accepted: bool,
        value: String,
    },
    /// Delivery report: delivered, or not with an error. The destination is sent from v12.01.
    Smsr {
        module: String,
        delivered: bool,
        index: String,
        order_id: String,
        error: Option<String>,
        dest: Option<String>,
    },
    /// An incoming SMS; must be acknowledged with `SOK module index`.
    Smsg {
        module: String,
        index: String,
        from: String,
        flag: String,
        parts: String,
        sent_at: String,
        text: String,
    },
    /// `OK` with whatever fields followed (WHO/LOGA/LOGI answers carry the PBX identity).
    Ok {
        fields: Vec<String>,
    },
    Error,
    Na {
        code: Option<NaCode>,
    },
    /// A message type the spec does not define (it says: ignore). Kept and counted.
    Unknown {
        kind: String,
    },
}

impl Message {
    /// The wire name, for logs and counters.
    pub fn kind(&self) -> &str {
        match self {
            Message::Stat { .. } => "STAT",
            Message::Echo { .. } => "ECHO",
            Message::Ring { .. } => "RING",
            Message::Cw { .. } => "CW",
            Message::Conn { .. } => "CONN",
            Message::Rel { .. } => "REL",
            Message::Drdy { .. } => "DRDY",
            Message::Aoc { .. } => "AOC",
            Message::Utag { .. } => "UTAG",
            Message::Recb { .. } => "RECB",
            Message::Recc { .. } => "RECC",
            Message::Rece { .. } => "RECE",
            Message::Smsa { .. } => "SMSA",
            Message::Smsr { .. } => "SMSR",
            Message::Smsg { .. } => "SMSG",
            Message::Ok { .. } => "OK",
            Message::Error => "ERROR",
            Message::Na { .. } => "NA",
            Message::Unknown { kind } => kind,
        }
    }
}

/// A line of a known type that does not have the fields the spec gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed CTIP {kind}: {reason}")]
pub struct ParseError {
    pub kind: String,
    pub reason: &'static str,
}

/// Parses one message's text (already decoded, without the `a` and the line end).
pub fn parse(text: &str) -> Result<Message, ParseError> {
    let (kind, rest) = text.split_once(' ').unwrap_or((text, ""));
    let err = |reason| ParseError {
        kind: kind.to_owned(),
        reason,
    };
    let mut f = rest.split(' ').filter(|s| !s.is_empty());
    let mut next = |what: &'static str| f.next().map(str::to_owned).ok_or_else(|| err(what));
    let optional = |s: String| (s != "_" && s != "-").then_some(s);
    let msg = match kind {
        "STAT" => {
            let (ext, flags) = first_field(rest).ok_or_else(|| err("missing extension"))?;
            let flags = parse_stat_flags(flags).ok_or_else(|| err("bad flags"))?;
            Message::Stat {
                ext: ext.to_owned(),
                flags,
            }
        }
        "ECHO" => Message::Echo {
            ext: next("missing extension")?,
            digits: next("missing digits")?,
        },
        "RING" => Message::Ring {
            ext: next("missing extension")?,
            caller: next("missing caller")?,
            port: next("missing port")?,
            dialled: next("missing dialled number")?,
            held: next("missing held party").ok().and_then(optional),
            comment: next("missing comment").ok().and_then(optional),
        },
        "CW" => Message::Cw {
            ext: next("missing extension")?,
            number: next("missing number")?,
            comment: next("missing comment").ok().and_then(optional),
        },
        "CONN" => Message::Conn {
            ext: next("missing extension")?,
            number: next("missing number")?,
            port: next("missing port").unwrap_or_default(),
        },
        "REL" => {
            let ext = next("missing extension")?;
            let cause = next("missing cause")?
                .parse()
                .map_err(|_| err("cause is not a number"))?;
            Message::Rel {
                ext,
                cause: RelCause(cause),
            }
        }
        "DRDY" => Message::Drdy {
            ext: next("missing extension")?,
        },
        "AOC" => Message::Aoc {
            ext: next("missing extension")?,
            amount: next("missing amount")?,
        },
        "UTAG" => {
            let (ext, tag) = first_field(rest).ok_or_else(|| err("missing extension"))?;
            Message::Utag {
                ext: ext.to_owned(),
                tag: tag.trim_start_matches(' ').to_owned(),
            }
        }
        "RECB" => Message::Recb {
            ext: next("missing extension")?,
            rec_id: next("missing recording id")?,
        },
        "RECC" => Message::Recc {
            ext: next("missing extension")?,
            rec_id: next("missing recording id")?,
        },
        "RECE" => Message::Rece {
            ext: next("missing extension")?,
            rec_id: next("missing recording id")?,
            ip: next("missing address")?,
            path: next("missing path")?,
        },
        "SMSA" => {
            let module = next("missing module")?;
            let accepted = match next("missing result")?.as_str() {
                "C" => true,
                "R" => false,
                _ => return Err(err("result is not C or R")),
            };
            Message::Smsa {
                module,
                accepted,
                value: next("missing order id or error")?,
            }
        }
        "SMSR" => {
            let module = next("missing module")?;
            let delivered = match next("missing status")?.as_str() {
                "D" => true,
                "E" => false,
                _ => return Err(err("status is not D or E")),
            };
            let index = next("missing index")?;
            let order_id = next("missing order id")?;
            let error = if delivered {
                None
            } else {
                Some(next("missing error")?)
            };
            Message::Smsr {
                module,
                delivered,
                index,
                order_id,
                error,
                dest: next("").ok(),
            }
        }
        "SMSG" => {
            // The text is the rest of the line and may hold spaces.
            let mut parts = rest.splitn(7, ' ');
            let mut field = |what| {
                parts
                    .next()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| err(what))
            };
            Message::Smsg {
                module: field("missing module")?,
                index: field("missing index")?,
                from: field("missing sender")?,
                flag: field("missing flag")?,
                parts: field("missing part numbers")?,
                sent_at: field("missing send time")?,
                text: parts.next().unwrap_or_default().to_owned(),
            }
        }
        "OK" => Message::Ok {
            fields: rest
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        },
        "ERROR" => Message::Error,
        "NA" => Message::Na {
            code: f.next().and_then(|c| c.parse().ok()).map(NaCode),
        },
        "" => return Err(err("empty message")),
        other => Message::Unknown {
            kind: other.to_owned(),
        },
    };
    Ok(msg)
}

/// The first space-separated field of `s` (leading spaces skipped) and what follows it.
/// Splits on the separator itself, never at a byte count, so any text is safe.
fn first_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    let (field, rest) = s.split_once(' ').unwrap_or((s, ""));
    (!field.is_empty()).then_some((field, rest))
}

fn parse_stat_flags(s: &str) -> Option<StatFlags> {
    let letters: Vec<char> = s
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .collect();
    let [hook, forward, dnd, locked, account, parked, cw, queued] = letters.as_slice() else {
        return None;
    };
    let hook = match hook {
        'H' => Hook::OffHook,
        'h' => Hook::OnHook,
        'o' | 'O' => Hook::OutOfOrder,
        _ => return None,
    };
    let on = |c: &char, letter: char| {
        if *c == letter.to_ascii_uppercase() {
            Some(true)
        } else if *c == letter {
            Some(false)
        } else {
            None
        }
    };
    Some(StatFlags {
        hook,
        forward: on(forward, 'f')?,
        dnd: on(dnd, 'd')?,
        locked: on(locked, 'l')?,
        account: on(account, 'a')?,
        parked: on(parked, 'p')?,
        call_waiting: on(cw, 'c')?,
        queued: on(queued, 'q')?,
    })
}

/// `105_` -> `105`: the extension without its padding.
pub(crate) fn normalize_ext(ext: &str) -> &str {
    ext.trim_end_matches('_')
}

/// A number field as the PBX presented it: `/101` internal, `_` unknown, digits external.
pub(crate) fn is_internal(number: &str) -> bool {
    number.starts_with('/')
}

/// Formats a command (without the `a` and line end) into wire bytes.
pub(crate) fn frame_command(command: &str, code_page: CodePage) -> Vec<u8> {
    let mut out = Vec::with_capacity(command.len() + 3);
    out.push(b'a');
    out.extend(code_page.encode(command));
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests;
