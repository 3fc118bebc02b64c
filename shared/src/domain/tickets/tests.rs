use super::*;
use crate::domain::ids::SeededEntropy;

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const NEW_YORK: Tz = chrono_tz::America::New_York;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn policy(tz: Tz) -> Policy {
    Policy {
        tz,
        restricted: false,
    }
}

fn restricted() -> Policy {
    Policy {
        tz: BERLIN,
        restricted: true,
    }
}

fn ticket(kind: TicketType, by: Party, at: &str, policy: Policy) -> Ticket {
    let now = utc(at);
    let e = SeededEntropy::new(9);
    Ticket::open(
        NewTicket {
            id: TicketId::generate(now, &e),
            vendor_id: VendorId::generate(now, &e),
            order_id: OrderId::generate(now, &e),
            ticket_type: kind,
            by,
            body: "Bitte erstatten",
        },
        now,
        policy,
    )
    .unwrap()
}

fn due(kind: TicketType, by: Party, at: &str, policy: Policy) -> DateTime<Utc> {
    ticket(kind, by, at, policy).due_at.unwrap()
}

// R-T1
#[test]
fn a_customer_request_is_due_a_day_later_off_the_weekend() {
    // Wednesday 10:00 Berlin → Thursday 10:00
    assert_eq!(
        due(
            TicketType::Refund,
            Party::Customer,
            "2026-11-25T09:00:00Z",
            policy(BERLIN)
        ),
        utc("2026-11-26T09:00:00Z")
    );
    // Friday evening 20:00 → Saturday 20:00 → Monday 20:00
    assert_eq!(
        due(
            TicketType::Refund,
            Party::Customer,
            "2026-11-27T19:00:00Z",
            policy(BERLIN)
        ),
        utc("2026-11-30T19:00:00Z")
    );
    // Saturday 10:00 → Sunday 10:00 → Monday 10:00
    assert_eq!(
        due(
            TicketType::Cancel,
            Party::Customer,
            "2026-11-28T09:00:00Z",
            policy(BERLIN)
        ),
        utc("2026-11-30T09:00:00Z")
    );
    // Thursday 23:30 → Friday 23:30: a weekday, not deferred
    assert_eq!(
        due(
            TicketType::Refund,
            Party::Customer,
            "2026-11-26T22:30:00Z",
            policy(BERLIN)
        ),
        utc("2026-11-27T22:30:00Z")
    );
}

// R-T1, R-M3: across the DST changes, the weekend deferral keeps the local wall time
#[test]
fn a_due_time_across_daylight_saving_changes_keeps_the_local_time() {
    // Berlin spring (29 March 2026): Fri 10:00 CET → Sat 10:00 → Mon 10:00 CEST, 71 h later
    let opened = utc("2026-03-27T09:00:00Z");
    let at = due(
        TicketType::Refund,
        Party::Customer,
        "2026-03-27T09:00:00Z",
        policy(BERLIN),
    );
    assert_eq!(at, utc("2026-03-30T08:00:00Z"));
    assert_eq!(at - opened, Duration::hours(71));
    // Berlin autumn (25 October 2026): Fri 10:00 CEST → Mon 10:00 CET, 73 h later
    let at = due(
        TicketType::Refund,
        Party::Customer,
        "2026-10-23T08:00:00Z",
        policy(BERLIN),
    );
    assert_eq!(at, utc("2026-10-26T09:00:00Z"));
    // Saturday noon CET + 24 h is Sunday 13:00 CEST (the clock jumped) → Monday 13:00 CEST
    let at = due(
        TicketType::Refund,
        Party::Customer,
        "2026-03-28T11:00:00Z",
        policy(BERLIN),
    );
    assert_eq!(at, utc("2026-03-30T11:00:00Z"));
    // New York spring (8 March 2026): Fri 18:00 EST → Mon 18:00 EDT
    let at = due(
        TicketType::Refund,
        Party::Customer,
        "2026-03-06T23:00:00Z",
        policy(NEW_YORK),
    );
    assert_eq!(at, utc("2026-03-09T22:00:00Z"));
    // New York autumn (1 November 2026): Fri 18:00 EDT → Mon 18:00 EST
    let at = due(
        TicketType::Refund,
        Party::Customer,
        "2026-10-30T22:00:00Z",
        policy(NEW_YORK),
    );
    assert_eq!(at, utc("2026-11-02T23:00:00Z"));
}

