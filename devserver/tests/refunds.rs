//! Vendor refunds over HTTP (R-R1, R-R5): window, available balance with both amounts, the
//! provider's confirmation, the ledger debit, revoked access, and never the same money twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{get, new_offer, new_vendor, post_json, start_server, token_of};
use serde_json::{Value, json};

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
    let confirmations = common::sent_emails(&url, "refund_confirmation").await;
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

/// A shop with one paid one-time order whose credit is available (clock frozen 7 days later).
struct Paid {
    server: devserver::RunningServer,
    url: String,
    key: String,
    vendor_id: String,
    secret: String,
    order_id: String,
    token: String,
    payment_intent: String,
}

const LATER: &str = "2026-12-01T09:00:00Z";

async fn paid(name: &str) -> Paid {
    let server = start_server(name).await;
    let url = server.url();
    post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"now": "2026-11-24T09:00:00Z", "frozen": true}),
    )
    .await;
    let vendor = new_vendor(&url, name).await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let offer = new_offer(&url, &key, "9.99", json!({"kind": "one_time"})).await;
    let order = common::checkout_as(&url, &offer["id"], "k@example.com")
        .await
        .json();
    let token = token_of(&order["customer_link"]);
    post_json(
        &url,
        &format!("/_dev/pay/{token}"),
        None,
        &json!({"outcome": "succeeded"}),
    )
    .await;
    post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"now": LATER, "frozen": true}),
    )
    .await;
    let order_id = order["order_id"].as_str().unwrap().to_string();
    let card = get(&url, &format!("/api/orders/{order_id}"), Some(&key))
        .await
        .json();
    Paid {
        server,
        url,
        vendor_id: vendor["vendor_id"].as_str().unwrap().into(),
        secret: common::STRIPE_SECRET.into(),
        key,
        order_id,
        token,
        payment_intent: card["provider"]["payment_intent"].as_str().unwrap().into(),
    }
}

impl Paid {
    fn sample(&self, name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../events/stripe/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .replace("ord_01KSAMPLE0RDER0000000000000", &self.order_id)
        .replace("pi_3SampleIntent", &self.payment_intent)
    }

    async fn deliver(&self, payload: &str) {
        let signed_at = chrono::DateTime::parse_from_rfc3339(LATER)
            .unwrap()
            .timestamp();
        let answer =
            common::post_stripe_event(&self.url, &self.vendor_id, &self.secret, signed_at, payload)
                .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }

    async fn balance(&self) -> Value {
        get(&self.url, "/api/balance", Some(&self.key)).await.json()["balances"].clone()
    }
}

// R-R5: the provider's failure of a refund reverses the debit and tells the vendor, once
#[tokio::test]
async fn a_refund_the_provider_fails_is_reversed_once() {
    // given a refund the (simulated) provider first reported succeeded
    let shop = paid("refund-fails").await;
    let refund = post_json(
        &shop.url,
        &format!("/api/orders/{}/refunds", shop.order_id),
        Some(&shop.key),
        &json!({"reason": "Kulanz"}),
    )
    .await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    let refund_id = refund.json()["id"].as_str().unwrap().to_string();
    assert_eq!(shop.balance().await[0]["available"], "0.00");
    // when Stripe reports it failed, twice
    let failed = shop
        .sample("charge.refund.updated")
        .replace("rfd_01KSAMPLE0REFUND00000000000", &refund_id);
    shop.deliver(&failed).await;
    shop.deliver(&failed).await;
    // then the debit is reversed once, the order is paid again with access, the vendor told once
    assert_eq!(
        shop.balance().await,
        json!([{"currency": "EUR", "pending": "0.00", "available": "9.99"}])
    );
    let page = get(&shop.url, &format!("/portal/orders/{}", shop.token), None)
        .await
        .json();
    assert_eq!(
        (page["payment_status"].as_str(), page["status"].as_str()),
        (Some("paid"), Some("completed"))
    );
    assert_eq!(page["lines"][0]["access"]["active"], true);
    let failures = common::sent_emails(&shop.url, "refund_failed").await;
    assert_eq!(failures.len(), 1);
    assert!(failures[0]["text"].as_str().unwrap().contains("11.89 EUR"));
    shop.server.stop();
}

// R-R5, API.md: a refund made in Stripe's dashboard is recorded as a vendor refund, once
#[tokio::test]
async fn a_dashboard_refund_is_recorded_once_from_either_event() {
    let shop = paid("dashboard").await;
    // given Stripe's charge.refunded (2024-06-20: no refund list) saying 5.00 of the charge is
    // refunded, a refund we did not start
    let refunded = shop.sample("charge.refunded");
    shop.deliver(&refunded).await;
    // and the same refund's own event, which names no refund of ours
    let own = json!({"id": "evt_3SampleDashboardRefundUpdated", "object": "event", "type": "charge.refund.updated",
        "data": {"object": {"id": "re_3SampleDashboardRefund", "object": "refund", "amount": 500,
            "charge": "ch_3SampleCharge", "currency": "eur", "metadata": {},
            "payment_intent": "pi_3SampleIntent", "reason": null, "status": "succeeded"}}});
    shop.deliver(&own.to_string()).await;
    // and charge.refunded again, as an older API version sends it (its refund listed)
    let mut listed: Value = serde_json::from_str(&refunded).unwrap();
    listed["id"] = json!("evt_3SampleChargeRefundedListed");
    listed["data"]["object"]["refunds"] =
        json!({"object": "list", "data": [own["data"]["object"]], "has_more": false});
    shop.deliver(&listed.to_string()).await;
    // then one refund of 5.00 (net 4.20) is on the order and the ledger
    let page = get(&shop.url, &format!("/portal/orders/{}", shop.token), None)
        .await
        .json();
    assert_eq!(
        (
            page["refunded"]["amount"].as_str(),
            page["payment_status"].as_str()
        ),
        (Some("5.00"), Some("partially_refunded"))
    );
    assert_eq!(
        shop.balance().await,
        json!([{"currency": "EUR", "pending": "0.00", "available": "5.79"}])
    );
    let history = get(
        &shop.url,
        &format!("/api/orders/{}/transactions", shop.order_id),
        Some(&shop.key),
    )
    .await
    .json();
    assert_eq!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "refund")
            .count(),
        1
    );
    assert_eq!(
        common::sent_emails(&shop.url, "refund_confirmation")
            .await
            .len(),
        2
    );
    shop.server.stop();
}
