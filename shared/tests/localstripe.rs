//! The Stripe adapter against localstripe (PyPI: a stateful fake Stripe server), which
//! `scripts/test` starts (issue 13, defect 1). localstripe ignores `Idempotency-Key`, so a
//! provider call made twice would show there as a second refund.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::call;
use http::Method;
use sellerdesk::domain::clock::Clock;
use sellerdesk::payments::https::HttpsClient;
use sellerdesk::payments::stripe_api::StripeApi;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "sk_test_localstripe";

/// localstripe's address, or `None` (skipped loudly) unless `SELLERDESK_REQUIRE_LOCALSTRIPE=1`.
fn localstripe() -> Option<String> {
    match std::env::var("SELLERDESK_LOCALSTRIPE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("SELLERDESK_REQUIRE_LOCALSTRIPE").as_deref() != Ok("1"),
                "SELLERDESK_REQUIRE_LOCALSTRIPE=1 but SELLERDESK_LOCALSTRIPE_URL is not set"
            );
            eprintln!("SKIPPED: no SELLERDESK_LOCALSTRIPE_URL; scripts/test starts localstripe");
            None
        }
    }
}

/// One form-encoded call to localstripe, as Stripe's own clients make it.
async fn stripe(base: &str, method: &str, path: &str, form: &str) -> Value {
    let host = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let auth = base64_basic(KEY);
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|_| panic!("{text}"))
}

fn base64_basic(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

// R-R1, R-R5 (issue 13, defect 1)
#[tokio::test]
async fn a_payment_refunded_through_the_system_shows_one_refund_at_stripe() {
    let Some(base) = localstripe() else {
        return;
    };
    // given a payment intent paid at (local) Stripe, and the order it paid
    let intent = stripe(
        &base,
        "POST",
        "/v1/payment_intents",
        "amount=1190&currency=eur&payment_method=pm_card_visa&confirm=true",
    )
    .await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    let intent_id = intent["id"].as_str().unwrap().to_string();
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
    let https = HttpsClient::new(std::time::Duration::from_secs(10)).unwrap();
    let app = app.with_payments(Arc::new(StripeApi::new(https, &base, KEY.into())));
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let order_id = order["order_id"].as_str().unwrap();
    common::pay_by_session(&app, &vendor, clock.now(), order_id, &intent_id).await;
    clock.freeze(clock.now() + Duration::days(8));
    // when the vendor refunds it, and the sweeps run on
    let (status, refund) = call(
        &app,
        Method::POST,
        &format!("/api/orders/{order_id}/refunds"),
        vendor["api_key"].as_str(),
        json!({"reason": "Kulanz"}),
    )
    .await;
    assert_eq!(status, 201, "{refund}");
    for _ in 0..3 {
        clock.freeze(clock.now() + Duration::hours(1));
        app.run_sweeps().await.unwrap();
    }
    // then Stripe holds exactly one refund of that payment, for the amount, naming ours
    let refunds = stripe(
        &base,
        "GET",
        &format!("/v1/refunds?payment_intent={intent_id}"),
        "",
    )
    .await;
    let refunds = refunds["data"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], 1190);
    assert_eq!(refunds[0]["metadata"]["refund_id"], refund["id"]);
    // and ours is settled by Stripe's answer
    let (_, card) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        vendor["api_key"].as_str(),
        Value::Null,
    )
    .await;
    assert_eq!(card["status"], "refunded", "{card}");
}
