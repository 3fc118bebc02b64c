//! Payments end to end over HTTP: checkout → simulated provider → signed Stripe webhook → order
//! paid, receipt once, ledger credit pending then available (R-P1, R-P2, R-V2, R-O6, R-C5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, get, post_json, temp_dir};
use devserver::config::DevConfig;
use sellerdesk::webhooks::stripe_signature::header_for;
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token-0123456789";

struct Shop {
    server: devserver::RunningServer,
    url: String,
    key: String,
    vendor_id: String,
    secret: String,
}

async fn shop() -> Shop {
    let config = DevConfig {
        port: 0,
        data_dir: temp_dir("payments"),
        admin_token: Some(ADMIN.into()),
        stripe_webhook_secret: Some(common::STRIPE_SECRET.into()),
        rate_limits: false,
        aws: false,
        ..Default::default()
    };
    let server = devserver::start(config).await.unwrap();
    let url = server.url();
    post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"now": "2026-11-24T09:00:00Z"}),
    )
    .await;
    let created = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "Kurswerk", "email": "info@kurswerk.example"}),
    )
    .await
    .json();
    Shop {
        server,
        url,
        key: created["api_key"].as_str().unwrap().into(),
        vendor_id: created["vendor_id"].as_str().unwrap().into(),
        secret: common::STRIPE_SECRET.into(),
    }
}

