//! R-O1 over HTTP: products, versioned offers, lists with cursor and total, tenant isolation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, get, post_json, temp_dir};
use devserver::config::DevConfig;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ADMIN: &str = "test-admin-token-0123456789";

async fn server() -> devserver::RunningServer {
    let config = DevConfig {
        port: 0,
        data_dir: temp_dir("catalogue"),
        admin_token: Some(ADMIN.into()),
        rate_limits: false,
        aws: false,
        ..Default::default()
    };
    devserver::start(config).await.unwrap()
}

async fn vendor(url: &str, name: &str) -> String {
    let created = post_json(
        url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": name, "email": format!("{name}@example.com")}),
    )
    .await;
    created.json()["api_key"].as_str().unwrap().to_string()
}

async fn put_json(url: &str, path: &str, key: &str, body: &Value) -> common::Answer {
    let auth = format!("Bearer {key}");
    call(
        url,
        "PUT",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        Some(body.to_string().as_bytes()),
    )
    .await
}

fn offer_body(products: &[&str], price: &str, plan: Value) -> Value {
    json!({"name": "Videokurs Komplett", "products": products, "price": {"amount": price, "currency": "EUR"}, "plan": plan})
}

// R-O1
#[tokio::test]
async fn offers_sell_products_and_every_edit_is_a_new_version() {
    let server = server().await;
    let url = server.url();
    let key = vendor(&url, "kurswerk").await;
    // given a product
    let product = post_json(
        &url,
        "/api/products",
        Some(&key),
        &json!({"name": "Videokurs", "access_days": 365, "download": {"file_name": "kurs.zip"}}),
    )
    .await;
    assert_eq!(product.status, 201, "{}", product.text);
    let product_id = product.json()["id"].as_str().unwrap().to_string();
    assert_eq!(product.json()["access_days"], 365);
    // when an offer sells it in three monthly installments
    let plan = json!({"kind": "installments", "count": 3, "interval": "month"});
    let offer = post_json(
        &url,
        "/api/offers",
        Some(&key),
        &offer_body(&[&product_id], "299.00", plan),
    )
    .await;
    assert_eq!(offer.status, 201, "{}", offer.text);
    let offer = offer.json();
    assert_eq!(offer["version"], 1);
    assert_eq!(
        offer["price"],
        json!({"amount": "299.00", "currency": "EUR"})
    );
    let offer_id = offer["id"].as_str().unwrap();
    // and is then edited to a subscription
    let edited = put_json(
        &url,
        &format!("/api/offers/{offer_id}"),
        &key,
        &offer_body(
            &[&product_id],
            "29.9",
            json!({"kind": "subscription", "interval": "month"}),
        ),
    )
    .await;
    // then the edit is version 2 of the same offer, and the list shows the current version
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(
        (
            edited.json()["id"].as_str(),
            edited.json()["version"].as_u64()
        ),
        (Some(offer_id), Some(2))
    );
    assert_eq!(edited.json()["price"]["amount"], "29.90");
    let offers = get(&url, "/api/offers", Some(&key)).await.json();
    assert_eq!(offers["total"], 1);
    assert_eq!(offers["items"][0]["version"], 2);
    assert_eq!(
        offers["items"][0]["plan"],
        json!({"kind": "subscription", "interval": "month"})
    );
    server.stop();
}

