//! A capture replayed again looks like new calls: every epoch-second id (`1795316989.12`),
//! every date-time (`2026-11-22T03:09:49`, `2026-11-22 03:09:49`) moves by the same number
//! of seconds, and every UUID gets a round number mixed into its last digits. Each rewrite
//! keeps the text's length, so byte offsets into a capture (AMI's TCP chunks) stay valid, and
//! `undo` maps an id the gateway sends back (an ARI REST path) to the captured one.

use time::macros::format_description;
use time::PrimitiveDateTime;

/// One replay round's rewrite.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rebase {
    /// Seconds added to every epoch id and date-time.
    pub shift_s: i64,
    /// Mixed into every UUID (0 leaves them as captured).
    pub round: u32,
}

/// The epoch seconds a capture's ids may carry: 2020..2286, ten digits.
const EPOCH_RANGE: std::ops::Range<i64> = 1_577_836_800..9_999_999_999;
/// Spreads rounds over a UUID's first group.
const ROUND_STEP: u32 = 0x9e37_79b1;

impl Rebase {
    /// The rewrite that makes a capture starting at `captured_s` start at `now_s`, for
    /// `round`; never earlier than `after` (so rounds replayed faster than real time still get
    /// ids of their own).
    pub fn starting_now(captured_s: i64, now_s: i64, round: u32, after: Option<Rebase>) -> Rebase {
        let shift_s = now_s - captured_s;
        let shift_s = match after {
            Some(prev) => shift_s.max(prev.shift_s + 1),
            None => shift_s,
        };
        Rebase { shift_s, round }
    }

    /// The capture's text as this round sends it.
    pub fn apply(&self, text: &[u8]) -> Vec<u8> {
        self.rewrite(text, self.shift_s, self.round.wrapping_mul(ROUND_STEP))
    }

    /// Text the gateway sends back (ids from this round) as the capture had it.
    pub fn undo(&self, text: &str) -> String {
        let bytes = self.rewrite(
            text.as_bytes(),
            -self.shift_s,
            0u32.wrapping_sub(self.round.wrapping_mul(ROUND_STEP)),
        );
        String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned())
    }

    pub fn apply_str(&self, text: &str) -> String {
        String::from_utf8(self.apply(text.as_bytes())).unwrap_or_else(|_| text.to_owned())
    }

    fn rewrite(&self, text: &[u8], shift_s: i64, uuid_add: u32) -> Vec<u8> {
        let mut out = text.to_vec();
        let mut i = 0;
        while i < out.len() {
            let boundary = i == 0 || !out[i - 1].is_ascii_alphanumeric();
            let done = boundary
                && (shift_uuid(&mut out[i..], uuid_add)
                    || shift_datetime(&mut out[i..], shift_s)
                    || shift_epoch_id(&mut out[i..], shift_s));
            i += if done { 1 + run_len(&out[i..]) } else { 1 };
        }
        out
    }
}

/// The first epoch-second id in a capture (where its clock starts).
pub fn first_epoch(text: &[u8]) -> Option<i64> {
    (0..text.len()).find_map(|i| {
        let boundary = i == 0 || !text[i - 1].is_ascii_alphanumeric();
        let s = &text[i..];
        let shaped = boundary
            && digits(s) == 10
            && s.get(10) == Some(&b'.')
            && s.get(11).is_some_and(u8::is_ascii_digit);
        let value = std::str::from_utf8(&s[..10.min(s.len())])
            .ok()?
            .parse()
            .ok()?;
        (shaped && EPOCH_RANGE.contains(&value)).then_some(value)
    })
}

/// Length of the alphanumeric run at the start (what a rewrite just covered, roughly).
fn run_len(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_alphanumeric()).count()
}

fn digits(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// `dddddddddd.d…`: an Asterisk unique id or event timestamp.
fn shift_epoch_id(s: &mut [u8], shift_s: i64) -> bool {
    if shift_s == 0 || digits(s) != 10 || s.get(10) != Some(&b'.') {
        return false;
    }
    if !s.get(11).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let Some(value) = std::str::from_utf8(&s[..10])
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return false;
    };
    let shifted = value + shift_s;
    if !EPOCH_RANGE.contains(&value) || !EPOCH_RANGE.contains(&shifted) {
        return false;
    }
    s[..10].copy_from_slice(format!("{shifted:010}").as_bytes());
    true
}

