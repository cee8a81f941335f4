//! SMS PDUs (3GPP TS 23.040, alphabet TS 23.038), pure: SMS-SUBMIT encoding for sending,
//! SMS-DELIVER and SMS-STATUS-REPORT decoding for what the modem hands us.
//!
//! * Text goes in the GSM 7-bit default alphabet when every character is in it or its
//!   extension table (`€ [ ] { } \ ^ ~ |` and form feed take two septets); otherwise in UCS-2
//!   (Polish letters, emoji as surrogate pairs).
//! * Long texts are split into concatenated parts with an 8-bit-reference UDH: 153 septets
//!   or 67 UCS-2 units per part, never splitting an escape sequence or a surrogate pair.
//! * Numbers starting with `+` are international (type 0x91), others unknown/national (0x81).
//! * Decoding never panics: every length is checked against the bytes present.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("not a hex PDU")]
    NotHex,
    #[error("PDU ends early: {0}")]
    Truncated(&'static str),
    #[error("unsupported PDU type {0:#04x}")]
    UnsupportedType(u8),
    #[error("{0:?} is not a phone number")]
    BadNumber(String),
    #[error("the text needs {0} parts; at most 255 are possible")]
    TooLong(usize),
    #[error("empty text")]
    Empty,
}

/// The GSM 03.38 default alphabet, by septet value.
const GSM7: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (septet after ESC, character).
const GSM7_EXT: [(u8, char); 10] = [
    (0x0A, '\u{c}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

const ESC: u8 = 0x1B;

/// The septets of `c` in the GSM 7-bit alphabet (one, or ESC + one), if it has them.
fn gsm7_septets(c: char) -> Option<&'static [u8]> {
    static SINGLE: [[u8; 1]; 128] = {
        let mut t = [[0u8; 1]; 128];
        let mut i = 0;
        while i < 128 {
            t[i] = [i as u8];
            i += 1;
        }
        t
    };
    static EXT: [[u8; 2]; 10] = {
        let mut t = [[0u8; 2]; 10];
        let mut i = 0;
        while i < 10 {
            t[i] = [ESC, GSM7_EXT[i].0];
            i += 1;
        }
        t
    };
    if c == '\u{1b}' {
        return None;
    }
    if let Some(i) = GSM7.iter().position(|g| *g == c) {
        return Some(&SINGLE[i]);
    }
    GSM7_EXT
        .iter()
        .position(|(_, g)| *g == c)
        .map(|i| &EXT[i][..])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Gsm7,
    Ucs2,
}

/// The alphabet a text needs.
pub fn alphabet_of(text: &str) -> Alphabet {
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        Alphabet::Gsm7
    } else {
        Alphabet::Ucs2
    }
}

/// What to send, and how.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Ask the network for a delivery report per part.
    pub status_report: bool,
    /// How long the network keeps trying (rounded up to what the PDU can say).
    pub validity_minutes: u32,
    /// The concatenation reference shared by this message's parts.
    pub reference: u8,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        SubmitOptions {
            status_report: true,
            validity_minutes: 24 * 60,
            reference: 0,
        }
    }
}

/// One part, ready for `AT+CMGS=<tpdu_len>`: the hex (with an empty SMSC field, so the
/// modem's configured SMSC is used) and the TPDU's length in octets (without the SMSC byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitPdu {
    pub hex: String,
    pub tpdu_len: usize,
}

/// A text in units that may not be split: septet groups (GSM 7-bit) or UTF-16 groups.
fn units(text: &str, alphabet: Alphabet) -> Vec<Vec<u8>> {
    text.chars()
        .map(|c| match alphabet {
            Alphabet::Gsm7 => gsm7_septets(c).map(<[u8]>::to_vec).unwrap_or_default(),
            Alphabet::Ucs2 => {
                let mut buf = [0u16; 2];
                c.encode_utf16(&mut buf)
                    .iter()
                    .flat_map(|u| u.to_be_bytes())
                    .collect()
            }
        })
        .collect()
}

