//! The dev server over real HTTP: admin vendors, vendor auth, dev routes, and the API.md error
//! shape for bad input on every route so far.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, get, post_json, temp_dir};
use devserver::config::DevConfig;
use serde_json::json;

const ADMIN: &str = "test-admin-token-0123456789";

async fn server(name: &str) -> devserver::RunningServer {
    start(name, false).await
}

async fn start(name: &str, aws: bool) -> devserver::RunningServer {
    devserver::start(DevConfig {
        port: 0,
        data_dir: temp_dir(name),
        admin_token: Some(ADMIN.into()),
        rate_limits: false,
        aws,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// `--aws`: the same routes over DynamoDB (moto), when the test script provides it.
#[tokio::test]
async fn with_aws_settings_the_same_binary_uses_dynamodb() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        assert_ne!(
            std::env::var("SELLERDESK_REQUIRE_AWS").as_deref(),
            Ok("1"),
            "moto is required"
        );
        eprintln!("SKIPPED: no AWS_ENDPOINT_URL; run scripts/test");
        return;
    }
    let server = start("aws", true).await;
    assert!(
        server.storage.starts_with("DynamoDB table"),
        "{}",
        server.storage
    );
    let url = server.url();
    let created = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "Cloud", "email": "c@example.com"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let settings = get(&url, "/api/settings", created.json()["api_key"].as_str()).await;
    assert_eq!(settings.status, 200);
    assert_eq!(settings.json()["name"], "Cloud");
    server.stop();
}

#[tokio::test]
async fn admin_creates_a_vendor_whose_key_then_works() {
    let server = server("create").await;
    let url = server.url();
    // when the platform creates a vendor
    let created = post_json(&url, "/admin/vendors", Some(ADMIN), &json!({"name": "Kurswerk", "email": "Info@Kurswerk.example", "timezone": "America/New_York"})).await;
    // then it answers 201 with the key, once, and no signing secret: the payment accounts are
    // the platform's (issue 12, §1)
    assert_eq!(created.status, 201, "{}", created.text);
    let body = created.json();
    let api_key = body["api_key"].as_str().unwrap();
    assert!(body["vendor_id"].as_str().unwrap().starts_with("ven_"));
    assert!(body.get("webhook_secrets").is_none(), "{body}");
    // and the key opens the vendor's settings, which never show a secret (R-V1)
    let settings = get(&url, "/api/settings", Some(api_key)).await;
    assert_eq!(settings.status, 200);
    let settings_body = settings.json();
    assert_eq!(settings_body["vendor_id"], body["vendor_id"]);
    assert_eq!(settings_body["email"], "info@kurswerk.example");
    assert_eq!(settings_body["timezone"], "America/New_York");
    assert_eq!(settings_body["dunning_days"], json!([1, 3, 7]));
    assert!(!settings.text.contains("whsec_"));
    assert!(!settings.text.contains(api_key));
    server.stop();
}

#[tokio::test]
async fn credentials_are_checked_and_never_echoed() {
    let server = server("auth").await;
    let url = server.url();
    let vendor = json!({"name": "A", "email": "a@example.com"});
    let none = post_json(&url, "/admin/vendors", None, &vendor).await;
    assert_eq!(
        (none.status, none.error_code().as_str()),
        (401, "unauthorized")
    );
    let wrong = post_json(
        &url,
        "/admin/vendors",
        Some("wrong-token-0123456789"),
        &vendor,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(!wrong.text.contains("wrong-token"));
    let key = post_json(&url, "/admin/vendors", Some(ADMIN), &vendor)
        .await
        .json()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    // a vendor key is not an admin token, and the admin token is not a vendor key
    assert_eq!(
        post_json(&url, "/admin/vendors", Some(&key), &vendor)
            .await
            .status,
        401
    );
    assert_eq!(get(&url, "/api/settings", Some(ADMIN)).await.status, 401);
    // a forged key naming a real vendor is refused
    let last = if key.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &key[..key.len() - 1]);
    assert_ne!(forged, key);
    assert_eq!(get(&url, "/api/settings", Some(&forged)).await.status, 401);
    assert_eq!(get(&url, "/api/settings", None).await.status, 401);
    server.stop();
}

#[tokio::test]
async fn bad_input_gets_the_api_error_shape() {
    let server = server("bad-input").await;
    let url = server.url();
    let auth = format!("Bearer {ADMIN}");
    let json_headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    // malformed JSON
    let malformed = call(
        &url,
        "POST",
        "/admin/vendors",
        &json_headers,
        Some(b"{\"name\":"),
    )
    .await;
    assert_eq!(
        (malformed.status, malformed.error_code().as_str()),
        (400, "invalid_body")
    );
    assert_eq!(malformed.content_type, "application/json");
    // unknown field
    let unknown = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "A", "email": "a@example.com", "plan": "gold"}),
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["error"]["fields"]["plan"], "unknown field");
    // invalid values, all named
    let invalid = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": " ", "email": "nope", "timezone": "Mars/Base"}),
    )
    .await;
    assert_eq!(
        (invalid.status, invalid.error_code().as_str()),
        (400, "validation_failed")
    );
    let fields = invalid.json()["error"]["fields"].clone();
    for field in ["name", "email", "timezone"] {
        assert!(fields[field].is_string(), "{field} missing in {fields}");
    }
    // wrong media type, too large, unknown route, wrong method
    let form = call(
        &url,
        "POST",
        "/admin/vendors",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &auth),
        ],
        Some(b"name=a"),
    )
    .await;
    assert_eq!(
        (form.status, form.error_code().as_str()),
        (415, "unsupported_media_type")
    );
    let big = format!(
        "{{\"name\": \"{}\", \"email\": \"a@example.com\"}}",
        "x".repeat(1024 * 1024)
    );
    let too_large = call(
        &url,
        "POST",
        "/admin/vendors",
        &json_headers,
        Some(big.as_bytes()),
    )
    .await;
    assert_eq!(
        (too_large.status, too_large.error_code().as_str()),
        (413, "payload_too_large")
    );
    let huge = vec![b'x'; 7 * 1024 * 1024];
    assert_eq!(
        call(&url, "POST", "/admin/vendors", &json_headers, Some(&huge))
            .await
            .status,
        413
    );
    let missing = get(&url, "/nowhere", None).await;
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (404, "not_found")
    );
    let method = get(&url, "/admin/vendors", Some(ADMIN)).await;
    assert_eq!(
        (method.status, method.error_code().as_str()),
        (405, "method_not_allowed")
    );
    // the dev clock refuses bad bodies and stays where it was
    let before = get(&url, "/_dev/clock", None).await.json()["now"]
        .as_str()
        .unwrap()
        .to_string();
    for body in [
        json!({}),
        json!({"now": "2030-01-01T00:00:00Z", "advance": "1h"}),
        json!({"advance": "1 week"}),
        json!({"now": "tomorrow"}),
        json!({"speed": 2}),
    ] {
        let answer = post_json(&url, "/_dev/clock", None, &body).await;
        assert_eq!(answer.status, 400, "{body} -> {}", answer.text);
        assert!(answer.json()["error"]["message"].is_string());
    }
    let after = get(&url, "/_dev/clock", None).await.json()["now"]
        .as_str()
        .unwrap()
        .to_string();
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    assert!(
        (parse(&after) - parse(&before)).num_seconds() < 5,
        "the clock moved: {before} -> {after}"
    );
    server.stop();
}