#[tokio::test]
async fn bad_catalogue_input_is_refused_and_changes_nothing() {
    let server = server().await;
    let url = server.url();
    let key = vendor(&url, "kurswerk").await;
    let product_id = post_json(&url, "/api/products", Some(&key), &json!({"name": "Kurs"}))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let one_time = json!({"kind": "one_time"});
    let cases = [
        (
            offer_body(
                &["prd_01JZZZZZZZZZZZZZZZZZZZZZZZ"],
                "10.00",
                one_time.clone(),
            ),
            "products[0]",
        ),
        (offer_body(&[&product_id], "10.001", one_time.clone()), ""),
        (
            offer_body(&[&product_id], "0.00", one_time.clone()),
            "price",
        ),
        (
            offer_body(
                &[&product_id],
                "10.00",
                json!({"kind": "one_time", "count": 2}),
            ),
            "",
        ),
        (
            offer_body(
                &[&product_id],
                "10.00",
                json!({"kind": "installments", "count": 99, "interval": "month"}),
            ),
            "plan.count",
        ),
        (
            json!({"name": "x", "products": [product_id], "price": {"amount": 10.0, "currency": "EUR"}, "plan": one_time}),
            "",
        ),
        (
            json!({"name": "x", "products": [product_id], "price": {"amount": "10", "currency": "XYZ"}, "plan": one_time}),
            "",
        ),
    ];
    for (body, field) in cases {
        let answer = post_json(&url, "/api/offers", Some(&key), &body).await;
        assert_eq!(answer.status, 400, "{body} -> {}", answer.text);
        if !field.is_empty() {
            assert!(
                answer.json()["error"]["fields"][field].is_string(),
                "{body} -> {}",
                answer.text
            );
        }
    }
    assert_eq!(
        post_json(
            &url,
            "/api/products",
            Some(&key),
            &json!({"name": "", "access_days": 0})
        )
        .await
        .status,
        400
    );
    // nothing was created by the refused requests
    assert_eq!(
        get(&url, "/api/offers", Some(&key)).await.json()["total"],
        0
    );
    assert_eq!(
        get(&url, "/api/products", Some(&key)).await.json()["total"],
        1
    );
    // unknown offers are 404, a missing key 401
    let missing = put_json(
        &url,
        "/api/offers/off_01JZZZZZZZZZZZZZZZZZZZZZZZ",
        &key,
        &offer_body(&[&product_id], "1.00", json!({"kind": "one_time"})),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        put_json(&url, "/api/offers/not-an-id", &key, &json!({}))
            .await
            .status,
        404
    );
    assert_eq!(get(&url, "/api/products", None).await.status, 401);
    server.stop();
}

#[tokio::test]
async fn lists_page_with_cursor_and_total_newest_first() {
    let server = server().await;
    let url = server.url();
    let key = vendor(&url, "kurswerk").await;
    for n in 0..5 {
        assert_eq!(
            post_json(
                &url,
                "/api/products",
                Some(&key),
                &json!({"name": format!("Kurs {n}")})
            )
            .await
            .status,
            201
        );
    }
    let mut names = Vec::new();
    let mut path = "/api/products?limit=2".to_string();
    loop {
        let page = get(&url, &path, Some(&key)).await.json();
        assert_eq!(page["total"], 5);
        assert!(page["items"].as_array().unwrap().len() <= 2);
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/products?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        names,
        vec!["Kurs 4", "Kurs 3", "Kurs 2", "Kurs 1", "Kurs 0"]
    );
    for bad in [
        "/api/products?limit=0",
        "/api/products?limit=201",
        "/api/products?limit=x",
    ] {
        let answer = get(&url, bad, Some(&key)).await;
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (400, "validation_failed"),
            "{bad}"
        );
    }
    let forged = get(&url, "/api/products?cursor=bm90LWEtY3Vyc29y", Some(&key)).await;
    assert_eq!(
        (forged.status, forged.error_code().as_str()),
        (400, "invalid_cursor")
    );
    server.stop();
}

#[tokio::test]
async fn one_vendor_never_sees_or_uses_another_vendors_catalogue() {
    let server = server().await;
    let url = server.url();
    let a = vendor(&url, "a").await;
    let b = vendor(&url, "b").await;
    let product = post_json(
        &url,
        "/api/products",
        Some(&a),
        &json!({"name": "A's course"}),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let offer = post_json(
        &url,
        "/api/offers",
        Some(&a),
        &offer_body(&[&product], "10.00", json!({"kind": "one_time"})),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // B's lists are empty
    let b_products = get(&url, "/api/products", Some(&b)).await.json();
    assert_eq!(
        (
            b_products["total"].as_u64(),
            b_products["items"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
    assert_eq!(get(&url, "/api/offers", Some(&b)).await.json()["total"], 0);
    // B cannot edit A's offer (404, not 403) nor sell A's product
    let edit = put_json(
        &url,
        &format!("/api/offers/{offer}"),
        &b,
        &offer_body(&[&product], "1.00", json!({"kind": "one_time"})),
    )
    .await;
    assert_eq!(
        (edit.status, edit.error_code().as_str()),
        (404, "not_found")
    );
    let resell = post_json(
        &url,
        "/api/offers",
        Some(&b),
        &offer_body(&[&product], "1.00", json!({"kind": "one_time"})),
    )
    .await;
    assert_eq!(resell.status, 400);
    // A's offer is unchanged
    let ids: BTreeSet<_> = get(&url, "/api/offers", Some(&a)).await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["version"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([1]));
    server.stop();
}
