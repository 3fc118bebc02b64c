//! What the sweeps owe the payment provider (R-R4, R-R5): a customer's cancellation stops the
//! subscription at the provider, a refund request refunds the payment there — each call once,
//! however often the sweeps run, and retried after a provider outage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::call;
use http::Method;
use sellerdesk::domain::clock::Clock;
use sellerdesk::payments::https::TransportError;
use sellerdesk::payments::{
    CancelSubscriptionRequest, OffSessionOutcome, OffSessionPayment, PaymentProvider,
    PaymentSession, PaymentSessionRequest, ProviderError, ProviderRefund, RefundRequest,
    RefundState,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Records every call; fails the first `outages` calls as a network error would.
#[derive(Default)]
struct RecordingProvider {
    calls: Mutex<Vec<String>>,
    outages: AtomicU32,
    /// Refunds succeed at once instead of pending.
    refunds_succeed: std::sync::atomic::AtomicBool,
    /// Cancellations are refused for good (a 400).
    refuse_cancels: std::sync::atomic::AtomicBool,
    /// Refund amounts cannot be expressed in the provider's units (1.235 KWD at Stripe).
    unpayable_refunds: std::sync::atomic::AtomicBool,
}

impl RecordingProvider {
    fn answer(&self, call: String) -> Result<(), ProviderError> {
        if self.outages.load(Ordering::SeqCst) > 0 {
            self.outages.fetch_sub(1, Ordering::SeqCst);
            return Err(ProviderError::Transport(TransportError::Timeout(
                std::time::Duration::from_secs(10),
            )));
        }
        self.calls.lock().unwrap().push(call);
        Ok(())
    }
}

#[async_trait]
impl PaymentProvider for RecordingProvider {
    async fn create_payment_session(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError> {
        self.answer(format!(
            "session {} success={} cancel={}",
            request.idempotency_key, request.success_url, request.cancel_url
        ))?;
        Ok(PaymentSession {
            id: "cs_1".into(),
            url: "https://pay.example/cs_1".into(),
        })
    }

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        if self.unpayable_refunds.load(Ordering::SeqCst) {
            return Err(ProviderError::Amount(
                sellerdesk::payments::stripe_units::to_stripe_units(
                    sellerdesk::domain::money::Money::parse("1.235", "KWD".parse().unwrap())
                        .unwrap(),
                )
                .unwrap_err(),
            ));
        }
        self.answer(format!(
            "refund {} {} {} key={}",
            request.payment, request.amount, request.vendor_id, request.refund_id
        ))?;
        Ok(ProviderRefund {
            id: "re_1".into(),
            state: if self.refunds_succeed.load(Ordering::SeqCst) {
                RefundState::Succeeded
            } else {
                RefundState::Pending
            },
        })
    }

    async fn cancel_subscription(
        &self,
        request: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError> {
        self.answer(format!(
            "cancel {} key={}",
            request.subscription, request.idempotency_key
        ))?;
        if self.refuse_cancels.load(Ordering::SeqCst) {
            return Err(ProviderError::Rejected {
                status: 400,
                code: "invalid_request_error".into(),
            });
        }
        Ok(())
    }

    async fn create_off_session_payment(
        &self,
        request: &OffSessionPayment,
    ) -> Result<String, ProviderError> {
        self.answer(format!(
            "charge {} {} key={}",
            request.method.payment_method, request.amount, request.idempotency_key
        ))?;
        Ok(format!("pi_{}", request.idempotency_key))
    }

    async fn confirm_off_session_payment(
        &self,
        payment: &str,
        idempotency_key: &str,
    ) -> Result<OffSessionOutcome, ProviderError> {
        self.answer(format!("confirm {payment} key={idempotency_key}"))?;
        Ok(OffSessionOutcome::Succeeded)
    }

    async fn cancel_off_session_payment(&self, payment: &str) -> Result<bool, ProviderError> {
        self.answer(format!("cancel {payment}"))?;
        Ok(true)
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// A monthly subscription paid through Stripe in its real event shapes: the session names the
/// first invoice `in_1` and no payment intent; the charge `ch_1` names both (`pi_1`).
async fn subscribed(
    provider: Arc<RecordingProvider>,
) -> (
    sellerdesk::app::App,
    Arc<sellerdesk::domain::clock::SettableClock>,
    String,
) {
    subscribed_over(common::embedded(), provider).await
}

async fn subscribed_over(
    store: Arc<dyn sellerdesk::store::ItemStore>,
    provider: Arc<RecordingProvider>,
) -> (
    sellerdesk::app::App,
    Arc<sellerdesk::domain::clock::SettableClock>,
    String,
) {
    let (app, clock) = common::app_at(store, at("2026-11-23T09:00:00Z"));
    let app = app.with_payments(provider);
    let (vendor, order) =
        common::vendor_with_order(&app, json!({"kind": "subscription", "interval": "month"})).await;
    let event = json!({"id": "evt_paid", "object": "event", "type": "checkout.session.completed", "data": {"object": {
        "id": "cs_1", "object": "checkout.session", "amount_total": 1190, "currency": "eur", "payment_status": "paid",
        "payment_intent": null, "subscription": "sub_1", "invoice": "in_1", "metadata": {"order_id": order["order_id"]}}}});
    assert_eq!(
        common::deliver_stripe(&app, &vendor, clock.now(), &event).await,
        200
    );
    let charge = json!({"id": "evt_charge", "object": "event", "type": "charge.succeeded", "data": {"object": {
        "id": "ch_1", "object": "charge", "amount": 1190, "currency": "eur", "payment_intent": "pi_1",
        "invoice": "in_1", "metadata": {}}}});
    assert_eq!(
        common::deliver_stripe(&app, &vendor, clock.now(), &charge).await,
        200
    );
    let token = common::token_of(&order["customer_link"]);
    (app, clock, token)
}

// R-R4, R-T5
#[tokio::test]
async fn a_customers_cancellation_stops_the_subscription_at_the_provider_once() {
    let provider = Arc::new(RecordingProvider::default());
    let (app, clock, token) = subscribed(provider.clone()).await;
    let (status, opened) = call(
        &app,
        Method::POST,
        &format!("/portal/orders/{token}/tickets"),
        None,
        json!({"type": "cancel", "message": "Bitte kündigen"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    // Monday + 24 h → due Tuesday 09:00
    clock.freeze(at("2026-11-24T09:00:00Z"));
    for _ in 0..3 {
        app.run_sweeps().await.unwrap();
    }
    let order_id = order_of(&app, &token).await;
    assert_eq!(
        *provider.calls.lock().unwrap(),
        vec![format!("cancel sub_1 key=cancel-{order_id}")]
    );
}

async fn order_of(app: &sellerdesk::app::App, token: &str) -> String {
    let (_, page) = call(
        app,
        Method::GET,
        &format!("/portal/orders/{token}"),
        None,
        Value::Null,
    )
    .await;
    page["id"].as_str().unwrap().to_string()
}

// R-R3, R-R5 (issue 13, defect 1): a refund request refunds the last period's charge at the
// provider — its own payment intent, learnt from Stripe's real event shapes — and ends the plan
#[tokio::test]
async fn a_refund_request_refunds_at_the_provider_after_an_outage_once() {
    let provider = Arc::new(RecordingProvider::default());
    let (app, clock, token) = subscribed(provider.clone()).await;
    // the second period is paid by its invoice, which names its payment intent and charge
    let renewal = json!({"id": "evt_renewal", "object": "event", "type": "invoice.paid", "data": {"object": {
        "id": "in_2", "object": "invoice", "amount_paid": 1190, "currency": "eur", "subscription": "sub_1",
        "payment_intent": "pi_2", "charge": "ch_2",
        "lines": {"data": [{"period": {"start": 1_766_480_400, "end": 1_769_158_800}}]}}}});
    assert_eq!(
        common::deliver_stripe(&app, &json!({}), clock.now(), &renewal).await,
        200
    );
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/portal/orders/{token}/tickets"),
        None,
        json!({"type": "refund", "message": "zurück"}),
    )
    .await;
    assert_eq!(status, 201);
    // given the provider is unreachable when the request is due
    provider.outages.store(2, Ordering::SeqCst);
    clock.freeze(at("2026-11-24T09:00:00Z"));
    let first = app.run_sweeps().await.unwrap();
    assert_eq!(first.tickets.refunds_executed, 1);
    assert!(provider.calls.lock().unwrap().is_empty());
    // when the sweeps run again after the backoff
    clock.freeze(at("2026-11-24T09:10:00Z"));
    for _ in 0..3 {
        app.run_sweeps().await.unwrap();
    }
    // then the refund and the cancellation reached the provider, once each, on the platform's
    // account with the vendor in the refund's metadata
    let calls = provider.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("refund pi_2 11.90 EUR ven_") && c.contains(" key=rfd_")),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("cancel sub_1 key=cancel-ord_")),
        "{calls:?}"
    );
    let (_, page) = call(
        &app,
        Method::GET,
        &format!("/portal/orders/{token}"),
        None,
        Value::Null,
    )
    .await;
    // the first period stays paid: the plan is cancelled, the order partly refunded
    assert_eq!(
        (page["status"].as_str(), page["payment_status"].as_str()),
        (Some("cancelled"), Some("partially_refunded"))
    );
}

/// The embedded store, with the first settlement of a refund (a transaction of that refund
/// alone) failing as if the function had been killed right after the provider answered.
struct KilledBeforeSettling {
    inner: Arc<dyn sellerdesk::store::ItemStore>,
    killed: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl sellerdesk::store::ItemStore for KilledBeforeSettling {
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
        let settling = writes.len() == 1 && writes[0].key().sk.starts_with("REFUND#");
        if settling && !self.killed.swap(true, Ordering::SeqCst) {
            return Err(sellerdesk::store::StoreError::InvalidWrite("killed".into()));
        }
        self.inner.transact(writes).await
    }
    async fn put_batch(
        &self,
        items: Vec<sellerdesk::store::Item>,
    ) -> Result<(), sellerdesk::store::StoreError> {
        self.inner.put_batch(items).await
    }
    async fn query(
        &self,
        query: &sellerdesk::store::Query,
    ) -> Result<sellerdesk::store::Page, sellerdesk::store::StoreError> {
        self.inner.query(query).await
    }

    async fn add(
        &self,
        key: &sellerdesk::store::Key,
        delta: u64,
    ) -> Result<u64, sellerdesk::store::StoreError> {
        self.inner.add(key, delta).await
    }

    async fn counter(
        &self,
        key: &sellerdesk::store::Key,
    ) -> Result<u64, sellerdesk::store::StoreError> {
        self.inner.counter(key).await
    }
}

// Issue 11, §4, R-R5: a function killed between the provider's answer and the refund's
// settlement leaves the provider task in place; it runs again after its lease and the refund
// is settled — never a task dropped with its refund pending for ever.
#[tokio::test]
async fn a_refund_is_settled_even_when_the_sweep_dies_before_settling() {
    let provider = Arc::new(RecordingProvider::default());
    provider.refunds_succeed.store(true, Ordering::SeqCst);
    let inner = common::embedded();
    let store = Arc::new(KilledBeforeSettling {
        inner: Arc::clone(&inner),
        killed: std::sync::atomic::AtomicBool::new(false),
    });
    let (app, clock, token) = subscribed_over(store.clone(), provider.clone()).await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/portal/orders/{token}/tickets"),
        None,
        json!({"type": "refund", "message": "zurück"}),
    )
    .await;
    assert_eq!(status, 201);
    // given the sweep that executes the refund dies after the provider answered
    clock.freeze(at("2026-11-24T09:00:00Z"));
    let _ = app.run_sweeps().await;
    assert!(
        store.killed.load(Ordering::SeqCst),
        "the settlement was not reached"
    );
    // when the sweeps run again after the task's lease
    clock.freeze(at("2026-11-24T09:05:00Z"));
    for _ in 0..3 {
        app.run_sweeps().await.unwrap();
    }
    // then the refund is settled as the provider said, and the task is gone
    let refunds = provider
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with("refund "))
        .cloned()
        .collect::<Vec<_>>();
    assert!(!refunds.is_empty());
    let keys: std::collections::BTreeSet<_> = refunds
        .iter()
        .map(|c| c.rsplit("key=").next().unwrap().to_string())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "one refund at the provider, under one key: {refunds:?}"
    );
    let refund_id = keys.into_iter().next().unwrap();
    // the customer link's token names its vendor: `{vendor_id}.{secret}`
    let vendor = token.split('.').next().unwrap();
    let refund = inner
        .get(&sellerdesk::store::Key::new(
            format!("V#{vendor}"),
            format!("REFUND#{refund_id}"),
        ))
        .await
        .unwrap()
        .expect("the refund record");
    assert_eq!(refund.body["state"], "succeeded", "{}", refund.body);
    let tasks = inner
        .query(&sellerdesk::store::Query::table(
            format!("V#{vendor}"),
            sellerdesk::store::SortRange::Prefix("PROVIDERTASK#refund-".into()),
        ))
        .await
        .unwrap();
    assert!(tasks.items.is_empty(), "the refund's task is left");
}

