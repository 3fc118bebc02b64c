//! Test helpers: a fresh store of each adapter.
#![allow(dead_code)]

use sellerdesk::store::ItemStore;
use sellerdesk::store::dynamo::DynamoStore;
use sellerdesk::store::embedded::EmbeddedStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn embedded() -> Arc<dyn ItemStore> {
    Arc::new(EmbeddedStore::in_memory().unwrap())
}

/// The AWS config for the local moto server that `scripts/test` starts, or `None` (the test is
/// then reported as skipped) — unless `SELLERDESK_REQUIRE_AWS=1`, which the test script sets, so
/// CI can never pass without having run the AWS half.
pub async fn aws_config() -> Option<aws_config::SdkConfig> {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        assert!(
            std::env::var("SELLERDESK_REQUIRE_AWS").as_deref() != Ok("1"),
            "SELLERDESK_REQUIRE_AWS=1 but AWS_ENDPOINT_URL is not set: start moto (scripts/test does)"
        );
        eprintln!("SKIPPED: no AWS_ENDPOINT_URL; run scripts/test to include the AWS adapters");
        return None;
    }
    Some(sellerdesk::aws::load_config().await)
}

static TABLES: AtomicU32 = AtomicU32::new(0);

/// A DynamoDB store on a new table of its own.
pub async fn dynamodb() -> Option<Arc<dyn ItemStore>> {
    let config = aws_config().await?;
    let table = format!(
        "contract-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::SeqCst)
    );
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    store.create_table_if_missing().await.unwrap();
    Some(Arc::new(store))
}

/// An in-process request to the app, as a function URL or the dev server hands it over.
pub fn request(
    method: http::Method,
    path: &str,
    bearer: Option<&str>,
    body: Vec<u8>,
) -> sellerdesk::api::ApiRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(token) = bearer {
        headers.insert(
            "authorization",
            http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
    }
    // `path?query`, as a URL carries it.
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (path, None),
    };
    sellerdesk::api::ApiRequest {
        method,
        path: path.into(),
        query,
        headers,
        body: bytes::Bytes::from(body),
    }
}

/// Calls the app with a JSON body (`Null`: none): the status and the JSON answer.
pub async fn call(
    app: &sellerdesk::app::App,
    method: http::Method,
    path: &str,
    bearer: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let answer = app
        .handle(&request(method, path, bearer, bytes), |_| true)
        .await;
    let json = serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
    (answer.status.as_u16(), json)
}

/// The admin token of in-process test apps.
pub const ADMIN: &str = "adm_in_process_test";
/// The platform's Stripe endpoint secret of in-process test apps (a fixture, not a secret).
pub const STRIPE_SECRET: &str = "whsec_in_process_test_platform";

/// An in-process app over `store` with a frozen clock at `now`.
pub fn app_at(
    store: Arc<dyn ItemStore>,
    now: chrono::DateTime<chrono::Utc>,
) -> (
    sellerdesk::app::App,
    Arc<sellerdesk::domain::clock::SettableClock>,
) {
    let clock = Arc::new(sellerdesk::domain::clock::SettableClock::frozen(now));
    let app = sellerdesk::app::App::new(
        store,
        clock.clone(),
        Arc::new(sellerdesk::domain::ids::OsEntropy),
        Some(sellerdesk::domain::token::SecretDigest::of(ADMIN)),
        sellerdesk::domain::token::LinkKey::generate(&sellerdesk::domain::ids::OsEntropy),
    )
    .with_webhook_secrets(sellerdesk::app::WebhookSecrets {
        stripe: vec![STRIPE_SECRET.to_string()],
        paypal_webhook_id: None,
    });
    (app, clock)
}

/// A vendor selling one product at 10.00 EUR net on `plan`, and one German customer's checkout:
/// the vendor's creation answer and the checkout's answer.
pub async fn vendor_with_order(
    app: &sellerdesk::app::App,
    plan: serde_json::Value,
) -> (serde_json::Value, serde_json::Value) {
    vendor_with_order_at(
        app,
        serde_json::json!({"amount": "10.00", "currency": "EUR"}),
        plan,
    )
    .await
}

