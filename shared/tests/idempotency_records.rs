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

/// The embedded store, remembering every key written, so a test can read back every item.
struct KeysWritten {
    inner: EmbeddedStore,
    keys: std::sync::Mutex<std::collections::BTreeSet<sellerdesk::store::Key>>,
}

impl KeysWritten {
    fn note(&self, key: &sellerdesk::store::Key) {
        self.keys.lock().unwrap().insert(key.clone());
    }
}

#[async_trait::async_trait]
impl ItemStore for KeysWritten {
    async fn get(
        &self,
        key: &sellerdesk::store::Key,
    ) -> Result<Option<sellerdesk::store::Item>, sellerdesk::store::StoreError> {
        self.inner.get(key).await
    }

    async fn get_many(
        &self,
        keys: &[sellerdesk::store::Key],
    ) -> Result<Vec<Option<sellerdesk::store::Item>>, sellerdesk::store::StoreError> {
        self.inner.get_many(keys).await
    }

    async fn put(
        &self,
        item: sellerdesk::store::Item,
        condition: sellerdesk::store::Condition,
    ) -> Result<(), sellerdesk::store::StoreError> {
        self.note(&item.key);
        self.inner.put(item, condition).await
    }

    async fn delete(
        &self,
        key: &sellerdesk::store::Key,
        condition: sellerdesk::store::Condition,
    ) -> Result<(), sellerdesk::store::StoreError> {
        self.inner.delete(key, condition).await
    }

    async fn transact(
        &self,
        writes: Vec<sellerdesk::store::Write>,
    ) -> Result<(), sellerdesk::store::StoreError> {
        for write in &writes {
            self.note(write.key());
        }
        self.inner.transact(writes).await
    }

    async fn query(
        &self,
        query: &sellerdesk::store::Query,
    ) -> Result<sellerdesk::store::Page, sellerdesk::store::StoreError> {
        self.inner.query(query).await
    }

    async fn put_batch(
        &self,
        items: Vec<sellerdesk::store::Item>,
    ) -> Result<(), sellerdesk::store::StoreError> {
        for item in &items {
            self.note(&item.key);
        }
        self.inner.put_batch(items).await
    }

    async fn add(
        &self,
        key: &sellerdesk::store::Key,
        delta: u64,
    ) -> Result<u64, sellerdesk::store::StoreError> {
        self.note(key);
        self.inner.add(key, delta).await
    }

    async fn counter(
        &self,
        key: &sellerdesk::store::Key,
    ) -> Result<u64, sellerdesk::store::StoreError> {
        self.inner.counter(key).await
    }
}

/// Mail and events that go out and leave nothing in the store.
struct Sent;