// Issue 11, §4: sweeps out of time leave due requests and provider calls for the next run.
#[tokio::test]
async fn sweeps_out_of_time_leave_their_work_due() {
    let provider = Arc::new(RecordingProvider::default());
    let (app, clock, token) = subscribed(provider.clone()).await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/portal/orders/{token}/tickets"),
        None,
        json!({"type": "refund", "message": "zurück"}),
    )
    .await;
    assert_eq!(status, 201);
    clock.freeze(at("2026-11-24T09:00:00Z"));
    // given no time left in the invocation
    let spent = sellerdesk::domain::clock::Budget::until(clock.now());
    let report = app.run_sweeps_within(spent).await.unwrap();
    // then nothing was executed or called, and the request is still due
    assert_eq!(report.tickets.refunds_executed, 0);
    assert_eq!(report.tickets.deferred, 1);
    assert!(provider.calls.lock().unwrap().is_empty());
    // and when the next sweep has time for the request but not for a provider call
    let short =
        sellerdesk::domain::clock::Budget::until(clock.now() + chrono::Duration::seconds(15));
    let next = app.run_sweeps_within(short).await.unwrap();
    assert_eq!(next.tickets.refunds_executed, 1);
    // then the calls it owes wait for a sweep with their time (issue 11, §5)
    assert_eq!(next.provider.deferred, 2, "{:?}", next.provider);
    assert!(provider.calls.lock().unwrap().is_empty());
    let last = app.run_sweeps().await.unwrap();
    assert_eq!(last.provider.done, 2, "{:?}", last.provider);
}

