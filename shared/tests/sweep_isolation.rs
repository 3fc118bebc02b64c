//! One bad item never stops a sweep (issue 13, defect 7): the tickets' sweep and the outbox
//! dispatcher record the failure on the item, back it off, and go on with the rest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::call;
use http::Method;
use sellerdesk::domain::clock::Clock;
use sellerdesk::store::keys::vendor_pk;
use sellerdesk::store::{Condition, Index, Item, Key};
use serde_json::{Value, json};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

// R-T5 (issue 13, defect 7)
#[tokio::test]
async fn a_ticket_whose_order_cannot_be_loaded_does_not_stop_the_others() {
    // given two paid orders, each with a refund request due tomorrow
    let store = common::embedded();
    let (app, clock) = common::app_at(Arc::clone(&store), at("2026-11-24T09:00:00Z"));
    let (vendor, first) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let (_, offers) = call(&app, Method::GET, "/api/offers", Some(&key), Value::Null).await;
    let customer =
        json!({"email": "e@example.com", "first_name": "E", "last_name": "F", "country": "DE"});
    let (_, second) = call(
        &app,
        Method::POST,
        "/checkout",
        None,
        json!({"offer_id": offers["items"][0]["id"], "customer": customer}),
    )
    .await;
    for (n, order) in [&first, &second].into_iter().enumerate() {
        let paid = json!({"id": format!("evt_{n}"), "object": "event", "type": "checkout.session.completed", "data": {"object": {
            "id": format!("cs_{n}"), "object": "checkout.session", "amount_total": 1190, "currency": "eur",
            "payment_status": "paid", "payment_intent": format!("pi_{n}"), "metadata": {"order_id": order["order_id"]}}}});
        assert_eq!(
            common::deliver_stripe(&app, &vendor, clock.now(), &paid).await,
            200
        );
        let token = common::token_of(&order["customer_link"]);
        let (status, _) = call(
            &app,
            Method::POST,
            &format!("/portal/orders/{token}/tickets"),
            None,
            json!({"type": "refund", "message": "zurück"}),
        )
        .await;
        assert_eq!(status, 201);
    }
    // ... and the first order's item is gone (a broken migration, an operator's mistake)
    let vendor_id =
        sellerdesk::domain::ids::VendorId::parse(vendor["vendor_id"].as_str().unwrap()).unwrap();
    let order_id =
        sellerdesk::domain::ids::OrderId::parse(first["order_id"].as_str().unwrap()).unwrap();
    store
        .delete(
            &sellerdesk::store::keys::order_key(&vendor_id, &order_id),
            Condition::Always,
        )
        .await
        .unwrap();
    // when the sweep runs once both are due
    clock.freeze(at("2026-11-26T09:00:00Z"));
    let report = app.run_sweeps().await.unwrap().tickets;
    // then the second request is executed, the first recorded as failed
    assert_eq!(
        (report.refunds_executed, report.failed),
        (1, 1),
        "{report:?}"
    );
    // and the failed one waits for its backoff instead of failing every minute
    clock.freeze(at("2026-11-26T09:01:00Z"));
    let report = app.run_sweeps().await.unwrap().tickets;
    assert_eq!((report.items_read, report.failed), (0, 0), "{report:?}");
    clock.freeze(at("2026-11-26T09:06:00Z"));
    let report = app.run_sweeps().await.unwrap().tickets;
    assert_eq!(report.failed, 1, "due again after 5 minutes: {report:?}");
}

// R-N1 (issue 13, defect 7)
#[tokio::test]
async fn a_broken_outbox_item_does_not_stop_the_mail_behind_it() {
    use sellerdesk::outbox::dispatch::Dispatcher;
    use sellerdesk::outbox::local::LocalOutbox;
    let store = common::embedded();
    let (app, clock) = common::app_at(Arc::clone(&store), at("2026-11-24T09:00:00Z"));
    let (vendor, _order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    // given a due outbox item whose body is not an outbox entry, due before the real mail
    let vendor_id =
        sellerdesk::domain::ids::VendorId::parse(vendor["vendor_id"].as_str().unwrap()).unwrap();
    let (pk, sk) = sellerdesk::store::keys::due_entry(
        sellerdesk::store::keys::DueQueue::Outbox,
        clock.now() - Duration::minutes(10),
        "broken",
    );
    let broken = Item::new(
        Key::new(vendor_pk(&vendor_id), "OUTBOX#broken"),
        json!({"not": "an outbox entry"}),
    )
    .with_index(Index::Due, pk, sk);
    store.put(broken, Condition::Absent).await.unwrap();
    // when the dispatcher runs
    let mailbox = LocalOutbox::new(Arc::clone(&store));
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(mailbox.clone()),
        Arc::new(mailbox.clone()),
        clock.clone(),
    );
    let report = dispatcher.dispatch_due().await.unwrap();
    // then the checkout's mail went out and the broken item is recorded and backed off
    assert_eq!(report.failed, 1, "{report:?}");
    assert!(report.emails_sent >= 1, "{report:?}");
    assert!(!mailbox.emails().await.unwrap().is_empty());
    let kept = store
        .get(&Key::new(vendor_pk(&vendor_id), "OUTBOX#broken"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.body["sweep_failures"], 1);
    assert_eq!(dispatcher.dispatch_due().await.unwrap().failed, 0);
}
