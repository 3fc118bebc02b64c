//! Idempotency-Key on POST routes (API.md): a repeat returns the first answer and changes nothing;
//! a different body with the same key is 422; keys of different callers never meet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, get, new_vendor, post_json, start_server};
use serde_json::{Value, json};

async fn post_with_key(
    url: &str,
    path: &str,
    auth: Option<&str>,
    key: &str,
    body: &Value,
) -> common::Answer {
    let bearer = auth.map(|a| format!("Bearer {a}"));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Idempotency-Key", key),
    ];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer.as_str()));
    }
    call(
        url,
        "POST",
        path,
        &headers,
        Some(body.to_string().as_bytes()),
    )
    .await
}

#[tokio::test]
async fn repeated_posts_with_one_key_apply_once() {
    let server = start_server("idempotency").await;
    let url = server.url();
    let a = new_vendor(&url, "a").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let b = new_vendor(&url, "b").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    // a vendor's product POST retried with the same key creates one product
    let body = json!({"name": "Kurs"});
    let first = post_with_key(&url, "/api/products", Some(&a), "create-kurs-1", &body).await;
    let repeat = post_with_key(&url, "/api/products", Some(&a), "create-kurs-1", &body).await;
    assert_eq!((first.status, repeat.status), (201, 201));
    assert_eq!(first.json(), repeat.json());
    assert_eq!(
        get(&url, "/api/products", Some(&a)).await.json()["total"],
        1
    );
    // the same key with another body is refused and changes nothing
    let reused = post_with_key(
        &url,
        "/api/products",
        Some(&a),
        "create-kurs-1",
        &json!({"name": "Anderer Kurs"}),
    )
    .await;
    assert_eq!(
        (reused.status, reused.error_code().as_str()),
        (422, "idempotency_key_reused")
    );
    assert_eq!(
        get(&url, "/api/products", Some(&a)).await.json()["total"],
        1
    );
    // another vendor's same key is its own
    assert_eq!(
        post_with_key(&url, "/api/products", Some(&b), "create-kurs-1", &body)
            .await
            .status,
        201
    );
    assert_eq!(
        get(&url, "/api/products", Some(&b)).await.json()["total"],
        1
    );
    // a public checkout retried with its key is one order
    let product = first.json()["id"].clone();
    let offer = post_json(&url, "/api/offers", Some(&a), &json!({"name": "O", "products": [product], "price": {"amount": "5.00", "currency": "EUR"}, "plan": {"kind": "one_time"}})).await.json();
    let checkout = json!({"offer_id": offer["id"], "customer": {"email": "k@example.com", "first_name": "K", "last_name": "L", "country": "DE"}});
    let cart = "5b1f0c8e-7d2a-4f6b-9e3c-2a8d7f1b4c60";
    let once = post_with_key(&url, "/checkout", None, cart, &checkout)
        .await
        .json();
    let twice = post_with_key(&url, "/checkout", None, cart, &checkout)
        .await
        .json();
    assert_eq!(once["order_id"], twice["order_id"]);
    // starting a payment records nothing, but its key is checked as everywhere
    let token = common::token_of(&once["customer_link"]);
    let pay = format!("/portal/orders/{token}/pay");
    let weak = post_with_key(&url, &pay, None, "pay-1", &json!({})).await;
    assert_eq!(weak.error_code(), "idempotency_key_weak");
    let strong = post_with_key(
        &url,
        &pay,
        None,
        "7d2c9a4e-1f3b-4c5d-8e6f-0a1b2c3d4e5f",
        &json!({}),
    )
    .await;
    assert_eq!(strong.status, 200, "{}", strong.text);
    let next = post_json(&url, "/checkout", None, &checkout).await.json();
    assert_eq!(next["order_number"], "SD-000002");
    // a refused request is replayed as refused, and a malformed key is 400
    let bad =
        json!({"offer_id": "off_01JZZZZZZZZZZZZZZZZZZZZZZZ", "customer": checkout["customer"]});
    let bad_cart = "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b";
    assert_eq!(
        post_with_key(&url, "/checkout", None, bad_cart, &bad)
            .await
            .status,
        404
    );
    assert_eq!(
        post_with_key(&url, "/checkout", None, bad_cart, &bad)
            .await
            .status,
        404
    );
    // a guessable key on a public route is refused before anything is claimed (issue 12, §4)
    for weak in ["checkout-abc", "cart-42", "1"] {
        assert_eq!(
            post_with_key(&url, "/checkout", None, weak, &checkout)
                .await
                .error_code(),
            "idempotency_key_weak"
        );
    }
    let long = "k".repeat(300);
    assert_eq!(
        post_with_key(&url, "/checkout", None, &long, &checkout)
            .await
            .error_code(),
        "invalid_idempotency_key"
    );
    server.stop();
}

