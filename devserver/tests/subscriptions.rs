//! R-P1 convergence: a subscription's first events (checkout session, first invoice, charge), in
//! every order of arrival and each delivered twice, end in the same state — one payment, one
//! receipt, one ledger credit. Then the provider cancels the subscription (R-R4 effects).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{
    checkout_as, get, new_offer, new_vendor, post_json, post_stripe_event, start_server, token_of,
};
use serde_json::{Value, json};
const NOW: i64 = 1_795_510_800; // 2026-11-24T09:00:00Z
const SAMPLE_ORDER: &str = "ord_01KSAMPLE0RDER0000000000000";

fn sample(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../events/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A sample event for one run: its order, and ids of its own so runs do not share events.
fn event(name: &str, order: &str, run: usize) -> String {
    sample(name)
        .replace(SAMPLE_ORDER, order)
        .replace("sub_1SampleSubscription", &format!("sub_run{run}"))
        .replace("in_1SampleFirstInvoice", &format!("in_run{run}"))
        .replace("ch_3SampleCharge", &format!("ch_run{run}"))
        .replace(
            "\"id\": \"evt_1QbSample",
            &format!("\"id\": \"evt_run{run}_"),
        )
}

fn permutations(items: &[&'static str]) -> Vec<Vec<&'static str>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

/// The parts of the order view that must not depend on arrival order.
fn outcome(order: &Value) -> Value {
    json!({
        "status": order["status"], "payment_status": order["payment_status"], "paid": order["paid"],
        "open": order["open"], "schedule": order["schedule"], "lines": order["lines"],
    })
}

#[tokio::test]
async fn every_order_of_arrival_of_a_subscriptions_first_events_converges() {
    let server = start_server("subscriptions").await;
    let url = server.url();
    // a frozen clock, so every run happens at the same instant and states compare exactly
    post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"now": "2026-11-24T09:00:00Z", "frozen": true}),
    )
    .await;
    let vendor = new_vendor(&url, "abo").await;
    let (key, secret, vendor_id) = (
        vendor["api_key"].as_str().unwrap(),
        common::STRIPE_SECRET,
        vendor["vendor_id"].as_str().unwrap(),
    );
    let offer = new_offer(
        &url,
        key,
        "9.99",
        json!({"kind": "subscription", "interval": "month"}),
    )
    .await;
    let orders = permutations(&[
        "checkout.session.completed.subscription",
        "invoice.paid",
        "charge.succeeded",
    ]);
    assert_eq!(orders.len(), 6);
    let mut outcomes = Vec::new();
    let mut tokens = Vec::new();
    for (run, arrival) in orders.iter().enumerate() {
        // given a fresh subscription checkout
        let checkout = checkout_as(&url, &offer["id"], &format!("run{run}@example.com"))
            .await
            .json();
        let order_id = checkout["order_id"].as_str().unwrap();
        let token = token_of(&checkout["customer_link"]);
        // when its first events arrive in this order, each twice
        for name in arrival.iter().chain(arrival.iter()) {
            let payload = event(name, order_id, run);
            let answer = post_stripe_event(&url, vendor_id, secret, NOW, &payload).await;
            assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        }
        let view = get(&url, &format!("/portal/orders/{token}"), None)
            .await
            .json();
        outcomes.push(outcome(&view));
        tokens.push(token);
    }
    // then every order of arrival ended in the same state: first period paid once, next one open
    for (run, result) in outcomes.iter().enumerate() {
        assert_eq!(result, &outcomes[0], "arrival {:?} differs", orders[run]);
    }
    assert_eq!(
        (
            outcomes[0]["status"].as_str(),
            outcomes[0]["payment_status"].as_str()
        ),
        (Some("active"), Some("paid"))
    );
    assert_eq!(outcomes[0]["paid"]["amount"], "11.89");
    assert_eq!(outcomes[0]["schedule"].as_array().unwrap().len(), 2);
    // one receipt and one credit per subscription
    post_json(&url, "/_dev/sweep", None, &json!({})).await;
    let outbox = get(&url, "/_dev/outbox", None).await.json();
    let receipts = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "payment_receipt")
        .count();
    assert_eq!(receipts, 6);
    let balance = get(&url, "/api/balance", Some(key)).await.json();
    assert_eq!(balance["balances"][0]["pending"], "59.94");
    // when the provider ends the first subscription, found by its subscription id alone
    let deleted = event("customer.subscription.deleted", "unused", 0);
    let answer = post_stripe_event(&url, vendor_id, secret, NOW, &deleted).await;
    assert_eq!(answer.status, 200);
    // then the plan is cancelled, no further payment is open, and what was paid stays paid
    let view = get(&url, &format!("/portal/orders/{}", tokens[0]), None)
        .await
        .json();
    assert_eq!(
        (view["status"].as_str(), view["open"]["amount"].as_str()),
        (Some("cancelled"), Some("0.00"))
    );
    assert_eq!(view["paid"]["amount"], "11.89");
    server.stop();
}

// R-P1, issue 10 defect 11: signed invoices whose periods cannot be pay nothing, however many.
#[tokio::test]
async fn invoices_with_nonsense_periods_are_recorded_and_pay_nothing() {
    let server = start_server("invoice-periods").await;
    let url = server.url();
    post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"now": "2026-11-24T09:00:00Z", "frozen": true}),
    )
    .await;
    let vendor = new_vendor(&url, "abo").await;
    let (key, secret, vendor_id) = (
        vendor["api_key"].as_str().unwrap(),
        common::STRIPE_SECRET,
        vendor["vendor_id"].as_str().unwrap(),
    );
    let offer = new_offer(
        &url,
        key,
        "9.99",
        json!({"kind": "subscription", "interval": "month"}),
    )
    .await;
    let checkout = checkout_as(&url, &offer["id"], "periods@example.com")
        .await
        .json();
    let order_id = checkout["order_id"].as_str().unwrap();
    let token = token_of(&checkout["customer_link"]);
    // given five signed invoice.paid events, each with a period Stripe never sends
    let periods = [
        json!({"start": i64::MAX, "end": i64::MAX}),
        json!({"start": -86400, "end": NOW}),
        json!({"start": "2026-11-24", "end": NOW + 86400}),
        json!({"start": NOW + 2_678_400, "end": NOW}),
        json!({"start": NOW}),
    ];
    for (n, period) in periods.iter().enumerate() {
        let mut invoice: Value =
            serde_json::from_str(&event("invoice.paid", order_id, 100 + n)).unwrap();
        invoice["data"]["object"]["lines"]["data"][0]["period"] = period.clone();
        let answer = post_stripe_event(&url, vendor_id, secret, NOW, &invoice.to_string()).await;
        // then each is received (Stripe stops retrying) ...
        assert_eq!(answer.status, 200, "{period}: {}", answer.text);
    }
    // ... and nothing was paid or credited
    let view = get(&url, &format!("/portal/orders/{token}"), None)
        .await
        .json();
    assert_eq!(view["paid"]["amount"], "0.00", "{view}");
    let balance = get(&url, "/api/balance", Some(key)).await.json();
    assert!(
        balance["balances"].as_array().unwrap().is_empty(),
        "{balance}"
    );
    server.stop();
}
