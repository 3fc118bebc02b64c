//! The Stripe REST adapter against a local HTTP mock that records every request and answers
//! as Stripe does (including replaying the first answer for a repeated idempotency key).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sellerdesk::domain::catalogue::Interval;
use sellerdesk::domain::ids::{CustomerId, OrderId, VendorId};
use sellerdesk::domain::money::{Currency, Money};
use sellerdesk::domain::orders::SavedMethod;
use sellerdesk::payments::https::HttpsClient;
use sellerdesk::payments::stripe_api::StripeApi;
use sellerdesk::payments::{
    CancelSubscriptionRequest, OffSessionOutcome, OffSessionPayment, PaymentProvider,
    PaymentSessionRequest, ProviderError, RefundRequest, RefundState, form,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    form: Vec<(String, String)>,
}

impl Recorded {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Mock {
    requests: Mutex<Vec<Recorded>>,
    /// Answers already given per idempotency key, replayed like Stripe does.
    replays: Mutex<HashMap<String, (u16, Value)>>,
    sessions: Mutex<u32>,
    /// Payment intents made: id → (status, payment method), as Stripe keeps them.
    intents: Mutex<Vec<(String, String, String)>>,
    /// The next confirmation fails on Stripe's side (a 500, replayed to its key like Stripe).
    fail_next_confirm: std::sync::atomic::AtomicBool,
}

impl Mock {
    fn answer(&self, recorded: &Recorded) -> (u16, Value) {
        if let Some(key) = recorded.headers.get("idempotency-key")
            && let Some(first) = self.replays.lock().unwrap().get(key)
        {
            return first.clone();
        }
        let answer = match (recorded.method.as_str(), recorded.path.as_str()) {
            ("POST", "/v1/checkout/sessions") => {
                let mut count = self.sessions.lock().unwrap();
                *count += 1;
                let id = format!("cs_test_{count}");
                (
                    200,
                    json!({"id": id, "object": "checkout.session", "url": format!("https://checkout.stripe.com/c/pay/{id}")}),
                )
            }
            ("POST", "/v1/payment_intents") => {
                let mut intents = self.intents.lock().unwrap();
                let id = format!("pi_test_{}", intents.len() + 1);
                let method = recorded
                    .field("payment_method")
                    .unwrap_or_default()
                    .to_string();
                intents.push((id.clone(), "requires_confirmation".into(), method));
                (
                    200,
                    json!({"id": id, "object": "payment_intent", "status": "requires_confirmation"}),
                )
            }
            ("GET", path) if path.starts_with("/v1/payment_intents/") => {
                let id = path.trim_start_matches("/v1/payment_intents/");
                let intents = self.intents.lock().unwrap();
                match intents.iter().find(|(known, ..)| known == id) {
                    Some((_, status, _)) => (
                        200,
                        json!({"id": id, "object": "payment_intent", "status": status,
                            "last_payment_error": if status == "requires_payment_method" { json!({"code": "card_declined"}) } else { Value::Null }}),
                    ),
                    None => (
                        404,
                        json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}}),
                    ),
                }
            }
            ("POST", path)
                if path.ends_with("/confirm")
                    && self
                        .fail_next_confirm
                        .swap(false, std::sync::atomic::Ordering::SeqCst) =>
            {
                (
                    500,
                    json!({"error": {"type": "api_error", "message": "An unknown error occurred"}}),
                )
            }
            ("POST", path)
                if path.starts_with("/v1/payment_intents/") && path.ends_with("/cancel") =>
            {
                let id = path
                    .trim_start_matches("/v1/payment_intents/")
                    .trim_end_matches("/cancel");
                let mut intents = self.intents.lock().unwrap();
                match intents.iter_mut().find(|(known, ..)| known == id) {
                    Some((_, status, _)) if status == "requires_confirmation" => {
                        *status = "canceled".into();
                        (
                            200,
                            json!({"id": id, "object": "payment_intent", "status": "canceled"}),
                        )
                    }
                    _ => (
                        400,
                        json!({"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}}),
                    ),
                }
            }
            ("POST", path)
                if path.starts_with("/v1/payment_intents/") && path.ends_with("/confirm") =>
            {
                let id = path
                    .trim_start_matches("/v1/payment_intents/")
                    .trim_end_matches("/confirm");
                let mut intents = self.intents.lock().unwrap();
                match intents.iter_mut().find(|(known, ..)| known == id) {
                    Some((_, status, method)) if status == "requires_confirmation" => {
                        if method == "pm_card_chargeDeclined" {
                            *status = "requires_payment_method".into();
                            (
                                402,
                                json!({"error": {"type": "card_error", "code": "card_declined", "payment_intent": {"id": id}}}),
                            )
                        } else {
                            *status = "succeeded".into();
                            (
                                200,
                                json!({"id": id, "object": "payment_intent", "status": "succeeded"}),
                            )
                        }
                    }
                    _ => (
                        400,
                        json!({"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}}),
                    ),
                }
            }
            ("POST", "/v1/refunds") if recorded.field("amount") == Some("99999") => (
                400,
                json!({"error": {"type": "invalid_request_error", "code": "amount_too_large", "message": "Refund amount is greater than unrefunded amount"}}),
            ),
            ("POST", "/v1/refunds") => (
                200,
                json!({"id": "re_test_1", "object": "refund", "status": "pending"}),
            ),
            ("DELETE", "/v1/subscriptions/sub_gone") => (
                404,
                json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}}),
            ),
            ("DELETE", path) if path.starts_with("/v1/subscriptions/") => (
                200,
                json!({"id": "sub_1", "object": "subscription", "status": "canceled"}),
            ),
            _ => (
                404,
                json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}}),
            ),
        };
        if let Some(key) = recorded.headers.get("idempotency-key") {
            self.replays
                .lock()
                .unwrap()
                .insert(key.clone(), answer.clone());
        }
        answer
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(mock: Arc<Mock>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let recorded = Recorded {
        method,
        path,
        headers,
        form: form::decode(std::str::from_utf8(&body).unwrap()),
    };
    let (status, answer) = mock.answer(&recorded);
    mock.requests.lock().unwrap().push(recorded);
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .unwrap()
}

