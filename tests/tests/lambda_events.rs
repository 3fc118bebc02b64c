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

// R-T0, R-T1: a customer's refund request through refund-requests, listed by ticket-updates
#[tokio::test]
async fn a_refund_request_opens_through_refund_requests_and_lists_in_ticket_updates() {
    let app = app();
    let admin = lambda_http::request::from_str(&event("admin-api/create-vendor.json")).unwrap();
    let vendor = body_json(&handle(&app, Function::AdminApi, admin).await);
    let key = vendor["api_key"].as_str().unwrap();
    // given a paid order (set up through the app itself)
    let post = |path: &str, body: serde_json::Value| {
        let mut request = sellerdesk::api::ApiRequest {
            method: lambda_http::http::Method::POST,
            path: path.into(),
            query: None,
            headers: lambda_http::http::HeaderMap::new(),
            body: body.to_string().into(),
        };
        request
            .headers
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        request
    };
    let product: Value = serde_json::from_slice(
        &app.handle(
            &post("/api/products", serde_json::json!({"name": "Kurs"})),
            |_| true,
        )
        .await
        .body,
    )
    .unwrap();
    let offer: Value = serde_json::from_slice(&app.handle(&post("/api/offers", serde_json::json!({"name": "Kurs", "products": [product["id"]], "price": {"amount": "10.00", "currency": "EUR"}, "plan": {"kind": "one_time"}})), |_| true).await.body).unwrap();
    let order: Value = serde_json::from_slice(&app.handle(&post("/checkout", serde_json::json!({"offer_id": offer["id"], "customer": {"email": "k@example.com", "first_name": "K", "last_name": "L", "country": "DE"}})), |_| true).await.body).unwrap();
    let order_id = order["order_id"].as_str().unwrap();
    let paid = app.handle(&post(&format!("/api/orders/{order_id}/payments"), serde_json::json!({"amount": {"amount": "11.90", "currency": "EUR"}, "method": "cash"})), |_| true).await;
    assert_eq!(paid.status, 201);
    let token = order["customer_link"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    // when the customer's request arrives at refund-requests
    let open =
        event("refund-requests/open-refund-ticket.json").replace("REPLACED_BY_THE_TEST", token);
    let opened = handle(
        &app,
        Function::RefundRequests,
        lambda_http::request::from_str(&open).unwrap(),
    )
    .await;
    assert_eq!(opened.status(), 201, "{:?}", opened.body());
    // then ticket-updates lists it as an open refund ticket
    let list =
        event("ticket-updates/list-open-refund-tickets.json").replace("REPLACED_BY_THE_TEST", key);
    let listed = body_json(
        &handle(
            &app,
            Function::TicketUpdates,
            lambda_http::request::from_str(&list).unwrap(),
        )
        .await,
    );
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], body_json(&opened)["ticket_id"]);
    // and ticket-updates does not serve refund-requests' route
    let elsewhere = handle(
        &app,
        Function::TicketUpdates,
        lambda_http::request::from_str(&open).unwrap(),
    )
    .await;
    assert_eq!(elsewhere.status(), 404);
}

/// A `MakeWriter` that keeps what is logged, for reading it back.
#[derive(Clone, Default)]
struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> CapturedLog {
        self.clone()
    }
}

// DESIGN.md "Observability": logs never hold tokens (issue 10, defect 2).
#[tokio::test]
async fn the_request_span_on_lambda_names_the_route_template_never_the_token() {
    let app = app();
    // given a request span that is written out when it closes
    let log = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // when refund-requests handles a customer's request whose path carries a link token
    let token = "ven_01JDQ8Z5X3N4V6B7C8D9E0F1G2.SECRETPARTOFTHETOKEN0123456789abcdef";
    let open =
        event("refund-requests/open-refund-ticket.json").replace("REPLACED_BY_THE_TEST", token);
    handle(
        &app,
        Function::RefundRequests,
        lambda_http::request::from_str(&open).unwrap(),
    )
    .await;
    // then the span names the route's template and nothing of the token
    let written = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        written.contains("/portal/orders/{token}/tickets"),
        "{written}"
    );
    assert!(!written.contains("SECRETPARTOFTHETOKEN"), "{written}");
}