impl Shop {
    /// A checkout of a 9.99 EUR (net) one-time offer by a German customer: 11.89 gross.
    async fn order(&self) -> (String, String) {
        let product = post_json(
            &self.url,
            "/api/products",
            Some(&self.key),
            &json!({"name": "Videokurs", "access_days": 30}),
        )
        .await
        .json();
        let offer = post_json(&self.url, "/api/offers", Some(&self.key), &json!({"name": "Videokurs", "products": [product["id"]], "price": {"amount": "9.99", "currency": "EUR"}, "plan": {"kind": "one_time"}})).await.json();
        let customer = json!({"email": "anna@example.com", "first_name": "Anna", "last_name": "Muster", "country": "DE"});
        let checkout = post_json(
            &self.url,
            "/checkout",
            None,
            &json!({"offer_id": offer["id"], "customer": customer}),
        )
        .await
        .json();
        let token = checkout["customer_link"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        (checkout["order_id"].as_str().unwrap().to_string(), token)
    }

    async fn order_page(&self, token: &str) -> Value {
        get(&self.url, &format!("/portal/orders/{token}"), None)
            .await
            .json()
    }

    async fn webhook(&self, payload: &str, signed_at: i64) -> common::Answer {
        common::post_stripe_event(&self.url, &self.vendor_id, &self.secret, signed_at, payload)
            .await
    }

    async fn sent_emails(&self, kind: &str) -> Vec<Value> {
        common::sent_emails(&self.url, kind).await
    }

    async fn balance(&self) -> Value {
        get(&self.url, "/api/balance", Some(&self.key)).await.json()["balances"].clone()
    }
}

const NOW: i64 = 1_795_510_800; // 2026-11-24T09:00:00Z

// R-P1, R-V2, R-O6: the issue's flow, clicked through the simulated provider.
#[tokio::test]
async fn a_simulated_payment_pays_the_order_sends_one_receipt_and_credits_the_balance() {
    let shop = shop().await;
    let (_, token) = shop.order().await;
    // the customer link's payment link starts a payment at the (simulated) provider (R-P4)
    let started = post_json(
        &shop.url,
        &format!("/portal/orders/{token}/pay"),
        None,
        &json!({}),
    )
    .await;
    assert_eq!(started.status, 200, "{}", started.text);
    let payment_url = started.json()["payment_url"].as_str().unwrap().to_string();
    assert_eq!(payment_url, format!("{}/_dev/pay/{token}", shop.url));
    // the simulated provider's page shows the order
    let page = get(
        &shop.url,
        payment_url.strip_prefix(&shop.url).unwrap(),
        None,
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html") && page.text.contains("SD-000001"));
    // when the customer pays there
    let paid = post_json(
        &shop.url,
        &format!("/_dev/pay/{token}"),
        None,
        &json!({"outcome": "succeeded"}),
    )
    .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["sent"][0]["status"], 200);
    // then the order is paid and completed, access runs from now for 30 days
    let order = shop.order_page(&token).await;
    assert_eq!(
        (order["payment_status"].as_str(), order["status"].as_str()),
        (Some("paid"), Some("completed"))
    );
    assert_eq!(order["paid"]["amount"], "11.89");
    assert_eq!(order["lines"][0]["access"]["active"], true);
    assert!(
        order["lines"][0]["access"]["end"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-24T09:00")
    );
    // and the customer's entitlements show the product (R-O9)
    // (the vendor's card names the customer; the customer's own page shows only the buyer)
    let card = get(
        &shop.url,
        &format!("/api/orders/{}", order["id"].as_str().unwrap()),
        Some(&shop.key),
    )
    .await
    .json();
    let customer_id = card["customer"]["id"].as_str().unwrap();
    let entitlements = get(
        &shop.url,
        &format!("/api/customers/{customer_id}/entitlements"),
        Some(&shop.key),
    )
    .await;
    assert_eq!(entitlements.status, 200, "{}", entitlements.text);
    let entitlements = entitlements.json();
    assert_eq!(entitlements["total"], 1, "{entitlements}");
    let held = &entitlements["items"][0];
    assert_eq!(
        (
            held["name"].as_str(),
            held["active"].as_bool(),
            held["order_number"].as_str()
        ),
        (Some("Videokurs"), Some(true), Some("SD-000001"))
    );
    assert_eq!(held["end"], order["lines"][0]["access"]["end"]);
    // one receipt
    let receipts = shop.sent_emails("payment_receipt").await;
    assert_eq!(receipts.len(), 1);
    assert!(receipts[0]["text"].as_str().unwrap().contains("11.89 EUR"));
    // the net 9.99 is pending, and available 7 days later
    assert_eq!(
        shop.balance().await,
        json!([{"currency": "EUR", "pending": "9.99", "available": "0.00"}])
    );
    post_json(&shop.url, "/_dev/clock", None, &json!({"advance": "7d"})).await;
    assert_eq!(
        shop.balance().await,
        json!([{"currency": "EUR", "pending": "0.00", "available": "9.99"}])
    );
    // after the 30 days the entitlement is kept but no longer active
    post_json(&shop.url, "/_dev/clock", None, &json!({"advance": "23d"})).await;
    let later = get(
        &shop.url,
        &format!("/api/customers/{customer_id}/entitlements"),
        Some(&shop.key),
    )
    .await
    .json();
    assert_eq!(later["items"][0]["active"], false, "{later}");
    // and a second payment attempt finds nothing open
    let again = post_json(
        &shop.url,
        &format!("/_dev/pay/{token}"),
        None,
        &json!({"outcome": "succeeded"}),
    )
    .await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (409, "nothing_open")
    );
    // and so does the payment link (R-P4)
    let link = post_json(
        &shop.url,
        &format!("/portal/orders/{token}/pay"),
        None,
        &json!({}),
    )
    .await;
    assert_eq!(
        (link.status, link.error_code().as_str()),
        (409, "nothing_open")
    );
    // and a token nobody issued opens nothing (its last character changed to another one)
    let last = if token.ends_with('x') { 'y' } else { 'x' };
    let forged_token = format!("{}{last}", &token[..token.len() - 1]);
    let forged = post_json(
        &shop.url,
        &format!("/portal/orders/{forged_token}/pay"),
        None,
        &json!({}),
    )
    .await;
    assert_eq!(forged.status, 404);
    shop.server.stop();
}

/// A sample of `events/stripe/` for this order.
fn sample(name: &str, order_id: &str) -> String {
    let sample = std::fs::read_to_string(format!(
        "{}/../events/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    sample.replace("ord_01KSAMPLE0RDER0000000000000", order_id)
}

fn sample_event(order_id: &str) -> String {
    sample("checkout.session.completed", order_id)
}

// R-P1: the same event three times is one payment and one receipt.
#[tokio::test]
async fn a_duplicated_webhook_applies_once() {
    let shop = shop().await;
    let (order_id, token) = shop.order().await;
    let payload = sample_event(&order_id);
    for _ in 0..3 {
        let answer = shop.webhook(&payload, NOW).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json(), json!({"received": true}));
    }
    let order = shop.order_page(&token).await;
    assert_eq!(order["paid"]["amount"], "11.89");
    assert_eq!(shop.sent_emails("payment_receipt").await.len(), 1);
    assert_eq!(shop.balance().await[0]["pending"], "9.99");
    shop.server.stop();
}

// R-P1: nothing is read or stored from an unverified webhook.
#[tokio::test]
async fn unverified_webhooks_are_refused_and_change_nothing() {
    let shop = shop().await;
    let (order_id, token) = shop.order().await;
    let payload = sample_event(&order_id);
    let path = "/webhooks/stripe".to_string();
    let post = |signature: String| {
        let url = shop.url.clone();
        let path = path.clone();
        let payload = payload.clone();
        async move {
            call(
                &url,
                "POST",
                &path,
                &[
                    ("Content-Type", "application/json"),
                    ("Stripe-Signature", &signature),
                ],
                Some(payload.as_bytes()),
            )
            .await
        }
    };
    let wrong_secret = header_for("whsec_wrong", NOW, payload.as_bytes());
    let too_old = header_for(&shop.secret, NOW - 301, payload.as_bytes());
    for signature in [
        wrong_secret,
        too_old,
        "garbage".to_string(),
        format!("t={NOW}"),
    ] {
        let answer = post(signature).await;
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (400, "invalid_signature")
        );
    }
    // the per-vendor route of old is gone (issue 12, §1): no vendor route takes events
    let old_route = call(
        &shop.url,
        "POST",
        &format!("/webhooks/stripe/{}", shop.vendor_id),
        &[(
            "Stripe-Signature",
            &header_for(&shop.secret, NOW, payload.as_bytes()),
        )],
        Some(payload.as_bytes()),
    )
    .await;
    assert_eq!(old_route.status, 404, "{}", old_route.text);
    // nothing changed: still unpaid, and the event can still be applied once verified
    assert_eq!(shop.order_page(&token).await["payment_status"], "pending");
    assert_eq!(shop.webhook(&payload, NOW).await.status, 200);
    assert_eq!(shop.order_page(&token).await["payment_status"], "paid");
    shop.server.stop();
}

// R-P2: a failed payment counts an attempt, keeps the payment open and tells the customer.
#[tokio::test]
async fn a_failed_payment_counts_an_attempt_and_keeps_it_open() {
    let shop = shop().await;
    let (_, token) = shop.order().await;
    let failed = post_json(
        &shop.url,
        &format!("/_dev/pay/{token}"),
        None,
        &json!({"outcome": "failed"}),
    )
    .await;
    assert_eq!(failed.json()["sent"][0]["status"], 200);
    let order = shop.order_page(&token).await;
    assert_eq!(
        (
            order["schedule"][0]["attempts"].as_u64(),
            order["schedule"][0]["status"].as_str()
        ),
        (Some(1), Some("due"))
    );
    assert_eq!(order["payment_status"], "pending");
    assert_eq!(shop.sent_emails("payment_failed").await.len(), 1);
    // an unhandled event type is acknowledged and changes nothing
    let other = json!({"id": "evt_other", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}).to_string();
    assert_eq!(shop.webhook(&other, NOW).await.status, 200);
    assert_eq!(shop.order_page(&token).await["schedule"][0]["attempts"], 1);
    shop.server.stop();
}

// R-P1: a payment reported by its session and by its payment intent is one payment
#[tokio::test]
async fn a_payment_intent_and_its_session_are_one_payment_in_either_order() {
    for first in ["payment_intent.succeeded", "checkout.session.completed"] {
        let shop = shop().await;
        let (order_id, token) = shop.order().await;
        let second = if first == "checkout.session.completed" {
            "payment_intent.succeeded"
        } else {
            "checkout.session.completed"
        };
        for name in [first, second, first] {
            assert_eq!(
                shop.webhook(&sample(name, &order_id), NOW).await.status,
                200,
                "{name}"
            );
        }
        let order = shop.order_page(&token).await;
        assert_eq!(
            (
                order["paid"]["amount"].as_str(),
                order["payment_status"].as_str()
            ),
            (Some("11.89"), Some("paid")),
            "{first} first"
        );
        assert_eq!(shop.sent_emails("payment_receipt").await.len(), 1);
        shop.server.stop();
    }
}

// R-P2: an async failure reported by the session and by its payment intent is one attempt
#[tokio::test]
async fn an_async_failure_reported_twice_counts_one_attempt() {
    let shop = shop().await;
    let (order_id, token) = shop.order().await;
    for name in [
        "checkout.session.async_payment_failed",
        "payment_intent.payment_failed",
    ] {
        assert_eq!(
            shop.webhook(&sample(name, &order_id), NOW).await.status,
            200,
            "{name}"
        );
    }
    let order = shop.order_page(&token).await;
    assert_eq!(order["schedule"][0]["attempts"], 1, "{order}");
    assert_eq!(shop.sent_emails("payment_failed").await.len(), 1);
    shop.server.stop();
}

// R-O10, R-V3: a chargeback flags the order, pauses access, debits the net part once, tells the vendor
#[tokio::test]
async fn a_dispute_flags_the_order_debits_the_net_and_tells_the_vendor_once() {
    // given a paid order (9.99 net credited, pending)
    let shop = shop().await;
    let (order_id, token) = shop.order().await;
    assert_eq!(
        shop.webhook(&sample("checkout.session.completed", &order_id), NOW)
            .await
            .status,
        200
    );
    // when the customer's bank opens a dispute, delivered twice (it finds the order by its payment intent)
    let dispute = sample("charge.dispute.created", &order_id);
    assert!(!dispute.contains("ord_"), "a dispute carries no order id");
    for _ in 0..2 {
        assert_eq!(shop.webhook(&dispute, NOW).await.status, 200);
    }
    // then the order is disputed and access paused
    let order = shop.order_page(&token).await;
    assert_eq!(order["status"], "disputed", "{order}");
    assert_eq!(order["lines"][0]["access"]["active"], false);
    // and the net 9.99 is debited at once, once
    assert_eq!(
        shop.balance().await,
        json!([{"currency": "EUR", "pending": "9.99", "available": "-9.99"}])
    );
    // and the vendor is told once
    let notices = shop.sent_emails("dispute_opened").await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["to"], "info@kurswerk.example");
    assert!(notices[0]["text"].as_str().unwrap().contains("SD-000001"));
    shop.server.stop();
}

