//! The tickets' sweep reads due tickets only (R-T5–R-T7): with 100 000 idle tickets beside a few
//! due ones, the items read are the due ones. Figures are printed (they go into the closing note).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::call;
use http::Method;
use sellerdesk::domain::ids::{OrderId, OsEntropy, TicketId, VendorId};
use sellerdesk::domain::tickets::{NewTicket, Party, Policy, Ticket, TicketType};
use sellerdesk::store::ItemStore;
use sellerdesk::store::counting::CountingStore;
use sellerdesk::usecases::ports::load_vendor;
use sellerdesk::usecases::tickets::ticket_item;
use serde_json::json;
use std::sync::Arc;

const IDLE: usize = 100_000;
const DUE: usize = 5;

// R-T6
#[tokio::test]
async fn a_sweep_reads_the_due_tickets_not_the_idle_ones() {
    // given a vendor whose customer opened DUE support tickets 49 hours ago (first warning due)
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .to_utc();
    let counting = Arc::new(CountingStore::new(common::embedded()));
    let (app, clock) = common::app_at(counting.clone(), start);
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let token = common::token_of(&order["customer_link"]);
    for n in 0..DUE {
        let (status, _) = call(
            &app,
            Method::POST,
            &format!("/portal/orders/{token}/tickets"),
            None,
            json!({"type": "support", "message": format!("Frage {n}")}),
        )
        .await;
        assert_eq!(status, 201);
    }
    // and 100 000 idle tickets of the same vendor, opened now (their first timer is 48 h away)
    let now = start + Duration::hours(49);
    clock.freeze(now);
    let vendor_id = VendorId::parse(vendor["vendor_id"].as_str().unwrap()).unwrap();
    let profile = load_vendor(counting.as_ref(), &vendor_id).await.unwrap();
    let order_id = OrderId::parse(order["order_id"].as_str().unwrap()).unwrap();
    let policy = Policy {
        tz: chrono_tz::Europe::Berlin,
        restricted: false,
    };
    let idle: Vec<_> = (0..IDLE)
        .map(|_| {
            let new = NewTicket {
                id: TicketId::generate(now, &OsEntropy),
                vendor_id: vendor_id.clone(),
                order_id: order_id.clone(),
                ticket_type: TicketType::Support,
                by: Party::Customer,
                body: "idle",
            };
            ticket_item(None, &Ticket::open(new, now, policy).unwrap(), &profile).unwrap()
        })
        .collect();
    for chunk in idle.chunks(5_000) {
        counting.put_batch(chunk.to_vec()).await.unwrap();
    }
    // when the sweeps run
    counting.reset();
    let report = app.run_sweeps().await.unwrap();
    let counts = counting.counts();
    eprintln!(
        "ticket sweep with {IDLE} idle and {DUE} due tickets: due-index items read {}, store: {} queries (items read {}) + {} gets + {} transactions",
        report.tickets.items_read,
        counts.queries,
        counts.items_read,
        counts.gets,
        counts.transactions
    );
    // then it read and warned exactly the due tickets
    assert_eq!(report.tickets.items_read as usize, DUE);
    assert_eq!(report.tickets.warnings_sent as usize, DUE);
    // the store returned no idle ticket to any query (the rest of the items read are gets)
    assert_eq!((counts.items_read - counts.gets) as usize, DUE);
    // (the vendor once — its profile is kept — and each due ticket's order and customer)
    assert_eq!(counts.gets as usize, 1 + 2 * DUE);
    // and a second run reads nothing
    counting.reset();
    let again = app.run_sweeps().await.unwrap();
    assert_eq!(
        (again.tickets.items_read, again.tickets.warnings_sent),
        (0, 0)
    );
    assert_eq!(counting.counts().items_read, 0);
}
