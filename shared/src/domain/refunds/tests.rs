use super::*;
use crate::domain::catalogue::Interval;
use crate::domain::money::Currency;
use crate::domain::orders::ItemStatus;
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
    // the 60 days count from the charge it refunds: the last one
    assert!(customer_refund(&sub, start + Duration::days(31 + 60)).is_ok());
    let plan = customer_refund(&sub, now).unwrap();
    assert_eq!((plan.amount, plan.full), (eur("11.90"), false));
    assert_eq!(plan.parts.len(), 1);
    assert_eq!(plan.parts[0].payment, sub.payments[1].key);
    sub.apply_refund(&plan, true, now).unwrap();
    assert_eq!(sub.status, OrderStatus::Cancelled);
    assert!(sub.schedule.iter().all(|i| i.status != ItemStatus::Open));
}

// R-R3, R-R2, R-R5 (issue 13, defect 13): a refunded last charge is not refunded again, and an
// earlier charge is never taken instead; a partly refunded last charge returns only its rest.
#[test]
fn repeated_refund_requests_never_drain_a_plan() {
    let mut plan_order = order(
        Plan::Installments {
            count: 3,
            interval: Interval::Month,
        },
        "35.70",
        "5.70",
    );
    let start = plan_order.created_at;
    for month in 0..3 {
        plan_order
            .apply_payment(eur("11.90"), start + Duration::days(31 * month))
            .unwrap();
    }
    let asked = start + Duration::days(70);
    let first = customer_refund(&plan_order, asked).unwrap();
    assert_eq!(first.amount, eur("11.90"));
    plan_order.apply_refund(&first, true, asked).unwrap();
    // a second and a third request: nothing left of the last charge
    for _ in 0..2 {
        assert_eq!(
            customer_refund(&plan_order, asked),
            Err(RefundError::NothingToRefund)
        );
    }
    assert_eq!(plan_order.refunded, eur("11.90"));

    // a vendor's partial refund of the last charge, then a request: only the rest of it
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
    let partial = vendor_refund(
        &sub,
        Some(eur("4.00")),
        eur("100.00"),
        start + Duration::days(32),
    )
    .unwrap();
    assert_eq!(
        partial.parts[0].payment, sub.payments[1].key,
        "newest first"
    );
    sub.apply_refund(&partial, false, start + Duration::days(32))
        .unwrap();
    let rest = customer_refund(&sub, start + Duration::days(33)).unwrap();
    assert_eq!(rest.amount, eur("7.90"));
    // and the two parts of that charge return exactly its tax
    assert_eq!(
        partial.tax.checked_add(&rest.tax).unwrap(),
        sub.payments[1].tax
    );
}

// R-R1: a vendor refund returns only charges of the last 90 days, never an older one
#[test]
fn a_vendor_refund_leaves_charges_older_than_90_days() {
    let mut sub = order(
        Plan::Subscription {
            interval: Interval::Month,
        },
        "11.90",
        "1.90",
    );
    let start = sub.created_at;
    sub.apply_payment(eur("11.90"), start).unwrap();
    sub.apply_payment(eur("11.90"), start + Duration::days(100))
        .unwrap();
    let now = start + Duration::days(101);
    let plan = vendor_refund(&sub, None, eur("100.00"), now).unwrap();
    assert_eq!((plan.amount, plan.full), (eur("11.90"), false));
    assert_eq!(
        vendor_refund(&sub, Some(eur("11.91")), eur("100.00"), now),
        Err(RefundError::TooMuch {
            refundable: eur("11.90")
        })
    );
    // past 90 days of every charge: the window has passed
    assert_eq!(
        vendor_refund(&sub, None, eur("100.00"), start + Duration::days(191)),
        Err(RefundError::WindowPassed)
    );
}