// R-R5, issue 11 §5: a refund the provider takes as pending and never confirms is reported to
// the operator, and the provider is never asked a second time.
#[tokio::test]
async fn a_refund_left_pending_by_the_provider_is_reported_until_its_events_settle_it() {
    use chrono::Duration;
    use sellerdesk::usecases::refunds::provider_tasks::{
        CONFIRMATION_EXPECTED_WITHIN, STILL_PENDING_AGAIN,
    };
    // given a paid one-time order whose refund the provider takes as pending
    let provider = Arc::new(RecordingProvider::default());
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-23T09:00:00Z"));
    let app = app.with_payments(provider.clone());
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let order_id = order["order_id"].as_str().unwrap();
    common::pay_by_session(&app, &vendor, clock.now(), order_id, "pi_1").await;
    clock.freeze(at("2026-12-01T09:00:00Z"));
    let (status, refund) = call(
        &app,
        Method::POST,
        &format!("/api/orders/{order_id}/refunds"),
        vendor["api_key"].as_str(),
        json!({"reason": "Kulanz"}),
    )
    .await;
    assert_eq!(status, 201, "{refund}");
    let accepted = clock.now();
    // when the sweeps run before the confirmation is overdue, then nothing is reported
    clock.freeze(accepted + CONFIRMATION_EXPECTED_WITHIN - Duration::minutes(1));
    assert_eq!(app.run_sweeps().await.unwrap().provider.still_pending, 0);
    // when it is overdue, then the operator is told, and told again a day later
    clock.freeze(accepted + CONFIRMATION_EXPECTED_WITHIN);
    assert_eq!(app.run_sweeps().await.unwrap().provider.still_pending, 1);
    assert_eq!(
        app.run_sweeps().await.unwrap().provider.still_pending,
        0,
        "once per period"
    );
    clock.freeze(accepted + CONFIRMATION_EXPECTED_WITHIN + STILL_PENDING_AGAIN);
    assert_eq!(app.run_sweeps().await.unwrap().provider.still_pending, 1);
    // when the provider's event settles it, then the watch ends
    let refund_id = refund["id"].as_str().unwrap();
    let settled = json!({"id": "evt_refund_ok", "object": "event", "type": "charge.refund.updated", "data": {"object": {
        "id": "re_1", "object": "refund", "amount": 1190, "currency": "eur", "status": "succeeded",
        "payment_intent": "pi_1", "metadata": {"refund_id": refund_id, "order_id": order_id}}}});
    assert_eq!(
        common::deliver_stripe(&app, &vendor, clock.now(), &settled).await,
        200
    );
    clock.freeze(accepted + CONFIRMATION_EXPECTED_WITHIN + STILL_PENDING_AGAIN * 2);
    let report = app.run_sweeps().await.unwrap().provider;
    assert_eq!((report.still_pending, report.done), (0, 0), "{report:?}");
    clock.freeze(accepted + CONFIRMATION_EXPECTED_WITHIN + STILL_PENDING_AGAIN * 3);
    assert_eq!(app.run_sweeps().await.unwrap().provider.still_pending, 0);
    // and the provider was asked for the refund once
    let calls = provider.calls.lock().unwrap().clone();
    let refunds = calls.iter().filter(|c| c.starts_with("refund ")).count();
    assert_eq!(refunds, 1, "{calls:?}");
}

