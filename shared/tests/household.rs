//! Address matching (R-C1; issue 16, item 12): in a household matched as one customer, each
//! person's order is theirs — its mail goes to the e-mail typed at its checkout, and one
//! person's checkout never supersedes another's order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Utc};
use common::call;
use http::Method;
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

// R-C1, R-O2 (issue 16, item 12)
#[tokio::test]
async fn a_daughters_order_at_her_fathers_address_stays_hers() {
    // given a vendor matching by address, and a father's unpaid order
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
    let (vendor, _) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str();
    let (status, _) = call(
        &app,
        Method::PUT,
        "/api/settings",
        key,
        json!({"matching_mode": "address"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, offers) = call(&app, Method::GET, "/api/offers", key, Value::Null).await;
    let address =
        json!({"street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"});
    let checkout = |email: &str, first_name: &str, previous: Option<String>| {
        let mut body = json!({"offer_id": offers["items"][0]["id"], "customer": {"email": email,
            "first_name": first_name, "last_name": "Muster", "country": "DE", "address": address}});
        if let Some(previous) = previous {
            body["previous_order"] = json!(previous);
        }
        let app = &app;
        async move { call(app, Method::POST, "/checkout", None, body).await.1 }
    };
    let father = checkout("vater@example.com", "Hans", None).await;
    // when his daughter checks out at the same address, carrying his order's link
    let daughter = checkout(
        "tochter@example.com",
        "Lena",
        Some(common::token_of(&father["customer_link"])),
    )
    .await;
    // then both are the same customer's orders, his is not superseded, and each mail goes to
    // the one who ordered
    let card = |order: &Value| {
        let path = format!("/api/orders/{}", order["order_id"].as_str().unwrap());
        let app = &app;
        async move { call(app, Method::GET, &path, key, Value::Null).await.1 }
    };
    let (his, hers) = (card(&father).await, card(&daughter).await);
    assert_eq!(
        his["customer"]["id"], hers["customer"]["id"],
        "one household"
    );
    assert_eq!(his["status"], "pending_payment", "{his}");
    let mails = common::dispatched(&app.store, clock.clone())
        .await
        .emails()
        .await
        .unwrap();
    let mut to: Vec<&str> = mails
        .iter()
        .filter(|mail| mail.kind == sellerdesk::domain::notifications::EmailKind::OrderConfirmation)
        .map(|mail| mail.to.as_str())
        .collect();
    to.sort();
    assert_eq!(
        to,
        ["c@example.com", "tochter@example.com", "vater@example.com"]
    );
}
