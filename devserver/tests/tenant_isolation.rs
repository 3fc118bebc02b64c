//! Vendor A's key gets 404 for every resource of vendor B, on every vendor route of the route
//! table (API.md: another vendor's resource is answered as 404, so ids leak nothing). A new route
//! with a path parameter fails here until it is given a valid body below.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, checkout_as, get, new_offer, new_vendor, start_server};
use sellerdesk::api::routes::{Function, ROUTES, RouteId};
use serde_json::{Value, json};

/// A body the route would accept for its own vendor, so only ownership can refuse it.
fn valid_body(route: RouteId, product_id: &Value) -> Value {
    match route {
        RouteId::ReviseOffer => {
            json!({"name": "X", "products": [product_id], "price": {"amount": "1.00", "currency": "EUR"}, "plan": {"kind": "one_time"}})
        }
        RouteId::PatchOrder => json!({"stage": "mine"}),
        RouteId::CommentOrder => json!({"body": "mine"}),
        RouteId::ManualPayment => {
            json!({"amount": {"amount": "1.00", "currency": "EUR"}, "method": "cash"})
        }
        RouteId::RefundOrder => json!({"reason": "mine"}),
        RouteId::VendorOpenTicket => json!({"type": "support", "message": "mine"}),
        RouteId::VendorTicketComment => json!({"message": "mine"}),
        RouteId::VendorTicketType => json!({"type": "support"}),
        _ => json!({}),
    }
}

#[tokio::test]
async fn every_vendor_route_answers_404_for_another_vendors_resource() {
    let server = start_server("isolation").await;
    let url = server.url();
    let owner = new_vendor(&url, "owner").await;
    let owner_key = owner["api_key"].as_str().unwrap();
    let intruder_key = new_vendor(&url, "intruder").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let offer = new_offer(&url, owner_key, "10.00", json!({"kind": "one_time"})).await;
    let order = checkout_as(&url, &offer["id"], "k@example.com")
        .await
        .json();
    let card = get(
        &url,
        &format!("/api/orders/{}", order["order_id"].as_str().unwrap()),
        Some(owner_key),
    )
    .await
    .json();
    let ticket = common::post_json(
        &url,
        &format!(
            "/api/orders/{}/tickets",
            order["order_id"].as_str().unwrap()
        ),
        Some(owner_key),
        &json!({"type": "support", "message": "owner's ticket"}),
    )
    .await
    .json();
    let owner_keys = get(&url, "/api/keys", Some(owner_key)).await.json();
    let ids = [
        (
            "key_id",
            owner_keys["items"][0]["id"].as_str().unwrap().to_string(),
        ),
        ("ticket_id", ticket["id"].as_str().unwrap().to_string()),
        ("offer_id", offer["id"].as_str().unwrap().to_string()),
        ("order_id", order["order_id"].as_str().unwrap().to_string()),
        (
            "customer_id",
            card["customer"]["id"].as_str().unwrap().to_string(),
        ),
    ];
    let product_id = offer["products"][0].clone();
    let auth = format!("Bearer {intruder_key}");
    let mut checked = 0;
    for route in ROUTES.iter().filter(|r| {
        r.function != Function::DevServer && r.path.starts_with("/api/") && r.path.contains('{')
    }) {
        let mut path = route.path.to_string();
        for (name, id) in &ids {
            path = path.replace(&format!("{{{name}}}"), id);
        }
        assert!(
            !path.contains('{'),
            "no owner resource for {}: add it to `ids`",
            route.path
        );
        let body = valid_body(route.id, &product_id).to_string();
        let answer = call(
            &url,
            route.method,
            &path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some(body.as_bytes()),
        )
        .await;
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (404, "not_found"),
            "{} {} -> {}",
            route.method,
            route.path,
            answer.text
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} routes checked");
    // and every list of the intruder is empty of the owner's records
    for list in [
        "/api/tickets",
        "/api/products",
        "/api/offers",
        "/api/orders",
        "/api/customers",
    ] {
        let page = get(&url, list, Some(&intruder_key)).await.json();
        assert_eq!(
            (
                page["total"].as_u64(),
                page["items"].as_array().unwrap().len()
            ),
            (Some(0), 0),
            "{list}"
        );
    }
    assert_eq!(
        get(&url, "/api/balance", Some(&intruder_key)).await.json()["balances"],
        json!([])
    );
    // the owner still sees its order unchanged
    let again = get(
        &url,
        &format!("/api/orders/{}", order["order_id"].as_str().unwrap()),
        Some(owner_key),
    )
    .await
    .json();
    assert_eq!(
        (
            again["stage"].is_null(),
            again["comments"].as_array().unwrap().len()
        ),
        (true, 0)
    );
    server.stop();
}

// Issue 12, §1: events come to the platform's one route; an order is found only under the vendor
// the event names, so an event naming one vendor with another's order moves nothing, and a
// renewal found by its provider id pays only the order that recorded it.
#[tokio::test]
async fn a_provider_event_pays_only_the_order_of_the_vendor_it_names() {
    let server = start_server("isolation-events").await;
    let url = server.url();
    let owner = new_vendor(&url, "owner").await;
    let other = new_vendor(&url, "other").await;
    let owner_key = owner["api_key"].as_str().unwrap();
    let offer = new_offer(&url, owner_key, "10.00", json!({"kind": "one_time"})).await;
    let order = checkout_as(&url, &offer["id"], "k@example.com")
        .await
        .json();
    let order_id = order["order_id"].as_str().unwrap();
    let now = get(&url, "/_dev/clock", None).await.json()["now"]
        .as_str()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp())
        .unwrap();
    let paid = |event_id: &str, vendor: &Value| {
        json!({"id": event_id, "object": "event", "type": "checkout.session.completed", "data": {"object": {
            "id": format!("cs_{event_id}"), "object": "checkout.session", "amount_total": 1190, "currency": "eur",
            "payment_status": "paid", "payment_intent": format!("pi_{event_id}"),
            "metadata": {"vendor_id": vendor["vendor_id"], "order_id": order_id}}}})
        .to_string()
    };
    let card = || async {
        get(&url, &format!("/api/orders/{order_id}"), Some(owner_key))
            .await
            .json()
    };
    // when a correctly signed event names the other vendor with the owner's order
    let foreign = common::post_stripe_event(
        &url,
        other["vendor_id"].as_str().unwrap(),
        common::STRIPE_SECRET,
        now,
        &paid("evt_foreign", &other),
    )
    .await;
    // then it is received and pays nothing
    assert_eq!(foreign.status, 200, "{}", foreign.text);
    assert_eq!(card().await["paid"]["amount"], "0.00");
    // and the owner's own event pays the order
    let own = common::post_stripe_event(
        &url,
        owner["vendor_id"].as_str().unwrap(),
        common::STRIPE_SECRET,
        now,
        &paid("evt_own", &owner),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(card().await["paid"]["amount"], "11.90");
    // and the other vendor's balance was never credited
    let balance = get(&url, "/api/balance", other["api_key"].as_str())
        .await
        .json();
    assert_eq!(balance["balances"], json!([]), "{balance}");
}