// R-M4: the dev server's clock is the one injected clock, and it moves on request.
#[tokio::test]
async fn the_dev_clock_moves_and_sweeps_and_outbox_answer() {
    let server = server("clock").await;
    let url = server.url();
    let set = post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"now": "2026-11-27T17:00:00Z"}),
    )
    .await;
    assert_eq!(set.status, 200);
    assert!(
        set.json()["now"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-27T17:00")
    );
    let advanced = post_json(&url, "/_dev/clock", None, &json!({"advance": "36h"})).await;
    assert!(
        advanced.json()["now"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-29T05:00")
    );
    // a vendor created now carries the dev clock's time
    let created = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "A", "email": "a@example.com"}),
    )
    .await
    .json();
    let settings = get(&url, "/api/settings", created["api_key"].as_str())
        .await
        .json();
    assert!(
        settings["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-29T05:00")
    );
    let sweep = post_json(&url, "/_dev/sweep", None, &json!({})).await;
    assert_eq!(sweep.status, 200);
    assert_eq!(sweep.json()["outbox"]["emails_sent"], 0);
    let outbox = get(&url, "/_dev/outbox", None).await.json();
    assert_eq!(outbox, json!({"emails": [], "events": []}));
    server.stop();
}

async fn put_json(
    url: &str,
    path: &str,
    key: Option<&str>,
    body: &serde_json::Value,
) -> common::Answer {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    call(
        url,
        "PUT",
        path,
        &headers,
        Some(body.to_string().as_bytes()),
    )
    .await
}

