//! R-O9 access: each paid line grants access to its product from the order's first payment for
//! the product's duration. A plan's access follows its payments (issue 15, defect 2): it lasts
//! to the end of the last period paid and not refunded — each paid period or instalment moves
//! it — and while the plan runs, until the next payment is overdue (the day after its due day
//! in the order's calendar, R-O6); a subscription's periods are its access, an instalment plan
//! paid in full grants the product's duration. A fully refunded order has none.

use crate::domain::catalogue::{Interval, Plan};
use crate::domain::orders::{ItemStatus, Order, OrderLine, OrderStatus, add_intervals};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Access {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub active: bool,
}

impl Order {
    /// When the first payment arrived: access starts there.
    fn access_start(&self) -> Option<DateTime<Utc>> {
        self.schedule
            .iter()
            .filter(|i| i.status == ItemStatus::Paid)
            .filter_map(|i| i.paid_at)
            .min()
    }

    /// The items whose money all went back: every payment that paid into them is refunded.
    pub fn refunded_items(&self) -> BTreeSet<u32> {
        let mut paid_by: BTreeMap<u32, Vec<bool>> = BTreeMap::new();
        for payment in &self.payments {
            let refunded = payment.unrefunded().is_ok_and(|left| left.is_zero());
            for seq in &payment.items {
                paid_by.entry(*seq).or_default().push(refunded);
            }
        }
        paid_by
            .into_iter()
            .filter(|(_, refunded)| refunded.iter().all(|r| *r))
            .map(|(seq, _)| seq)
            .collect()
    }

    /// When the period item `index` pays ends: when the next item is due; the last one an
    /// interval after its own due time.
    fn period_end(&self, index: usize, interval: Interval) -> Option<DateTime<Utc>> {
        match self.schedule.get(index + 1) {
            Some(next) => Some(next.due_at),
            None => {
                let item = self.schedule.get(index)?;
                Some(add_intervals(
                    self.created_at,
                    interval,
                    item.seq,
                    self.calendar(),
                ))
            }
        }
    }

    /// For a plan, the end of its access by payments; `None` for a one-time order and an
    /// instalment plan paid in full (the product's duration alone decides).
    fn paid_through(&self) -> Option<DateTime<Utc>> {
        let (interval, subscription) = match self.plan {
            Plan::OneTime => return None,
            Plan::Subscription { interval } => (interval, true),
            Plan::Installments { interval, .. } => (interval, false),
        };
        let refunded = self.refunded_items();
        let kept = |index: &usize| {
            self.schedule.get(*index).is_some_and(|item| {
                item.status == ItemStatus::Paid && !refunded.contains(&item.seq)
            })
        };
        let paid_in_full = !subscription
            && refunded.is_empty()
            && self
                .schedule
                .iter()
                .all(|item| item.status == ItemStatus::Paid);
        if paid_in_full {
            return None;
        }
        let last_kept = (0..self.schedule.len()).filter(kept).max();
        let paid_end = last_kept.and_then(|index| self.period_end(index, interval));
        // A running plan keeps access while its next payment is not overdue (R-O6).
        let running = matches!(self.status, OrderStatus::Active | OrderStatus::Completed);
        let next_open = self
            .schedule
            .iter()
            .enumerate()
            .find(|(index, item)| {
                item.status == ItemStatus::Open && last_kept.is_none_or(|last| *index > last)
            })
            .map(|(_, item)| item);
        let grace = next_open.filter(|_| running).and_then(|item| {
            let zone = self.calendar();
            let day_after = item.due_at.with_timezone(&zone).date_naive().succ_opt()?;
            Some(crate::domain::calendar::resolve_local(
                day_after.and_hms_opt(0, 0, 0)?,
                zone,
            ))
        });
        match (paid_end, grace) {
            (Some(paid), Some(grace)) => Some(paid.max(grace)),
            (paid, grace) => paid.or(grace),
        }
    }

    /// The access a line of this order grants at `now` (R-O9).
    pub fn access(&self, line: &OrderLine, now: DateTime<Utc>) -> Access {
        let start = self.access_start();
        // A subscription's periods are its access; elsewhere the product's duration counts.
        let by_duration = start
            .zip(line.access_days)
            .filter(|_| !matches!(self.plan, Plan::Subscription { .. }))
            .map(|(start, days)| start + Duration::days(i64::from(days)));
        let end = match (by_duration, self.paid_through()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // A full refund ends access when the money went back (issue 15, defect 4): the card
        // shows it ended, not the product's duration still ahead.
        let end = match (self.status, start) {
            (OrderStatus::Refunded, Some(_)) => {
                let refunded_at = self.refunded_at.unwrap_or(self.updated_at);
                Some(end.map_or(refunded_at, |end| end.min(refunded_at)))
            }
            _ => end,
        };
        // Access never ends before it starts (a plan paid after its next rate was due).
        let end = match (start, end) {
            (Some(start), Some(end)) => Some(end.max(start)),
            (_, end) => end,
        };
        // A full refund revokes access; an open dispute pauses it.
        let revoked = matches!(self.status, OrderStatus::Refunded | OrderStatus::Disputed);
        let active =
            !revoked && start.is_some_and(|start| start <= now) && end.is_none_or(|end| now < end);
        Access { start, end, active }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::Interval;
    use crate::domain::money::{Currency, Money};
    use crate::domain::orders::payment_tests::order;

    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::EUR).unwrap()
    }

