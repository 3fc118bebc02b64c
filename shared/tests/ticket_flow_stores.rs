//! A customer's refund request through its grace period, on both store adapters (R-T0, R-T1,
//! R-T5, R-R2, R-R5): the one-open-request lock, the tickets' due-index, the order's tickets
//! (gsi1) and the sweep's exactly-once firing use each store's own conditions and indexes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Utc};
use common::call;
use http::Method;
use sellerdesk::domain::notifications::Message;
use sellerdesk::outbox::OutboxEntry;
use sellerdesk::store::keys::vendor_pk;
use sellerdesk::store::{ItemStore, Query, SortRange};
use serde_json::{Value, json};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// The kinds of the e-mails in the vendor's outbox.
async fn email_kinds(store: &dyn ItemStore, vendor_id: &str) -> Vec<String> {
    let vendor = sellerdesk::domain::ids::VendorId::parse(vendor_id).unwrap();
    let query = Query::table(vendor_pk(&vendor), SortRange::Prefix("OUTBOX#".into())).limit(200);
    let page = store.query(&query).await.unwrap();
    page.items
        .iter()
        .map(|item| item.decode::<OutboxEntry>().unwrap())
        .filter_map(|entry| match entry.message {
            Message::Email(email) => Some(
                serde_json::to_value(email.kind)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
            ),
            Message::Event(_) => None,
        })
        .collect()
}

async fn refund_request_flow(store: Arc<dyn ItemStore>) {
    // given an order paid on Friday (a manual payment: refunded outside a provider)
    let (app, clock) = common::app_at(store.clone(), at("2026-11-27T09:00:00Z"));
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str().unwrap();
    let vendor_id = vendor["vendor_id"].as_str().unwrap();
    let order_id = order["order_id"].as_str().unwrap();
    let (status, paid) = call(
        &app,
        Method::POST,
        &format!("/api/orders/{order_id}/payments"),
        Some(key),
        json!({"amount": {"amount": "11.90", "currency": "EUR"}, "method": "bank_transfer"}),
    )
    .await;
    assert_eq!(status, 201, "{paid}");
    let token = common::token_of(&order["customer_link"]);
    // when the customer asks for a refund on Friday evening, twice
    clock.freeze(at("2026-11-27T19:00:00Z"));
    let tickets = format!("/portal/orders/{token}/tickets");
    let (status, opened) = call(
        &app,
        Method::POST,
        &tickets,
        None,
        json!({"type": "refund", "message": "zurück"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["due_at"], "2026-11-30T19:00:00Z");
    let (status, again) = call(
        &app,
        Method::POST,
        &tickets,
        None,
        json!({"type": "refund", "message": "nochmal"}),
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("ticket_already_open")),
        "{again}"
    );
    // then nothing happens over the weekend
    clock.freeze(at("2026-11-29T19:00:00Z"));
    assert_eq!(app.run_sweeps().await.unwrap().tickets.refunds_executed, 0);
    // and on Monday two overlapping sweeps execute it once
    clock.freeze(at("2026-11-30T19:00:00Z"));
    let (first, second) = tokio::join!(app.run_sweeps(), app.run_sweeps());
    let executed =
        first.unwrap().tickets.refunds_executed + second.unwrap().tickets.refunds_executed;
    assert_eq!(executed, 1);
    assert_eq!(app.run_sweeps().await.unwrap().tickets.refunds_executed, 0);
    let (_, card) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        Some(key),
        Value::Null,
    )
    .await;
    assert_eq!(
        (card["status"].as_str(), card["refunded"]["amount"].as_str()),
        (Some("refunded"), Some("11.90")),
        "{card}"
    );
    assert_eq!(card["tickets"][0]["close_reason"], "executed", "{card}");
    let (_, history) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}/transactions"),
        Some(key),
        Value::Null,
    )
    .await;
    assert_eq!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "refund")
            .count(),
        1
    );
    // one confirmation each side, in the outbox with the ticket's opening
    let kinds = email_kinds(store.as_ref(), vendor_id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "refund_confirmation").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "ticket_opened").count(),
        2,
        "{kinds:?}"
    );
}

// R-T1, R-T5, R-R2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_refund_request_through_its_grace_period() {
    refund_request_flow(common::embedded()).await;
}

// R-T1, R-T5, R-R2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_refund_request_through_its_grace_period() {
    let Some(store) = common::dynamodb().await else {
        return;
    };
    refund_request_flow(store).await;
}