#[async_trait::async_trait]
impl sellerdesk::outbox::Mailer for Sent {
    async fn send(
        &self,
        _: &sellerdesk::domain::ids::OutboxId,
        _: &sellerdesk::domain::notifications::Email,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), sellerdesk::outbox::DeliveryError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl sellerdesk::outbox::EventPublisher for Sent {
    async fn publish(
        &self,
        _: &sellerdesk::domain::ids::OutboxId,
        _: &sellerdesk::domain::ids::VendorId,
        _: &sellerdesk::domain::notifications::DomainEvent,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), sellerdesk::outbox::DeliveryError> {
        Ok(())
    }
}

fn keyed(
    method: http::Method,
    path: &str,
    bearer: Option<&str>,
    key: &str,
    body: serde_json::Value,
) -> ApiRequest {
    let mut request = ApiRequest {
        method,
        path: path.into(),
        query: None,
        headers: http::HeaderMap::new(),
        body: body.to_string().into(),
    };
    let headers = &mut request.headers;
    if let Some(token) = bearer {
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    headers.insert("idempotency-key", key.parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    request
}

// Issue 12, §4: once its e-mail was sent, no customer or ticket token is readable in any stored
// item — not in the outbox, not in an Idempotency-Key record — and a replay still shows the
// current links, rebuilt from what was committed.
#[tokio::test]
async fn no_token_is_at_rest_once_its_mail_went_out_and_replays_rebuild_the_links() {
    use serde_json::{Value, json};
    let store = Arc::new(KeysWritten {
        inner: EmbeddedStore::in_memory().unwrap(),
        keys: Default::default(),
    });
    let now = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
        .unwrap()
        .to_utc();
    let clock = Arc::new(SettableClock::frozen(now));
    let app = App::new(
        Arc::clone(&store) as Arc<dyn ItemStore>,
        clock.clone(),
        Arc::new(OsEntropy),
        Some(SecretDigest::of(ADMIN)),
        LinkKey::generate(&OsEntropy),
    );
    let dispatcher = sellerdesk::outbox::dispatch::Dispatcher::new(
        Arc::clone(&store) as Arc<dyn ItemStore>,
        Arc::new(Sent),
        Arc::new(Sent),
        clock,
    );
    let send = |request: ApiRequest| {
        let app = app.clone();
        async move {
            let answer = app.handle(&request, |_| true).await;
            let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            (answer.status.as_u16(), body)
        }
    };
    // given a vendor with an offer
    let (_, vendor) = send(admin_post(
        "/admin/vendors",
        "v-1",
        json!({"name": "Kurswerk", "email": "info@kurswerk.example"}),
    ))
    .await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let k = Some(key.as_str());
    let (_, product) = send(keyed(
        http::Method::POST,
        "/api/products",
        k,
        "p-1",
        json!({"name": "Kurs"}),
    ))
    .await;
    let (_, offer) = send(keyed(http::Method::POST, "/api/offers", k, "o-1", json!({"name": "Kurs",
        "products": [product["id"]], "price": {"amount": "10.00", "currency": "EUR"}, "plan": {"kind": "one_time"}}))).await;
    let customer = json!({"email": "anna@example.com", "first_name": "Anna", "last_name": "M", "country": "DE"});
    // when every route that answers a link is called with a key
    let requests = vec![
        keyed(
            http::Method::POST,
            "/checkout",
            None,
            "6f1d3a2b-8c4e-4f5a-9b7d-1e2f3a4b5c6d",
            json!({"offer_id": offer["id"], "customer": customer}),
        ),
        keyed(
            http::Method::POST,
            "/api/orders",
            k,
            "m-1",
            json!({"offer_id": offer["id"], "customer": customer}),
        ),
    ];
    let mut answers = Vec::new();
    for request in &requests {
        answers.push(send(request.clone()).await);
    }
    let order_id = answers[1].1["id"].as_str().unwrap().to_string();
    let token = answers[0].1["customer_link"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let more = vec![
        keyed(
            http::Method::POST,
            &format!("/api/orders/{order_id}/payments"),
            k,
            "pay-1",
            json!({"amount": {"amount": "5.00", "currency": "EUR"}, "method": "bank_transfer"}),
        ),
        keyed(
            http::Method::POST,
            &format!("/portal/orders/{token}/tickets"),
            None,
            "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6e",
            json!({"type": "support", "message": "Frage"}),
        ),
        keyed(
            http::Method::POST,
            &format!("/api/orders/{order_id}/tickets"),
            k,
            "t-1",
            json!({"type": "support", "message": "Zugang?"}),
        ),
    ];
    let mut requests = requests;
    for request in more {
        answers.push(send(request.clone()).await);
        requests.push(request);
    }
    for (status, body) in &answers {
        assert!(*status < 300, "{status} {body}");
    }
    // and the mail goes out
    dispatcher.dispatch_due().await.unwrap();
    dispatcher.dispatch_due().await.unwrap();
    // then no stored item holds a token's secret
    let links: Vec<String> = answers
        .iter()
        .flat_map(|(_, body)| {
            [
                "/customer_link",
                "/payment_url",
                "/pay_link",
                "/ticket_link",
            ]
            .iter()
            .filter_map(|p| body.pointer(p).and_then(Value::as_str).map(str::to_string))
            .collect::<Vec<_>>()
        })
        .collect();
    assert!(links.len() >= 5, "{links:?}");
    let secrets: Vec<String> = links
        .iter()
        .map(|link| {
            let token = link.trim_end_matches("/pay").rsplit('/').next().unwrap();
            token.rsplit('.').next().unwrap().to_string()
        })
        .collect();
    let keys = store.keys.lock().unwrap().clone();
    for stored_key in keys {
        let Some(item) = store.get(&stored_key).await.unwrap() else {
            continue;
        };
        let at_rest = format!("{} {:?}", item.body, item.attrs);
        for secret in &secrets {
            assert!(
                !at_rest.contains(secret.as_str()),
                "{stored_key}: {at_rest}"
            );
        }
    }
    // and each replay shows the links the first answer showed, rebuilt
    for (request, (status, first)) in requests.iter().zip(&answers) {
        let (again, replayed) = send(request.clone()).await;
        assert_eq!(again, *status);
        assert_eq!(&replayed, first, "{}", request.path);
    }
}
