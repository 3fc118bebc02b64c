//! R-C6: blocking a customer blocks every customer of the vendor sharing a payment fingerprint;
//! blocked customers cannot check out (403 customer_blocked); unblocking lifts both blocks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{checkout_as, get, new_offer, new_vendor, post_json, post_stripe_event, start_server};
use serde_json::{Value, json};

#[tokio::test]
async fn blocking_follows_shared_fingerprints_and_refuses_checkout() {
    let server = start_server("blocking").await;
    let url = server.url();
    let vendor = new_vendor(&url, "a").await;
    let other_vendor = new_vendor(&url, "b").await;
    let key = vendor["api_key"].as_str().unwrap();
    let secret = common::STRIPE_SECRET;
    let vendor_id = vendor["vendor_id"].as_str().unwrap();
    let now = get(&url, "/_dev/clock", None).await.json()["now"]
        .as_str()
        .unwrap()
        .to_string();
    let signed_at = chrono::DateTime::parse_from_rfc3339(&now)
        .unwrap()
        .timestamp();
    let offer = new_offer(&url, key, "10.00", json!({"kind": "one_time"})).await;
    let checkout = |email: &str| {
        let (url, offer, email) = (url.clone(), offer["id"].clone(), email.to_string());
        async move { checkout_as(&url, &offer, &email).await }
    };
    let sample = std::fs::read_to_string(format!(
        "{}/../events/stripe/charge.succeeded.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    // given Anna and Ben paying with the same card, and Carl with another
    let mut customers = Vec::new();
    for (n, (email, fingerprint)) in [
        ("anna@example.com", "fp_shared"),
        ("ben@example.com", "fp_shared"),
        ("carl@example.com", "fp_carl"),
    ]
    .iter()
    .enumerate()
    {
        let order = checkout(email).await.json();
        let order_id = order["order_id"].as_str().unwrap();
        let event = sample
            .replace("ord_01KSAMPLE0RDER0000000000000", order_id)
            .replace("Xt5EWLLDS7FJjR1c", fingerprint)
            .replace("ch_3SampleCharge", &format!("ch_{n}"))
            .replace("evt_1QbSampleChargeSucceeded", &format!("evt_charge_{n}"));
        let answer = post_stripe_event(&url, vendor_id, secret, signed_at, &event).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let card = get(&url, &format!("/api/orders/{order_id}"), Some(key))
            .await
            .json();
        customers.push(card["customer"]["id"].as_str().unwrap().to_string());
    }
    let customer = |id: &str| {
        let (url, path, key) = (url.clone(), format!("/api/customers/{id}"), key.to_string());
        async move { get(&url, &path, Some(&key)).await }
    };
    // when the vendor blocks Anna
    let blocked = post_json(
        &url,
        &format!("/api/customers/{}/block", customers[0]),
        Some(key),
        &json!({}),
    )
    .await;
    assert_eq!(blocked.status, 200, "{}", blocked.text);
    // then Ben, sharing her card, is blocked through her; Carl is not
    let ben = customer(&customers[1]).await.json();
    assert_eq!(
        (ben["blocked"].as_bool(), ben["blocked_via"][0].as_str()),
        (Some(true), Some(customers[0].as_str()))
    );
    assert_eq!(customer(&customers[2]).await.json()["blocked"], false);
    // and neither can check out again (e-mail matched case-insensitively); Carl can
    for email in [" ANNA@example.com", "ben@example.com"] {
        let refused = checkout(email).await;
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (403, "customer_blocked"),
            "{email}"
        );
    }
    assert_eq!(checkout("carl@example.com").await.status, 201);
    // another vendor can neither see nor block A's customer
    let b_key = other_vendor["api_key"].as_str().unwrap();
    assert_eq!(
        post_json(
            &url,
            &format!("/api/customers/{}/block", customers[2]),
            Some(b_key),
            &json!({})
        )
        .await
        .status,
        404
    );
    // unblocking Anna lifts Ben's block too
    let unblocked = post_json(
        &url,
        &format!("/api/customers/{}/unblock", customers[0]),
        Some(key),
        &json!({}),
    )
    .await
    .json();
    assert_eq!(unblocked["blocked"], false);
    assert_eq!(customer(&customers[1]).await.json()["blocked"], false);
    assert_eq!(checkout("ben@example.com").await.status, 201);
    // the customer list has all three, newest first, and shows the blocks
    let list = get(&url, "/api/customers?limit=2", Some(key)).await.json();
    assert_eq!(list["total"], 3);
    assert_eq!(list["items"][0]["email"], "carl@example.com");
    assert!(list["next_cursor"].is_string());
    assert_eq!(
        get(&url, "/api/customers", Some(b_key)).await.json()["total"],
        0
    );
    // the block was announced to integrations
    post_json(&url, "/_dev/sweep", None, &json!({})).await;
    let events: Vec<Value> = get(&url, "/_dev/outbox", None).await.json()["events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "customer.blocked")
            .count(),
        1
    );
    server.stop();
}