// Issue 10, defects 4 and 5: a replay carries the first answer's headers, and the scope is the
// authenticated vendor, not the spelling of its Authorization header.
#[tokio::test]
async fn a_replay_keeps_its_headers_and_the_scope_is_the_vendor() {
    let server = start_server("idempotency-scope").await;
    let url = server.url();
    let key = new_vendor(&url, "a").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"name": "Kurs"}).to_string();
    let post = |scheme: &'static str| {
        let url = url.clone();
        let auth = format!("{scheme} {key}");
        let body = body.clone();
        async move {
            call(
                &url,
                "POST",
                "/api/products",
                &[
                    ("Content-Type", "application/json"),
                    ("Idempotency-Key", "scope-1"),
                    ("Authorization", &auth),
                ],
                Some(body.as_bytes()),
            )
            .await
        }
    };
    // given a product created with one spelling of the scheme
    let first = post("Bearer").await;
    assert_eq!(first.status, 201, "{}", first.text);
    // when the same vendor repeats it spelling the scheme otherwise
    let repeat = post("bearer").await;
    // then it is the same request: a replay, one product
    assert_eq!(repeat.status, 201);
    assert_eq!(
        repeat.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(repeat.json(), first.json());
    assert_eq!(
        get(&url, "/api/products", Some(&key)).await.json()["total"],
        1
    );
    // and the replay carries the first answer's headers
    assert_eq!(repeat.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(repeat.content_type, "application/json");
    server.stop();
}

// Issue 10, defect 3: a new vendor's API key is shown exactly once, even to a retry.
#[tokio::test]
async fn a_new_api_key_is_never_shown_twice() {
    let server = start_server("idempotency-secret").await;
    let url = server.url();
    let body = json!({"name": "Kurswerk", "email": "info@kurswerk.example"});
    // given a vendor created with an Idempotency-Key
    let first = post_with_key(
        &url,
        "/admin/vendors",
        Some(common::ADMIN),
        "vendor-1",
        &body,
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let api_key = first.json()["api_key"].as_str().unwrap().to_string();
    // when the request is repeated with the same key
    let repeat = post_with_key(
        &url,
        "/admin/vendors",
        Some(common::ADMIN),
        "vendor-1",
        &body,
    )
    .await;
    // then it is refused with a code saying why, and shows no secret
    assert_eq!(repeat.status, 409, "{}", repeat.text);
    assert_eq!(repeat.error_code(), "idempotency_key_secret_shown");
    assert!(!repeat.text.contains(&api_key));
    assert!(!repeat.text.contains("whsec_"));
    // and no second vendor was made: the key still works, alone
    assert_eq!(get(&url, "/api/settings", Some(&api_key)).await.status, 200);
    server.stop();
}

// An outside review found the scope tied to the path's spelling: `//api//products` and
// `/api/products/` with the same key made three products.
#[tokio::test]
async fn the_scope_is_the_route_however_its_path_is_spelled() {
    let server = start_server("idempotency-paths").await;
    let url = server.url();
    let key = new_vendor(&url, "a").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"name": "Kurs"});
    for path in ["/api/products", "//api//products", "/api/products/"] {
        let answer = post_with_key(&url, path, Some(&key), "paths-1", &body).await;
        assert_eq!(answer.status, 201, "{path}: {}", answer.text);
    }
    assert_eq!(
        get(&url, "/api/products", Some(&key)).await.json()["total"],
        1
    );
    server.stop();
}