// Issue 12, §4: the customer's token never goes to the provider: the way back names Stripe's
// session, and the frontend's pages, not the customer link.
#[tokio::test]
async fn a_payment_session_carries_no_customer_token() {
    let provider = Arc::new(RecordingProvider::default());
    let (app, _clock) = common::app_at(common::embedded(), at("2026-11-23T09:00:00Z"));
    let app = app.with_payments(provider.clone());
    let (_, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let token = common::token_of(&order["customer_link"]);
    let (status, answer) = call(
        &app,
        Method::POST,
        &format!("/portal/orders/{token}/pay"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let calls = provider.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let secret = token.rsplit('.').next().unwrap();
    assert!(!calls[0].contains(secret), "{calls:?}");
    assert!(
        calls[0].contains(
            "success=http://localhost:3000/checkout/complete?session_id={CHECKOUT_SESSION_ID}"
        ),
        "{calls:?}"
    );
}

// R-O8, R-R1 (issue 13, defect 2): money the vendor recorded by hand never passed through the
// platform: its refund is recorded (order, history, e-mails) without a ledger debit, a balance
// check or a provider call.
#[tokio::test]
async fn a_refund_of_money_paid_by_hand_debits_nothing_and_calls_no_provider() {
    let provider = Arc::new(RecordingProvider::default());
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-23T09:00:00Z"));
    let app = app.with_payments(provider.clone());
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str();
    let order_id = order["order_id"].as_str().unwrap();
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/orders/{order_id}/payments"),
        key,
        json!({"amount": {"amount": "11.90", "currency": "EUR"}, "method": "bank_transfer"}),
    )
    .await;
    assert_eq!(status, 201);
    clock.advance(chrono::Duration::days(1));
    let (status, refund) = call(
        &app,
        Method::POST,
        &format!("/api/orders/{order_id}/refunds"),
        key,
        json!({"reason": "Rückgabe"}),
    )
    .await;
    assert_eq!(
        (status, refund["state"].as_str()),
        (201, Some("succeeded")),
        "{refund}"
    );
    let (_, balance) = call(&app, Method::GET, "/api/balance", key, Value::Null).await;
    assert_eq!(
        balance["balances"],
        json!([]),
        "nothing credited, nothing debited"
    );
    app.run_sweeps().await.unwrap();
    assert!(provider.calls.lock().unwrap().is_empty());
    let (_, history) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}/transactions"),
        key,
        Value::Null,
    )
    .await;
    let refunds: Vec<&Value> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "refund")
        .collect();
    assert_eq!(refunds.len(), 1, "{history}");
    assert_eq!(refunds[0]["provider"], "manual");
}

