//! Timestamps on the wire (RFC 3339, UTC, millisecond precision), and for people (the box's
//! local time, as a spreadsheet reads it).

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

/// The box's time zone (`TZ`, else /etc/localtime), read once: a zone changed on a running
/// box applies from the next start. UTC when there is none.
fn local_zone() -> Option<&'static tz::TimeZone> {
    static ZONE: std::sync::OnceLock<Option<tz::TimeZone>> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| tz::TimeZone::local().ok()).as_ref()
}

/// `zone`'s offset at Unix second `at` (summer time included; 64-bit times, so past 2038
/// too); UTC if the zone has none for it.
pub(crate) fn offset_in(zone: &tz::TimeZone, at: i64) -> time::UtcOffset {
    zone.find_local_time_type(at)
        .ok()
        .and_then(|t| time::UtcOffset::from_whole_seconds(t.ut_offset()).ok())
        .unwrap_or(time::UtcOffset::UTC)
}

/// The local time zone's offset at Unix second `at` (the box's zone, DST included); UTC if
/// it cannot be known.
pub(crate) fn local_offset(at: i64) -> time::UtcOffset {
    local_zone().map_or(time::UtcOffset::UTC, |zone| offset_in(zone, at))
}

const LOCAL: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// `ms` as `2026-11-22 04:09:49` in the offset `offset` gives for it: what a spreadsheet
/// takes for a date and time.
pub(crate) fn local_datetime(ms: i64, offset: fn(i64) -> time::UtcOffset) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.to_offset(offset(ms.div_euclid(1000))).format(LOCAL).ok())
        .unwrap_or_default()
}

/// The Unix ms of `day`'s midnight in the local time zone.
pub(crate) fn local_midnight_ms(day: time::Date, offset: fn(i64) -> time::UtcOffset) -> i64 {
    let naive = day.midnight().assume_utc().unix_timestamp();
    // The midnight is `naive - offset(midnight)`: the offset near it first, then the one at
    // the guess (they differ only when a DST change falls within hours of midnight).
    let guess = naive - i64::from(offset(naive).whole_seconds());
    (naive - i64::from(offset(guess).whole_seconds())) * 1000
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

    fn warsaw(at: i64) -> time::UtcOffset {
        // CET, CEST from 2026-03-29 01:00 UTC to 2026-10-25 01:00 UTC.
        let summer = (1_774_746_000..1_792_890_000).contains(&at);
        time::UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).unwrap()
    }

    #[test]
    fn a_zones_rules_hold_past_2038() {
        // Europe/Warsaw's rule; 2040-07-01 12:00 UTC needs more than a 32-bit time_t.
        let zone = tz::TimeZone::from_posix_tz("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let summer_2040 = 2_224_756_800;
        let winter_2040 = 2_208_988_800 + 15 * 86_400;
        assert_eq!(super::offset_in(&zone, summer_2040).whole_hours(), 2);
        assert_eq!(super::offset_in(&zone, winter_2040).whole_hours(), 1);
        assert_eq!(super::offset_in(&zone, 1_795_316_989).whole_hours(), 1);
    }

    #[test]
    fn local_times_follow_the_zone_and_its_summer_time() {
        assert_eq!(
            super::local_datetime(1_795_316_989_123, warsaw),
            "2026-11-22 04:09:49"
        );
        assert_eq!(
            super::local_datetime(1_783_000_000_000, warsaw),
            "2026-07-02 15:46:40"
        );
        let day = |d| time::Date::from_calendar_date(2026, time::Month::March, d).unwrap();
        // 2026-03-29 00:00 CET is 03-28 23:00 UTC; the next midnight is in CEST.
        assert_eq!(super::local_midnight_ms(day(29), warsaw), 1_774_738_800_000);
        assert_eq!(super::local_midnight_ms(day(30), warsaw), 1_774_821_600_000);
    }
}
