//! The wall clock every stage stamps events with. A bottom module: it imports nothing of the
//! crate, and anything may use it.

/// Milliseconds since the Unix epoch, now (0 on a clock set before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