// R-O10, R-R5 (issue 13, defect 14): while a chargeback is open, refunds are refused with 409
// `order_disputed` — the vendor's and the customer's — and a refund ticket that comes due then
// closes without refunding: the money is never paid back twice.
#[tokio::test]
async fn a_disputed_order_is_never_refunded_on_top_of_its_chargeback() {
    let provider = Arc::new(RecordingProvider::default());
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-23T09:00:00Z"));
    let app = app.with_payments(provider.clone());
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str();
    let order_id = order["order_id"].as_str().unwrap();
    let token = common::token_of(&order["customer_link"]);
    common::pay_by_session(&app, &vendor, clock.now(), order_id, "pi_1").await;
    // a refund request is open when the chargeback comes
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/portal/orders/{token}/tickets"),
        None,
        json!({"type": "refund", "message": "zurück"}),
    )
    .await;
    assert_eq!(status, 201);
    let dispute = json!({"id": "evt_dispute", "object": "event", "type": "charge.dispute.created", "data": {"object": {
        "id": "dp_1", "object": "dispute", "amount": 1190, "currency": "eur", "charge": "ch_1",
        "payment_intent": "pi_1", "reason": "fraudulent", "status": "needs_response"}}});
    assert_eq!(
        common::deliver_stripe(&app, &vendor, clock.now(), &dispute).await,
        200
    );
    // the vendor's refund is refused
    let (status, refused) = call(
        &app,
        Method::POST,
        &format!("/api/orders/{order_id}/refunds"),
        key,
        json!({"reason": "Kulanz"}),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("order_disputed")),
        "{refused}"
    );
    // the open request comes due and closes without a refund
    clock.advance(chrono::Duration::days(2));
    let swept = app.run_sweeps().await.unwrap();
    assert_eq!(swept.tickets.refunds_executed, 0, "{swept:?}");
    let (_, card) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        key,
        Value::Null,
    )
    .await;
    assert_eq!(card["status"], "disputed", "{card}");
    assert_eq!(card["refunded"]["amount"], "0.00", "{card}");
    assert_eq!(card["tickets"][0]["state"], "closed", "{card}");
    // and a new request is refused too
    let (status, refused) = call(
        &app,
        Method::POST,
        &format!("/portal/orders/{token}/tickets"),
        None,
        json!({"type": "refund", "message": "nochmal"}),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("order_disputed")),
        "{refused}"
    );
    assert!(provider.calls.lock().unwrap().is_empty());
}

