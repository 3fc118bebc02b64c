//! Rotating the link key (issue 12, §4; R-O4): links sent before a rotation keep working and
//! keep being re-derived with the key they came from; new links come from the current key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{TimeZone, Utc};
use common::{ADMIN, call, token_of, vendor_with_order};
use http::Method;
use sellerdesk::app::App;
use sellerdesk::domain::clock::SettableClock;
use sellerdesk::domain::ids::OsEntropy;
use sellerdesk::domain::token::{LinkKey, LinkKeys, SecretDigest};
use sellerdesk::store::ItemStore;
use serde_json::json;
use std::sync::Arc;

fn app_with(store: &Arc<dyn ItemStore>, keys: LinkKeys) -> App {
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    App::new(
        Arc::clone(store),
        Arc::new(SettableClock::frozen(now)),
        Arc::new(OsEntropy),
        Some(SecretDigest::of(ADMIN)),
        keys,
    )
}

/// The pay link the vendor's card shows (R-O4: the vendor holds that one, not the customer's).
async fn card_link(app: &App, key: &str, order_id: &serde_json::Value) -> (u16, serde_json::Value) {
    let path = format!("/api/orders/{}", order_id.as_str().unwrap());
    let (status, card) = call(app, Method::GET, &path, Some(key), serde_json::Value::Null).await;
    (status, card["pay_link"].clone())
}

// R-O4
#[tokio::test]
async fn links_from_an_older_key_keep_working_after_the_key_is_rotated() {
    // given an order whose customer link came from the first key
    let store = common::embedded();
    let first = LinkKey::generate(&OsEntropy);
    let second = LinkKey::generate(&OsEntropy);
    let before = app_with(&store, LinkKeys::parse(&first.to_base64()).unwrap());
    let (vendor, order) = vendor_with_order(&before, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let old_link = order["customer_link"].clone();
    let (_, old_pay_link) = card_link(&before, &key, &order["order_id"]).await;
    // when the platform makes a second key current and still holds the first
    let ring = json!({"current": "2", "1": first.to_base64(), "2": second.to_base64()});
    let after = app_with(&store, LinkKeys::parse(&ring.to_string()).unwrap());
    // then the old links still open the order, and the vendor's card re-derives the same link
    let portal = format!("/portal/orders/{}", token_of(&old_link));
    let (status, _) = call(&after, Method::GET, &portal, None, serde_json::Value::Null).await;
    assert_eq!(status, 200);
    let paying = format!("/portal/orders/{}", token_of(&old_pay_link));
    let (status, _) = call(&after, Method::GET, &paying, None, serde_json::Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(
        card_link(&after, &key, &order["order_id"]).await,
        (200, old_pay_link.clone())
    );
    // and a new checkout's link comes from the second key: the first key alone cannot make it
    let (status, offers) = call(
        &after,
        Method::GET,
        "/api/offers",
        Some(&key),
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{offers}");
    let offer_id = offers["items"][0]["id"].clone();
    let customer =
        json!({"email": "e@example.com", "first_name": "E", "last_name": "F", "country": "DE"});
    let (status, newer) = call(
        &after,
        Method::POST,
        "/checkout",
        None,
        json!({"offer_id": offer_id, "customer": customer}),
    )
    .await;
    assert_eq!(status, 201, "{newer}");
    let (status, new_pay_link) = card_link(&after, &key, &newer["order_id"]).await;
    assert_eq!(status, 200);
    let paying = format!("/portal/orders/{}", token_of(&new_pay_link));
    let (status, _) = call(&after, Method::GET, &paying, None, serde_json::Value::Null).await;
    assert_eq!(status, 200);
    assert_ne!(card_link(&before, &key, &newer["order_id"]).await.0, 200);
    // and once the first key is retired, its links still open (only their digest is needed),
    // but nothing re-derives them with a wrong key: the card refuses instead
    let retired = json!({"current": "2", "2": second.to_base64()});
    let later = app_with(&store, LinkKeys::parse(&retired.to_string()).unwrap());
    let (status, _) = call(&later, Method::GET, &portal, None, serde_json::Value::Null).await;
    assert_eq!(status, 200);
    let (status, link) = card_link(&later, &key, &order["order_id"]).await;
    assert_eq!(status, 500);
    assert!(link.is_null());
}

// R-O4 (issue 13, defect 11; issue 16, item 6): a vendor revokes an order's links: the old
// tokens open nothing, the new customer link goes to the customer by e-mail — never to the
// vendor, who is answered the new pay link — and every mail sent later carries the new one.
#[tokio::test]
async fn a_rotated_customer_link_revokes_the_old_one() {
    let store = common::embedded();
    let app = app_with(&store, LinkKey::generate(&OsEntropy).into());
    let (vendor, order) = vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let old_link = order["customer_link"].clone();
    let old_pay_link = card_link(&app, &key, &order["order_id"]).await.1;
    let path = format!(
        "/api/orders/{}/customer-link/rotate",
        order["order_id"].as_str().unwrap()
    );
    let (status, rotated) = call(
        &app,
        Method::POST,
        &path,
        Some(&key),
        serde_json::Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert!(rotated.get("customer_link").is_none(), "{rotated}");
    let new_pay_link = rotated["pay_link"].clone();
    assert_ne!(new_pay_link, old_pay_link);
    let clock = Arc::new(SettableClock::frozen(
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
    ));
    let renewals: Vec<_> = common::dispatched(&store, Arc::clone(&clock))
        .await
        .emails()
        .await
        .unwrap()
        .into_iter()
        .filter(|mail| mail.kind == sellerdesk::domain::notifications::EmailKind::OrderLinkRenewed)
        .collect();
    assert_eq!(renewals.len(), 1);
    assert_eq!(renewals[0].to, "c@example.com");
    let new_link = json!(
        renewals[0]
            .text
            .split_whitespace()
            .find(|word| word.contains("/orders/"))
            .unwrap()
    );
    assert_ne!(new_link, old_link);
    assert!(!renewals[0].text.contains(token_of(&old_link).as_str()));
    let open = |link: serde_json::Value| {
        let app = app.clone();
        async move {
            let portal = format!("/portal/orders/{}", token_of(&link));
            call(&app, Method::GET, &portal, None, serde_json::Value::Null)
                .await
                .0
        }
    };
    assert_eq!(open(old_link).await, 404);
    assert_eq!(open(old_pay_link).await, 404);
    assert_eq!(open(new_link.clone()).await, 200);
    assert_eq!(open(new_pay_link.clone()).await, 200);
    assert_eq!(
        card_link(&app, &key, &order["order_id"]).await,
        (200, new_pay_link.clone())
    );
    // a mail sent later (a manual payment's receipt) carries the new link
    let payments = format!(
        "/api/orders/{}/payments",
        order["order_id"].as_str().unwrap()
    );
    let (status, _) = call(
        &app,
        Method::POST,
        &payments,
        Some(&key),
        json!({"amount": {"amount": "11.90", "currency": "EUR"}, "method": "bank_transfer"}),
    )
    .await;
    assert_eq!(status, 201);
    let mailbox = common::dispatched(&store, clock).await;
    let receipts: Vec<_> = mailbox
        .emails()
        .await
        .unwrap()
        .into_iter()
        .filter(|mail| mail.kind == sellerdesk::domain::notifications::EmailKind::PaymentReceipt)
        .collect();
    assert_eq!(receipts.len(), 1);
    assert!(
        receipts[0].text.contains(new_link.as_str().unwrap()),
        "{}",
        receipts[0].text
    );
}