// Issue 11, §5: a non-text answer (a PDF invoice later) goes as bytes; text stays text.
#[test]
fn non_text_answers_go_as_bytes() {
    let mut pdf = sellerdesk::api::ApiResponse {
        status: lambda_http::http::StatusCode::OK,
        headers: lambda_http::http::HeaderMap::new(),
        body: vec![0x25, 0x50, 0x44, 0x46, 0xff, 0x00].into(),
    };
    pdf.headers
        .insert("content-type", "application/pdf".parse().unwrap());
    match sellerdesk::lambda::to_lambda_response(pdf).body() {
        lambda_http::Body::Binary(bytes) => {
            assert_eq!(bytes, &[0x25, 0x50, 0x44, 0x46, 0xff, 0x00])
        }
        other => panic!("sent as {other:?}"),
    }
    let json = sellerdesk::api::ApiResponse::json(
        lambda_http::http::StatusCode::OK,
        &serde_json::json!({"a": 1}),
    );
    assert!(matches!(
        sellerdesk::lambda::to_lambda_response(json).body(),
        lambda_http::Body::Text(_)
    ));
}

// Issue 11, §5: paths are read alike on Lambda and in the dev server (both through App::handle):
// `//` collapses, while `..` and its percent-encoded form name no route.
#[tokio::test]
async fn odd_paths_are_read_alike_on_every_function() {
    let app = app();
    for (path, status) in [
        ("//api//settings", 401),
        ("/api/orders/../settings", 404),
        ("/api/%2e%2e/settings", 404),
        ("/api/orders/%2E%2E/settings", 404),
    ] {
        let request = sellerdesk::api::ApiRequest {
            method: lambda_http::http::Method::GET,
            path: path.into(),
            query: None,
            headers: lambda_http::http::HeaderMap::new(),
            body: Default::default(),
        };
        let answer = app.handle(&request, |f| f == Function::OrdersApi).await;
        assert_eq!(answer.status.as_u16(), status, "{path}");
    }
}

// Issue 11, §4: the stream dispatcher sends the items the stream names, by key.
#[test]
fn the_stream_sample_names_its_outbox_item() {
    let event: serde_json::Value =
        serde_json::from_str(&event("outbox-dispatcher/new-outbox-item.json")).unwrap();
    let keys = sellerdesk::lambda::stream_keys(&event);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].pk, "V#ven_01KSAMPLEVENDOR00000000000");
    assert_eq!(keys[0].sk, "OUTBOX#obx_01KSAMPLEOUTBOX00000000000");
    // and records of other items are not outbox items
    let other = serde_json::json!({"Records": [{"dynamodb": {"Keys": {"pk": {"S": "V#x"}, "sk": {"S": "ORDER#1"}}}}]});
    assert!(sellerdesk::lambda::stream_keys(&other).is_empty());
}

// Issue 11, §4: a worker's budget ends ten seconds before its invocation's deadline.
#[test]
fn a_workers_budget_ends_before_its_deadline() {
    let mut context = lambda_http::lambda_runtime::Context::default();
    context.deadline = 1_796_065_260_000; // 2026-12-01T…:01:00Z
    let budget = sellerdesk::lambda::budget_of(&context);
    let deadline = chrono::DateTime::from_timestamp_millis(1_796_065_260_000).unwrap();
    assert!(budget.allows(deadline - chrono::Duration::seconds(11)));
    assert!(!budget.allows(deadline - chrono::Duration::seconds(10)));
}