// R-R5 (issue 13, defect 6): a refund whose provider call is given up is not left pending for
// ever: it fails, the money counts as not refunded again, and the vendor's ledger gets it back.
#[tokio::test]
async fn a_refund_the_provider_never_takes_fails_and_is_given_back() {
    use sellerdesk::usecases::refunds::provider_tasks::MAX_ATTEMPTS;
    let provider = Arc::new(RecordingProvider::default());
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-23T09:00:00Z"));
    let app = app.with_payments(provider.clone());
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str();
    let order_id = order["order_id"].as_str().unwrap();
    common::pay_by_session(&app, &vendor, clock.now(), order_id, "pi_1").await;
    clock.advance(chrono::Duration::days(8));
    // given the provider cannot be reached for every attempt
    provider.outages.store(u32::MAX, Ordering::SeqCst);
    let (status, refund) = call(
        &app,
        Method::POST,
        &format!("/api/orders/{order_id}/refunds"),
        key,
        json!({"reason": "Kulanz"}),
    )
    .await;
    assert_eq!(status, 201, "{refund}");
    let (_, balance) = call(&app, Method::GET, "/api/balance", key, Value::Null).await;
    assert_eq!(balance["balances"][0]["available"], "0.00");
    // when the sweeps try until they give up
    let mut given_up = 0;
    for _ in 0..=MAX_ATTEMPTS {
        clock.advance(chrono::Duration::hours(2));
        given_up += app.run_sweeps().await.unwrap().provider.given_up;
    }
    assert_eq!(given_up, 1);
    // then the refund failed and was given back: paid again, the net back in the balance
    let (_, card) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        key,
        Value::Null,
    )
    .await;
    assert_eq!(
        (
            card["refunded"]["amount"].as_str(),
            card["payment_status"].as_str()
        ),
        (Some("0.00"), Some("paid")),
        "{card}"
    );
    let (_, balance) = call(&app, Method::GET, "/api/balance", key, Value::Null).await;
    assert_eq!(balance["balances"][0]["available"], "10.00", "{balance}");
}

// R-R1, R-T5 (issue 13, defect 8): a refund ticket the vendor opened is a vendor-issued refund:
// when it comes due it is held to the available balance like `POST /api/orders/{id}/refunds`.
// Uncovered, it stays open, both sides are told once, and it is tried again daily.
#[tokio::test]
async fn a_vendors_refund_ticket_waits_for_the_available_balance() {
    let provider = Arc::new(RecordingProvider::default());
    let store = common::embedded();
    let (app, clock) = common::app_at(Arc::clone(&store), at("2026-11-23T09:00:00Z"));
    let app = app.with_payments(provider.clone());
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str();
    let order_id = order["order_id"].as_str().unwrap();
    common::pay_by_session(&app, &vendor, clock.now(), order_id, "pi_1").await;
    // given the vendor's own refund ticket while the payment's credit is still pending
    let (status, ticket) = call(
        &app,
        Method::POST,
        &format!("/api/orders/{order_id}/tickets"),
        key,
        json!({"type": "refund", "message": "Wir erstatten"}),
    )
    .await;
    assert_eq!(status, 201, "{ticket}");
    // when it comes due, then it is not executed: it stays open and waits
    clock.advance(chrono::Duration::days(2));
    let report = app.run_sweeps().await.unwrap().tickets;
    assert_eq!(
        (report.refunds_executed, report.waiting_for_balance),
        (0, 1),
        "{report:?}"
    );
    let (_, card) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        key,
        Value::Null,
    )
    .await;
    assert_eq!(card["refunded"]["amount"], "0.00", "{card}");
    assert_eq!(card["tickets"][0]["state"], "open", "{card}");
    // and a day later still, but once the credit is available it executes
    clock.advance(chrono::Duration::days(1));
    assert_eq!(
        app.run_sweeps().await.unwrap().tickets.waiting_for_balance,
        1
    );
    // both sides were told once, not every day
    let mailbox = common::dispatched(&store, clock.clone()).await;
    let told = mailbox
        .emails()
        .await
        .unwrap()
        .into_iter()
        .filter(|mail| mail.text.contains("noch nicht ausgeführt"))
        .count();
    assert_eq!(told, 2);
    clock.advance(chrono::Duration::days(5));
    let report = app.run_sweeps().await.unwrap().tickets;
    assert_eq!(report.refunds_executed, 1, "{report:?}");
    let (_, balance) = call(&app, Method::GET, "/api/balance", key, Value::Null).await;
    assert_eq!(balance["balances"][0]["available"], "0.00", "{balance}");
}

