//! The one injected clock (R-M4). Nothing else reads the system time.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

fn system_now() -> DateTime<Utc> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let nanos = i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX);
    Utc.timestamp_nanos(nanos)
}

/// The real time, for Lambda.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        system_now()
    }
}

/// A clock that tests and the dev server move. `ticking` keeps running from where it was set
/// (the dev server); `frozen` stands still until moved (tests).
#[derive(Debug)]
pub struct SettableClock {
    state: Mutex<ClockState>,
}

#[derive(Debug, Clone, Copy)]
enum ClockState {
    Frozen(DateTime<Utc>),
    Ticking { offset: Duration },
}

impl SettableClock {
    pub fn frozen(at: DateTime<Utc>) -> SettableClock {
        SettableClock {
            state: Mutex::new(ClockState::Frozen(at)),
        }
    }

    pub fn ticking() -> SettableClock {
        SettableClock {
            state: Mutex::new(ClockState::Ticking {
                offset: Duration::zero(),
            }),
        }
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut ClockState) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update of a Copy value.
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.with_state(|state| match state {
            ClockState::Frozen(at) => *at = to,
            ClockState::Ticking { offset } => *offset = to - system_now(),
        });
    }

    /// Stands still at `at` until moved again (tests that compare instants).
    pub fn freeze(&self, at: DateTime<Utc>) {
        self.with_state(|state| *state = ClockState::Frozen(at));
    }

    /// Runs on from `at`.
    pub fn run_from(&self, at: DateTime<Utc>) {
        self.with_state(|state| {
            *state = ClockState::Ticking {
                offset: at - system_now(),
            }
        });
    }

    pub fn advance(&self, by: Duration) {
        self.with_state(|state| match state {
            ClockState::Frozen(at) => *at += by,
            ClockState::Ticking { offset } => *offset += by,
        });
    }
}

impl Clock for SettableClock {
    fn now(&self) -> DateTime<Utc> {
        self.with_state(|state| match *state {
            ClockState::Frozen(at) => at,
            ClockState::Ticking { offset } => system_now() + offset,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration like \"36h\", \"7d\", \"1d12h\", \"90m\" or \"30s\"")]
pub struct BadDuration(pub String);

/// Parses `36h`, `7d`, `1d12h30m`, `-2h` (units d, h, m, s).
pub fn parse_duration(text: &str) -> Result<Duration, BadDuration> {
    let bad = || BadDuration(text.to_string());
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if body.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let part = match c {
            'd' => Duration::try_days(n),
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            's' => Duration::try_seconds(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&part).ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(if negative { -total } else { total })
}

/// Until when a run may start new work: its invocation's deadline less a margin, read by the
/// injected clock. A run stops claiming when its budget is spent, so a function is not killed
/// between a send and its mark-sent, or a provider's answer and its settlement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    until: Option<DateTime<Utc>>,
}

impl Budget {
    /// No deadline (the dev server, tests).
    pub fn unbounded() -> Budget {
        Budget { until: None }
    }

    /// New work may start before `until`.
    pub fn until(until: DateTime<Utc>) -> Budget {
        Budget { until: Some(until) }
    }

    /// Whether new work may start at `now`.
    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// Whether work that may take up to `takes` can start at `now` and end within the budget:
    /// a call out is started only with its whole timeout left, so its time comes from the
    /// invocation's deadline instead of running past it.
    pub fn allows_for(&self, now: DateTime<Utc>, takes: Duration) -> bool {
        self.until.is_none_or(|until| now + takes <= until)
    }

    /// One of `parts` equal shares of what is left at `now`, so each queue of a sweep gets its
    /// own time and a slow one cannot starve the next.
    pub fn share(&self, now: DateTime<Utc>, parts: i32) -> Budget {
        match self.until {
            None => *self,
            Some(until) => Budget {
                until: Some(now + (until - now) / parts.max(1)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 11, §4: each queue of a sweep gets its own share of the invocation's time.
    #[test]
    fn a_budget_allows_work_until_it_is_spent_and_shares_what_is_left() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let budget = Budget::until(now + Duration::seconds(30));
        assert!(budget.allows(now));
        assert!(!budget.allows(now + Duration::seconds(30)));
        let third = budget.share(now, 3);
        assert!(third.allows(now + Duration::seconds(9)));
        assert!(!third.allows(now + Duration::seconds(10)));
        assert!(
            Budget::unbounded()
                .share(now, 3)
                .allows(now + Duration::days(999))
        );
    }

    // Issue 11, §5: a call out starts only with its whole timeout left in the budget.
    #[test]
    fn work_that_takes_longer_than_what_is_left_does_not_start() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let budget = Budget::until(now + Duration::seconds(12));
        assert!(budget.allows_for(now, Duration::seconds(10)));
        assert!(!budget.allows_for(now + Duration::seconds(3), Duration::seconds(10)));
        assert!(budget.allows(now + Duration::seconds(3)));
        assert!(Budget::unbounded().allows_for(now, Duration::days(1)));
    }

    // R-M4
    #[test]
    fn frozen_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 11, 27, 18, 0, 0).unwrap();
        let clock = SettableClock::frozen(start);
        assert_eq!(clock.now(), start);
        clock.advance(parse_duration("36h").unwrap());
        assert_eq!(
            clock.now(),
            Utc.with_ymd_and_hms(2026, 11, 29, 6, 0, 0).unwrap()
        );
    }

    // R-M4
    #[test]
    fn ticking_clock_keeps_running_from_the_set_instant() {
        let clock = SettableClock::ticking();
        let target = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        clock.set(target);
        let now = clock.now();
        assert!(now >= target && now - target < Duration::seconds(5));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            parse_duration("1d12h30m").unwrap(),
            Duration::minutes(36 * 60 + 30)
        );
        assert_eq!(parse_duration("-2h").unwrap(), Duration::hours(-2));
        for bad in ["", "h", "12", "3x", "1.5h", "-"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
