//! Each function's IAM policy in infra/template.yaml grants what its routes and its scheduled or
//! stream work really do to the table (issue 11, §1). Every route of every function is served
//! here in process, over a store that records each call the DynamoDB adapter would make — its
//! IAM action (`GetItem`, `BatchGetItem`, `PutItem`, `DeleteItem`, `ConditionCheckItem` for each
//! item of a transaction, `Query`, `BatchWriteItem`) and its resource (the table or one of its
//! indexes, whose ARNs IAM needs granted one by one) — and every recorded pair must be granted
//! by that function's statements. moto checks neither resources nor, without being told, actions.
//!
//! The same scenario runs a second time, ignored by default, as `scripts/iam-check` starts it:
//! against a moto with IAM enforced, each function's store, mailer and event publisher signed by
//! an IAM user holding only that function's policy (scripts/iam_users.py), so an action the
//! template does not grant fails the call (AccessDenied → 500, or a mail not sent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sellerdesk::api::ApiRequest;
use sellerdesk::api::routes::{Function, ROUTES, RouteId, match_route};
use sellerdesk::app::App;
use sellerdesk::domain::clock::SettableClock;
use sellerdesk::domain::ids::{OsEntropy, OutboxId, VendorId};
use sellerdesk::domain::notifications::{DomainEvent, Email};
use sellerdesk::domain::token::{LinkKey, SecretDigest};
use sellerdesk::outbox::dispatch::{DispatchReport, Dispatcher};
use sellerdesk::outbox::eventbridge::EventBridgePublisher;
use sellerdesk::outbox::ses::SesMailer;
use sellerdesk::outbox::{DeliveryError, EventPublisher, Mailer};
use sellerdesk::payments::{
    CancelSubscriptionRequest, PaymentProvider, PaymentSession, PaymentSessionRequest,
    ProviderError, ProviderRefund, RefundRequest, RefundState,
};
use sellerdesk::store::dynamo::DynamoStore;
use sellerdesk::store::embedded::EmbeddedStore;
use sellerdesk::store::{Condition, Index, Item, ItemStore, Key, Page, Query, StoreError, Write};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

const ADMIN: &str = "iam-admin-token-0123456789";
/// The platform's Stripe endpoint secret here (a fixture).
const STRIPE_SECRET: &str = "whsec_iam_fixture_platform";

/// An IAM action on a resource of the table: `("Query", "index/gsi1")`, `("GetItem", "table")`.
type Grant = (String, String);

/// What the DynamoDB adapter calls for each store operation, attributed to one function, and
/// served by that function's own store if it has one (its IAM user's), else by `shared`.
struct RecordingStore {
    shared: Arc<dyn ItemStore>,
    per_function: BTreeMap<String, Arc<dyn ItemStore>>,
    current: Mutex<String>,
    used: Mutex<BTreeMap<String, BTreeSet<Grant>>>,
    /// The next transaction fails as the backend would (a request's 5xx).
    failing: std::sync::atomic::AtomicBool,
}

impl RecordingStore {
    fn new(
        shared: Arc<dyn ItemStore>,
        per_function: BTreeMap<String, Arc<dyn ItemStore>>,
    ) -> RecordingStore {
        RecordingStore {
            shared,
            per_function,
            current: Mutex::new("setup".into()),
            used: Mutex::new(BTreeMap::new()),
            failing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn current(&self) -> String {
        self.current.lock().unwrap().clone()
    }

    /// The store of the function being served.
    fn inner(&self) -> Arc<dyn ItemStore> {
        let function = self.current();
        self.per_function
            .get(&function)
            .unwrap_or(&self.shared)
            .clone()
    }

    fn record(&self, action: &str, resource: &str) {
        let function = self.current();
        self.used
            .lock()
            .unwrap()
            .entry(function)
            .or_default()
            .insert((action.to_string(), resource.to_string()));
    }

    fn serving(&self, function: &str) {
        *self.current.lock().unwrap() = function.to_string();
    }
}

#[async_trait]
impl ItemStore for RecordingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.record("GetItem", "table");
        self.inner().get(key).await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.record("BatchGetItem", "table");
        self.inner().get_many(keys).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.record("PutItem", "table");
        self.inner().put(item, condition).await
    }

    // (a write failed on purpose never reaches the table: see `fail_next_effect`)

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.record("DeleteItem", "table");
        self.inner().delete(key, condition).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        // IAM authorizes each item of a TransactWriteItems by its own action.
        if self
            .failing
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::backend(std::io::Error::other(
                "the store failed on purpose",
            )));
        }
        for write in &writes {
            let action = match write {
                Write::Put { .. } => "PutItem",
                Write::Delete { .. } => "DeleteItem",
                Write::Check { .. } => "ConditionCheckItem",
                Write::Add { .. } => "UpdateItem",
            };
            self.record(action, "table");
        }
        self.inner().transact(writes).await
    }

    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.record("BatchWriteItem", "table");
        self.inner().put_batch(items).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let resource = match query.index {
            None => "table",
            Some(Index::Gsi1) => "index/gsi1",
            Some(Index::Due) => "index/due",
        };
        self.record("Query", resource);
        self.inner().query(query).await
    }

    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError> {
        self.record("UpdateItem", "table");
        self.inner().add(key, delta).await
    }

    async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        self.record("GetItem", "table");
        self.inner().counter(key).await
    }
}