// R-T2
#[test]
fn a_vendor_opened_request_is_due_in_five_minutes_even_on_a_saturday() {
    for by in [Party::Vendor, Party::Api] {
        assert_eq!(
            due(
                TicketType::Refund,
                by,
                "2026-11-28T09:00:00Z",
                policy(BERLIN)
            ),
            utc("2026-11-28T09:05:00Z")
        );
    }
    // and the vendor may still close it before then
    let mut t = ticket(
        TicketType::Refund,
        Party::Vendor,
        "2026-11-28T09:00:00Z",
        policy(BERLIN),
    );
    t.close(Party::Vendor, utc("2026-11-28T09:04:00Z"), policy(BERLIN))
        .unwrap();
    assert_eq!(t.close_reason, Some(CloseReason::ClosedByVendor));
    assert_eq!(t.fire_due(utc("2026-11-28T09:06:00Z"), BERLIN), None);
}

// R-T3
#[test]
fn a_restricted_vendors_customers_wait_five_minutes_and_the_vendor_cannot_intervene() {
    let mut t = ticket(
        TicketType::Refund,
        Party::Customer,
        "2026-11-27T19:00:00Z",
        restricted(),
    );
    assert_eq!(t.due_at, Some(utc("2026-11-27T19:05:00Z")));
    let later = utc("2026-11-27T19:01:00Z");
    assert_eq!(
        t.close(Party::Vendor, later, restricted()),
        Err(TicketError::VendorRestricted)
    );
    assert_eq!(
        t.close(Party::Api, later, restricted()),
        Err(TicketError::VendorRestricted)
    );
    assert_eq!(
        t.change_type(TicketType::Support, Party::Vendor, later, restricted()),
        Err(TicketError::VendorRestricted)
    );
    // the vendor can still answer, and the customer can still close
    t.comment(Party::Vendor, "Schade", later).unwrap();
    t.close(Party::Customer, later, restricted()).unwrap();
    assert_eq!(t.close_reason, Some(CloseReason::ClosedByCustomer));
}

// R-T4
#[test]
fn either_side_can_save_the_sale_before_execution() {
    let p = policy(BERLIN);
    // the vendor turns a refund request into support: no refund, inactivity timers instead
    let mut t = ticket(
        TicketType::Refund,
        Party::Customer,
        "2026-11-25T09:00:00Z",
        p,
    );
    let talk = utc("2026-11-25T12:00:00Z");
    t.change_type(TicketType::Support, Party::Vendor, talk, p)
        .unwrap();
    assert_eq!(t.due_at, None);
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::Warn(utc("2026-11-27T12:00:00Z")))
    );
    assert_eq!(
        t.fire_due(utc("2026-11-26T09:00:00Z"), BERLIN),
        None,
        "nothing executes at the old due time"
    );
    // the vendor cannot turn it back into a request; the customer can, due a day from then
    let later = utc("2026-11-27T19:00:00Z"); // Friday 20:00
    assert_eq!(
        t.change_type(TicketType::Refund, Party::Vendor, later, p),
        Err(TicketError::OnlyCustomerRequests)
    );
    t.change_type(TicketType::Refund, Party::Customer, later, p)
        .unwrap();
    assert_eq!(t.due_at, Some(utc("2026-11-30T19:00:00Z")));
    // a customer closing it saves the sale
    t.close(Party::Customer, utc("2026-11-28T09:00:00Z"), p)
        .unwrap();
    assert_eq!(t.next_timer(BERLIN), None);
    assert_eq!(
        t.comment(Party::Customer, "doch", later),
        Err(TicketError::Closed)
    );
}