/// Splits units into parts of at most `limit` (septets or octets), never inside a unit.
fn split(units: &[Vec<u8>], limit: usize) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    for u in units {
        let last = parts.len() - 1;
        if parts[last].len() + u.len() > limit {
            parts.push(Vec::new());
        }
        let last = parts.len() - 1;
        parts[last].extend_from_slice(u);
    }
    parts
}

/// Encodes `text` to `to` as one or more SMS-SUBMIT PDUs.
pub fn encode_submit(
    to: &str,
    text: &str,
    opts: &SubmitOptions,
) -> Result<Vec<SubmitPdu>, PduError> {
    if text.is_empty() {
        return Err(PduError::Empty);
    }
    let address = encode_address(to)?;
    let alphabet = alphabet_of(text);
    let units = units(text, alphabet);
    // Per part: GSM 7-bit 160 septets (153 with the 7-septet UDH); UCS-2 140 octets (134).
    let (single, multi) = match alphabet {
        Alphabet::Gsm7 => (160, 153),
        Alphabet::Ucs2 => (140, 134),
    };
    let total: usize = units.iter().map(Vec::len).sum();
    let parts = if total <= single {
        split(&units, single)
    } else {
        split(&units, multi)
    };
    if parts.len() > 255 {
        return Err(PduError::TooLong(parts.len()));
    }
    let count = parts.len() as u8;
    Ok(parts
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let udh = (count > 1).then(|| [0x05, 0x00, 0x03, opts.reference, count, i as u8 + 1]);
            submit_part(&address, alphabet, body, udh.as_ref().map(|h| &h[..]), opts)
        })
        .collect())
}

fn submit_part(
    address: &[u8],
    alphabet: Alphabet,
    body: &[u8],
    udh: Option<&[u8]>,
    opts: &SubmitOptions,
) -> SubmitPdu {
    // TP-MTI submit, TP-VPF relative; TP-SRR, TP-UDHI as asked.
    let mut first = 0x01 | 0x10;
    if opts.status_report {
        first |= 0x20;
    }
    if udh.is_some() {
        first |= 0x40;
    }
    let mut tpdu = vec![first, 0x00];
    tpdu.extend_from_slice(address);
    tpdu.push(0x00); // TP-PID
    tpdu.push(match alphabet {
        Alphabet::Gsm7 => 0x00,
        Alphabet::Ucs2 => 0x08,
    });
    tpdu.push(validity_octet(opts.validity_minutes));
    let header = udh.unwrap_or(&[]);
    match alphabet {
        Alphabet::Gsm7 => {
            let header_septets = (header.len() * 8).div_ceil(7);
            tpdu.push((header_septets + body.len()) as u8);
            tpdu.extend_from_slice(header);
            tpdu.extend(pack_septets(body, header_septets * 7 - header.len() * 8));
        }
        Alphabet::Ucs2 => {
            tpdu.push((header.len() + body.len()) as u8);
            tpdu.extend_from_slice(header);
            tpdu.extend_from_slice(body);
        }
    }
    let mut hex = String::from("00");
    for b in &tpdu {
        let _ = write!(hex, "{b:02X}");
    }
    SubmitPdu {
        hex,
        tpdu_len: tpdu.len(),
    }
}

/// TP-VP, relative format (TS 23.040 9.2.3.12.1), rounded up.
fn validity_octet(minutes: u32) -> u8 {
    let m = minutes.max(5);
    if m <= 12 * 60 {
        (m.div_ceil(5) - 1) as u8
    } else if m <= 24 * 60 {
        (143 + (m - 12 * 60).div_ceil(30)) as u8
    } else if m <= 30 * 24 * 60 {
        (166 + m.div_ceil(24 * 60)).min(196) as u8
    } else {
        (192 + m.div_ceil(7 * 24 * 60)).min(255) as u8
    }
}