// Issue 11, §3: SES's bounces and complaints (samples in events/outbox-dispatcher/) reach the
// outbox dispatcher through SNS; a suppressed customer is not mailed, and the vendor is told.
#[tokio::test]
async fn bounced_and_complaining_customers_are_not_mailed_again_and_the_vendor_is_told() {
    use sellerdesk::domain::clock::Budget;
    use sellerdesk::domain::notifications::EmailKind;
    use sellerdesk::lambda::{Worker, work};
    use serde_json::json;

    // given a vendor selling one offer, and the outbox dispatcher over the same store
    let Shop {
        app,
        dispatcher,
        outbox,
        offer,
    } = shop_with_outbox().await;
    // when SES reports a permanent bounce, a complaint and a full mailbox
    let mut suppressed = 0;
    for sample in [
        "ses-bounce-permanent",
        "ses-complaint",
        "ses-bounce-transient",
    ] {
        let payload: Value =
            serde_json::from_str(&event(&format!("outbox-dispatcher/{sample}.json"))).unwrap();
        let report = work(
            Worker::OutboxDispatcher,
            &app,
            &dispatcher,
            &payload,
            Budget::unbounded(),
        )
        .await
        .unwrap();
        suppressed += report["suppressed"].as_u64().unwrap();
    }
    assert_eq!(suppressed, 2, "the transient bounce suppresses nothing");
    // and those three addresses buy
    for email in [
        "gone@example.com",
        "Annoyed@Example.com",
        "full@example.com",
    ] {
        let customer =
            json!({"email": email, "first_name": "A", "last_name": "B", "country": "DE"});
        let order = call_json(
            &app,
            "/checkout",
            None,
            json!({"offer_id": offer["id"], "customer": customer}),
        )
        .await;
        assert!(order["order_id"].is_string(), "{order}");
    }
    // (a notice may go out in the run that enqueued it, or in the next)
    let first = dispatcher.dispatch_due().await.unwrap();
    let second = dispatcher.dispatch_due().await.unwrap();
    // then only the full mailbox got its confirmation; the other two were given up at once
    assert_eq!(first.given_up + second.given_up, 2, "{first:?} {second:?}");
    let sent = outbox.emails().await.unwrap();
    let to_customers: Vec<&str> = sent
        .iter()
        .filter(|m| m.kind == EmailKind::OrderConfirmation)
        .map(|m| m.to.as_str())
        .collect();
    assert_eq!(to_customers, ["full@example.com"]);
    // and the vendor was told of each, with the reason
    assert_eq!(
        first.emails_sent + second.emails_sent,
        3,
        "{first:?} {second:?}"
    );
    let told: Vec<&str> = sent
        .iter()
        .filter(|m| m.kind == EmailKind::MailUndeliverable)
        .inspect(|m| assert_eq!(m.to, "team@kurswerk.example"))
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(told.len(), 2);
    assert!(
        told.iter()
            .any(|t| t.contains("gone@example.com") && t.contains("unzustellbar")),
        "{told:?}"
    );
    assert!(
        told.iter()
            .any(|t| t.contains("annoyed@example.com") && t.contains("Spam")),
        "{told:?}"
    );
    // and when the vendor's own address bounces too, its notice is given up without another
    dispatcher
        .suppress(&[sellerdesk::outbox::suppression::Suppression {
            address: "team@kurswerk.example".into(),
            reason: sellerdesk::outbox::suppression::SuppressionReason::Bounce,
            feedback_id: None,
        }])
        .await
        .unwrap();
    let customer =
        json!({"email": "gone@example.com", "first_name": "A", "last_name": "B", "country": "DE"});
    call_json(
        &app,
        "/checkout",
        None,
        json!({"offer_id": offer["id"], "customer": customer}),
    )
    .await;
    let lost = dispatcher.dispatch_due().await.unwrap();
    let notice_lost = dispatcher.dispatch_due().await.unwrap();
    let after = dispatcher.dispatch_due().await.unwrap();
    assert_eq!(
        lost.given_up + notice_lost.given_up,
        2,
        "{lost:?} {notice_lost:?}"
    );
    assert_eq!(lost.emails_sent + notice_lost.emails_sent, 0);
    assert_eq!(after, Default::default(), "no notice of a lost notice");
}

// Issue 12, §5: the outbox dispatcher is the only sender: the sweeps' schedule sends nothing,
// the dispatcher's own schedule sends what is due.
#[tokio::test]
async fn only_the_dispatcher_sends_and_its_schedule_sends_what_is_due() {
    use sellerdesk::domain::clock::Budget;
    use sellerdesk::lambda::{Worker, work};
    // given a vendor whose creation left nothing due, and a checkout that queued mail
    let Shop {
        app,
        dispatcher,
        outbox,
        offer,
    } = shop_with_outbox().await;
    let customer = serde_json::json!({"email": "k@example.com", "first_name": "K", "last_name": "L", "country": "DE"});
    call_json(
        &app,
        "/checkout",
        None,
        serde_json::json!({"offer_id": offer["id"], "customer": customer}),
    )
    .await;
    let schedule: Value =
        serde_json::from_str(&event("scheduled-sweeps/every-minute.json")).unwrap();
    // when the sweeps' schedule runs, then it sends nothing
    let swept = work(
        Worker::ScheduledSweeps,
        &app,
        &dispatcher,
        &schedule,
        Budget::unbounded(),
    )
    .await
    .unwrap();
    assert_eq!(swept["outbox"]["emails_sent"], 0, "{swept}");
    assert!(outbox.emails().await.unwrap().is_empty());
    // when the dispatcher's schedule runs, then the due mail and event go out
    let sent = work(
        Worker::OutboxDispatcher,
        &app,
        &dispatcher,
        &schedule,
        Budget::unbounded(),
    )
    .await
    .unwrap();
    assert_eq!(sent["outbox"]["emails_sent"], 1, "{sent}");
    assert_eq!(outbox.emails().await.unwrap().len(), 1);
}

