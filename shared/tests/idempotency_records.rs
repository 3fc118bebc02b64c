//! What an Idempotency-Key record keeps at rest (issue 10, defect 3): never a secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::DateTime;
use sellerdesk::api::ApiRequest;
use sellerdesk::app::App;
use sellerdesk::app::idempotency::record_key;
use sellerdesk::domain::clock::SettableClock;
use sellerdesk::domain::ids::OsEntropy;
use sellerdesk::domain::token::{LinkKey, SecretDigest};
use sellerdesk::store::ItemStore;
use sellerdesk::store::embedded::EmbeddedStore;
use std::sync::Arc;

const ADMIN: &str = "records-admin-token-0123456789";

fn admin_post(path: &str, idempotency_key: &str, body: serde_json::Value) -> ApiRequest {
    let mut request = ApiRequest {
        method: http::Method::POST,
        path: path.into(),
        query: None,
        headers: http::HeaderMap::new(),
        body: body.to_string().into(),
    };
    let headers = &mut request.headers;
    headers.insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    headers.insert("idempotency-key", idempotency_key.parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    request
}

#[tokio::test]
async fn the_record_of_a_new_vendor_holds_neither_its_key_nor_its_secret() {
    // given an app over an embedded store
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let now = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
        .unwrap()
        .to_utc();
    let app = App::new(
        Arc::clone(&store) as Arc<dyn ItemStore>,
        Arc::new(SettableClock::frozen(now)),
        Arc::new(OsEntropy),
        Some(SecretDigest::of(ADMIN)),
        LinkKey::generate(&OsEntropy),
    );
    // when a vendor is created with an Idempotency-Key
    let body = serde_json::json!({"name": "Kurswerk", "email": "info@kurswerk.example"});
    let answer = app
        .handle(&admin_post("/admin/vendors", "vendor-1", body), |_| true)
        .await;
    assert_eq!(answer.status, 201);
    let shown: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    let api_key = shown["api_key"].as_str().unwrap();
    // then the record it left says the answer was given, and holds nothing of it
    let record = store
        .get(&record_key("admin", "/admin/vendors", "vendor-1"))
        .await
        .unwrap()
        .expect("the idempotency record");
    let at_rest = record.body.to_string();
    assert_eq!(record.body["secret_shown"], true, "{at_rest}");
    let secret_of_key = api_key.rsplit('.').next().unwrap();
    assert!(!at_rest.contains(secret_of_key), "{at_rest}");
    // and the answer shows no signing secret at all: the payment accounts are the platform's
    assert!(shown.get("webhook_secrets").is_none(), "{shown}");
}