// R-V1: the vendor changes its settings; customer links follow the portal address.
#[tokio::test]
async fn vendors_change_their_settings_and_links_follow() {
    let server = common::start_server("settings").await;
    let url = server.url();
    let key = common::new_vendor(&url, "kurswerk").await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    // R-O4 (issue 16, item 6): a portal on a host of the vendor's own is refused — its server
    // would receive every customer link's token — a path on the platform's frontend is not
    let own_host = json!({"portal_base_url": "https://kurse.example/mein-konto/"});
    let refused = put_json(&url, "/api/settings", Some(&key), &own_host).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.json()["error"]["fields"]["portal_base_url"].is_string());
    let change = json!({"portal_base_url": "http://localhost:3000/mein-konto/", "support_email": "Hilfe@Kurse.example", "timezone": "Europe/Vienna", "dunning_days": [2, 4, 8]});
    let changed = put_json(&url, "/api/settings", Some(&key), &change).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let settings = get(&url, "/api/settings", Some(&key)).await.json();
    assert_eq!(
        (
            settings["portal_base_url"].as_str(),
            settings["support_email"].as_str()
        ),
        (
            Some("http://localhost:3000/mein-konto"),
            Some("hilfe@kurse.example")
        )
    );
    assert_eq!(
        (
            settings["timezone"].as_str(),
            settings["dunning_days"].clone()
        ),
        (Some("Europe/Vienna"), json!([2, 4, 8]))
    );
    let offer = common::new_offer(&url, &key, "10.00", json!({"kind": "one_time"})).await;
    let link = common::checkout_as(&url, &offer["id"], "k@example.com")
        .await
        .json()["customer_link"]
        .clone();
    assert!(
        link.as_str()
            .unwrap()
            .starts_with("http://localhost:3000/mein-konto/orders/ven_"),
        "{link}"
    );
    // bad settings are refused, each named, and nothing changes
    let bad = put_json(
        &url,
        "/api/settings",
        Some(&key),
        &json!({"timezone": "Mars/Base", "dunning_days": [5, 1], "default_language": "fr"}),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["fields"].as_object().unwrap().len(), 3);
    assert_eq!(
        put_json(
            &url,
            "/api/settings",
            Some(&key),
            &json!({"stripe_webhook_secrets": []})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        put_json(&url, "/api/settings", None, &json!({"name": "x"}))
            .await
            .status,
        401
    );
    assert_eq!(
        get(&url, "/api/settings", Some(&key)).await.json()["timezone"],
        "Europe/Vienna"
    );
    server.stop();
}

// RFC 9110 §15.5.6: a 405 says which methods the path takes; HEAD is served wherever GET is; a
// doubled slash names the same route (issue 10, defects 7 and 12).
#[tokio::test]
async fn a_405_carries_allow_head_answers_like_get_and_slashes_collapse() {
    let server = server("methods").await;
    let url = server.url();
    // given a path that takes GET and PUT
    let wrong = call(&url, "DELETE", "/api/settings", &[], None).await;
    // then another method is a 405 that lists them
    assert_eq!(wrong.status, 405, "{}", wrong.text);
    assert_eq!(wrong.header("allow").as_deref(), Some("GET, HEAD, PUT"));
    assert_eq!(wrong.error_code(), "method_not_allowed");
    // and HEAD is the GET answer without a body
    let head = call(&url, "HEAD", "/_dev/clock", &[], None).await;
    assert_eq!(head.status, 200, "{}", head.head);
    assert!(head.text.is_empty());
    assert_eq!(head.content_type, "application/json");
    // and //_dev/clock and /_dev//clock are /_dev/clock
    for path in ["//_dev/clock", "/_dev//clock"] {
        let answer = get(&url, path, None).await;
        assert_eq!(answer.status, 200, "{path}");
        assert!(answer.json()["now"].is_string());
    }
    server.stop();
}