/// An in-process JSON POST to the app: the answer's body.
async fn call_json(app: &App, path: &str, key: Option<&str>, body: Value) -> Value {
    let mut request = sellerdesk::api::ApiRequest {
        method: http::Method::POST,
        path: path.into(),
        query: None,
        headers: http::HeaderMap::new(),
        body: body.to_string().into(),
    };
    request
        .headers
        .insert("content-type", "application/json".parse().unwrap());
    if let Some(key) = key {
        request
            .headers
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    serde_json::from_slice(&app.handle(&request, |_| true).await.body).unwrap()
}

// Issue 12, §5: behind the admin URL's AWS_IAM the Authorization header holds the signature;
// the admin token, the second factor, comes as X-Admin-Token.
#[tokio::test]
async fn an_aws_signed_admin_call_carries_its_token_beside_the_signature() {
    let app = app();
    let call = |token: Option<&str>| {
        let mut request = sellerdesk::api::ApiRequest {
            method: http::Method::POST,
            path: "/admin/vendors".into(),
            query: None,
            headers: http::HeaderMap::new(),
            body: r#"{"name": "Kurswerk", "email": "info@kurswerk.example"}"#.into(),
        };
        request
            .headers
            .insert("content-type", "application/json".parse().unwrap());
        request.headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/eu-central-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
                .parse()
                .unwrap(),
        );
        if let Some(token) = token {
            request
                .headers
                .insert("x-admin-token", token.parse().unwrap());
        }
        let app = app.clone();
        async move { app.handle(&request, |_| true).await.status.as_u16() }
    };
    assert_eq!(call(Some(FIXTURE_ADMIN_TOKEN)).await, 201);
    assert_eq!(call(None).await, 401);
    assert_eq!(call(Some("wrong-token-0123456789")).await, 401);
}

/// A vendor (`team@kurswerk.example`) selling one 10.00 EUR offer, and the outbox dispatcher
/// over the same store, sending into a local outbox.
struct Shop {
    app: App,
    dispatcher: sellerdesk::outbox::dispatch::Dispatcher,
    outbox: Arc<sellerdesk::outbox::local::LocalOutbox>,
    offer: Value,
}

async fn shop_with_outbox() -> Shop {
    use sellerdesk::outbox::local::LocalOutbox;
    use sellerdesk::store::ItemStore;
    let store: Arc<dyn ItemStore> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
        .unwrap()
        .to_utc();
    let clock = Arc::new(SettableClock::frozen(now));
    let app = App::new(
        Arc::clone(&store),
        clock.clone(),
        Arc::new(OsEntropy),
        Some(SecretDigest::of(FIXTURE_ADMIN_TOKEN)),
        LinkKey::generate(&OsEntropy),
    );
    let outbox = Arc::new(LocalOutbox::new(Arc::clone(&store)));
    let dispatcher = sellerdesk::outbox::dispatch::Dispatcher::new(
        Arc::clone(&store),
        outbox.clone(),
        outbox.clone(),
        clock,
    );
    let vendor = call_json(
        &app,
        "/admin/vendors",
        Some(FIXTURE_ADMIN_TOKEN),
        serde_json::json!({"name": "Kurswerk", "email": "team@kurswerk.example"}),
    )
    .await;
    let key = vendor["api_key"].as_str().unwrap().to_string();
    let product = call_json(
        &app,
        "/api/products",
        Some(&key),
        serde_json::json!({"name": "Kurs"}),
    )
    .await;
    let offer = call_json(
        &app,
        "/api/offers",
        Some(&key),
        serde_json::json!({"name": "Kurs", "products": [product["id"]],
        "price": {"amount": "10.00", "currency": "EUR"}, "plan": {"kind": "one_time"}}),
    )
    .await;
    Shop {
        app,
        dispatcher,
        outbox,
        offer,
    }
}
