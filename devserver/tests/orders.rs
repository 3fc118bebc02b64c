//! The vendor's orders over HTTP: list (R-D1), order card with internal fields (R-O7), edits and
//! comments never shown to the customer, and vendor isolation (404 for another vendor's order).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, checkout_as, get, new_offer, new_vendor, post_json, start_server, token_of};
use serde_json::{Value, json};

async fn patch(url: &str, path: &str, key: &str, body: &Value) -> common::Answer {
    let auth = format!("Bearer {key}");
    call(
        url,
        "PATCH",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        Some(body.to_string().as_bytes()),
    )
    .await
}

#[tokio::test]
async fn vendors_list_and_annotate_their_orders_and_only_theirs() {
    let server = start_server("orders").await;
    let url = server.url();
    let a = new_vendor(&url, "a").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let b = new_vendor(&url, "b").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let offer = new_offer(&url, &a, "20.00", json!({"kind": "one_time"})).await;
    let mut links = Vec::new();
    for n in 0..3 {
        links.push(
            checkout_as(&url, &offer["id"], &format!("k{n}@example.com"))
                .await
                .json(),
        );
    }
    // the list: newest first, paged, with the total
    let first_page = get(&url, "/api/orders?limit=2", Some(&a)).await.json();
    assert_eq!(first_page["total"], 3);
    let numbers: Vec<_> = first_page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(numbers, vec!["SD-000003", "SD-000002"]);
    let cursor = first_page["next_cursor"].as_str().unwrap();
    let second_page = get(
        &url,
        &format!("/api/orders?limit=2&cursor={cursor}"),
        Some(&a),
    )
    .await
    .json();
    assert_eq!(second_page["items"][0]["number"], "SD-000001");
    assert_eq!(second_page["items"][0]["payment_status"], "pending");
    // search and filters (R-D1), paged with their own total
    let total_of = |query: &str| {
        let (url, a, query) = (url.clone(), a.clone(), query.to_string());
        async move {
            get(&url, &format!("/api/orders?{query}"), Some(&a))
                .await
                .json()["total"]
                .clone()
        }
    };
    assert_eq!(total_of("q=sd-000002").await, 1);
    assert_eq!(total_of("q=K1%40example").await, 1);
    assert_eq!(total_of("q=kurs").await, 3);
    assert_eq!(total_of("payment_status=pending").await, 3);
    assert_eq!(total_of("payment_status=paid").await, 0);
    assert_eq!(
        total_of("from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z").await,
        0
    );
    let customer = get(
        &url,
        &format!("/api/orders/{}", links[1]["order_id"].as_str().unwrap()),
        Some(&a),
    )
    .await
    .json()["customer"]["id"]
        .clone();
    assert_eq!(
        total_of(&format!("customer_id={}", customer.as_str().unwrap())).await,
        1
    );
    let filtered = get(&url, "/api/orders?q=kurs&limit=2", Some(&a))
        .await
        .json();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 2);
    let rest = get(
        &url,
        &format!(
            "/api/orders?q=kurs&limit=2&cursor={}",
            filtered["next_cursor"].as_str().unwrap()
        ),
        Some(&a),
    )
    .await
    .json();
    assert_eq!(
        (
            rest["items"][0]["number"].as_str(),
            rest["next_cursor"].is_null()
        ),
        (Some("SD-000001"), true)
    );
    for bad in ["payment_status=late", "from=yesterday", "customer_id=x"] {
        assert_eq!(
            get(&url, &format!("/api/orders?{bad}"), Some(&a))
                .await
                .status,
            400,
            "{bad}"
        );
    }
    // the card, edited and commented (R-O7)
    let id = links[0]["order_id"].as_str().unwrap();
    let path = format!("/api/orders/{id}");
    let edited = patch(
        &url,
        &path,
        &a,
        &json!({"stage": "Onboarding", "manager": "Mia", "tags": ["vip", "webinar"]}),
    )
    .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    let commented = post_json(
        &url,
        &format!("{path}/comments"),
        Some(&a),
        &json!({"body": "Kunde ruft Freitag an"}),
    )
    .await;
    assert_eq!(commented.status, 201);
    let card = get(&url, &path, Some(&a)).await.json();
    assert_eq!(
        (card["stage"].as_str(), card["manager"].as_str()),
        (Some("Onboarding"), Some("Mia"))
    );
    assert_eq!(card["tags"], json!(["vip", "webinar"]));
    assert_eq!(card["comments"][0]["body"], "Kunde ruft Freitag an");
    assert_eq!(card["customer"]["email"], "k0@example.com");
    // R-O4: the vendor's card carries the pay link, never the customer's link
    assert!(
        !card
            .to_string()
            .contains(&token_of(&links[0]["customer_link"]))
    );
    assert!(card["pay_link"].as_str().unwrap().contains("/orders/"));
    // never shown to the customer
    let token = token_of(&links[0]["customer_link"]);
    let portal = get(&url, &format!("/portal/orders/{token}"), None).await;
    assert!(!portal.text.contains("Kunde ruft Freitag an") && !portal.text.contains("Onboarding"));
    // bad edits are refused and change nothing
    assert_eq!(
        patch(&url, &path, &a, &json!({"stage": ""})).await.status,
        400
    );
    assert_eq!(
        patch(&url, &path, &a, &json!({"status": "paid"}))
            .await
            .status,
        400
    );
    assert_eq!(
        get(&url, &path, Some(&a)).await.json()["stage"],
        "Onboarding"
    );
    // another vendor sees nothing of it: 404, and an empty list
    assert_eq!(get(&url, &path, Some(&b)).await.status, 404);
    assert_eq!(
        patch(&url, &path, &b, &json!({"stage": "mine"}))
            .await
            .status,
        404
    );
    assert_eq!(
        post_json(
            &url,
            &format!("{path}/comments"),
            Some(&b),
            &json!({"body": "x"})
        )
        .await
        .status,
        404
    );
    assert_eq!(get(&url, "/api/orders", Some(&b)).await.json()["total"], 0);
    assert_eq!(
        get(&url, "/api/orders/not-an-id", Some(&a)).await.status,
        404
    );
    server.stop();
}