// API.md "CORS": the frontend on http://localhost:3000 (the default portal_base_url) can call
// the dev server from a browser, as it can the function URLs (issue 10, defect 6).
#[tokio::test]
async fn the_frontend_origin_passes_cors_and_others_do_not() {
    let server = server("cors").await;
    let url = server.url();
    // given a browser's preflight from the frontend's origin
    let preflight = call(
        &url,
        "OPTIONS",
        "/api/settings",
        &[
            ("Origin", "http://localhost:3000"),
            ("Access-Control-Request-Method", "PUT"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        None,
    )
    .await;
    // then it is allowed with the function URLs' methods and headers
    assert_eq!(preflight.status, 204, "{}", preflight.head);
    assert_eq!(
        preflight.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
    let methods = preflight.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("PUT") && methods.contains("PATCH"),
        "{methods}"
    );
    let headers = preflight.header("access-control-allow-headers").unwrap();
    assert!(headers.contains("authorization") && headers.contains("idempotency-key"));
    assert_eq!(
        preflight.header("access-control-max-age").as_deref(),
        Some("600")
    );
    // and its real request's answer is readable by that origin
    let answer = call(
        &url,
        "GET",
        "/_dev/clock",
        &[("Origin", "http://localhost:3000")],
        None,
    )
    .await;
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
    // and the frontend may read whether an answer is a replay
    assert_eq!(
        answer.header("access-control-expose-headers").as_deref(),
        Some("idempotent-replayed")
    );
    // and another origin gets no CORS headers at all
    let foreign = call(
        &url,
        "OPTIONS",
        "/api/settings",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "PUT"),
        ],
        None,
    )
    .await;
    assert_eq!(foreign.status, 204);
    assert!(foreign.header("access-control-allow-origin").is_none());
    let foreign_get = call(
        &url,
        "GET",
        "/_dev/clock",
        &[("Origin", "https://evil.example")],
        None,
    )
    .await;
    assert!(foreign_get.header("access-control-allow-origin").is_none());
    server.stop();
}

/// A vendor on a fresh server: (server, url, api key).
async fn vendor_server(name: &str) -> (devserver::RunningServer, String, String) {
    let server = server(name).await;
    let url = server.url();
    let created = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "Kurswerk", "email": "info@kurswerk.example"}),
    )
    .await;
    let key = created.json()["api_key"].as_str().unwrap().to_string();
    (server, url, key)
}

// Issue 10, defects 9 and 10: amounts exactly as the contract writes them, prices checkout can
// price, instalments of at least one cent, bounded and clean texts, short error echoes.
#[tokio::test]
async fn money_and_texts_out_of_bounds_are_refused_naming_the_field() {
    let (server, url, key) = vendor_server("bounds").await;
    let product = post_json(&url, "/api/products", Some(&key), &json!({"name": "Kurs"})).await;
    let product_id = product.json()["id"].clone();
    let offer = |amount: &str, currency: &str, plan: serde_json::Value| json!({"name": "Kurs", "products": [product_id], "price": {"amount": amount, "currency": currency}, "plan": plan});
    let one_time = json!({"kind": "one_time"});
    // given offers with amounts the contract does not write, or checkout cannot price
    for (amount, currency, plan, field) in [
        (" 9.99", "EUR", one_time.clone(), "price"),
        ("09.99", "EUR", one_time.clone(), "price"),
        ("+9.99", "EUR", one_time.clone(), "price"),
        ("9.", "EUR", one_time.clone(), "price"),
        ("9.99", "eur", one_time.clone(), "price"),
        (
            "99999999999999999999999999.99",
            "EUR",
            one_time.clone(),
            "price",
        ),
        (
            "0.01",
            "EUR",
            json!({"kind": "installments", "count": 3, "interval": "month"}),
            "plan.count",
        ),
    ] {
        let answer = post_json(
            &url,
            "/api/offers",
            Some(&key),
            &offer(amount, currency, plan),
        )
        .await;
        // then each is a 400 that names the field
        assert_eq!(answer.status, 400, "{amount} {currency}: {}", answer.text);
        let fields = &answer.json()["error"]["fields"];
        assert!(
            fields
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with(field)),
            "{amount} {currency}: {fields}"
        );
    }
    // and nothing was created
    assert_eq!(
        get(&url, "/api/offers", Some(&key)).await.json()["total"],
        0
    );
    let good = post_json(
        &url,
        "/api/offers",
        Some(&key),
        &offer("9.99", "EUR", one_time),
    )
    .await;
    assert_eq!(good.status, 201, "{}", good.text);
    let offer_id = good.json()["id"].clone();
    // given checkouts with an unbounded phone and control characters in a name
    let customer = |phone: &str, first_name: &str| json!({"offer_id": offer_id, "customer": {"email": "anna@example.com", "first_name": first_name, "last_name": "Muster", "country": "DE", "phone": phone}});
    for (body, field) in [
        (customer(&"1".repeat(10_000), "Anna"), "customer.phone"),
        (customer("+49 30 <b>", "Anna"), "customer.phone"),
        (customer("+49 30 123", "An\u{0}na"), "customer.first_name"),
        (
            customer("+49 30 123", "\u{1b}[31mAnna"),
            "customer.first_name",
        ),
    ] {
        let answer = post_json(&url, "/checkout", None, &body).await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(
            answer.json()["error"]["fields"][field].is_string(),
            "{}",
            answer.text
        );
    }
    // and an error never echoes a large value back
    let long_currency = "X".repeat(500_000);
    let echoed = post_json(
        &url,
        "/api/offers",
        Some(&key),
        &offer("9.99", &long_currency, json!({"kind": "one_time"})),
    )
    .await;
    assert_eq!(echoed.status, 400);
    assert!(
        echoed.text.len() < 2_000,
        "{} bytes echoed",
        echoed.text.len()
    );
    server.stop();
}