// R-O10 (issue 13, defect 10): `charge.dispute.closed` ends the dispute — won, the chargeback's
// debit is given back and the order is as before (access with it); lost, the money counts as
// refunded by the dispute, so nothing refunds it again.
#[tokio::test]
async fn a_closed_dispute_gives_the_debit_back_when_won_and_refunds_when_lost() {
    for won in [true, false] {
        let (app, clock) = common::app_at(common::embedded(), at("2026-11-23T09:00:00Z"));
        let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
        let key = vendor["api_key"].as_str();
        let order_id = order["order_id"].as_str().unwrap();
        common::pay_by_session(&app, &vendor, clock.now(), order_id, "pi_1").await;
        clock.advance(chrono::Duration::days(8));
        let dispute = |kind: &str, status: &str| {
            json!({"id": format!("evt_{kind}"), "object": "event", "type": format!("charge.dispute.{kind}"), "data": {"object": {
                "id": "dp_1", "object": "dispute", "amount": 1190, "currency": "eur", "charge": "ch_1",
                "payment_intent": "pi_1", "reason": "fraudulent", "status": status}}})
        };
        assert_eq!(
            common::deliver_stripe(
                &app,
                &vendor,
                clock.now(),
                &dispute("created", "needs_response")
            )
            .await,
            200
        );
        let available = |app: sellerdesk::app::App, key: Option<String>| async move {
            let (_, balance) = call(
                &app,
                Method::GET,
                "/api/balance",
                key.as_deref(),
                Value::Null,
            )
            .await;
            balance["balances"][0]["available"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            available(app.clone(), key.map(str::to_string)).await,
            "0.00"
        );
        let closed = dispute("closed", if won { "won" } else { "lost" });
        for _ in 0..2 {
            assert_eq!(
                common::deliver_stripe(&app, &vendor, clock.now(), &closed).await,
                200
            );
        }
        let after = available(app.clone(), key.map(str::to_string)).await;
        let (_, card) = call(
            &app,
            Method::GET,
            &format!("/api/orders/{order_id}"),
            key,
            Value::Null,
        )
        .await;
        let refund = call(
            &app,
            Method::POST,
            &format!("/api/orders/{order_id}/refunds"),
            key,
            json!({"reason": "nach Anfechtung"}),
        )
        .await;
        if won {
            assert_eq!(after, "10.00");
            assert_eq!(card["status"], "completed", "{card}");
            assert_eq!(card["lines"][0]["access"]["active"], true, "{card}");
            assert_eq!(
                refund.0, 201,
                "won: the order can be refunded again: {}",
                refund.1
            );
        } else {
            assert_eq!(after, "0.00");
            assert_eq!(
                (card["status"].as_str(), card["refunded"]["amount"].as_str()),
                (Some("refunded"), Some("11.90")),
                "{card}"
            );
            assert_eq!(
                (refund.0, refund.1["error"]["code"].as_str()),
                (409, Some("nothing_to_refund"))
            );
        }
    }
}

// R-R4 (issue 13, defect 6): a cancellation the provider refuses, or one no call can reach (a
// PayPal subscription, never sent to Stripe), ends visibly: the vendor is told by mail and event.
#[tokio::test]
async fn a_cancellation_the_provider_refuses_is_told_to_the_vendor() {
    for paypal in [false, true] {
        let provider = Arc::new(RecordingProvider::default());
        provider.refuse_cancels.store(true, Ordering::SeqCst);
        let store = common::embedded();
        let (app, clock, token) = subscribed_over(Arc::clone(&store), provider.clone()).await;
        if paypal {
            // the order's subscription is PayPal's (`I-…`), as a PayPal-paid plan's is
            let (_, page) = call(
                &app,
                Method::GET,
                &format!("/portal/orders/{token}"),
                None,
                Value::Null,
            )
            .await;
            let order_id = page["id"].as_str().unwrap();
            let vendor_id = token.split('.').next().unwrap();
            let key = sellerdesk::store::keys::order_key(
                &sellerdesk::domain::ids::VendorId::parse(vendor_id).unwrap(),
                &sellerdesk::domain::ids::OrderId::parse(order_id).unwrap(),
            );
            let item = store.get(&key).await.unwrap().unwrap();
            let mut body = item.body.clone();
            body["provider"]["subscription"] = json!("I-PAYPALSUB1");
            store
                .transact(vec![sellerdesk::store::Write::update(item.next(body))])
                .await
                .unwrap();
        }
        let (status, _) = call(
            &app,
            Method::POST,
            &format!("/portal/orders/{token}/tickets"),
            None,
            json!({"type": "cancel", "message": "Bitte kündigen"}),
        )
        .await;
        assert_eq!(status, 201);
        clock.freeze(at("2026-11-24T09:00:00Z"));
        for _ in 0..3 {
            app.run_sweeps().await.unwrap();
        }
        let calls = provider.calls.lock().unwrap().clone();
        assert_eq!(
            calls.iter().filter(|c| c.starts_with("cancel ")).count(),
            usize::from(!paypal),
            "{calls:?}"
        );
        let mailbox = common::dispatched(&store, clock.clone()).await;
        let told = mailbox
            .emails()
            .await
            .unwrap()
            .into_iter()
            .filter(|mail| {
                mail.kind == sellerdesk::domain::notifications::EmailKind::CancellationFailed
            })
            .count();
        assert_eq!(told, 1, "paypal={paypal}");
        let events = mailbox.events().await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| format!("{e:?}").contains("subscription.cancel_failed"))
                .count(),
            1,
            "{events:?}"
        );
    }
}

