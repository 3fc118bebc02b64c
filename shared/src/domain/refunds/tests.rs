use super::*;
use crate::domain::catalogue::Interval;
use crate::domain::money::Currency;
use crate::domain::orders::payment_tests::order;

fn eur(s: &str) -> Money {
    Money::parse(s, Currency::EUR).unwrap()
}

/// A one-time order of 11.90 (1.90 VAT) paid at checkout.
fn paid_one_time() -> Order {
    let mut o = order(Plan::OneTime, "11.90", "1.90");
    o.apply_payment(eur("11.90"), o.created_at).unwrap();
    o
}

// R-R1
#[test]
fn a_vendor_refund_defaults_to_everything_and_needs_the_available_net() {
    let o = paid_one_time();
    let now = o.created_at + Duration::days(10);
    let plan = vendor_refund(&o, None, eur("10.00"), now).unwrap();
    assert_eq!(
        (plan.amount, plan.net, plan.tax, plan.full),
        (eur("11.90"), eur("10.00"), eur("1.90"), true)
    );
    // one cent short of the net part: 409 with both amounts
    assert_eq!(
        vendor_refund(&o, None, eur("9.99"), now),
        Err(RefundError::InsufficientAvailableBalance {
            needed: eur("10.00"),
            available: eur("9.99")
        })
    );
}

// R-R1, R-M2: a partial refund splits net and tax in proportion, rounded
#[test]
fn a_partial_refund_splits_net_and_tax_and_limits_the_next() {
    let mut o = paid_one_time();
    let now = o.created_at + Duration::days(1);
    let plan = vendor_refund(&o, Some(eur("5.00")), eur("100.00"), now).unwrap();
    // 5.00 × 1.90 / 11.90 = 0.798… → 0.80
    assert_eq!(
        (plan.net, plan.tax, plan.full),
        (eur("4.20"), eur("0.80"), false)
    );
    o.apply_refund(&plan, false, now).unwrap();
    assert_eq!(o.status, OrderStatus::Completed);
    assert_eq!(
        vendor_refund(&o, Some(eur("7.00")), eur("100.00"), now),
        Err(RefundError::TooMuch {
            refundable: eur("6.90")
        })
    );
    let rest = vendor_refund(&o, None, eur("100.00"), now).unwrap();
    assert_eq!((rest.amount, rest.full), (eur("6.90"), true));
    o.apply_refund(&rest, false, now).unwrap();
    assert_eq!(o.status, OrderStatus::Refunded);
    // R-R5: nothing refunds the same money twice
    assert_eq!(
        vendor_refund(&o, None, eur("100.00"), now),
        Err(RefundError::NothingToRefund)
    );
}

// R-R1
#[test]
fn a_vendor_refund_is_refused_after_90_days_and_for_bad_amounts() {
    let o = paid_one_time();
    let late = o.created_at + Duration::days(91);
    assert_eq!(
        vendor_refund(&o, None, eur("100.00"), late),
        Err(RefundError::WindowPassed)
    );
    let now = o.created_at + Duration::days(90);
    assert!(vendor_refund(&o, None, eur("100.00"), now).is_ok());
    for bad in [
        eur("0.00"),
        eur("-1.00"),
        Money::parse("1.00", "USD".parse().unwrap()).unwrap(),
    ] {
        assert_eq!(
            vendor_refund(&o, Some(bad), eur("100.00"), now),
            Err(RefundError::BadAmount)
        );
    }
    let unpaid = order(Plan::OneTime, "11.90", "1.90");
    assert_eq!(
        vendor_refund(&unpaid, None, eur("100.00"), now),
        Err(RefundError::NothingToRefund)
    );
}

// R-R2, R-R3
#[test]
fn a_customer_refund_returns_a_one_time_order_in_full_and_a_plan_only_its_last_charge() {
    let o = paid_one_time();
    let plan = customer_refund(&o, o.created_at + Duration::days(60)).unwrap();
    assert_eq!((plan.amount, plan.full), (eur("11.90"), true));
    assert_eq!(
        customer_refund(&o, o.created_at + Duration::days(61)),
        Err(RefundError::WindowPassed)
    );

    // a monthly subscription with two paid periods: only the last charge, and the plan ends
    let mut sub = order(
        Plan::Subscription {
            interval: Interval::Month,
        },
        "11.90",
        "1.90",
    );
    let start = sub.created_at;
    sub.apply_payment(eur("11.90"), start).unwrap();
    sub.apply_payment(eur("11.90"), start + Duration::days(31))
        .unwrap();
    let now = start + Duration::days(40);
    let plan = customer_refund(&sub, now).unwrap();
    assert_eq!((plan.amount, plan.full), (eur("11.90"), false));
    sub.apply_refund(&plan, true, now).unwrap();
    assert_eq!(sub.status, OrderStatus::Cancelled);
    assert!(sub.schedule.iter().all(|i| i.status != ItemStatus::Open));
    // the 60 days count from the charge it refunds: the last one
    assert!(customer_refund(&sub, start + Duration::days(31 + 60)).is_ok());
}

// R-R5: a failed provider refund gives the money back to the order
#[test]
fn a_reversed_refund_is_refundable_again() {
    let mut o = paid_one_time();
    let now = o.created_at;
    let plan = vendor_refund(&o, None, eur("100.00"), now).unwrap();
    o.apply_refund(&plan, false, now).unwrap();
    assert_eq!(o.status, OrderStatus::Refunded);
    o.reverse_refund(plan.amount, now).unwrap();
    assert_eq!(
        (o.status, o.refunded),
        (OrderStatus::Completed, eur("0.00"))
    );
    assert!(vendor_refund(&o, None, eur("100.00"), now).is_ok());
}

// R-R1, R-R3: a vendor's partial refund leaves a plan running; a full one, or a customer's, ends it
#[test]
fn only_a_customers_or_a_full_refund_ends_a_plan() {
    let mut sub = order(
        Plan::Subscription {
            interval: Interval::Month,
        },
        "11.90",
        "1.90",
    );
    let now = sub.created_at;
    sub.apply_payment(eur("11.90"), now).unwrap();
    let partial = vendor_refund(&sub, Some(eur("1.00")), eur("100.00"), now).unwrap();
    assert!(!sub.apply_refund(&partial, false, now).unwrap());
    assert_eq!(sub.status, OrderStatus::Active);
    let rest = vendor_refund(&sub, None, eur("100.00"), now).unwrap();
    assert!(rest.full);
    assert!(
        sub.apply_refund(&rest, false, now).unwrap(),
        "the full refund ended the plan"
    );
    assert_eq!(sub.status, OrderStatus::Refunded);
}

// R-R4: a cancellation refunds nothing, takes no further charges, keeps access to the period's end
#[test]
fn a_cancellation_refunds_nothing_and_charges_nothing_more() {
    let mut sub = order(
        Plan::Subscription {
            interval: Interval::Month,
        },
        "11.90",
        "1.90",
    );
    let start = sub.created_at;
    sub.apply_payment(eur("11.90"), start).unwrap();
    let line = sub.lines[0].clone();
    assert!(sub.cancel_plan(start + Duration::days(3)));
    assert_eq!(
        (sub.status, sub.refunded),
        (OrderStatus::Cancelled, eur("0.00"))
    );
    assert!(
        sub.schedule.iter().all(|i| i.status != ItemStatus::Open),
        "no further charges"
    );
    let access = sub.access(&line, start + Duration::days(3));
    assert!(access.active);
    assert!(
        access
            .end
            .is_some_and(|end| end > start + Duration::days(27))
    );
    assert!(!sub.cancel_plan(start + Duration::days(4)), "once");
}