// Issue 10, defect 12: routes that take no body refuse unknown fields; nothing or {} is fine.
#[tokio::test]
async fn bodyless_routes_refuse_fields_but_take_nothing_or_an_empty_object() {
    let (server, url, key) = vendor_server("bodyless").await;
    let offer = common::new_offer(&url, &key, "9.99", json!({"kind": "one_time"})).await;
    let checkout = common::checkout_as(&url, &offer["id"], "anna@example.com").await;
    let customer_id = checkout.json()["order_id"].clone();
    let token = common::token_of(&checkout.json()["customer_link"]);
    let order = get(
        &url,
        &format!("/api/orders/{}", customer_id.as_str().unwrap()),
        Some(&key),
    )
    .await;
    let customer_id = order.json()["customer"]["id"].as_str().unwrap().to_string();
    let auth = format!("Bearer {key}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    for (path, with_auth) in [
        (format!("/api/customers/{customer_id}/block"), true),
        (format!("/portal/orders/{token}/pay"), false),
    ] {
        let sent: &[(&str, &str)] = if with_auth { &headers } else { &headers[..1] };
        // given a body with a field the route does not take
        let extra = call(&url, "POST", &path, sent, Some(br#"{"force": true}"#)).await;
        // then it is a 400 naming the field
        assert_eq!(extra.status, 400, "{path}: {}", extra.text);
        assert_eq!(extra.json()["error"]["fields"]["force"], "unknown field");
        // and an empty object or no body at all is fine
        for body in [&b"{}"[..], &b""[..]] {
            let fine = call(&url, "POST", &path, sent, Some(body)).await;
            assert!(fine.status < 400, "{path} {body:?}: {}", fine.text);
        }
    }
    server.stop();
}

// Issue 10, defect 8: the dev server's payment page shows a vendor's name as text.
#[tokio::test]
async fn the_payment_page_escapes_the_vendors_name() {
    let server = server("pay-page").await;
    let url = server.url();
    let created = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "<img src=x onerror=alert(1)>", "email": "x@example.com"}),
    )
    .await;
    let key = created.json()["api_key"].as_str().unwrap().to_string();
    let offer = common::new_offer(&url, &key, "9.99", json!({"kind": "one_time"})).await;
    let checkout = common::checkout_as(&url, &offer["id"], "anna@example.com").await;
    let token = common::token_of(&checkout.json()["customer_link"]);
    let page = get(&url, &format!("/_dev/pay/{token}"), None).await;
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.text.contains("&lt;img"), "{}", page.text);
    assert!(!page.text.contains("<img"), "{}", page.text);
    server.stop();
}

