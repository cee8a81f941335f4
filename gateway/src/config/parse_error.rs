//! A TOML error as the installer sees it: where, which key, what is wrong; never a secret.

/// Key names whose values are secrets, as written in the file (`url` covers the PostgreSQL
/// and webhook URLs, which carry credentials).
const SECRET_WORDS: [&str; 6] = ["pin", "secret", "password", "token", "url", "key"];

/// A TOML error as shown to the installer: line, column, the key and what is wrong, never the
/// offending line itself. When the lines it spans set a secret, even the parser's message
/// (which may quote the value) is replaced.
pub(super) fn parse_error_message(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let boundary = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(span.start);
    let end = boundary(span.end.max(start));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = line_at(text, start);
    let column = text[line_start..start].chars().count() + 1;
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    let spanned = &text[line_start..line_end];
    let key = spanned
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['))
        .map(|k| format!(" (key `{k}`)"))
        .unwrap_or_default();
    let lower = spanned.to_ascii_lowercase();
    if SECRET_WORDS.iter().any(|k| lower.contains(k)) {
        format!(
            "line {line_no}, column {column}{key}: this line holds a secret and is not valid; \
             its value is not shown. Write the secret as a quoted string, or use KEY_file"
        )
    } else {
        format!("line {line_no}, column {column}{key}: {}", e.message())
    }
}

/// The 1-based line of a byte offset into the file.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}