// R-T4, R-T3: a customer's conversion for a restricted vendor is due in five minutes
#[test]
fn support_turned_into_a_request_for_a_restricted_vendor_is_due_in_five_minutes() {
    let mut t = ticket(
        TicketType::Support,
        Party::Customer,
        "2026-11-28T09:00:00Z",
        restricted(),
    );
    t.change_type(
        TicketType::Cancel,
        Party::Customer,
        utc("2026-11-28T10:00:00Z"),
        restricted(),
    )
    .unwrap();
    assert_eq!(t.due_at, Some(utc("2026-11-28T10:05:00Z")));
}

// R-T5
#[test]
fn a_due_request_is_executed_once_and_closed() {
    let mut t = ticket(
        TicketType::Refund,
        Party::Customer,
        "2026-11-25T09:00:00Z",
        policy(BERLIN),
    );
    assert_eq!(t.fire_due(utc("2026-11-26T08:59:59Z"), BERLIN), None);
    let at = utc("2026-11-26T09:00:00Z");
    assert_eq!(
        t.fire_due(at, BERLIN),
        Some(Fired::Execute(TicketType::Refund))
    );
    assert_eq!(
        (t.state, t.close_reason, t.closed_at),
        (TicketState::Closed, Some(CloseReason::Executed), Some(at))
    );
    // a second sweep finds nothing
    assert_eq!(t.fire_due(at, BERLIN), None);
}

// R-T6
#[test]
fn a_ticket_awaiting_the_vendor_warns_twice_then_closes_off_the_weekend() {
    // opened by the customer Monday 23 November 10:00 Berlin
    let mut t = ticket(
        TicketType::Support,
        Party::Customer,
        "2026-11-23T09:00:00Z",
        policy(BERLIN),
    );
    assert_eq!(t.awaiting, Awaiting::Vendor);
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::Warn(utc("2026-11-25T09:00:00Z")))
    );
    assert_eq!(
        t.fire_due(utc("2026-11-25T09:00:00Z"), BERLIN),
        Some(Fired::Warned)
    );
    assert_eq!(
        t.fire_due(utc("2026-11-25T09:00:00Z"), BERLIN),
        None,
        "one warning per due time"
    );
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::Warn(utc("2026-11-27T09:00:00Z")))
    );
    assert_eq!(
        t.fire_due(utc("2026-11-27T09:00:00Z"), BERLIN),
        Some(Fired::Warned)
    );
    // +144 h is Sunday 29th → Monday 30th 10:00
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::AutoClose(utc("2026-11-30T09:00:00Z")))
    );
    assert_eq!(
        t.fire_due(utc("2026-11-29T09:00:00Z"), BERLIN),
        None,
        "not on Sunday"
    );
    assert_eq!(
        t.fire_due(utc("2026-11-30T09:00:00Z"), BERLIN),
        Some(Fired::AutoClosed)
    );
    assert_eq!(t.close_reason, Some(CloseReason::Inactive));
}

// R-T7: business days across weekends
#[test]
fn a_ticket_awaiting_the_customer_warns_after_7_and_closes_after_14_business_days() {
    let mut t = ticket(
        TicketType::Support,
        Party::Customer,
        "2026-11-23T09:00:00Z",
        policy(BERLIN),
    );
    // the vendor answers Friday 27 November 11:00 Berlin
    t.comment(
        Party::Vendor,
        "Wie können wir helfen?",
        utc("2026-11-27T10:00:00Z"),
    )
    .unwrap();
    assert_eq!(t.awaiting, Awaiting::Customer);
    // 7 business days after Friday: Mon 30 … Tue 8 December
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::Warn(utc("2026-12-08T10:00:00Z")))
    );
    assert_eq!(
        t.fire_due(utc("2026-12-08T10:00:00Z"), BERLIN),
        Some(Fired::Warned)
    );
    // 14 business days: Thursday 17 December
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::AutoClose(utc("2026-12-17T10:00:00Z")))
    );
}