// R-O8, R-R1 (issue 13, defect 2): money paid by hand never passed through the platform: its
// refund debits nothing and needs no balance; a refund spanning both debits only the provider part.
#[test]
fn money_paid_by_hand_is_refunded_without_a_ledger_debit() {
    use crate::domain::orders::payments::{IncomingPayment, PaymentSource};
    let mut o = order(Plan::OneTime, "11.90", "1.90");
    let at = o.created_at;
    o.apply_payment_once(
        &IncomingPayment::manual("manual:1".into()),
        eur("11.90"),
        at,
    )
    .unwrap();
    let plan = vendor_refund(&o, None, eur("-5.00"), at).unwrap();
    assert_eq!(plan.parts[0].source, PaymentSource::Manual);
    assert_eq!(
        (plan.amount, plan.debit().unwrap()),
        (eur("11.90"), eur("0.00"))
    );

    let mut mixed = order(Plan::OneTime, "11.90", "1.90");
    mixed
        .apply_payment_once(&IncomingPayment::manual("manual:1".into()), eur("5.95"), at)
        .unwrap();
    mixed.apply_payment(eur("5.95"), at).unwrap();
    let plan = vendor_refund(&mixed, None, eur("100.00"), at).unwrap();
    assert_eq!(plan.parts.len(), 2);
    let provider_part = plan
        .parts
        .iter()
        .find(|p| p.source == PaymentSource::Stripe)
        .unwrap();
    assert_eq!(plan.debit().unwrap(), provider_part.net);
    assert_eq!(plan.tax, eur("1.90"));
    // the balance is checked against that debit alone
    assert!(matches!(
        vendor_refund(&mixed, None, eur("1.00"), at),
        Err(RefundError::InsufficientAvailableBalance { .. })
    ));
}

// R-O10, R-R5 (issue 13, defect 14): no refund while a dispute is open
#[test]
fn a_disputed_order_is_not_refunded() {
    let mut o = paid_one_time();
    let at = o.created_at;
    assert!(o.open_dispute("dp_1", eur("11.90"), at).is_some());
    assert_eq!(
        vendor_refund(&o, None, eur("100.00"), at),
        Err(RefundError::Disputed)
    );
    assert_eq!(customer_refund(&o, at), Err(RefundError::Disputed));
}

