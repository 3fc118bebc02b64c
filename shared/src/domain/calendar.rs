//! The business calendar (R-M3): weekends and business days in the vendor's IANA time zone.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// The vendor's zone when none is set (R-M3).
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Europe::Berlin;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IANA time zone")]
pub struct UnknownTimeZone(pub String);

pub fn parse_time_zone(name: &str) -> Result<Tz, UnknownTimeZone> {
    name.parse::<Tz>()
        .map_err(|_| UnknownTimeZone(name.to_string()))
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A local wall time as an instant: a time inside a DST gap moves forward by the gap; an ambiguous
/// time (autumn overlap) takes the earlier instant.
pub fn resolve_local(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, later) => earlier.min(later).with_timezone(&Utc),
        LocalResult::None => {
            // Read the wall time with the offset in force before the gap: the instant it gives
            // shows, in the new offset, the wall time plus the gap. Transitions are months apart,
            // so the offset a day earlier is the one before the gap.
            let day_before = local - Duration::days(1);
            let offset_before = tz.offset_from_utc_datetime(&day_before);
            let utc_offset = chrono::Offset::fix(&offset_before);
            let utc_naive = local - Duration::seconds(i64::from(utc_offset.local_minus_utc()));
            Utc.from_utc_datetime(&utc_naive)
        }
    }
}

/// If `t` falls on a Saturday or Sunday in `tz`, the following Monday at the same local wall time;
/// else `t` unchanged (R-M3).
pub fn defer_off_weekend(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz).naive_local();
    let mut date = local.date();
    if !is_weekend(date) {
        return t;
    }
    while is_weekend(date) {
        date = date.succ_opt().unwrap_or(date);
    }
    resolve_local(date.and_time(local.time()), tz)
}