    // R-O9
    #[test]
    fn a_paid_line_grants_its_duration_from_the_first_payment() {
        // given a one-time order of a 30-day product, paid a day after checkout
        let mut order = order(Plan::OneTime, "11.90", "1.90");
        order.lines[0].access_days = Some(30);
        let line = order.lines[0].clone();
        let checkout = order.created_at;
        assert!(
            !order.access(&line, checkout).active,
            "nothing paid, no access"
        );
        let paid_at = checkout + Duration::days(1);
        order.apply_payment(eur("11.90"), paid_at).unwrap();
        // then access runs from the payment for 30 days, not a second longer
        let access = order.access(&line, paid_at);
        assert_eq!(access.start, Some(paid_at));
        assert_eq!(access.end, Some(paid_at + Duration::days(30)));
        assert!(access.active);
        assert!(
            order
                .access(&line, paid_at + Duration::days(30) - Duration::seconds(1))
                .active
        );
        assert!(!order.access(&line, paid_at + Duration::days(30)).active);
    }

    // R-O9
    #[test]
    fn unlimited_access_has_no_end_until_a_full_refund_revokes_it() {
        let mut order = order(Plan::OneTime, "11.90", "1.90");
        let line = order.lines[0].clone();
        let now = order.created_at;
        order.apply_payment(eur("11.90"), now).unwrap();
        let far = now + Duration::days(3650);
        assert_eq!(order.access(&line, far).end, None);
        assert!(order.access(&line, far).active);
        order.status = OrderStatus::Refunded;
        assert!(!order.access(&line, now).active);
    }

    // R-O9: a cancellation at period end revokes access at the end of the paid period
    #[test]
    fn a_cancelled_subscription_keeps_access_to_the_end_of_its_paid_period() {
        let mut order = order(
            Plan::Subscription {
                interval: Interval::Month,
            },
            "11.90",
            "1.90",
        );
        let line = order.lines[0].clone();
        let now = order.created_at;
        order.apply_payment(eur("11.90"), now).unwrap();
        let next_due = order
            .schedule
            .iter()
            .find(|i| i.status != ItemStatus::Paid)
            .map(|i| i.due_at)
            .unwrap();
        // while running, access lasts until the next period's payment is overdue
        let overdue_from = chrono::TimeZone::from_utc_datetime(
            &Utc,
            &next_due
                .date_naive()
                .succ_opt()
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        );
        assert_eq!(order.access(&line, now).end, Some(overdue_from));
        // when cancelled mid-period
        assert!(order.cancel_plan(now + Duration::days(10)));
        // then access lasts until the next period would have started
        let access = order.access(&line, now + Duration::days(10));
        assert_eq!(access.end, Some(next_due));
        assert!(access.active);
        assert!(!order.access(&line, next_due).active);
    }

    // R-O9 (issue 15, defect 2): each paid period moves a subscription's access, whatever the
    // product's own duration; a refunded period gives none
    #[test]
    fn paid_periods_move_a_subscriptions_access_and_refunded_ones_do_not() {
        // given a monthly subscription of a 30-day product, its first period paid
        let mut order = order(
            Plan::Subscription {
                interval: Interval::Month,
            },
            "11.90",
            "1.90",
        );
        order.lines[0].access_days = Some(30);
        let line = order.lines[0].clone();
        let start = order.created_at;
        order.apply_payment(eur("11.90"), start).unwrap();
        let second = order.schedule[1].due_at;
        // when the second period is paid on its due day
        let incoming = crate::domain::orders::payment_tests::stripe("in_2", &["pi_2"]);
        let mut incoming = incoming;
        incoming.period_start = Some(second);
        order
            .apply_payment_once(&incoming, eur("11.90"), second)
            .unwrap()
            .unwrap();
        let third = order.schedule[2].due_at;
        // then access runs past the product's 30 days, to the third period's due day
        let access = order.access(&line, second + Duration::days(20));
        assert!(access.active, "{access:?}");
        assert!(access.end.unwrap() > third, "{access:?}");
        // when the second period is refunded and the plan ends (R-R3)
        order.cancel_plan(second + Duration::days(1));
        order.payments[1].refunded = eur("11.90");
        // then access ends where the first period ended
        assert_eq!(order.access(&line, second).end, Some(second));
        assert!(!order.access(&line, second + Duration::days(1)).active);
    }

    // R-O9 (issue 15, defect 2): an instalment plan's access follows its paid instalments, and
    // paid in full it is the product's
    #[test]
    fn instalments_grant_access_as_they_are_paid_and_in_full_the_products() {
        let mut order = order(
            Plan::Installments {
                count: 2,
                interval: Interval::Month,
            },
            "11.90",
            "1.90",
        );
        let line = order.lines[0].clone();
        let start = order.created_at;
        order.apply_payment(eur("5.95"), start).unwrap();
        let second = order.schedule[1].due_at;
        // while the second is not overdue, access runs
        assert!(order.access(&line, second).active);
        // once it is overdue and unpaid, access stops
        assert!(!order.access(&line, second + Duration::days(2)).active);
        // paid in full, the product's (unlimited) access
        order
            .apply_payment(eur("5.95"), second + Duration::days(3))
            .unwrap();
        assert_eq!(order.access(&line, second + Duration::days(400)).end, None);
        assert!(order.access(&line, second + Duration::days(400)).active);
    }
}