// R-R5: a failed provider refund gives the money back to the order
#[test]
fn a_reversed_refund_is_refundable_again() {
    let mut o = paid_one_time();
    let now = o.created_at;
    let plan = vendor_refund(&o, None, eur("100.00"), now).unwrap();
    o.apply_refund(&plan, false, now).unwrap();
    assert_eq!(o.status, OrderStatus::Refunded);
    o.reverse_refund(&plan.parts[0], now, now).unwrap();
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

mod allocation {
    use super::*;
    use proptest::prelude::*;

    fn scaled(currency: &str) -> crate::domain::money::Currency {
        currency.parse().unwrap()
    }

    proptest! {
        // R-M2 (issue 13, defect 4): whatever the instalment split and the partial refunds,
        // the parts of an order's payments, and of its refunds, add up exactly to its net and
        // tax, and a full refund after partial ones returns exactly what is left.
        #[test]
        fn payments_and_refunds_carry_exactly_the_orders_tax(
            currency in prop::sample::select(vec!["EUR", "JPY", "KWD"]),
            total_units in 1i64..5_000_000,
            rate in prop::sample::select(vec![0i64, 5, 7, 10, 19, 20, 25, 27]),
            cuts in prop::collection::vec(1u32..1000, 0..6),
            refund_cuts in prop::collection::vec(1u32..1000, 0..6),
        ) {
            let currency = scaled(currency);
            let total = Money::from_minor_units(total_units, currency);
            let tax = Money::rounded(
                total.amount() * rust_decimal::Decimal::from(rate) / rust_decimal::Decimal::from(100 + rate),
                currency,
            );
            let mut o = order(Plan::OneTime, "1.00", "0.00");
            o.total = total;
            o.tax = tax;
            o.net = total.checked_sub(&tax).unwrap();
            o.refunded = Money::zero(currency);
            o.schedule = vec![crate::domain::orders::ScheduleItem::open(1, o.created_at, total)];
            // the instalments: cuts of what is left, the rest last
            let at = o.created_at;
            let mut left = total_units;
            for cut in &cuts {
                let part = left * i64::from(*cut) / 1000;
                if part == 0 || part == left { continue; }
                o.apply_payment(Money::from_minor_units(part, currency), at).unwrap();
                left -= part;
            }
            o.apply_payment(Money::from_minor_units(left, currency), at).unwrap();
            let sum = |f: &dyn Fn(&crate::domain::orders::payments::Payment) -> Money| {
                o.payments.iter().fold(Money::zero(currency), |s, p| s.checked_add(&f(p)).unwrap())
            };
            prop_assert_eq!(sum(&|p| p.amount), total);
            prop_assert_eq!(sum(&|p| p.tax), tax);
            // partial refunds, then the rest
            let rich = Money::from_minor_units(i64::MAX / 4, currency);
            let (mut refunded, mut refunded_tax, mut refunded_net) =
                (Money::zero(currency), Money::zero(currency), Money::zero(currency));
            for cut in &refund_cuts {
                let open = refundable(&o).unwrap().minor_units().unwrap();
                let part = open * i64::from(*cut) / 1000;
                if part == 0 || part == open { continue; }
                let plan = vendor_refund(&o, Some(Money::from_minor_units(part, currency)), rich, at).unwrap();
                prop_assert!(!plan.full);
                o.apply_refund(&plan, false, at).unwrap();
                refunded = refunded.checked_add(&plan.amount).unwrap();
                refunded_tax = refunded_tax.checked_add(&plan.tax).unwrap();
                refunded_net = refunded_net.checked_add(&plan.net).unwrap();
            }
            let last = vendor_refund(&o, None, rich, at).unwrap();
            prop_assert!(last.full);
            prop_assert_eq!(last.net, o.net.checked_sub(&refunded_net).unwrap());
            prop_assert_eq!(last.tax, tax.checked_sub(&refunded_tax).unwrap());
            o.apply_refund(&last, false, at).unwrap();
            prop_assert_eq!(refunded.checked_add(&last.amount).unwrap(), total);
            prop_assert_eq!(o.refunded, total);
            prop_assert_eq!(o.status, OrderStatus::Refunded);
        }
    }
}

fn part(source: PaymentSource, handle: Option<&str>, state: RefundState) -> RefundedPart {
    RefundedPart {
        part: RefundPart {
            payment: "pi_1".into(),
            source,
            amount: eur("1.00"),
            net: eur("0.84"),
            tax: eur("0.16"),
        },
        handle: handle.map(str::to_string),
        state,
        provider_refund: None,
    }
}

fn refund_of(parts: Vec<RefundedPart>) -> Refund {
    let o = paid_one_time();
    Refund {
        id: crate::domain::ids::RefundId::generate(
            o.created_at,
            &crate::domain::ids::SeededEntropy::new(9),
        ),
        vendor_id: o.vendor_id.clone(),
        order_id: o.id.clone(),
        amount: eur("1.00"),
        net: eur("0.84"),
        tax: eur("0.16"),
        state: Refund::combined_state(&parts),
        reason: "r".into(),
        origin: RefundOrigin::Vendor,
        ticket_id: None,
        parts,
        ended_plan: false,
        created_at: o.created_at,
        updated_at: o.created_at,
    }
}

// R-R5 (issue 13, defect 1): a refund is under way, not done, while a pending part reaches no
// provider — its reference unknown, or no adapter for its provider.
#[test]
fn a_refund_reaches_no_provider_only_for_a_pending_part_without_a_way_there() {
    use RefundState::{Pending, Succeeded};
    let reaches_none = |parts| refund_of(parts).reaches_no_provider();
    assert!(!reaches_none(vec![part(
        PaymentSource::Stripe,
        Some("pi_1"),
        Pending
    )]));
    assert!(reaches_none(vec![part(
        PaymentSource::Stripe,
        None,
        Pending
    )]));
    assert!(reaches_none(vec![part(
        PaymentSource::Paypal,
        Some("CAP1"),
        Pending
    )]));
    assert!(!reaches_none(vec![part(
        PaymentSource::Stripe,
        None,
        Succeeded
    )]));
    assert!(!reaches_none(vec![part(
        PaymentSource::Manual,
        None,
        Succeeded
    )]));
    assert!(reaches_none(vec![
        part(PaymentSource::Stripe, Some("pi_1"), Pending),
        part(PaymentSource::Paypal, Some("CAP1"), Pending),
    ]));
}

// R-R5: a refund's state is its parts' taken together.
#[test]
fn a_refund_is_pending_while_a_part_is_and_failed_only_when_all_failed() {
    use RefundState::{Failed, Pending, Succeeded};
    let state = |states: &[RefundState]| {
        let parts: Vec<RefundedPart> = states
            .iter()
            .map(|s| part(PaymentSource::Stripe, Some("pi_1"), *s))
            .collect();
        Refund::combined_state(&parts)
    };
    assert_eq!(state(&[Succeeded]), Succeeded);
    assert_eq!(state(&[Pending, Succeeded]), Pending);
    assert_eq!(state(&[Succeeded, Pending]), Pending);
    assert_eq!(state(&[Failed, Failed]), Failed);
    assert_eq!(state(&[Failed]), Failed);
    assert_eq!(state(&[Failed, Succeeded]), Succeeded);
    assert_eq!(state(&[Failed, Pending]), Pending);
}

// R-R1, R-R5: a refund never takes a part of a payment with nothing left of it.
#[test]
fn a_refund_skips_payments_already_refunded() {
    let mut o = order(Plan::OneTime, "11.90", "1.90");
    let at = o.created_at;
    o.apply_payment(eur("5.95"), at).unwrap();
    o.apply_payment(eur("5.95"), at + Duration::minutes(1))
        .unwrap();
    let first = vendor_refund(&o, Some(eur("5.95")), eur("100.00"), at).unwrap();
    assert_eq!(first.parts.len(), 1);
    assert_eq!(
        first.parts[0].payment, o.payments[1].key,
        "the newest first"
    );
    o.apply_refund(&first, false, at).unwrap();
    let rest = vendor_refund(&o, None, eur("100.00"), at).unwrap();
    assert_eq!(rest.parts.len(), 1, "{:?}", rest.parts);
    assert_eq!(rest.parts[0].payment, o.payments[0].key);
    assert_eq!(rest.amount, eur("5.95"));
}

// R-R5: a refund made at the provider takes the payment it names (else the newest provider
// payments), at most what is left, never money paid by hand.
#[test]
fn a_provider_refund_takes_the_named_payment_and_at_most_what_is_left() {
    use crate::domain::orders::payments::IncomingPayment;
    let mut o = order(Plan::OneTime, "11.90", "1.90");
    let at = o.created_at;
    o.apply_payment_once(&IncomingPayment::manual("manual:1".into()), eur("2.00"), at)
        .unwrap();
    o.apply_payment(eur("4.95"), at + Duration::minutes(1))
        .unwrap();
    o.apply_payment(eur("4.95"), at + Duration::minutes(2))
        .unwrap();
    let older = o.payments[1].key.clone();
    // named: only that payment, capped at what is left of it
    let plan = provider_refund(&o, eur("9.00"), Some(&older)).unwrap();
    assert_eq!((plan.amount, plan.parts.len()), (eur("4.95"), 1));
    assert_eq!(plan.parts[0].payment, older);
    // unnamed: the newest provider payments first, never the manual one
    let plan = provider_refund(&o, eur("6.00"), Some("pi_unknown")).unwrap();
    assert_eq!(plan.parts[0].payment, o.payments[2].key);
    assert_eq!(plan.parts[1].payment, older);
    let all = provider_refund(&o, eur("50.00"), None).unwrap();
    assert_eq!(all.amount, eur("9.90"));
    assert!(all.parts.iter().all(|p| p.source != PaymentSource::Manual));
    // an amount that cannot be: refused
    for bad in [
        eur("0.00"),
        eur("-1.00"),
        Money::parse("1.00", "USD".parse().unwrap()).unwrap(),
    ] {
        assert_eq!(
            provider_refund(&o, bad, None),
            Err(RefundError::BadAmount),
            "{bad}"
        );
    }
}

// R-R3: a plan whose last charge is refunded has nothing to refund, however old that charge is.
#[test]
fn nothing_left_is_nothing_to_refund_before_any_window() {
    let mut sub = order(
        Plan::Subscription {
            interval: Interval::Month,
        },
        "11.90",
        "1.90",
    );
    let start = sub.created_at;
    sub.apply_payment(eur("11.90"), start).unwrap();
    let plan = customer_refund(&sub, start).unwrap();
    sub.apply_refund(&plan, true, start).unwrap();
    assert_eq!(
        customer_refund(&sub, start + Duration::days(61)),
        Err(RefundError::NothingToRefund)
    );
}

// R-O10 (issue 13, defect 10): a dispute closes once, won or lost, in any order of arrival.
#[test]
fn a_dispute_closes_once_whichever_end_and_whenever_it_arrives() {
    let at = paid_one_time().created_at;
    // won: the order is as before
    let mut won = paid_one_time();
    assert_eq!(
        won.open_dispute("dp_1", eur("11.90"), at),
        Some(eur("10.00"))
    );
    assert_eq!(won.status, OrderStatus::Disputed);
    assert_eq!(
        won.close_dispute("dp_1", true, eur("11.90"), None, at),
        Some(DisputeEnd::Won { net: eur("10.00") })
    );
    assert_eq!(won.status, OrderStatus::Completed);
    assert_eq!(
        won.close_dispute("dp_1", true, eur("11.90"), None, at),
        None,
        "once"
    );
    // lost: refunded by the dispute
    let mut lost = paid_one_time();
    lost.open_dispute("dp_1", eur("11.90"), at);
    assert_eq!(
        lost.close_dispute("dp_1", false, eur("11.90"), None, at),
        Some(DisputeEnd::Lost { net: eur("10.00") })
    );
    assert_eq!(
        (lost.status, lost.refunded),
        (OrderStatus::Refunded, eur("11.90"))
    );
    // another currency, or a dispute never opened: nothing, but an unknown end waits once
    let mut other = paid_one_time();
    other.open_dispute("dp_1", eur("11.90"), at);
    let usd = Money::parse("11.90", "USD".parse().unwrap()).unwrap();
    assert_eq!(other.close_dispute("dp_1", true, usd, None, at), None);
    assert_eq!(other.status, OrderStatus::Disputed);
    assert_eq!(
        other.close_dispute("dp_2", true, eur("11.90"), None, at),
        Some(DisputeEnd::Early)
    );
    assert_eq!(
        other.close_dispute("dp_2", true, eur("11.90"), None, at),
        None
    );
    assert_eq!(other.status, OrderStatus::Disputed, "dp_1 is still open");
    // two disputes: the order is disputed until both are closed
    let mut two = paid_one_time();
    two.open_dispute("dp_1", eur("5.00"), at);
    two.open_dispute("dp_2", eur("5.00"), at);
    two.close_dispute("dp_1", true, eur("5.00"), None, at);
    assert_eq!(two.status, OrderStatus::Disputed);
    two.close_dispute("dp_2", true, eur("5.00"), None, at);
    assert_eq!(two.status, OrderStatus::Completed);
}