/// `YYYY-MM-DDTHH:MM:SS` or with a space between date and time.
fn shift_datetime(s: &mut [u8], shift_s: i64) -> bool {
    const LEN: usize = 19;
    let shape = |i: usize, b: u8| match i {
        4 | 7 => b == b'-',
        10 => b == b'T' || b == b' ',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    };
    if shift_s == 0 || s.len() < LEN || !s[..LEN].iter().enumerate().all(|(i, &b)| shape(i, b)) {
        return false;
    }
    let separator = s[10];
    let mut normal = s[..LEN].to_vec();
    normal[10] = b' ';
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let Some(parsed) = std::str::from_utf8(&normal)
        .ok()
        .and_then(|t| PrimitiveDateTime::parse(t, format).ok())
    else {
        return false;
    };
    let Some(shifted) = parsed
        .checked_add(time::Duration::seconds(shift_s))
        .and_then(|t| t.format(format).ok())
    else {
        return false;
    };
    if shifted.len() != LEN {
        return false;
    }
    s[..LEN].copy_from_slice(shifted.as_bytes());
    s[10] = separator;
    true
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lower-case hex): `add` joins its last 8 digits.
fn shift_uuid(s: &mut [u8], add: u32) -> bool {
    const LEN: usize = 36;
    let shape = |i: usize, b: u8| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
    };
    if add == 0 || s.len() < LEN || !s[..LEN].iter().enumerate().all(|(i, &b)| shape(i, b)) {
        return false;
    }
    if s.get(LEN).is_some_and(u8::is_ascii_alphanumeric) {
        return false;
    }
    // The tail, not the head: what comes before a UUID (an id's `.`) may depend on whether
    // its first character is a digit.
    let Some(tail) = std::str::from_utf8(&s[28..LEN])
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok())
    else {
        return false;
    };
    s[28..LEN].copy_from_slice(format!("{:08x}", tail.wrapping_add(add)).as_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: &str = r#"{"timestamp":"2026-11-22T03:09:49.069+0000","channel":{"id":"1795316989.12"},"bridge":{"id":"04c8f1f8-1518-4eb4-9766-aca271812a51"},"caller":"48221009142"}"#;

    #[test]
    fn a_round_moves_ids_and_times_and_keeps_the_length() {
        let r = Rebase {
            shift_s: 86_400 + 61,
            round: 1,
        };
        let out = r.apply_str(FRAME);
        assert_eq!(out.len(), FRAME.len());
        assert!(
            out.contains(r#""timestamp":"2026-11-23T03:10:50.069+0000""#),
            "{out}"
        );
        assert!(out.contains(r#""id":"1795403450.12""#), "{out}");
        assert!(!out.contains("aca271812a51"), "{out}");
        assert!(out.contains("04c8f1f8-1518-4eb4-9766-aca2"), "{out}");
        // A phone number is not an id.
        assert!(out.contains("48221009142"), "{out}");
        assert_eq!(r.undo(&out), FRAME);
    }

    #[test]
    fn ami_headers_move_too() {
        let r = Rebase {
            shift_s: 3_600,
            round: 2,
        };
        let text = "Uniqueid: 1795316989.0\r\nTimestamp: 1795316991.503412\r\nStartTime: 2026-11-22 03:09:49\r\nExten: 1795316989\r\n";
        let out = r.apply_str(text);
        assert_eq!(
            out,
            "Uniqueid: 1795320589.0\r\nTimestamp: 1795320591.503412\r\nStartTime: 2026-11-22 04:09:49\r\nExten: 1795316989\r\n"
        );
    }

    #[test]
    fn rounds_never_share_ids_even_when_replayed_faster_than_real_time() {
        let first = Rebase::starting_now(1_795_316_989, 1_796_000_000, 0, None);
        let second = Rebase::starting_now(1_795_316_989, 1_796_000_000, 1, Some(first));
        assert!(second.shift_s > first.shift_s);
        assert_ne!(first.apply_str(FRAME), second.apply_str(FRAME));
    }

    #[test]
    fn a_capture_starts_at_its_first_id() {
        assert_eq!(first_epoch(FRAME.as_bytes()), Some(1_795_316_989));
        assert_eq!(first_epoch(b"Exten: 1795316989\r\n"), None);
    }

    #[test]
    fn text_without_ids_is_untouched() {
        let r = Rebase {
            shift_s: 1_000,
            round: 7,
        };
        for text in [
            "",
            "abc",
            "2026-13-45T99:99:99",
            "12345678901.5",
            "x1795316989.1",
        ] {
            assert_eq!(r.apply_str(text), text);
        }
    }

    proptest::proptest! {
        /// Any text built from the capture's pieces: same length after a round, and the
        /// round's ids read back as the captured ones.
        #[test]
        fn apply_keeps_length_and_undo_restores(
            pieces in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("1795316989.".to_owned()),
                proptest::strategy::Just("2026-11-22T03:09:49".to_owned()),
                proptest::strategy::Just("2026-11-22 23:59:59".to_owned()),
                proptest::strategy::Just("04c8f1f8-1518-4eb4-9766-aca271812a51".to_owned()),
                // Ten-digit runs stay below the last epoch a shift can reach.
                "[0-8][0-9]{0,11}",
                "[ -~]{0,8}",
                "\\PC{0,4}",
            ], 0..24),
            shift_s in 0i64..400_000_000,
            round in 0u32..1000,
        ) {
            let text: String = pieces.concat();
            let r = Rebase { shift_s, round };
            let out = r.apply_str(&text);
            proptest::prop_assert_eq!(out.len(), text.len());
            proptest::prop_assert_eq!(r.undo(&out), text);
        }
    }
}