/// A mock Stripe on a free loopback port and an adapter pointed at it.
async fn stripe() -> (StripeApi, Arc<Mock>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mock = Arc::new(Mock::default());
    let served = mock.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let mock = served.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let mock = mock.clone();
                    async move { Ok::<_, std::convert::Infallible>(serve(mock, request).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let client = HttpsClient::new(Duration::from_secs(5)).unwrap();
    (
        StripeApi::new(client, &base, "sk_test_platform".into()),
        mock,
    )
}

fn eur(amount: &str) -> Money {
    Money::parse(amount, "EUR".parse::<Currency>().unwrap()).unwrap()
}

const VENDOR: &str = "ven_01JDQ8Z5X3N4V6B7C8D9E0F1G4";

fn session_request(renews_every: Option<Interval>) -> PaymentSessionRequest {
    PaymentSessionRequest {
        vendor_id: VendorId::parse(VENDOR).unwrap(),
        order_id: OrderId::parse("ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2").unwrap(),
        customer_id: CustomerId::parse("cus_01JDQ8Z5X3N4V6B7C8D9E0F1G3").unwrap(),
        order_number: "SD-000042".into(),
        description: "Kurs & Buch".into(),
        amount: eur("11.90"),
        customer_email: "k+shop@example.com".into(),
        renews_every,
        success_url: "https://shop.example/checkout/complete?session_id={CHECKOUT_SESSION_ID}"
            .into(),
        cancel_url: "https://shop.example/checkout/cancelled".into(),
        order_token: "tok".into(),
        idempotency_key: "pay-ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2-1-1190-20261124".into(),
        save_for_later: None,
    }
}

// R-P4
#[tokio::test]
async fn a_payment_session_is_one_form_post_on_the_platforms_account_with_key_vendor_and_order() {
    // given the adapter and a one-time order's open 11.90 EUR
    let (stripe, mock) = stripe().await;
    // when a payment session is created twice (the customer pressed "pay" twice)
    let first = stripe
        .create_payment_session(&session_request(None))
        .await
        .unwrap();
    let second = stripe
        .create_payment_session(&session_request(None))
        .await
        .unwrap();
    // then both answers are the one session Stripe made for the idempotency key
    assert_eq!(first, second);
    assert_eq!(first.url, "https://checkout.stripe.com/c/pay/cs_test_1");
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let sent = &requests[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/checkout/sessions")
    );
    assert_eq!(sent.headers["authorization"], "Bearer sk_test_platform");
    // on the platform's own account (issue 12, §1): no connected account
    assert!(!sent.headers.contains_key("stripe-account"));
    assert_eq!(
        sent.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        sent.headers["idempotency-key"],
        "pay-ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2-1-1190-20261124"
    );
    // and the form carries the amount in minor units, the order id and the way back
    assert_eq!(sent.field("mode"), Some("payment"));
    assert_eq!(
        sent.field("line_items[0][price_data][unit_amount]"),
        Some("1190")
    );
    assert_eq!(
        sent.field("line_items[0][price_data][currency]"),
        Some("eur")
    );
    assert_eq!(
        sent.field("line_items[0][price_data][product_data][name]"),
        Some("Kurs & Buch (SD-000042)")
    );
    assert_eq!(
        sent.field("metadata[order_id]"),
        Some("ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2")
    );
    assert_eq!(
        sent.field("payment_intent_data[metadata][order_id]"),
        Some("ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2")
    );
    // and the vendor, which the platform's one webhook route reads from the metadata
    assert_eq!(sent.field("metadata[vendor_id]"), Some(VENDOR));
    assert_eq!(
        sent.field("payment_intent_data[metadata][vendor_id]"),
        Some(VENDOR)
    );
    assert_eq!(sent.field("customer_email"), Some("k+shop@example.com"));
    assert_eq!(
        sent.field("metadata[customer_id]"),
        Some("cus_01JDQ8Z5X3N4V6B7C8D9E0F1G3")
    );
    assert_eq!(
        sent.field("payment_intent_data[metadata][customer_id]"),
        Some("cus_01JDQ8Z5X3N4V6B7C8D9E0F1G3")
    );
    assert_eq!(
        sent.field("success_url"),
        Some("https://shop.example/checkout/complete?session_id={CHECKOUT_SESSION_ID}")
    );
    assert_eq!(
        sent.field("cancel_url"),
        Some("https://shop.example/checkout/cancelled")
    );
}

// R-P4
// R-M1 (issue 14, defect 4): amounts go to Stripe in Stripe's units — ISK in hundredths —
// and what Stripe cannot take (KWD with a last digit other than 0) never leaves
#[tokio::test]
async fn amounts_go_to_stripe_in_stripes_units_of_the_currency() {
    let (stripe, mock) = stripe().await;
    let mut isk = session_request(None);
    isk.amount = Money::parse("1190", "ISK".parse().unwrap()).unwrap();
    stripe.create_payment_session(&isk).await.unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(
        sent.field("line_items[0][price_data][unit_amount]"),
        Some("119000")
    );
    assert_eq!(
        sent.field("line_items[0][price_data][currency]"),
        Some("isk")
    );
    let mut kwd = session_request(None);
    kwd.amount = Money::parse("1.235", "KWD".parse().unwrap()).unwrap();
    let refused = stripe.create_payment_session(&kwd).await;
    assert!(
        matches!(refused, Err(sellerdesk::payments::ProviderError::Amount(_))),
        "{refused:?}"
    );
    assert_eq!(mock.requests().len(), 1, "nothing was sent");
}

#[tokio::test]
async fn a_subscriptions_first_payment_starts_the_plan_with_the_order_on_it() {
    let (stripe, mock) = stripe().await;
    stripe
        .create_payment_session(&session_request(Some(Interval::Month)))
        .await
        .unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(sent.field("mode"), Some("subscription"));
    assert_eq!(
        sent.field("line_items[0][price_data][recurring][interval]"),
        Some("month")
    );
    assert_eq!(
        sent.field("subscription_data[metadata][order_id]"),
        Some("ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2")
    );
    assert_eq!(
        sent.field("subscription_data[metadata][vendor_id]"),
        Some(VENDOR)
    );
    assert_eq!(sent.field("payment_intent_data[metadata][order_id]"), None);
}

fn refund_request(amount: &str) -> RefundRequest {
    RefundRequest {
        vendor_id: VendorId::parse(VENDOR).unwrap(),
        payment: "pi_3Example".into(),
        amount: eur(amount),
        order_id: OrderId::parse("ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2").unwrap(),
        refund_id: "rfd_01KSAMPLE".into(),
        part: 0,
    }
}

// R-R1: the refund's own id is the idempotency key, so a retried call is one refund
#[tokio::test]
async fn a_refund_is_keyed_by_our_refund_id_and_a_refusal_names_stripes_code() {
    let (stripe, mock) = stripe().await;
    let refund = stripe.refund(&refund_request("5.00")).await.unwrap();
    assert_eq!(refund.state, RefundState::Pending);
    let sent = &mock.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/refunds")
    );
    assert_eq!(sent.headers["idempotency-key"], "rfd_01KSAMPLE");
    assert!(!sent.headers.contains_key("stripe-account"));
    assert_eq!(sent.field("amount"), Some("500"));
    assert_eq!(sent.field("payment_intent"), Some("pi_3Example"));
    assert_eq!(sent.field("metadata[refund_id]"), Some("rfd_01KSAMPLE"));
    assert_eq!(sent.field("metadata[vendor_id]"), Some(VENDOR));
    // when Stripe refuses
    let mut too_much = refund_request("999.99");
    too_much.refund_id = "rfd_02KSAMPLE".into();
    let refused = stripe.refund(&too_much).await;
    assert!(
        matches!(&refused, Err(ProviderError::Rejected { status: 400, code }) if code == "amount_too_large"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn cancelling_a_subscription_is_a_delete_and_an_already_gone_one_counts_as_cancelled() {
    let (stripe, mock) = stripe().await;
    let cancel = |subscription: &str| CancelSubscriptionRequest {
        subscription: subscription.into(),
        idempotency_key: "cancel-1".into(),
    };
    stripe.cancel_subscription(&cancel("sub_1")).await.unwrap();
    stripe
        .cancel_subscription(&cancel("sub_gone"))
        .await
        .unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("DELETE", "/v1/subscriptions/sub_1")
    );
    assert!(!sent.headers.contains_key("stripe-account"));
    // Stripe takes no idempotency key on DELETE (it is idempotent by itself)
    assert!(!sent.headers.contains_key("idempotency-key"));
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transport_error() {
    // given a port nobody listens on
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = HttpsClient::new(Duration::from_secs(2)).unwrap();
    let stripe = StripeApi::new(client, &base, "sk_test_platform".into());
    let result = stripe.create_payment_session(&session_request(None)).await;
    assert!(
        matches!(result, Err(ProviderError::Transport(_))),
        "{result:?}"
    );
}

fn off_session(method: &str, key: &str) -> OffSessionPayment {
    OffSessionPayment {
        vendor_id: VendorId::parse(VENDOR).unwrap(),
        order_id: OrderId::parse("ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2").unwrap(),
        customer_id: CustomerId::parse("cus_01JDQ8Z5X3N4V6B7C8D9E0F1G3").unwrap(),
        order_number: "SD-000042".into(),
        description: "Kurs & Buch".into(),
        seq: 2,
        amount: eur("3.96"),
        method: SavedMethod {
            customer: "cus_Stripe1".into(),
            payment_method: method.into(),
        },
        customer_email: "k@example.com".into(),
        idempotency_key: key.into(),
    }
}

// Issue 15, defect 1: an instalment's checkout saves the card for off-session use, and says so
#[tokio::test]
async fn an_instalment_checkout_saves_the_card_for_the_later_rates() {
    let (stripe, mock) = stripe().await;
    let mut request = session_request(None);
    request.save_for_later = Some("You allow V to charge 2026-12-24 3.96 EUR.".into());
    stripe.create_payment_session(&request).await.unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(
        sent.field("payment_intent_data[setup_future_usage]"),
        Some("off_session")
    );
    assert_eq!(sent.field("customer_creation"), Some("always"));
    assert_eq!(
        sent.field("custom_text[submit][message]"),
        Some("You allow V to charge 2026-12-24 3.96 EUR.")
    );
    // and a one-time order's session saves nothing
    stripe
        .create_payment_session(&session_request(None))
        .await
        .unwrap();
    assert_eq!(
        mock.requests()[1].field("payment_intent_data[setup_future_usage]"),
        None
    );
}

// Issue 15, defect 1: an instalment's payment intent is created unconfirmed under its key,
// then confirmed off-session once; confirming again only reads where it stands
#[tokio::test]
async fn an_off_session_payment_is_created_once_per_key_and_confirmed_once() {
    let (stripe, mock) = stripe().await;
    let request = off_session("pm_card_visa", "collect-ord_1-2");
    let first = stripe.create_off_session_payment(&request).await.unwrap();
    let again = stripe.create_off_session_payment(&request).await.unwrap();
    assert_eq!(first, again, "one payment intent per key");
    assert_eq!(mock.intents.lock().unwrap().len(), 1);
    let created = &mock.requests()[0];
    assert_eq!(created.path, "/v1/payment_intents");
    assert_eq!(
        created.headers.get("idempotency-key").map(String::as_str),
        Some("collect-ord_1-2")
    );
    for (field, value) in [
        ("amount", "396"),
        ("currency", "eur"),
        ("customer", "cus_Stripe1"),
        ("payment_method", "pm_card_visa"),
        ("metadata[order_id]", "ord_01JDQ8Z5X3N4V6B7C8D9E0F1G2"),
        ("metadata[vendor_id]", VENDOR),
        ("metadata[schedule_seq]", "2"),
    ] {
        assert_eq!(created.field(field), Some(value), "{field}");
    }
    assert_eq!(created.field("confirm"), None, "created unconfirmed");
    // confirmed from the server, it takes no method that would need a page to return to
    assert_eq!(
        created.field("automatic_payment_methods[allow_redirects]"),
        Some("never")
    );
    assert_eq!(
        created.headers.get("stripe-version").map(String::as_str),
        Some("2024-06-20")
    );
    // when it is confirmed, and confirmed again (a retry after a lost answer)
    let confirmed = stripe
        .confirm_off_session_payment(&first, "collect-ord_1-2-confirm")
        .await
        .unwrap();
    let retried = stripe
        .confirm_off_session_payment(&first, "collect-ord_1-2-confirm")
        .await
        .unwrap();
    // then it was charged once, off-session
    assert_eq!(
        (confirmed, retried),
        (OffSessionOutcome::Succeeded, OffSessionOutcome::Succeeded)
    );
    let confirms: Vec<Recorded> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/confirm"))
        .collect();
    assert_eq!(confirms.len(), 1);
    assert_eq!(confirms[0].field("off_session"), Some("true"));
}

// R-P2 (issue 15): a declined off-session payment is a decline, and stays one
#[tokio::test]
async fn a_declined_off_session_payment_is_declined_once() {
    let (stripe, mock) = stripe().await;
    let payment = stripe
        .create_off_session_payment(&off_session("pm_card_chargeDeclined", "collect-ord_1-3"))
        .await
        .unwrap();
    let declined = OffSessionOutcome::Declined {
        code: "card_declined".into(),
    };
    for _ in 0..2 {
        let outcome = stripe
            .confirm_off_session_payment(&payment, "collect-ord_1-3-confirm")
            .await
            .unwrap();
        assert_eq!(outcome, declined);
    }
    let confirms = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/confirm"))
        .count();
    assert_eq!(
        confirms, 1,
        "the declined card is not tried again by a retry"
    );
}

// Issue 15 ("done when"): the collection use case against the Stripe adapter — one payment
// intent per rate under the rate's key, confirmed off-session, and a Stripe-side error on the
// confirmation retried without a second payment intent
#[tokio::test]
async fn the_collection_sweep_makes_one_payment_intent_per_rate_at_stripe() {
    use common::stripe_shapes::{intent_succeeded, ours, session_payment};
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    // given three monthly instalments whose first rate saved a card at Stripe
    let (stripe, mock) = stripe().await;
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
    let app = app.with_payments(Arc::new(stripe));
    let (vendor, order) = common::vendor_with_order(
        &app,
        json!({"kind": "installments", "count": 3, "interval": "month"}),
    )
    .await;
    let order_id = order["order_id"].as_str().unwrap();
    let now = at("2026-11-24T09:00:00Z");
    let session = session_payment(order_id, "cs_1", "pi_1", 398);
    assert_eq!(
        common::deliver_stripe(&app, &vendor, now, &session).await,
        200
    );
    let mut intent = intent_succeeded("pi_1", "ch_1", None, 398, ours(order_id));
    intent["data"]["object"]["setup_future_usage"] = json!("off_session");
    intent["data"]["object"]["payment_method"] = json!("pm_card_visa");
    assert_eq!(
        common::deliver_stripe(&app, &vendor, now, &intent).await,
        200
    );
    // when the due-time sweep's confirmation meets a Stripe error, and the sweeps go on
    mock.fail_next_confirm
        .store(true, std::sync::atomic::Ordering::SeqCst);
    clock.freeze(at("2026-12-24T09:00:00Z"));
    let report = app.run_sweeps().await.unwrap().collection;
    assert_eq!(report.retries_scheduled, 1, "{report:?}");
    clock.freeze(at("2026-12-24T09:01:00Z"));
    assert_eq!(app.run_sweeps().await.unwrap().collection.charged, 1);
    clock.freeze(at("2026-12-27T09:00:00Z"));
    app.run_sweeps().await.unwrap();
    // then Stripe holds one payment intent for the rate, created under its key and charged once
    let requests = mock.requests();
    let created: Vec<&Recorded> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/payment_intents")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].headers.get("idempotency-key").cloned(),
        Some(format!("collect-{order_id}-2"))
    );
    assert_eq!(created[0].field("amount"), Some("396"));
    assert_eq!(created[0].field("customer"), Some("cus_1"));
    let confirm_keys: Vec<String> = requests
        .iter()
        .filter(|r| r.path.ends_with("/confirm"))
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(
        confirm_keys,
        [
            format!("collect-{order_id}-2-confirm-1"),
            format!("collect-{order_id}-2-confirm-2")
        ]
    );
    let intents = mock.intents.lock().unwrap().clone();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].1, "succeeded");
}

// Issue 15 (review): a payment no longer wanted is cancelled while unconfirmed; one charged
// already says so
#[tokio::test]
async fn an_unconfirmed_off_session_payment_can_be_cancelled_a_charged_one_not() {
    let (stripe, _mock) = stripe().await;
    let unconfirmed = stripe
        .create_off_session_payment(&off_session("pm_card_visa", "collect-ord_1-4"))
        .await
        .unwrap();
    assert!(
        stripe
            .cancel_off_session_payment(&unconfirmed)
            .await
            .unwrap()
    );
    assert!(
        stripe
            .cancel_off_session_payment(&unconfirmed)
            .await
            .unwrap(),
        "cancelled before"
    );
    let charged = stripe
        .create_off_session_payment(&off_session("pm_card_visa", "collect-ord_1-5"))
        .await
        .unwrap();
    stripe
        .confirm_off_session_payment(&charged, "collect-ord_1-5-confirm-1")
        .await
        .unwrap();
    assert!(!stripe.cancel_off_session_payment(&charged).await.unwrap());
}