// R-C4, R-C5 (issue 13, defect 12): through real payments — the vendor writes English by
// default, so a German customer's German mail shows the country's language was set; and the
// second paid order (the vendor's threshold) tags the customer `regular`, the first does not.
#[tokio::test]
async fn paying_sets_the_customers_language_from_the_country_and_tags_regulars() {
    let shop = shop().await;
    let settings = call(
        &shop.url,
        "PUT",
        "/api/settings",
        &[
            ("Authorization", &format!("Bearer {}", shop.key)),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"default_language": "en", "regular_customer_threshold": 2}"#),
    )
    .await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    let mut customer_id = String::new();
    for paid_orders in 1..=2 {
        let (order_id, token) = shop.order().await;
        let paid = post_json(
            &shop.url,
            &format!("/_dev/pay/{token}"),
            None,
            &json!({"outcome": "succeeded"}),
        )
        .await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        let card = get(
            &shop.url,
            &format!("/api/orders/{order_id}"),
            Some(&shop.key),
        )
        .await
        .json();
        customer_id = card["customer"]["id"].as_str().unwrap().to_string();
        let customer = get(
            &shop.url,
            &format!("/api/customers/{customer_id}"),
            Some(&shop.key),
        )
        .await
        .json();
        assert_eq!(customer["language"], "de", "R-C4: {customer}");
        let regular = customer["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|tag| tag == "regular");
        assert_eq!(
            regular,
            paid_orders == 2,
            "R-C5 after {paid_orders}: {customer}"
        );
    }
    post_json(&shop.url, "/_dev/sweep", None, &json!({})).await;
    let receipts = shop.sent_emails("payment_receipt").await;
    assert_eq!(receipts.len(), 2);
    for receipt in &receipts {
        assert!(
            receipt["subject"]
                .as_str()
                .unwrap()
                .starts_with("Zahlungsbeleg"),
            "{receipt}"
        );
    }
    assert!(!customer_id.is_empty());
    shop.server.stop();
}