// API.md "dev server", issue 10 defect 13: an e-mail is in the outbox as soon as the request
// that wrote it has answered, as the table's stream sends it at once on AWS.
#[tokio::test]
async fn the_outbox_lists_an_email_as_soon_as_its_request_answered() {
    let (server, url, key) = vendor_server("outbox-wake").await;
    let offer = common::new_offer(&url, &key, "9.99", json!({"kind": "one_time"})).await;
    // given a checkout that writes an order confirmation
    let checkout = common::checkout_as(&url, &offer["id"], "wake@example.com").await;
    assert_eq!(checkout.status, 201);
    // when the outbox is read right after, with no sweep in between
    let outbox = get(&url, "/_dev/outbox", None).await.json();
    // then the confirmation is there
    let confirmations: Vec<_> = outbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "order_confirmation" && e["to"] == "wake@example.com")
        .collect();
    assert_eq!(confirmations.len(), 1, "{outbox}");
    server.stop();
}

// Issue 10, defect 12: a request line too long to serve is a JSON error like every other.
#[tokio::test]
async fn an_overlong_request_line_is_a_json_414() {
    let server = server("uri-too-long").await;
    let url = server.url();
    for length in [20_000, 70_000] {
        let path = format!("/api/{}", "a".repeat(length));
        let answer = call(&url, "GET", &path, &[], None).await;
        assert_eq!(answer.status, 414, "{length}: {}", answer.head);
        assert_eq!(answer.content_type, "application/json");
        assert_eq!(answer.error_code(), "uri_too_long");
    }
    // and a long but acceptable one is routed as usual
    let answer = call(
        &url,
        "GET",
        &format!("/api/{}", "a".repeat(8_000)),
        &[],
        None,
    )
    .await;
    assert_eq!(answer.status, 404);
    server.stop();
}

// What an outside review of the dev server found after the first fixes (issue 10): a clock that
// could overflow, control characters in a URL setting and a VAT id, a customer's close taking the
// vendor's field, and a body declared too large that was waited for.
#[tokio::test]
async fn review_findings_stay_fixed() {
    let (server, url, key) = vendor_server("review").await;
    // a huge advance is refused, and the clock still answers
    let advance = post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"advance": "99999999999h"}),
    )
    .await;
    assert_eq!(advance.status, 400, "{}", advance.text);
    let far = post_json(
        &url,
        "/_dev/clock",
        None,
        &json!({"now": "9999-12-31T23:59:59Z"}),
    )
    .await;
    assert_eq!(far.status, 400, "{}", far.text);
    assert_eq!(get(&url, "/_dev/clock", None).await.status, 200);
    // a portal URL with a control character is refused
    let auth = format!("Bearer {key}");
    let body = json!({"portal_base_url": "https://ex\u{1b}ample.com"}).to_string();
    let settings = call(
        &url,
        "PUT",
        "/api/settings",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(settings.status, 400, "{}", settings.text);
    // a VAT id with control characters is refused
    let offer = common::new_offer(&url, &key, "9.99", json!({"kind": "one_time"})).await;
    let checkout = post_json(
        &url,
        "/checkout",
        None,
        &json!({"offer_id": offer["id"], "customer": {"email": "a@example.com", "first_name": "A", "last_name": "B", "country": "AT", "vat_id": "ATU\u{0}\u{1b}"}}),
    )
    .await;
    assert_eq!(checkout.status, 400, "{}", checkout.text);
    assert!(checkout.json()["error"]["fields"]["customer.vat_id"].is_string());
    // a customer's close takes no vendor-side field
    let order = common::checkout_as(&url, &offer["id"], "close@example.com")
        .await
        .json();
    let token = common::token_of(&order["customer_link"]);
    let ticket = post_json(
        &url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "support", "message": "?"}),
    )
    .await;
    let ticket_token = common::token_of(&ticket.json()["ticket_link"]);
    let close = post_json(
        &url,
        &format!("/portal/tickets/{ticket_token}/close"),
        None,
        &json!({"via": "vendor"}),
    )
    .await;
    assert_eq!(close.status, 400, "{}", close.text);
    // a body declared larger than any route takes is refused at once, not waited for
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /checkout HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{{}}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut first))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 413"));
    server.stop();
}