/// Packs septets LSB first, starting `fill` bits in (after a UDH).
fn pack_septets(septets: &[u8], fill: usize) -> Vec<u8> {
    let bits = fill + septets.len() * 7;
    let mut out = vec![0u8; bits.div_ceil(8)];
    for (i, s) in septets.iter().enumerate() {
        let pos = fill + i * 7;
        let v = u16::from(s & 0x7F) << (pos % 8);
        out[pos / 8] |= v as u8;
        if let Some(next) = out.get_mut(pos / 8 + 1) {
            *next |= (v >> 8) as u8;
        }
    }
    out
}

/// Unpacks `count` septets starting `fill` bits into `octets`; missing bits read as 0.
fn unpack_septets(octets: &[u8], fill: usize, count: usize) -> Vec<u8> {
    (0..count)
        .map(|i| {
            let pos = fill + i * 7;
            let lo = u16::from(*octets.get(pos / 8).unwrap_or(&0));
            let hi = u16::from(*octets.get(pos / 8 + 1).unwrap_or(&0));
            (((hi << 8 | lo) >> (pos % 8)) & 0x7F) as u8
        })
        .collect()
}

fn septets_to_text(septets: &[u8]) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for &s in septets {
        if escaped {
            escaped = false;
            match GSM7_EXT.iter().find(|(v, _)| *v == s) {
                Some((_, c)) => out.push(*c),
                // An unknown extension shows as the base character (TS 23.038 6.2.1.1).
                None => out.push(GSM7[usize::from(s & 0x7F)]),
            }
        } else if s == ESC {
            escaped = true;
        } else {
            out.push(GSM7[usize::from(s & 0x7F)]);
        }
    }
    out
}

/// TP-DA: digit count, type, swapped BCD.
fn encode_address(number: &str) -> Result<Vec<u8>, PduError> {
    let (kind, digits) = match number.strip_prefix('+') {
        Some(d) => (0x91, d),
        None => (0x81, number),
    };
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PduError::BadNumber(number.to_owned()));
    }
    let mut out = vec![digits.len() as u8, kind];
    let d = digits.as_bytes();
    for pair in d.chunks(2) {
        let lo = pair[0] - b'0';
        let hi = pair.get(1).map_or(0xF, |b| b - b'0');
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

/// A decimal from swapped BCD (`0x21` -> 12), tolerant of garbage nibbles.
fn swapped_bcd(b: u8) -> u8 {
    (b & 0x0F).min(9) * 10 + (b >> 4).min(9)
}

/// The network's time stamp (TP-SCTS / TP-DT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in quarters of an hour.
    pub tz_quarters: i8,
}

impl Timestamp {
    fn parse(b: &[u8]) -> Timestamp {
        let tz = b[6];
        let quarters = (tz & 0x07) * 10 + (tz >> 4).min(9);
        Timestamp {
            year: 2000 + u16::from(swapped_bcd(b[0])),
            month: swapped_bcd(b[1]),
            day: swapped_bcd(b[2]),
            hour: swapped_bcd(b[3]),
            minute: swapped_bcd(b[4]),
            second: swapped_bcd(b[5]),
            tz_quarters: if tz & 0x08 != 0 {
                -(quarters as i8)
            } else {
                quarters as i8
            },
        }
    }

    /// Unix milliseconds (the civil date is not validated; a nonsense date gives a
    /// nonsense but finite time).
    pub fn unix_ms(&self) -> i64 {
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month.clamp(1, 12)),
            i64::from(self.day),
        );
        // Days from civil (H. Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.tz_quarters) * 15 * 60;
        secs * 1000
    }
}

/// The concatenation header of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// An incoming text (one part of it, if concatenated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    pub smsc: Option<String>,
    pub from: String,
    pub timestamp: Timestamp,
    pub text: String,
    pub concat: Option<Concat>,
}

/// What the network says about a sent part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Delivered,
    /// Still trying (TP-ST 0x20..0x3F).
    Pending(u8),
    /// Given up (TP-ST 0x40 and above).
    Failed(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The TP-MR the modem reported when the part was sent (`+CMGS: <mr>`).
    pub reference: u8,
    pub recipient: String,
    pub status: DeliveryStatus,
    pub discharged: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Deliver(Deliver),
    StatusReport(StatusReport),
}

