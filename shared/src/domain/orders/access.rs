//! R-O9 access: each paid line grants access to its product from the order's first payment for
//! the product's duration. A cancelled subscription keeps access to the end of its last paid
//! period; a fully refunded order has none.

use crate::domain::catalogue::Plan;
use crate::domain::orders::{ItemStatus, Order, OrderLine, OrderStatus};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

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

    /// For a cancelled subscription: the end of the last paid period, which is when the first
    /// period not paid was due.
    fn paid_through(&self) -> Option<DateTime<Utc>> {
        let cancelled_subscription =
            matches!(self.plan, Plan::Subscription { .. }) && self.status == OrderStatus::Cancelled;
        if !cancelled_subscription {
            return None;
        }
        self.schedule
            .iter()
            .filter(|i| i.status != ItemStatus::Paid)
            .map(|i| i.due_at)
            .min()
    }

    /// The access a line of this order grants at `now` (R-O9).
    pub fn access(&self, line: &OrderLine, now: DateTime<Utc>) -> Access {
        let start = self.access_start();
        let by_duration = start
            .zip(line.access_days)
            .map(|(start, days)| start + Duration::days(i64::from(days)));
        let end = match (by_duration, self.paid_through()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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
        // while running, access has no end
        assert_eq!(order.access(&line, now).end, None);
        // when cancelled mid-period
        assert!(order.cancel_plan(now + Duration::days(10)));
        // then access lasts until the next period would have started
        let access = order.access(&line, now + Duration::days(10));
        assert_eq!(access.end, Some(next_due));
        assert!(access.active);
        assert!(!order.access(&line, next_due).active);
    }
}