/// One raw HTTP/1.1 request with the `Host` header given: the status line.
async fn status_line_for_host(url: &str, host: &str) -> String {
    raw_status_line(
        url,
        &format!("GET /_dev/outbox HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// The status line of one raw request.
async fn raw_status_line(url: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

// Issue 12, §6: a web page cannot DNS-rebind a name of its own to the dev server and read its
// outbox, move its clock or pay.
#[tokio::test]
async fn only_loopback_names_of_its_own_port_are_answered() {
    let server = server("hosts").await;
    let url = server.url();
    let port = url.rsplit(':').next().unwrap().to_string();
    for host in [
        "evil.example",
        &format!("evil.example:{port}"),
        "127.0.0.1:1",
        "localhost",
    ] {
        let line = status_line_for_host(&url, host).await;
        assert!(line.contains(" 421 "), "{host}: {line}");
    }
    for host in [format!("127.0.0.1:{port}"), format!("LOCALHOST:{port}")] {
        let line = status_line_for_host(&url, &host).await;
        assert!(line.contains(" 200 "), "{host}: {line}");
    }
    // an absolute-form request names its host in the URI, and two Host headers are one too many
    let absolute = format!(
        "GET http://evil.example/_dev/outbox HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    let line = raw_status_line(&url, &absolute).await;
    assert!(!line.contains(" 200 "), "absolute form: {line}");
    let twice = format!(
        "GET /_dev/outbox HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    );
    let line = raw_status_line(&url, &twice).await;
    assert!(!line.contains(" 200 "), "two hosts: {line}");
}

// Issue 12, §4: a vendor rotates its API keys (add, switch, revoke the old; never its last), and
// the admin can revoke all of a vendor's keys
#[tokio::test]
async fn api_keys_are_listed_added_once_and_revoked() {
    let server = server("keys").await;
    let url = server.url();
    let created = post_json(
        &url,
        "/admin/vendors",
        Some(ADMIN),
        &json!({"name": "K", "email": "k@example.com"}),
    )
    .await
    .json();
    let first = created["api_key"].as_str().unwrap().to_string();
    // the list shows ids, never a key
    let listed = get(&url, "/api/keys", Some(&first)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()["total"], 1);
    assert!(!listed.text.contains(first.rsplit('.').next().unwrap()));
    let first_id = listed.json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // the last key cannot be revoked by the vendor
    let last = call(
        &url,
        "DELETE",
        &format!("/api/keys/{first_id}"),
        &[("Authorization", &format!("Bearer {first}"))],
        None,
    )
    .await;
    assert_eq!(
        (last.status, last.error_code().as_str()),
        (409, "last_api_key")
    );
    // a second key is shown once and works; then the first is revoked and stops working
    let added = post_json(&url, "/api/keys", Some(&first), &json!({})).await;
    assert_eq!(added.status, 201, "{}", added.text);
    let second = added.json()["api_key"].as_str().unwrap().to_string();
    // ... each key shows when it last authenticated a request: the first has, the second not yet
    let listed = get(&url, "/api/keys", Some(&first)).await.json();
    let last_used =
        |listed: &serde_json::Value, index: usize| listed["items"][index]["last_used_at"].clone();
    assert!(last_used(&listed, 0).is_string(), "{listed}");
    assert!(last_used(&listed, 1).is_null(), "{listed}");
    // ... and a key's first use may be a keyed write: noting it commits no Idempotency-Key claim
    let keyed = call(
        &url,
        "POST",
        "/api/products",
        &[
            ("Authorization", &format!("Bearer {second}")),
            ("Content-Type", "application/json"),
            ("Idempotency-Key", "first-use-of-the-second-key"),
        ],
        Some(br#"{"name": "P"}"#),
    )
    .await;
    assert_eq!(keyed.status, 201, "{}", keyed.text);
    let listed = get(&url, "/api/keys", Some(&first)).await.json();
    assert!(last_used(&listed, 1).is_string(), "{listed}");
    assert_eq!(get(&url, "/api/settings", Some(&second)).await.status, 200);
    let revoked = call(
        &url,
        "DELETE",
        &format!("/api/keys/{first_id}"),
        &[("Authorization", &format!("Bearer {second}"))],
        None,
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(get(&url, "/api/settings", Some(&first)).await.status, 401);
    assert_eq!(get(&url, "/api/settings", Some(&second)).await.status, 200);
    // and the admin revokes them all
    let all = post_json(
        &url,
        &format!(
            "/admin/vendors/{}/keys/revoke",
            created["vendor_id"].as_str().unwrap()
        ),
        Some(ADMIN),
        &json!({}),
    )
    .await;
    assert_eq!(
        (all.status, all.json()["revoked"].as_u64()),
        (200, Some(1)),
        "{}",
        all.text
    );
    assert_eq!(get(&url, "/api/settings", Some(&second)).await.status, 401);
}