/// A cursor over PDU octets that fails instead of panicking.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self, what: &'static str) -> Result<u8, PduError> {
        let v = *self.b.get(self.pos).ok_or(PduError::Truncated(what))?;
        self.pos += 1;
        Ok(v)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PduError> {
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or(PduError::Truncated(what))?;
        self.pos += n;
        Ok(s)
    }

    fn rest(&self) -> &'a [u8] {
        self.b.get(self.pos..).unwrap_or(&[])
    }

    /// An address: length in digits (semi-octets), type, value.
    fn address(&mut self, what: &'static str) -> Result<String, PduError> {
        let digits = usize::from(self.u8(what)?);
        let kind = self.u8(what)?;
        let raw = self.take(digits.div_ceil(2), what)?;
        Ok(decode_address(kind, raw, digits))
    }
}

fn decode_address(kind: u8, raw: &[u8], digits: usize) -> String {
    if kind & 0x70 == 0x50 {
        // Alphanumeric (a sender name), GSM 7-bit packed.
        return septets_to_text(&unpack_septets(raw, 0, digits * 4 / 7));
    }
    let mut s = String::new();
    if kind & 0x70 == 0x10 {
        s.push('+');
    }
    for b in raw {
        for nibble in [b & 0x0F, b >> 4] {
            if s.trim_start_matches('+').len() < digits {
                s.push(match nibble {
                    0..=9 => char::from(b'0' + nibble),
                    0xA => '*',
                    0xB => '#',
                    _ => continue,
                });
            }
        }
    }
    s
}

fn from_hex(hex: &str) -> Result<Vec<u8>, PduError> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        return Err(PduError::NotHex);
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or(PduError::NotHex)
        })
        .collect()
}

/// Decodes a PDU as the modem shows it (`+CMGR`, `+CMT`, `+CDS`): SMSC field first.
pub fn decode(hex: &str) -> Result<Incoming, PduError> {
    let bytes = from_hex(hex)?;
    let mut r = Reader { b: &bytes, pos: 0 };
    let smsc_len = usize::from(r.u8("SMSC length")?);
    let smsc = if smsc_len > 1 {
        let kind = r.u8("SMSC type")?;
        let raw = r.take(smsc_len - 1, "SMSC")?;
        Some(decode_address(kind, raw, (smsc_len - 1) * 2))
    } else {
        r.take(smsc_len, "SMSC")?;
        None
    };
    let first = r.u8("first octet")?;
    match first & 0x03 {
        0x00 => decode_deliver(&mut r, first, smsc).map(Incoming::Deliver),
        0x02 => decode_status_report(&mut r).map(Incoming::StatusReport),
        _ => Err(PduError::UnsupportedType(first)),
    }
}

fn decode_deliver(
    r: &mut Reader<'_>,
    first: u8,
    smsc: Option<String>,
) -> Result<Deliver, PduError> {
    let from = r.address("originator")?;
    let _pid = r.u8("TP-PID")?;
    let dcs = r.u8("TP-DCS")?;
    let scts = r.take(7, "time stamp")?;
    let (text, concat) = user_data(r, first, dcs)?;
    Ok(Deliver {
        smsc,
        from,
        timestamp: Timestamp::parse(scts),
        text,
        concat,
    })
}