// R-P1, R-O10 (issue 13, review): a dispute decided before its opening arrived ends the same as
// in order; and a chargeback never takes back money already refunded (R-R5).
#[tokio::test]
async fn a_dispute_ends_the_same_in_any_order_and_takes_back_only_what_is_left() {
    let dispute = |kind: &str, status: &str, amount: i64| {
        json!({"id": format!("evt_{kind}_{status}"), "object": "event", "type": format!("charge.dispute.{kind}"), "data": {"object": {
            "id": "dp_1", "object": "dispute", "amount": amount, "currency": "eur", "charge": "ch_1",
            "payment_intent": "pi_1", "reason": "fraudulent", "status": status}}})
    };
    for won in [true, false] {
        let (app, clock) = common::app_at(common::embedded(), at("2026-11-23T09:00:00Z"));
        let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
        let key = vendor["api_key"].as_str();
        let order_id = order["order_id"].as_str().unwrap();
        common::pay_by_session(&app, &vendor, clock.now(), order_id, "pi_1").await;
        clock.advance(chrono::Duration::days(8));
        // a partial refund first: 5.00 of 11.90 (4.20 net)
        let (status, _) = call(
            &app,
            Method::POST,
            &format!("/api/orders/{order_id}/refunds"),
            key,
            json!({"amount": {"amount": "5.00", "currency": "EUR"}, "reason": "Teil"}),
        )
        .await;
        assert_eq!(status, 201);
        // the dispute's end arrives before its opening, which names far more than is left
        let closed = dispute("closed", if won { "won" } else { "lost" }, 99_999);
        assert_eq!(
            common::deliver_stripe(&app, &vendor, clock.now(), &closed).await,
            200
        );
        let opened = dispute("created", "needs_response", 99_999);
        assert_eq!(
            common::deliver_stripe(&app, &vendor, clock.now(), &opened).await,
            200
        );
        let (_, balance) = call(&app, Method::GET, "/api/balance", key, Value::Null).await;
        let (_, card) = call(
            &app,
            Method::GET,
            &format!("/api/orders/{order_id}"),
            key,
            Value::Null,
        )
        .await;
        if won {
            // as if never disputed: 10.00 − 4.20
            assert_eq!(balance["balances"][0]["available"], "5.80", "{balance}");
            assert_eq!(card["status"], "completed", "{card}");
        } else {
            // the rest, 6.90 (5.80 net), is gone with the dispute, and counts as refunded
            assert_eq!(balance["balances"][0]["available"], "0.00", "{balance}");
            assert_eq!(
                (card["status"].as_str(), card["refunded"]["amount"].as_str()),
                (Some("refunded"), Some("11.90")),
                "{card}"
            );
        }
    }
}

// R-R5 (issue 14, defect 4): a refund whose amount the provider cannot take fails at once and is
// given back — no retry can make it payable
#[tokio::test]
async fn a_refund_of_an_amount_the_provider_cannot_take_fails_at_once() {
    let provider = Arc::new(RecordingProvider::default());
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-23T09:00:00Z"));
    let app = app.with_payments(provider.clone());
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str();
    let order_id = order["order_id"].as_str().unwrap();
    common::pay_by_session(&app, &vendor, clock.now(), order_id, "pi_1").await;
    clock.advance(chrono::Duration::days(8));
    // given a provider that cannot express the refund's amount
    provider.unpayable_refunds.store(true, Ordering::SeqCst);
    let path = format!("/api/orders/{order_id}/refunds");
    let (status, refund) = call(&app, Method::POST, &path, key, json!({"reason": "Kulanz"})).await;
    assert_eq!(status, 201, "{refund}");
    // when the sweep runs once
    clock.advance(chrono::Duration::minutes(5));
    app.run_sweeps().await.unwrap();
    // then the refund failed and was given back: paid again, the net back in the balance
    let (_, card) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        key,
        Value::Null,
    )
    .await;
    assert_eq!(card["refunded"]["amount"], "0.00", "{card}");
    let (_, balance) = call(&app, Method::GET, "/api/balance", key, Value::Null).await;
    assert_eq!(balance["balances"][0]["available"], "10.00", "{balance}");
}