/// Steps the local date forward `n` times, skipping Saturdays and Sundays, keeping the local wall
/// time (R-M3).
pub fn add_business_days(t: DateTime<Utc>, n: u32, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz).naive_local();
    let mut date = local.date();
    let mut remaining = n;
    while remaining > 0 {
        date = date.succ_opt().unwrap_or(date);
        if !is_weekend(date) {
            remaining -= 1;
        }
    }
    resolve_local(date.and_time(local.time()), tz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    // R-M3
    #[test]
    fn weekdays_are_kept_and_weekends_move_to_monday_same_wall_time() {
        // Friday 2026-11-27 23:30 Berlin (22:30 UTC) stays.
        assert_eq!(
            defer_off_weekend(utc("2026-11-27T22:30:00Z"), BERLIN),
            utc("2026-11-27T22:30:00Z")
        );
        // Saturday 2026-11-28 00:30 Berlin (Friday 23:30 UTC!) -> Monday 00:30 Berlin.
        assert_eq!(
            defer_off_weekend(utc("2026-11-27T23:30:00Z"), BERLIN),
            utc("2026-11-29T23:30:00Z")
        );
        // Sunday 18:00 Berlin -> Monday 18:00 Berlin.
        assert_eq!(
            defer_off_weekend(utc("2026-11-29T17:00:00Z"), BERLIN),
            utc("2026-11-30T17:00:00Z")
        );
        // The same instant is still Friday in New York: no deferral there.
        assert_eq!(
            defer_off_weekend(utc("2026-11-27T23:30:00Z"), NEW_YORK),
            utc("2026-11-27T23:30:00Z")
        );
    }

    // R-M3: the weekend is the vendor's; the wall time is kept across a DST change.
    #[test]
    fn deferral_keeps_wall_time_across_dst_change() {
        // Saturday 2026-03-28 10:00 CET (09:00 UTC) -> Monday 2026-03-30 10:00 CEST (08:00 UTC).
        assert_eq!(
            defer_off_weekend(utc("2026-03-28T09:00:00Z"), BERLIN),
            utc("2026-03-30T08:00:00Z")
        );
        // Autumn: Saturday 2026-10-24 10:00 CEST (08:00 UTC) -> Monday 10:00 CET (09:00 UTC).
        assert_eq!(
            defer_off_weekend(utc("2026-10-24T08:00:00Z"), BERLIN),
            utc("2026-10-26T09:00:00Z")
        );
        // New York changes on 2026-03-08: Saturday 03-07 10:00 EST -> Monday 03-09 10:00 EDT.
        assert_eq!(
            defer_off_weekend(utc("2026-03-07T15:00:00Z"), NEW_YORK),
            utc("2026-03-09T14:00:00Z")
        );
    }

    // R-M3: a local time in the DST gap moves forward by the gap; an ambiguous one takes the earlier.
    #[test]
    fn gaps_move_forward_and_overlaps_take_the_earlier_instant() {
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        // 02:30 does not exist in Berlin; 03:30 CEST = 01:30 UTC.
        assert_eq!(resolve_local(gap, BERLIN), utc("2026-03-29T01:30:00Z"));
        let overlap = NaiveDate::from_ymd_opt(2026, 10, 25)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        // 02:30 happens twice; the earlier is 02:30 CEST = 00:30 UTC.
        assert_eq!(resolve_local(overlap, BERLIN), utc("2026-10-25T00:30:00Z"));
        let ny_gap = NaiveDate::from_ymd_opt(2026, 3, 8)
            .unwrap()
            .and_hms_opt(2, 15, 0)
            .unwrap();
        assert_eq!(resolve_local(ny_gap, NEW_YORK), utc("2026-03-08T07:15:00Z"));
    }

    // R-M3
    #[test]
    fn business_days_skip_the_weekend_and_keep_wall_time() {
        // Thursday 2026-11-26 15:00 Berlin + 2 business days = Monday 2026-11-30 15:00.
        assert_eq!(
            add_business_days(utc("2026-11-26T14:00:00Z"), 2, BERLIN),
            utc("2026-11-30T14:00:00Z")
        );
        // + 7 business days from Friday = the Tuesday of the week after next.
        assert_eq!(
            add_business_days(utc("2026-11-27T09:00:00Z"), 7, BERLIN),
            utc("2026-12-08T09:00:00Z")
        );
        // From Saturday, the first business day is Monday.
        assert_eq!(
            add_business_days(utc("2026-11-28T09:00:00Z"), 1, BERLIN),
            utc("2026-11-30T09:00:00Z")
        );
        // Across the autumn change, wall time 09:00 is kept (CEST -> CET shifts UTC by one hour).
        assert_eq!(
            add_business_days(utc("2026-10-23T07:00:00Z"), 1, BERLIN),
            utc("2026-10-26T08:00:00Z")
        );
        assert_eq!(
            add_business_days(utc("2026-11-26T14:00:00Z"), 0, BERLIN),
            utc("2026-11-26T14:00:00Z")
        );
    }

    // R-M3: two instants of one weekend both map to that Monday, each keeping its own wall time,
    // so deferral is monotonic by local date, not always by instant (Sat 10:00 -> Mon 10:00 but
    // Sun 09:00 -> Mon 09:00). This pins the rule as written.
    #[test]
    fn deferral_is_monotonic_by_date_within_a_weekend() {
        let saturday = defer_off_weekend(utc("2026-11-28T09:00:00Z"), BERLIN);
        let sunday = defer_off_weekend(utc("2026-11-29T08:00:00Z"), BERLIN);
        assert_eq!(saturday.date_naive(), sunday.date_naive());
        assert!(sunday < saturday);
    }

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 2020..2035, minute resolution.
        (1_577_836_800i64 / 60..2_051_222_400i64 / 60)
            .prop_map(|m| Utc.timestamp_opt(m * 60, 0).single().unwrap())
    }

    fn any_zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Sydney,
            chrono_tz::Asia::Tokyo,
            chrono_tz::Pacific::Chatham,
        ])
    }

    fn wall(t: DateTime<Utc>, tz: Tz) -> NaiveTime {
        t.with_timezone(&tz).time()
    }

    proptest! {
        // R-M3
        #[test]
        fn deferred_never_falls_on_a_weekend_and_never_moves_back(t in any_instant(), tz in any_zone()) {
            let d = defer_off_weekend(t, tz);
            prop_assert!(!is_weekend(d.with_timezone(&tz).date_naive()));
            prop_assert!(d >= t);
            if d == t { prop_assert!(!is_weekend(t.with_timezone(&tz).date_naive())); }
        }

        // R-M3: wall time kept unless it lands in a DST gap (then moved forward by the gap, < 2 h).
        #[test]
        fn deferral_and_business_days_keep_wall_time(t in any_instant(), n in 0u32..30, tz in any_zone()) {
            for result in [defer_off_weekend(t, tz), add_business_days(t, n, tz)] {
                let (before, after) = (wall(t, tz), wall(result, tz));
                let shift = (after - before).num_minutes().rem_euclid(24 * 60);
                prop_assert!(shift < 120, "wall time moved by {shift} min");
            }
        }

        #[test]
        fn business_days_never_end_on_a_weekend(t in any_instant(), n in 1u32..30, tz in any_zone()) {
            let r = add_business_days(t, n, tz);
            prop_assert!(!is_weekend(r.with_timezone(&tz).date_naive()));
            prop_assert!(r > t);
        }

        // R-M3: monotonic in the input — by instant for weekday inputs, by local date always.
        #[test]
        fn monotonic_in_input(a in any_instant(), b in any_instant(), n in 0u32..20, tz in any_zone()) {
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
            prop_assert!(day(defer_off_weekend(a, tz)) <= day(defer_off_weekend(b, tz)));
            prop_assert!(day(add_business_days(a, n, tz)) <= day(add_business_days(b, n, tz)));
            if !is_weekend(day(a)) && !is_weekend(day(b)) {
                prop_assert!(defer_off_weekend(a, tz) <= defer_off_weekend(b, tz));
                prop_assert!(add_business_days(a, n, tz) <= add_business_days(b, n, tz));
            }
        }
    }
}
