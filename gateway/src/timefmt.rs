//! Timestamps on the wire: RFC 3339, UTC, millisecond precision.

const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// `1795316989123` -> `"2026-11-22T03:09:49.123Z"`.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| format!("invalid-time({ms})"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_with_millis() {
        assert_eq!(
            super::rfc3339_ms(1_795_316_989_123),
            "2026-11-22T03:09:49.123Z"
        );
        assert_eq!(super::rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    }
}