/// An SMS-SUBMIT as we send it (SMSC field first): to whom, what, which part. For tests
/// and diagnostics.
pub fn decode_submit(hex: &str) -> Result<(String, String, Option<Concat>), PduError> {
    let bytes = from_hex(hex)?;
    let mut r = Reader { b: &bytes, pos: 0 };
    let smsc_len = usize::from(r.u8("SMSC length")?);
    r.take(smsc_len, "SMSC")?;
    let first = r.u8("first octet")?;
    if first & 0x03 != 0x01 {
        return Err(PduError::UnsupportedType(first));
    }
    let _mr = r.u8("TP-MR")?;
    let to = r.address("destination")?;
    let _pid = r.u8("TP-PID")?;
    let dcs = r.u8("TP-DCS")?;
    match first & 0x18 {
        0x10 => {
            r.u8("TP-VP")?;
        }
        0x08 | 0x18 => {
            r.take(7, "TP-VP")?;
        }
        _ => {}
    }
    let (text, concat) = user_data(&mut r, first, dcs)?;
    Ok((to, text, concat))
}

/// TP-UDL and TP-UD: the text and the concatenation header, if any.
fn user_data(r: &mut Reader<'_>, first: u8, dcs: u8) -> Result<(String, Option<Concat>), PduError> {
    let udl = usize::from(r.u8("TP-UDL")?);
    let ud = r.rest();
    let (header, header_len) = if first & 0x40 != 0 {
        let hl = usize::from(*ud.first().ok_or(PduError::Truncated("UDH"))?);
        let h = ud.get(1..1 + hl).ok_or(PduError::Truncated("UDH"))?;
        (Some(h), hl + 1)
    } else {
        (None, 0)
    };
    let text = match dcs_alphabet(dcs) {
        Some(Alphabet::Gsm7) => {
            let header_septets = (header_len * 8).div_ceil(7);
            let septets =
                unpack_septets(ud, header_septets * 7, udl.saturating_sub(header_septets));
            septets_to_text(&septets)
        }
        Some(Alphabet::Ucs2) => {
            let body = ud.get(header_len..udl.min(ud.len())).unwrap_or(&[]);
            let units: Vec<u16> = body
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // 8-bit data: shown as hex, it is not text.
        None => ud
            .get(header_len..udl.min(ud.len()))
            .unwrap_or(&[])
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect(),
    };
    Ok((text, header.and_then(concat_of)))
}

/// The alphabet of a TP-DCS (general coding group and message class groups); `None` for
/// 8-bit data.
fn dcs_alphabet(dcs: u8) -> Option<Alphabet> {
    let bits = if dcs & 0xF0 == 0xF0 {
        (dcs & 0x04) >> 1
    } else {
        (dcs & 0x0C) >> 2
    };
    match bits {
        0 => Some(Alphabet::Gsm7),
        2 => Some(Alphabet::Ucs2),
        _ => None,
    }
}

/// The concatenation element of a UDH (IEI 0x00, 8-bit reference, or 0x08, 16-bit).
fn concat_of(header: &[u8]) -> Option<Concat> {
    let mut i = 0;
    while i + 1 < header.len() {
        let (iei, len) = (header[i], usize::from(header[i + 1]));
        let data = header.get(i + 2..i + 2 + len)?;
        match (iei, data) {
            (0x00, [r, t, s]) => {
                return Some(Concat {
                    reference: u16::from(*r),
                    total: *t,
                    seq: *s,
                })
            }
            (0x08, [r1, r2, t, s]) => {
                return Some(Concat {
                    reference: u16::from_be_bytes([*r1, *r2]),
                    total: *t,
                    seq: *s,
                })
            }
            _ => {}
        }
        i += 2 + len;
    }
    None
}

fn decode_status_report(r: &mut Reader<'_>) -> Result<StatusReport, PduError> {
    let reference = r.u8("TP-MR")?;
    let recipient = r.address("recipient")?;
    let _scts = r.take(7, "time stamp")?;
    let discharged = Timestamp::parse(r.take(7, "discharge time")?);
    let st = r.u8("TP-ST")?;
    let status = match st {
        0x00..=0x1F => DeliveryStatus::Delivered,
        0x20..=0x3F => DeliveryStatus::Pending(st),
        _ => DeliveryStatus::Failed(st),
    };
    Ok(StatusReport {
        reference,
        recipient,
        status,
        discharged,
    })
}

#[cfg(test)]
mod tests;