/// As [`vendor_with_order`], the offer priced at `price` (a Money object).
pub async fn vendor_with_order_at(
    app: &sellerdesk::app::App,
    price: serde_json::Value,
    plan: serde_json::Value,
) -> (serde_json::Value, serde_json::Value) {
    use http::Method;
    use serde_json::json;
    let (_, vendor) = call(
        app,
        Method::POST,
        "/admin/vendors",
        Some(ADMIN),
        json!({"name": "V", "email": "v@example.com"}),
    )
    .await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let (_, product) = call(
        app,
        Method::POST,
        "/api/products",
        Some(&key),
        json!({"name": "P"}),
    )
    .await;
    let offer = json!({"name": "O", "products": [product["id"]], "price": price, "plan": plan});
    let (status, offer) = call(app, Method::POST, "/api/offers", Some(&key), offer).await;
    assert_eq!(status, 201, "{offer}");
    let customer =
        json!({"email": "c@example.com", "first_name": "C", "last_name": "D", "country": "DE"});
    let (status, order) = call(
        app,
        Method::POST,
        "/checkout",
        None,
        json!({"offer_id": offer["id"], "customer": customer}),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    (vendor, order)
}

/// An in-process app at Tuesday 24 November 09:00 UTC with a vendor selling one one-time offer
/// (and one order of it by c@example.com): the app, its clock, the vendor and the offer's id.
pub async fn shop_with_one_offer() -> (
    sellerdesk::app::App,
    Arc<sellerdesk::domain::clock::SettableClock>,
    serde_json::Value,
    serde_json::Value,
) {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
        .unwrap()
        .to_utc();
    let (app, clock) = app_at(embedded(), now);
    let (vendor, _) = vendor_with_order(&app, serde_json::json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let (_, offers) = call(
        &app,
        http::Method::GET,
        "/api/offers",
        Some(&key),
        serde_json::Value::Null,
    )
    .await;
    let offer = offers["items"][0]["id"].clone();
    (app, clock, vendor, offer)
}

/// Delivers a Stripe event of `vendor`'s order to the platform's webhook route, signed with the
/// platform's secret at `now`: the status. An object whose metadata names our order also gets
/// the vendor, as the platform sets both on everything it creates at Stripe.
pub async fn deliver_stripe(
    app: &sellerdesk::app::App,
    vendor: &serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
    event: &serde_json::Value,
) -> u16 {
    let mut event = event.clone();
    if let Some(metadata) = event
        .pointer_mut("/data/object/metadata")
        .and_then(serde_json::Value::as_object_mut)
        && (metadata.contains_key("order_id") || metadata.contains_key("refund_id"))
        && metadata
            .get("vendor_id")
            .is_none_or(|v| v == "ven_01KSAMPLEVENDOR00000000000")
    {
        metadata.insert("vendor_id".into(), vendor["vendor_id"].clone());
    }
    let body = event.to_string();
    let signature = sellerdesk::webhooks::stripe_signature::header_for(
        STRIPE_SECRET,
        now.timestamp(),
        body.as_bytes(),
    );
    let mut webhook = request(
        http::Method::POST,
        "/webhooks/stripe",
        None,
        body.into_bytes(),
    );
    webhook
        .headers
        .insert("stripe-signature", signature.parse().unwrap());
    app.handle(&webhook, |_| true).await.status.as_u16()
}

/// The token of a customer or ticket link: its last path segment (API.md).
pub fn token_of(link: &serde_json::Value) -> String {
    link.as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// Stripe's `checkout.session.completed` of `order_id`, paid in full (11.90 EUR) through the
/// payment intent `payment_intent` (its event and session ids are named after it).
pub fn session_paid(order_id: &str, payment_intent: &str) -> serde_json::Value {
    serde_json::json!({"id": format!("evt_{payment_intent}"), "object": "event", "type": "checkout.session.completed", "data": {"object": {
        "id": format!("cs_{payment_intent}"), "object": "checkout.session", "amount_total": 1190, "currency": "eur",
        "payment_status": "paid", "payment_intent": payment_intent, "metadata": {"order_id": order_id}}}})
}

/// Pays `order_id` of `vendor` in full through Stripe at `now` (see [`session_paid`]).
pub async fn pay_by_session(
    app: &sellerdesk::app::App,
    vendor: &serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
    order_id: &str,
    payment_intent: &str,
) {
    let event = session_paid(order_id, payment_intent);
    assert_eq!(deliver_stripe(app, vendor, now, &event).await, 200);
}

/// Sends everything due in the outbox of `store` through a local mailbox at `clock`'s time:
/// the mailbox, to read the e-mails and events.
pub async fn dispatched(
    store: &Arc<dyn ItemStore>,
    clock: Arc<sellerdesk::domain::clock::SettableClock>,
) -> sellerdesk::outbox::local::LocalOutbox {
    let mailbox = sellerdesk::outbox::local::LocalOutbox::new(Arc::clone(store));
    sellerdesk::outbox::dispatch::Dispatcher::new(
        Arc::clone(store),
        Arc::new(mailbox.clone()),
        Arc::new(mailbox.clone()),
        clock,
    )
    .dispatch_due()
    .await
    .unwrap();
    mailbox
}
pub mod stripe_shapes;
