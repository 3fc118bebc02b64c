//! Vendor refunds over HTTP (R-R1, R-R5): window, available balance with both amounts, the
//! provider's confirmation, the ledger debit, revoked access, and never the same money twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{get, new_offer, new_vendor, post_json, start_server, token_of};
use serde_json::{Value, json};

async fn outbox_kinds(url: &str, kind: &str) -> Vec<Value> {
    post_json(url, "/_dev/sweep", None, &json!({})).await;
    let outbox = get(url, "/_dev/outbox", None).await.json();
    outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

// R-R1, R-R5, R-V3
#[tokio::test]
async fn a_vendor_refund_needs_the_available_net_and_refunds_once() {
    // given a paid 9.99 EUR (net) order whose credit is still pending
    let server = start_server("refunds").await;
    let url = server.url();
    post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"now": "2026-11-24T09:00:00Z"}),
    )
    .await;
    let vendor = new_vendor(&url, "refunder").await;
    let key = vendor["api_key"].as_str().unwrap();
    let offer = new_offer(&url, key, "9.99", json!({"kind": "one_time"})).await;
    let order = common::checkout_as(&url, &offer["id"], "k@example.com")
        .await
        .json();
    let token = token_of(&order["customer_link"]);
    let paid = post_json(
        &url,
        &format!("/_dev/pay/{token}"),
        None,
        &json!({"outcome": "succeeded"}),
    )
    .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let order_id = order["order_id"].as_str().unwrap();
    let refunds = format!("/api/orders/{order_id}/refunds");
    // when the vendor refunds at once: the pending credit does not count
    let early = post_json(&url, &refunds, Some(key), &json!({"reason": "Kulanz"})).await;
    assert_eq!(
        (early.status, early.error_code().as_str()),
        (409, "insufficient_available_balance"),
        "{}",
        early.text
    );
    let error = &early.json()["error"];
    assert_eq!(
        error["needed"],
        json!({"amount": "9.99", "currency": "EUR"})
    );
    assert_eq!(
        error["available"],
        json!({"amount": "0.00", "currency": "EUR"})
    );
    // then, 7 days later, a partial refund of 5.00 splits net and tax
    post_json(&url, "/_dev/clock", None, &json!({"advance": "7d"})).await;
    let partial = post_json(
        &url,
        &refunds,
        Some(key),
        &json!({"amount": {"amount": "5.00", "currency": "EUR"}, "reason": "Teilerstattung"}),
    )
    .await;
    assert_eq!(partial.status, 201, "{}", partial.text);
    let partial = partial.json();
    assert_eq!(
        (
            partial["net"]["amount"].as_str(),
            partial["tax"]["amount"].as_str()
        ),
        (Some("4.20"), Some("0.80"))
    );
    // the simulated provider confirms at once (R-R5)
    assert_eq!(partial["state"], "succeeded");
    let page = get(&url, &format!("/portal/orders/{token}"), None)
        .await
        .json();
    assert_eq!(page["payment_status"], "partially_refunded");
    assert_eq!(page["lines"][0]["access"]["active"], true);
    // asking for more than is left is refused with what is left
    let too_much = post_json(
        &url,
        &refunds,
        Some(key),
        &json!({"amount": {"amount": "7.00", "currency": "EUR"}, "reason": "x"}),
    )
    .await;
    assert_eq!(
        (
            too_much.status,
            too_much.json()["error"]["refundable"]["amount"].as_str()
        ),
        (400, Some("6.89")),
        "{}",
        too_much.text
    );
    // the rest: the order is refunded and access revoked at once
    let rest = post_json(&url, &refunds, Some(key), &json!({"reason": "Rest"})).await;
    assert_eq!(rest.status, 201, "{}", rest.text);
    assert_eq!(rest.json()["amount"]["amount"], "6.89");
    let page = get(&url, &format!("/portal/orders/{token}"), None)
        .await
        .json();
    assert_eq!(
        (page["status"].as_str(), page["payment_status"].as_str()),
        (Some("refunded"), Some("refunded"))
    );
    assert_eq!(page["lines"][0]["access"]["active"], false);
    // nothing refunds the same money twice
    let again = post_json(&url, &refunds, Some(key), &json!({"reason": "nochmal"})).await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (409, "nothing_to_refund")
    );
    // the ledger: 9.99 credit, −4.20 and −5.79 debits
    let balance = get(&url, "/api/balance", Some(key)).await.json();
    assert_eq!(
        balance["balances"],
        json!([{"currency": "EUR", "pending": "0.00", "available": "0.00"}])
    );
    // both sides got a confirmation of each refund
    let confirmations = outbox_kinds(&url, "refund_confirmation").await;
    assert_eq!(confirmations.len(), 4);
    assert_eq!(
        confirmations
            .iter()
            .filter(|e| e["to"] == "k@example.com")
            .count(),
        2
    );
    // a bad body changes nothing
    let bad = post_json(&url, &refunds, Some(key), &json!({"reason": ""})).await;
    assert_eq!(bad.status, 400);
    server.stop();
}