// R-T6, R-T7 (issue 16, item 5): a sweep after an outage that finds every timer past sends one
// warning, and the close follows it by the normal gap — never a warning and its close at once
#[test]
fn a_late_sweep_sends_one_warning_and_moves_the_close() {
    // given a ticket awaiting the vendor since Monday 23 November, and no sweep for a week
    let mut t = ticket(
        TicketType::Support,
        Party::Customer,
        "2026-11-23T09:00:00Z",
        policy(BERLIN),
    );
    let back = utc("2026-11-30T12:00:00Z");
    // when the sweeps come back, after both warnings and the close were due
    assert_eq!(t.fire_due(back, BERLIN), Some(Fired::Warned));
    // then one warning goes out, and the next step waits its normal gap
    assert_eq!(t.fire_due(back, BERLIN), None, "one warning, not all three");
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::Warn(utc("2026-12-02T12:00:00Z")))
    );
    assert_eq!(
        t.fire_due(utc("2026-12-02T12:00:00Z"), BERLIN),
        Some(Fired::Warned)
    );
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::AutoClose(utc("2026-12-04T12:00:00Z")))
    );

    // given a ticket awaiting the customer since Friday 27 November, and sweeps back on
    // Sunday 20 December, after its close was due (Thursday 17th)
    let mut t = ticket(
        TicketType::Support,
        Party::Customer,
        "2026-11-23T09:00:00Z",
        policy(BERLIN),
    );
    t.comment(Party::Vendor, "Antwort", utc("2026-11-27T10:00:00Z"))
        .unwrap();
    let back = utc("2026-12-20T12:00:00Z");
    assert_eq!(t.fire_due(back, BERLIN), Some(Fired::Warned));
    // then the close comes 7 business days after that warning: Tuesday 29 December
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::AutoClose(utc("2026-12-29T12:00:00Z")))
    );
    assert_eq!(t.fire_due(back, BERLIN), None);
}

// R-T8
#[test]
fn a_comment_or_a_type_change_resets_the_inactivity_timers() {
    let p = policy(BERLIN);
    let mut t = ticket(
        TicketType::Support,
        Party::Customer,
        "2026-11-23T09:00:00Z",
        p,
    );
    t.fire_due(utc("2026-11-25T09:00:00Z"), BERLIN).unwrap();
    assert_eq!(t.warnings_sent, 1);
    // the customer writes again Thursday: awaiting the vendor, 48 h from now
    t.comment(Party::Customer, "Hallo?", utc("2026-11-26T09:00:00Z"))
        .unwrap();
    assert_eq!(t.warnings_sent, 0);
    assert_eq!(
        t.next_timer(BERLIN),
        Some(Timer::Warn(utc("2026-11-28T09:00:00Z")))
    );
    // a type change resets too (refund → support by the vendor)
    let mut r = ticket(
        TicketType::Refund,
        Party::Customer,
        "2026-11-23T09:00:00Z",
        p,
    );
    r.change_type(
        TicketType::Support,
        Party::Vendor,
        utc("2026-11-24T09:00:00Z"),
        p,
    )
    .unwrap();
    assert_eq!(r.last_activity, utc("2026-11-24T09:00:00Z"));
}

// R-T0
#[test]
fn messages_must_say_something() {
    let now = utc("2026-11-23T09:00:00Z");
    let e = SeededEntropy::new(1);
    let open = |body: &str| {
        let new = NewTicket {
            id: TicketId::generate(now, &e),
            vendor_id: VendorId::generate(now, &e),
            order_id: OrderId::generate(now, &e),
            ticket_type: TicketType::Support,
            by: Party::Customer,
            body,
        };
        Ticket::open(new, now, policy(BERLIN))
    };
    assert_eq!(open("   ").err(), Some(TicketError::BadMessage));
    assert_eq!(
        open(&"x".repeat(MAX_MESSAGE_CHARS + 1)).err(),
        Some(TicketError::BadMessage)
    );
    assert!(open("Frage").is_ok());
}
