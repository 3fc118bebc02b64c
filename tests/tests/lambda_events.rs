//! The Lambda functions' handlers driven with the function-URL samples in events/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sellerdesk::api::routes::Function;
use sellerdesk::app::App;
use sellerdesk::domain::clock::SettableClock;
use sellerdesk::domain::ids::OsEntropy;
use sellerdesk::domain::token::{LinkKey, SecretDigest};
use sellerdesk::lambda::handle;
use sellerdesk::store::embedded::EmbeddedStore;
use serde_json::Value;
use std::sync::Arc;

/// The admin token the samples carry (a fixture value, not a secret of any deployment).
const FIXTURE_ADMIN_TOKEN: &str = "dev-admin-token-for-fixtures";

fn app() -> App {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
        .unwrap()
        .to_utc();
    App::new(
        Arc::new(EmbeddedStore::in_memory().unwrap()),
        Arc::new(SettableClock::frozen(now)),
        Arc::new(OsEntropy),
        Some(SecretDigest::of(FIXTURE_ADMIN_TOKEN)),
        LinkKey::generate(&OsEntropy),
    )
}

fn event(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn body_json(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn admin_api_creates_a_vendor_from_the_function_url_sample() {
    let app = app();
    // given the function-URL event of POST /admin/vendors
    let request = lambda_http::request::from_str(&event("admin-api/create-vendor.json")).unwrap();
    // when admin-api handles it
    let response = handle(&app, Function::AdminApi, request).await;
    // then the vendor is created
    assert_eq!(response.status(), 201);
    let body = body_json(&response);
    assert!(body["vendor_id"].as_str().unwrap().starts_with("ven_"));
    let api_key = body["api_key"].as_str().unwrap();
    // and orders-api recognises its key from the settings sample
    let settings_event =
        event("orders-api/get-settings.json").replace("REPLACED_BY_THE_TEST", api_key);
    let settings = handle(
        &app,
        Function::OrdersApi,
        lambda_http::request::from_str(&settings_event).unwrap(),
    )
    .await;
    assert_eq!(settings.status(), 200);
    assert_eq!(body_json(&settings)["name"], "Kurswerk GmbH");
}

#[tokio::test]
async fn a_function_serves_only_its_own_routes() {
    let app = app();
    let request = lambda_http::request::from_str(&event("admin-api/create-vendor.json")).unwrap();
    let response = handle(&app, Function::OrdersApi, request).await;
    assert_eq!(response.status(), 404);
    assert_eq!(body_json(&response)["error"]["code"], "not_found");
    // the dev routes are never served by a Lambda
    let clock = event("admin-api/create-vendor.json")
        .replace("/admin/vendors", "/_dev/clock")
        .replace("\"POST\"", "\"GET\"");
    for function in Function::LAMBDAS {
        let response = handle(
            &app,
            function,
            lambda_http::request::from_str(&clock).unwrap(),
        )
        .await;
        assert_eq!(response.status(), 404);
    }
}

#[tokio::test]
async fn a_wrong_admin_token_gets_401_without_echo() {
    let app = app();
    let sample =
        event("admin-api/create-vendor.json").replace(FIXTURE_ADMIN_TOKEN, "someone-elses-token");
    let response = handle(
        &app,
        Function::AdminApi,
        lambda_http::request::from_str(&sample).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert!(!format!("{:?}", response.body()).contains("someone-elses-token"));
}