/// One function's mailer and event publisher.
type FunctionChannels = (Arc<dyn Mailer>, Arc<dyn EventPublisher>);

/// The mail and event channels: a function's own (its IAM user's SES and EventBridge clients)
/// where it has them, else channels that answer at once and touch nothing.
struct Channels {
    store: Arc<RecordingStore>,
    per_function: BTreeMap<String, FunctionChannels>,
}

#[async_trait]
impl Mailer for Channels {
    async fn send(
        &self,
        id: &OutboxId,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        match self.per_function.get(&self.store.current()) {
            Some((mailer, _)) => mailer.send(id, email, now).await,
            None => Ok(()),
        }
    }
}

#[async_trait]
impl EventPublisher for Channels {
    async fn publish(
        &self,
        id: &OutboxId,
        vendor: &VendorId,
        event: &DomainEvent,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        match self.per_function.get(&self.store.current()) {
            Some((_, publisher)) => publisher.publish(id, vendor, event, now).await,
            None => Ok(()),
        }
    }
}

/// A provider that takes every call; it touches no table.
struct Provider;

#[async_trait]
impl PaymentProvider for Provider {
    async fn create_payment_session(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError> {
        Ok(PaymentSession {
            id: format!("cs_{}", request.idempotency_key),
            url: "https://pay.example/session".into(),
        })
    }

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        Ok(ProviderRefund {
            id: format!("re_{}", request.refund_id),
            state: RefundState::Succeeded,
        })
    }