// R-O8: orders by hand and manual payments; R-O7: the transaction history.
#[tokio::test]
async fn vendors_create_orders_by_hand_and_record_manual_payments() {
    let server = start_server("manual").await;
    let url = server.url();
    let a = new_vendor(&url, "a").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let b = new_vendor(&url, "b").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let offer = new_offer(&url, &a, "20.00", json!({"kind": "one_time"})).await;
    let body = json!({"offer_id": offer["id"], "customer": {"email": "k@example.com", "first_name": "K", "last_name": "L", "country": "DE"}});
    // another vendor cannot sell A's offer by hand
    let foreign = post_json(&url, "/api/orders", Some(&b), &body).await;
    assert_eq!(
        (foreign.status, foreign.error_code().as_str()),
        (404, "offer_not_found")
    );
    // A creates the order by hand
    let created = post_json(&url, "/api/orders", Some(&a), &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let order = created.json();
    assert_eq!(
        (order["number"].as_str(), order["total"]["amount"].as_str()),
        (Some("SD-000001"), Some("23.80"))
    );
    // R-O4: the vendor gets the pay link; the customer link goes to the customer by e-mail
    assert!(order.get("customer_link").is_none(), "{order}");
    assert!(order["pay_link"].as_str().unwrap().contains("/orders/"));
    let path = format!("/api/orders/{}", order["id"].as_str().unwrap());
    // a bank transfer pays part, then the rest
    let pay = |amount: &str| json!({"amount": {"amount": amount, "currency": "EUR"}, "method": "bank_transfer", "comment": "Überweisung"});
    let part = post_json(&url, &format!("{path}/payments"), Some(&a), &pay("10.00")).await;
    assert_eq!(part.status, 201, "{}", part.text);
    assert_eq!(
        (
            part.json()["status"].as_str(),
            part.json()["payment_status"].as_str()
        ),
        (Some("active"), Some("pending"))
    );
    assert_eq!(part.json()["open"]["amount"], "13.80");
    let rest = post_json(&url, &format!("{path}/payments"), Some(&a), &pay("13.80"))
        .await
        .json();
    assert_eq!(
        (rest["status"].as_str(), rest["payment_status"].as_str()),
        (Some("completed"), Some("paid"))
    );
    // more than is open, another currency, or another vendor: refused, nothing changes
    assert_eq!(
        post_json(&url, &format!("{path}/payments"), Some(&a), &pay("1.00"))
            .await
            .status,
        400
    );
    let usd = json!({"amount": {"amount": "1.00", "currency": "USD"}, "method": "cash"});
    assert_eq!(
        post_json(&url, &format!("{path}/payments"), Some(&a), &usd)
            .await
            .status,
        400
    );
    assert_eq!(
        post_json(&url, &format!("{path}/payments"), Some(&b), &pay("1.00"))
            .await
            .status,
        404
    );
    // the history shows both, and the platform balance holds nothing (the money never passed through it)
    let history = get(&url, &format!("{path}/transactions"), Some(&a))
        .await
        .json();
    let kinds: Vec<_> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_string(),
                t["amount"]["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("manual_payment".to_string(), "10.00".to_string()),
            ("manual_payment".to_string(), "13.80".to_string())
        ]
    );
    assert_eq!(
        get(&url, "/api/balance", Some(&a)).await.json()["balances"],
        json!([])
    );
    assert_eq!(
        get(&url, &format!("{path}/transactions"), Some(&b))
            .await
            .status,
        404
    );
    // a provider payment lands in the history too
    let online = checkout_as(&url, &offer["id"], "o@example.com")
        .await
        .json();
    let token = token_of(&online["customer_link"]);
    post_json(
        &url,
        &format!("/_dev/pay/{token}"),
        None,
        &json!({"outcome": "succeeded"}),
    )
    .await;
    let online_history = get(
        &url,
        &format!(
            "/api/orders/{}/transactions",
            online["order_id"].as_str().unwrap()
        ),
        Some(&a),
    )
    .await
    .json();
    assert_eq!(
        (
            online_history["items"][0]["kind"].as_str(),
            online_history["items"][0]["provider"].as_str()
        ),
        (Some("payment"), Some("stripe"))
    );
    server.stop();
}
