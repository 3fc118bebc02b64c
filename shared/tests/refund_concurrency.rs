//! Concurrent refunds, on both store adapters: two of one order make one refund (R-R5); twenty
//! of different orders never overdraw the available balance (R-R1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::call;
use http::Method;
use sellerdesk::domain::clock::Clock;
use sellerdesk::store::ItemStore;
use serde_json::{Value, json};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Given a paid order whose credit is available: two full refunds at once.
async fn two_refunds_at_once(store: Arc<dyn ItemStore>) {
    let (app, clock) = common::app_at(store, at("2026-11-24T09:00:00Z"));
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let order_id = order["order_id"].as_str().unwrap().to_string();
    common::pay_by_session(&app, &vendor, clock.now(), &order_id, "pi_1").await;
    clock.freeze(clock.now() + Duration::days(8));
    // when two full refunds arrive at once
    let path = format!("/api/orders/{order_id}/refunds");
    let (first, second) = tokio::join!(
        tokio::spawn({
            let (app, path, key) = (app.clone(), path.clone(), key.clone());
            async move {
                call(
                    &app,
                    Method::POST,
                    &path,
                    Some(&key),
                    json!({"reason": "a"}),
                )
                .await
            }
        }),
        tokio::spawn({
            let (app, path, key) = (app.clone(), path.clone(), key.clone());
            async move {
                call(
                    &app,
                    Method::POST,
                    &path,
                    Some(&key),
                    json!({"reason": "b"}),
                )
                .await
            }
        }),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    // then exactly one is refunded, the other finds nothing left
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{first:?} {second:?}");
    let refused = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(refused["error"]["code"], "nothing_to_refund");
    // one debit: 10.00 net credited, 10.00 debited
    let (_, balance) = call(&app, Method::GET, "/api/balance", Some(&key), Value::Null).await;
    assert_eq!(
        balance["balances"],
        json!([{"currency": "EUR", "pending": "0.00", "available": "0.00"}])
    );
    let (_, history) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}/transactions"),
        Some(&key),
        Value::Null,
    )
    .await;
    let refunds = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "refund")
        .count();
    assert_eq!(refunds, 1, "{history}");
}

// R-R5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_two_concurrent_refunds_make_one() {
    two_refunds_at_once(common::embedded()).await;
}

// R-R5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_two_concurrent_refunds_make_one() {
    let Some(store) = common::dynamodb().await else {
        return;
    };
    two_refunds_at_once(store).await;
}

/// Given 20 paid orders of 11.90 (10.00 net each) of which only 5 credits are available yet:
/// all 20 refunded at once.
async fn twenty_refunds_against_a_balance_for_five(store: Arc<dyn ItemStore>) {
    let (app, clock) = common::app_at(store, at("2026-11-24T09:00:00Z"));
    let (vendor, first) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let (_, offers) = call(&app, Method::GET, "/api/offers", Some(&key), Value::Null).await;
    let offer_id = offers["items"][0]["id"].clone();
    let mut orders = vec![first["order_id"].as_str().unwrap().to_string()];
    for n in 1..20 {
        let customer = json!({"email": format!("c{n}@example.com"), "first_name": "C", "last_name": "D", "country": "DE"});
        let (status, order) = call(
            &app,
            Method::POST,
            "/checkout",
            None,
            json!({"offer_id": offer_id, "customer": customer}),
        )
        .await;
        assert_eq!(status, 201, "{order}");
        orders.push(order["order_id"].as_str().unwrap().to_string());
    }
    let pay = |n: usize, order_id: &str| {
        json!({"id": format!("evt_paid_{n}"), "object": "event", "type": "checkout.session.completed", "data": {"object": {
            "id": format!("cs_{n}"), "object": "checkout.session", "amount_total": 1190, "currency": "eur",
            "payment_status": "paid", "payment_intent": format!("pi_{n}"), "metadata": {"order_id": order_id}}}})
    };
    for (n, order_id) in orders.iter().enumerate().take(5) {
        assert_eq!(
            common::deliver_stripe(&app, &vendor, clock.now(), &pay(n, order_id)).await,
            200
        );
    }
    clock.freeze(clock.now() + Duration::days(8));
    for (n, order_id) in orders.iter().enumerate().skip(5) {
        assert_eq!(
            common::deliver_stripe(&app, &vendor, clock.now(), &pay(n, order_id)).await,
            200
        );
    }
    let (_, balance) = call(&app, Method::GET, "/api/balance", Some(&key), Value::Null).await;
    assert_eq!(
        balance["balances"],
        json!([{"currency": "EUR", "pending": "150.00", "available": "50.00"}])
    );
    // when every order is refunded at once
    let refunds = orders.iter().map(|order_id| {
        let (app, key) = (app.clone(), key.clone());
        let path = format!("/api/orders/{order_id}/refunds");
        tokio::spawn(async move {
            call(
                &app,
                Method::POST,
                &path,
                Some(&key),
                json!({"reason": "alle"}),
            )
            .await
        })
    });
    let answers: Vec<(u16, Value)> = futures_join_all(refunds).await;
    // then exactly the five the available balance covers are refunded, the rest refused
    let made = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(made, 5, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 201) {
        assert_eq!(
            (*status, body["error"]["code"].as_str()),
            (409, Some("insufficient_available_balance")),
            "{body}"
        );
    }
    let (_, balance) = call(&app, Method::GET, "/api/balance", Some(&key), Value::Null).await;
    assert_eq!(balance["balances"][0]["available"], "0.00", "{balance}");
}

async fn futures_join_all<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut answers = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        answers.push(handle.await.unwrap());
    }
    answers
}

// R-R1 (issue 13, defect 3)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_concurrent_refunds_never_overdraw_the_available_balance() {
    twenty_refunds_against_a_balance_for_five(common::embedded()).await;
}

// R-R1 (issue 13, defect 3)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_concurrent_refunds_never_overdraw_the_available_balance() {
    let Some(store) = common::dynamodb().await else {
        return;
    };
    twenty_refunds_against_a_balance_for_five(store).await;
}