    async fn cancel_subscription(
        &self,
        _: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn create_off_session_payment(
        &self,
        request: &sellerdesk::payments::OffSessionPayment,
    ) -> Result<String, ProviderError> {
        Ok(format!("pi_{}", request.idempotency_key))
    }

    async fn confirm_off_session_payment(
        &self,
        _: &str,
        _: &str,
    ) -> Result<sellerdesk::payments::OffSessionOutcome, ProviderError> {
        Ok(sellerdesk::payments::OffSessionOutcome::Succeeded)
    }

    async fn cancel_off_session_payment(&self, _: &str) -> Result<bool, ProviderError> {
        Ok(true)
    }
}

/// The table grants of one function's `Policies` in the template: each statement's DynamoDB
/// actions times its table resources (`!GetAtt Table.Arn` → `table`, `${Table.Arn}/index/x` →
/// `index/x`).
fn granted(template: &str, binary: &str) -> BTreeSet<Grant> {
    let start = template
        .find(&format!("Binary: {binary}\n"))
        .unwrap_or_else(|| panic!("{binary} is not in the template"));
    let rest = &template[start..];
    // The function's block ends where the next top-level resource begins.
    let end = rest
        .match_indices("\n  ")
        .find(|(at, _)| {
            let line = &rest[at + 3..];
            line.chars().next().is_some_and(char::is_alphabetic)
        })
        .map_or(rest.len(), |(at, _)| at);
    let block = &rest[..end];
    let mut grants = BTreeSet::new();
    for statement in block.split("- Sid:").skip(1) {
        let mut actions = Vec::new();
        let mut resources = Vec::new();
        let mut list = "";
        for line in statement.lines().map(str::trim) {
            if line.starts_with("Action:") || line.starts_with("Resource:") {
                list = if line.starts_with("Action") {
                    "action"
                } else {
                    "resource"
                };
                let inline = line.split_once(':').map(|(_, v)| v.trim()).unwrap_or("");
                if !inline.is_empty() && list == "resource" {
                    resources.push(inline.to_string());
                }
                continue;
            }
            match (list, line.strip_prefix("- ")) {
                ("action", Some(action)) => actions.push(action.to_string()),
                ("resource", Some(resource)) => resources.push(resource.to_string()),
                _ => list = if line.starts_with('#') { list } else { "" },
            }
        }
        for action in actions.iter().filter_map(|a| a.strip_prefix("dynamodb:")) {
            for resource in &resources {
                let table_resource = if resource == "!GetAtt Table.Arn" {
                    Some("table".to_string())
                } else {
                    resource
                        .strip_prefix("!Sub \"${Table.Arn}/")
                        .and_then(|r| r.strip_suffix('"'))
                        .map(str::to_string)
                };
                if let Some(table_resource) = table_resource {
                    grants.insert((action.to_string(), table_resource));
                }
            }
        }
    }
    grants
}

struct World {
    app: App,
    store: Arc<RecordingStore>,
    clock: Arc<SettableClock>,
    served: std::collections::HashSet<RouteId>,
    /// Our side's failures (5xx), listed together at the end so one run shows them all.
    failed: Vec<String>,
}

impl World {
    /// A Stripe event signed with the platform's secret, to the webhook route as
    /// checkout-callbacks.
    async fn stripe(&mut self, event: String) {
        let signed_at = sellerdesk::domain::clock::Clock::now(self.clock.as_ref()).timestamp();
        let signature = sellerdesk::webhooks::stripe_signature::header_for(
            STRIPE_SECRET,
            signed_at,
            event.as_bytes(),
        );
        let mut paid = ApiRequest {
            method: http::Method::POST,
            path: "/webhooks/stripe".into(),
            query: None,
            headers: http::HeaderMap::new(),
            body: event.into(),
        };
        paid.headers
            .insert("stripe-signature", signature.parse().unwrap());
        self.store.serving(Function::CheckoutCallbacks.name());
        self.served.insert(RouteId::StripeWebhook);
        let answer = self
            .app
            .handle(&paid, |f| f == Function::CheckoutCallbacks)
            .await;
        if answer.status != 200 {
            self.failed.push(format!(
                "POST /webhooks/stripe as checkout-callbacks: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
    }

    /// A keyed request whose effect fails (500): its Idempotency-Key claim is released, so the
    /// same request with the same key then runs — the release is work the function does.
    async fn fails_then_runs(
        &mut self,
        function: Function,
        path: &str,
        auth: Option<&str>,
        key: &str,
        body: Value,
    ) -> Value {
        self.store
            .failing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let before = self.failed.len();
        self.call(
            function,
            "POST",
            path,
            auth,
            &[("idempotency-key", key)],
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            self.failed.len(),
            before + 1,
            "{path} did not fail on purpose"
        );
        self.failed.truncate(before);
        self.call(
            function,
            "POST",
            path,
            auth,
            &[("idempotency-key", key)],
            Some(body),
        )
        .await
    }

    /// Notes a dispatch run that left anything due undelivered (a refused SES or EventBridge call).
    fn delivered_all(&mut self, report: DispatchReport, function: &str) {
        if report.emails_sent + report.events_published == 0
            || report.retries_scheduled > 0
            || report.given_up > 0
            || report.deferred > 0
        {
            self.failed.push(format!(
                "{function} did not deliver everything due: {report:?}"
            ));
        }
    }

    /// Serves one request as `function` alone would, and checks it did not fail on our side.
    async fn call(
        &mut self,
        function: Function,
        method: &str,
        path: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Value {
        let mut request = ApiRequest {
            method: method.parse().unwrap(),
            path: path.to_string(),
            query: None,
            headers: http::HeaderMap::new(),
            body: body.map(|b| b.to_string()).unwrap_or_default().into(),
        };
        if let Some(token) = auth {
            request
                .headers
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        request
            .headers
            .insert("content-type", "application/json".parse().unwrap());
        for (name, value) in headers {
            request.headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse::<http::HeaderValue>().unwrap(),
            );
        }
        let matched = match_route(&request.method, &request.path, |f| f == function)
            .unwrap_or_else(|_| panic!("{} does not serve {method} {path}", function.name()));
        self.served.insert(matched.route_id);
        self.store.serving(function.name());
        let answer = self.app.handle(&request, |f| f == function).await;
        let text = String::from_utf8_lossy(&answer.body).to_string();
        if answer.status.as_u16() >= 500 {
            self.failed.push(format!(
                "{method} {path} as {}: {} {text}",
                function.name(),
                answer.status
            ));
        }
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// The token at the end of a link; "missing" when an earlier failure left no link, so the run
/// goes on and lists every failure.
fn token_of(link: &Value) -> String {
    link.as_str()
        .unwrap_or("missing")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// Serves every route of every function, each as that function alone would, then the sweeps
/// and the outbox; answers which table calls each function made. Nothing may fail on our side:
/// no 5xx, and every mail and event due is delivered.
async fn serve_every_route(
    store: Arc<RecordingStore>,
    channels: Arc<Channels>,
) -> BTreeMap<String, BTreeSet<Grant>> {
    use Function::*;
    let now = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
        .unwrap()
        .to_utc();
    let clock = Arc::new(SettableClock::frozen(now));
    let app = App::new(
        Arc::clone(&store) as Arc<dyn ItemStore>,
        Arc::clone(&clock) as Arc<dyn sellerdesk::domain::clock::Clock>,
        Arc::new(OsEntropy),
        Some(SecretDigest::of(ADMIN)),
        LinkKey::generate(&OsEntropy),
    )
    .with_payments(Arc::new(Provider))
    .with_webhook_secrets(sellerdesk::app::WebhookSecrets {
        stripe: vec![STRIPE_SECRET.into()],
        paypal_webhook_id: Some("WH-IAM".into()),
    });
    let dispatcher = Dispatcher::new(
        Arc::clone(&store) as Arc<dyn ItemStore>,
        Arc::clone(&channels) as Arc<dyn Mailer>,
        Arc::clone(&channels) as Arc<dyn EventPublisher>,
        Arc::clone(&clock) as Arc<dyn sellerdesk::domain::clock::Clock>,
    );
    let mut w = World {
        app,
        store: Arc::clone(&store),
        clock: Arc::clone(&clock),
        served: std::collections::HashSet::new(),
        failed: Vec::new(),
    };
    let vendor_body = |name: &str| json!({"name": name, "email": format!("{name}@example.com")});

    // admin-api
    let vendor = w
        .call(
            AdminApi,
            "POST",
            "/admin/vendors",
            Some(ADMIN),
            &[("idempotency-key", "v-1")],
            Some(vendor_body("kurswerk")),
        )
        .await;
    let other = w
        .call(
            AdminApi,
            "POST",
            "/admin/vendors",
            Some(ADMIN),
            &[],
            Some(vendor_body("other")),
        )
        .await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let vendor_id = vendor["vendor_id"].as_str().unwrap().to_string();
    let k = Some(key.as_str());
    w.fails_then_runs(
        AdminApi,
        "/admin/vendors",
        Some(ADMIN),
        "v-release",
        vendor_body("third"),
    )
    .await;

    // orders-api: settings and catalogue
    w.call(OrdersApi, "GET", "/api/settings", k, &[], None)
        .await;
    w.call(
        OrdersApi,
        "PUT",
        "/api/settings",
        k,
        &[],
        Some(json!({"support_email": "help@kurswerk.example"})),
    )
    .await;
    let product = w
        .call(
            OrdersApi,
            "POST",
            "/api/products",
            k,
            &[("idempotency-key", "p-1")],
            Some(json!({"name": "Kurs", "access_days": 30})),
        )
        .await;
    w.call(OrdersApi, "GET", "/api/products", k, &[], None)
        .await;
    // orders-api: a second key, listed and revoked (rotation)
    let added = w
        .call(
            OrdersApi,
            "POST",
            "/api/keys",
            k,
            &[("idempotency-key", "key-1")],
            None,
        )
        .await;
    w.call(OrdersApi, "GET", "/api/keys", k, &[], None).await;
    let added_id = added["id"].as_str().unwrap_or("missing").to_string();
    w.call(
        OrdersApi,
        "DELETE",
        &format!("/api/keys/{added_id}"),
        k,
        &[],
        None,
    )
    .await;
    w.fails_then_runs(
        OrdersApi,
        "/api/products",
        k,
        "p-release",
        json!({"name": "Zwei"}),
    )
    .await;
    let offer_body = |price: &str| json!({"name": "Kurs", "products": [product["id"]], "price": {"amount": price, "currency": "EUR"}, "plan": {"kind": "one_time"}});
    let offer = w
        .call(
            OrdersApi,
            "POST",
            "/api/offers",
            k,
            &[],
            Some(offer_body("10.00")),
        )
        .await;
    let offer_id = offer["id"].as_str().unwrap().to_string();
    w.call(OrdersApi, "GET", "/api/offers", k, &[], None).await;
    w.call(
        OrdersApi,
        "PUT",
        &format!("/api/offers/{offer_id}"),
        k,
        &[],
        Some(offer_body("9.99")),
    )
    .await;

    // checkout-callbacks: two checkouts, a payment link, a signed Stripe payment, PayPal
    let buyer = |email: &str| json!({"offer_id": offer_id, "customer": {"email": email, "first_name": "Anna", "last_name": "Muster", "country": "DE"}});
    let first = w
        .call(
            CheckoutCallbacks,
            "POST",
            "/checkout",
            None,
            &[("idempotency-key", "7c9e6679-7425-40de-944b-e07fc1f90ae7")],
            Some(buyer("anna@example.com")),
        )
        .await;
    let second = w
        .call(
            CheckoutCallbacks,
            "POST",
            "/checkout",
            None,
            &[],
            Some(buyer("bert@example.com")),
        )
        .await;
    // a returning customer (matched: checked, not changed), whose first try failed
    w.fails_then_runs(
        CheckoutCallbacks,
        "/checkout",
        None,
        "0b8f3c9e-4d2a-4e71-9a6f-2c5d8e1b7f30",
        buyer("anna@example.com"),
    )
    .await;
    let (order1, token1) = (
        first["order_id"].as_str().unwrap().to_string(),
        token_of(&first["customer_link"]),
    );
    let (order2, token2) = (
        second["order_id"].as_str().unwrap().to_string(),
        token_of(&second["customer_link"]),
    );
    w.call(
        CheckoutCallbacks,
        "POST",
        &format!("/portal/orders/{token2}/pay"),
        None,
        &[],
        None,
    )
    .await;
    let sample = std::fs::read_to_string(format!(
        "{}/../events/stripe/checkout.session.completed.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let card2 = w
        .call(
            OrdersApi,
            "GET",
            &format!("/api/orders/{order2}"),
            k,
            &[],
            None,
        )
        .await;
    let customer2 = card2["customer"]["id"].as_str().unwrap().to_string();
    // the platform's sessions carry the order and its customer (one batch read of both)
    let event = sample
        .replace(
            r#""order_id": "ord_01KSAMPLE0RDER0000000000000""#,
            &format!(r#""order_id": "{order2}", "customer_id": "{customer2}""#),
        )
        .replace("ven_01KSAMPLEVENDOR00000000000", &vendor_id);
    assert!(event.contains(&customer2), "the sample's metadata changed");
    w.stripe(event).await;
    w.call(
        CheckoutCallbacks,
        "POST",
        "/webhooks/paypal",
        None,
        &[("paypal-transmission-id", "x")],
        Some(json!({"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"})),
    )
    .await;

    // orders-api: the orders, the customers, the balance
    w.call(
        OrdersApi,
        "GET",
        &format!("/portal/orders/{token1}"),
        None,
        &[],
        None,
    )
    .await;
    w.call(OrdersApi, "GET", "/api/orders", k, &[], None).await;
    let card = w
        .call(
            OrdersApi,
            "GET",
            &format!("/api/orders/{order1}"),
            k,
            &[],
            None,
        )
        .await;
    let customer = card["customer"]["id"].as_str().unwrap().to_string();
    w.call(
        OrdersApi,
        "PATCH",
        &format!("/api/orders/{order1}"),
        k,
        &[],
        Some(json!({"stage": "won"})),
    )
    .await;
    w.call(
        OrdersApi,
        "POST",
        &format!("/api/orders/{order1}/comments"),
        k,
        &[],
        Some(json!({"body": "called"})),
    )
    .await;
    w.call(OrdersApi, "POST", "/api/orders", k, &[], Some(json!({"offer_id": offer_id, "customer": {"email": "carl@example.com", "first_name": "Carl", "last_name": "C", "country": "AT"}}))).await;
    w.call(
        OrdersApi,
        "POST",
        &format!("/api/orders/{order1}/payments"),
        k,
        &[],
        Some(json!({"amount": {"amount": "11.89", "currency": "EUR"}, "method": "bank_transfer"})),
    )
    .await;
    w.call(
        OrdersApi,
        "GET",
        &format!("/api/orders/{order1}/transactions"),
        k,
        &[],
        None,
    )
    .await;
    w.call(OrdersApi, "GET", "/api/customers", k, &[], None)
        .await;
    w.call(
        OrdersApi,
        "GET",
        &format!("/api/customers/{customer}"),
        k,
        &[],
        None,
    )
    .await;
    w.call(
        OrdersApi,
        "GET",
        &format!("/api/customers/{customer}/entitlements"),
        k,
        &[],
        None,
    )
    .await;
    w.call(
        OrdersApi,
        "POST",
        &format!("/api/customers/{customer}/block"),
        k,
        &[],
        None,
    )
    .await;
    w.call(
        OrdersApi,
        "POST",
        &format!("/api/customers/{customer}/unblock"),
        k,
        &[],
        None,
    )
    .await;
    w.call(OrdersApi, "GET", "/api/balance", k, &[], None).await;

    // refund-requests: a vendor refund, a vendor's ticket, a customer's refund request
    w.call(
        RefundRequests,
        "POST",
        &format!("/api/orders/{order2}/refunds"),
        k,
        &[],
        Some(json!({"reason": "Kulanz", "amount": {"amount": "1.00", "currency": "EUR"}})),
    )
    .await;
    let vendor_ticket = w
        .fails_then_runs(
            RefundRequests,
            &format!("/api/orders/{order1}/tickets"),
            k,
            "t-release",
            json!({"type": "support", "message": "Zugang?"}),
        )
        .await;
    let request = w
        .call(
            RefundRequests,
            "POST",
            &format!("/portal/orders/{token2}/tickets"),
            None,
            &[],
            Some(json!({"type": "refund", "message": "Bitte erstatten"})),
        )
        .await;
    let ticket_token = token_of(&request["ticket_link"]);
    let ticket_id = vendor_ticket["id"]
        .as_str()
        .unwrap_or("missing")
        .to_string();

    // ticket-updates: both sides
    w.call(
        TicketUpdates,
        "GET",
        &format!("/portal/tickets/{ticket_token}"),
        None,
        &[],
        None,
    )
    .await;
    w.call(
        TicketUpdates,
        "POST",
        &format!("/portal/tickets/{ticket_token}/comments"),
        None,
        &[],
        Some(json!({"message": "Danke"})),
    )
    .await;
    w.call(TicketUpdates, "GET", "/api/tickets", k, &[], None)
        .await;
    w.call(
        TicketUpdates,
        "GET",
        &format!("/api/tickets/{ticket_id}"),
        k,
        &[],
        None,
    )
    .await;
    w.fails_then_runs(
        TicketUpdates,
        &format!("/api/tickets/{ticket_id}/comments"),
        k,
        "c-release",
        json!({"message": "Gern"}),
    )
    .await;
    w.call(
        TicketUpdates,
        "POST",
        &format!("/api/tickets/{ticket_id}/type"),
        k,
        &[],
        Some(json!({"type": "support"})),
    )
    .await;
    // the vendor turns the customer's request into support (a review, counted), and the
    // customer turns it back into a refund request
    let request_id = request["ticket_id"]
        .as_str()
        .unwrap_or("missing")
        .to_string();
    w.call(
        TicketUpdates,
        "POST",
        &format!("/api/tickets/{request_id}/type"),
        k,
        &[],
        Some(json!({"type": "support"})),
    )
    .await;
    w.call(
        TicketUpdates,
        "POST",
        &format!("/portal/tickets/{ticket_token}/type"),
        None,
        &[],
        Some(json!({"type": "refund"})),
    )
    .await;
    w.call(
        TicketUpdates,
        "POST",
        &format!("/api/tickets/{ticket_id}/close"),
        k,
        &[],
        None,
    )
    .await;
    w.call(
        TicketUpdates,
        "POST",
        &format!("/portal/tickets/{ticket_token}/close"),
        None,
        &[],
        None,
    )
    .await;

    // admin-api: reviews of the vendor's changes, a restriction
    w.call(AdminApi, "GET", "/admin/reviews", Some(ADMIN), &[], None)
        .await;
    let other_id = other["vendor_id"].as_str().unwrap();
    w.call(
        AdminApi,
        "POST",
        &format!("/admin/vendors/{other_id}/restrict"),
        Some(ADMIN),
        &[],
        None,
    )
    .await;
    w.call(
        AdminApi,
        "POST",
        &format!("/admin/vendors/{other_id}/keys/revoke"),
        Some(ADMIN),
        &[],
        None,
    )
    .await;

    // checkout-callbacks: an instalment plan's first rate saves the card (issue 15); its later
    // rates are due within the four days the clock moves below
    let daily = w
        .call(
            OrdersApi,
            "POST",
            "/api/offers",
            k,
            &[],
            Some(json!({"name": "Raten", "products": [product["id"]], "price": {"amount": "30.00", "currency": "EUR"}, "plan": {"kind": "installments", "count": 3, "interval": "day"}})),
        )
        .await;
    let plan = w
        .call(
            CheckoutCallbacks,
            "POST",
            "/checkout",
            None,
            &[],
            Some(json!({"offer_id": daily["id"], "customer": {"email": "carla@example.com", "first_name": "Carla", "last_name": "Muster", "country": "DE"}})),
        )
        .await;
    let intent = json!({"id": "evt_iam_plan", "object": "event", "type": "payment_intent.succeeded",
        "created": sellerdesk::domain::clock::Clock::now(w.clock.as_ref()).timestamp(),
        "data": {"object": {"id": "pi_iam_plan", "object": "payment_intent", "amount": 1190,
            "amount_received": 1190, "currency": "eur", "status": "succeeded",
            "customer": "cus_iam", "payment_method": "pm_iam", "setup_future_usage": "off_session",
            "metadata": {"vendor_id": vendor_id, "order_id": plan["order_id"]}}}});
    w.stripe(intent.to_string()).await;

    // scheduled-sweeps: a customer's request due, timers, provider calls, instalments charged,
    // then the outbox
    w.call(
        RefundRequests,
        "POST",
        &format!("/portal/orders/{token1}/tickets"),
        None,
        &[],
        Some(json!({"type": "refund", "message": "Bitte"})),
    )
    .await;
    w.clock.advance(Duration::days(4));
    w.store.serving("scheduled-sweeps");
    let swept = w.app.run_sweeps().await.unwrap();
    assert_eq!(swept.collection.charged, 2, "{swept:?}");
    // admin-api: a request taken by phone, opened by the platform for the customer
    w.call(
        AdminApi,
        "POST",
        &format!(
            "/admin/vendors/{vendor_id}/orders/{}/tickets",
            plan["order_id"].as_str().unwrap_or("missing")
        ),
        Some(ADMIN),
        &[],
        Some(json!({"type": "refund", "message": "Telefonisch"})),
    )
    .await;
    // outbox-dispatcher, every minute: what the sweeps and the requests wrote (the only sender)
    w.store.serving("outbox-dispatcher");
    let report = dispatcher.dispatch_due().await.unwrap();
    w.delivered_all(report, "outbox-dispatcher");
    // orders-api: the vendor revokes a customer link and gets a new one (R-O4)
    w.call(
        OrdersApi,
        "POST",
        &format!("/api/orders/{order1}/customer-link/rotate"),
        k,
        &[],
        None,
    )
    .await;
    // outbox-dispatcher, on the stream: what a new checkout wrote
    w.call(
        CheckoutCallbacks,
        "POST",
        "/checkout",
        None,
        &[],
        Some(buyer("dora@example.com")),
    )
    .await;
    w.store.serving("outbox-dispatcher");
    let report = dispatcher.dispatch_due().await.unwrap();
    w.delivered_all(report, "outbox-dispatcher");

    // then every route of every function was served ...
    let unserved: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.function != Function::DevServer && !w.served.contains(&r.id))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(unserved.is_empty(), "routes not exercised: {unserved:?}");
    assert!(
        w.failed.is_empty(),
        "failed on our side:\n{}",
        w.failed.join("\n")
    );
    store.used.lock().unwrap().clone()
}

#[tokio::test]
async fn every_function_is_granted_what_its_routes_and_work_do_to_the_table() {
    // given every function served over the embedded store, recording the adapter's calls
    let store = Arc::new(RecordingStore::new(
        Arc::new(EmbeddedStore::in_memory().unwrap()),
        BTreeMap::new(),
    ));
    let channels = Arc::new(Channels {
        store: Arc::clone(&store),
        per_function: BTreeMap::new(),
    });
    // when every route and every worker runs
    let used = serve_every_route(store, channels).await;
    // then each function is granted every table call it made
    let template = std::fs::read_to_string(format!(
        "{}/../infra/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut missing = Vec::new();
    for (function, calls) in &used {
        eprintln!("{function}: {calls:?}");
        if function == "setup" {
            continue;
        }
        let grants = granted(&template, function);
        for (action, resource) in calls {
            let covered = grants.iter().any(|(granted_action, granted_resource)| {
                granted_action == action
                    && (granted_resource == resource
                        || granted_resource
                            .strip_suffix('*')
                            .is_some_and(|prefix| resource.starts_with(prefix)))
            });
            if !covered {
                missing.push(format!("{function}: dynamodb:{action} on {resource}"));
            }
        }
    }
    for function in [
        "admin-api",
        "checkout-callbacks",
        "orders-api",
        "refund-requests",
        "ticket-updates",
        "scheduled-sweeps",
        "outbox-dispatcher",
    ] {
        assert!(used.contains_key(function), "{function} made no table call");
    }
    assert!(
        missing.is_empty(),
        "not granted by the template:\n{}",
        missing.join("\n")
    );
    // and granted nothing its work never does (least privilege, issue 12 §5): every granted
    // table action is one the function used
    let mut excess = Vec::new();
    for (function, calls) in used.iter().filter(|(f, _)| *f != "setup") {
        let actions: BTreeSet<&str> = calls.iter().map(|(action, _)| action.as_str()).collect();
        for (action, resource) in granted(&template, function) {
            if !actions.contains(action.as_str()) {
                excess.push(format!("{function}: dynamodb:{action} on {resource}"));
            }
        }
    }
    excess.sort();
    excess.dedup();
    assert!(
        excess.is_empty(),
        "granted but never used:\n{}",
        excess.join("\n")
    );
}

/// The `NAME: !Ref Resource` variables of one function's `Environment` in the template.
fn function_environment(template: &str, binary: &str) -> Vec<(String, String)> {
    let block = &template[template.find(&format!("Binary: {binary}\n")).unwrap()..];
    // The function's block ends where the next top-level resource (or comment) begins.
    let end = block
        .match_indices("\n  ")
        .find(|(at, _)| {
            block[at + 3..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '#')
        })
        .map_or(block.len(), |(at, _)| at);
    let block = &block[..end];
    let Some(at) = block.find("      Environment:\n        Variables:\n") else {
        return Vec::new();
    };
    block[at..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with("          "))
        .filter_map(|line| {
            let (name, reference) = line.trim().split_once(": !Ref ")?;
            Some((name.to_string(), reference.to_string()))
        })
        .collect()
}

/// The credentials of one function's IAM user, as scripts/iam_users.py wrote them.
fn iam_config(base: &aws_config::SdkConfig, user: &Value) -> aws_config::SdkConfig {
    let credentials = aws_sdk_dynamodb::config::Credentials::new(
        user["access_key_id"].as_str().unwrap(),
        user["secret_access_key"].as_str().unwrap(),
        None,
        None,
        "iam-check",
    );
    base.to_builder()
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}

/// Tells moto to check every request from now on: signed by a known IAM user's key and allowed
/// by that user's policy.
async fn enforce_iam(endpoint: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request =
        format!("POST /moto-api/reset-auth HTTP/1.0\r\nHost: {host}\r\nContent-Length: 1\r\n\r\n0");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
}

#[tokio::test]
#[ignore = "needs a moto of its own with IAM enforced: scripts/iam-check"]
async fn every_function_works_as_an_iam_user_holding_only_its_template_policy() {
    // given one IAM user per function (scripts/iam_users.py) and the table, sender and bus
    let users: Value = serde_json::from_str(
        &std::fs::read_to_string(std::env::var("SELLERDESK_IAM_USERS").unwrap()).unwrap(),
    )
    .unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let base = sellerdesk::aws::load_config().await;
    let table = format!("iam-check-{}", std::process::id());
    let bus = format!("iam-check-{}", std::process::id());
    let sender = "noreply@sellerdesk.test";
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&base), &table)
        .create_table_if_missing()
        .await
        .unwrap();
    aws_sdk_sesv2::Client::new(&base)
        .create_email_identity()
        .email_identity(sender)
        .send()
        .await
        .unwrap();
    aws_sdk_eventbridge::Client::new(&base)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    // ... the stack's secrets, each function's environment naming its own by ARN
    let template = std::fs::read_to_string(format!(
        "{}/../infra/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let secrets_admin = aws_sdk_secretsmanager::Client::new(&base);
    let mut secret_arns = BTreeMap::new();
    for resource in [
        "LinkKeySecret",
        "AdminTokenSecret",
        "StripeSecretKeySecret",
        "StripeWebhookSecretsSecret",
    ] {
        let value = if resource == "LinkKeySecret" {
            r#"{"current": "1", "1": "iam-check-link-key-0123456789abcdefghijkl"}"#
        } else {
            "iam-check-secret"
        };
        let created = secrets_admin
            .create_secret()
            .name(format!("iam-check-{}-{resource}", std::process::id()))
            .secret_string(value)
            .send()
            .await
            .unwrap();
        secret_arns.insert(resource, created.arn().unwrap().to_string());
    }
    // ... and from now on every call is checked against its signer's policy
    enforce_iam(&endpoint).await;
    // then each function reads the secrets its environment names at its cold start, as its
    // own user, and a function with none is refused any
    for (function, user) in users.as_object().unwrap() {
        let config = iam_config(&base, user);
        let environment: BTreeMap<String, String> = function_environment(&template, function)
            .into_iter()
            .filter_map(|(name, reference)| {
                Some((name, secret_arns.get(reference.as_str())?.clone()))
            })
            .collect();
        let reader = sellerdesk::bootstrap::SecretReader::new(&environment, &config);
        for secret in [
            sellerdesk::bootstrap::LINK_KEY_SECRET,
            sellerdesk::bootstrap::ADMIN_TOKEN_SECRET,
            sellerdesk::bootstrap::STRIPE_SECRET_KEY_SECRET,
            sellerdesk::bootstrap::STRIPE_WEBHOOK_SECRETS_SECRET,
        ] {
            if environment.contains_key(secret.arn_env) {
                let read = reader.read(secret).await;
                assert!(
                    matches!(read, Ok(Some(_))),
                    "{function} cannot read {}: {read:?}",
                    secret.arn_env
                );
            }
        }
        if environment.is_empty() {
            let anyone = BTreeMap::from([(
                sellerdesk::bootstrap::LINK_KEY_SECRET.arn_env.to_string(),
                secret_arns["LinkKeySecret"].clone(),
            )]);
            let refused = sellerdesk::bootstrap::SecretReader::new(&anyone, &config)
                .read(sellerdesk::bootstrap::LINK_KEY_SECRET)
                .await;
            assert!(
                refused.is_err(),
                "{function} read a secret it is not granted"
            );
        }
    }
    let mut stores: BTreeMap<String, Arc<dyn ItemStore>> = BTreeMap::new();
    let mut channels: BTreeMap<String, FunctionChannels> = BTreeMap::new();
    for (function, user) in users.as_object().unwrap() {
        let config = iam_config(&base, user);
        stores.insert(
            function.clone(),
            Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&config),
                &table,
            )),
        );
        channels.insert(
            function.clone(),
            (
                Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(&config), sender)),
                Arc::new(EventBridgePublisher::new(
                    aws_sdk_eventbridge::Client::new(&config),
                    &bus,
                )),
            ),
        );
    }
    // "setup" is no function: it may only read what the scenario wrote, with no user of its own
    let store = Arc::new(RecordingStore::new(
        Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&base),
            &table,
        )),
        stores,
    ));
    let channels = Arc::new(Channels {
        store: Arc::clone(&store),
        per_function: channels,
    });
    // when every route and every worker runs, each as its own function's user
    let used = serve_every_route(store, channels).await;
    // then nothing was refused (the scenario asserts no 5xx and every mail and event delivered),
    // and every function made its calls under its own user
    let functions: BTreeSet<&String> = users.as_object().unwrap().keys().collect();
    for function in used.keys().filter(|f| *f != "setup") {
        assert!(functions.contains(function), "{function} has no IAM user");
    }
    eprintln!(
        "iam-check: {} functions served as their own IAM users",
        functions.len()
    );
}
