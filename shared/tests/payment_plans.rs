//! Payment plans (issue 15): the payment link pays only what is due.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::call;
use common::stripe_shapes::*;
use http::Method;
use sellerdesk::domain::clock::Clock;
use sellerdesk::payments::https::TransportError;
use sellerdesk::payments::{
    CancelSubscriptionRequest, OffSessionOutcome, OffSessionPayment, PaymentProvider,
    PaymentSession, PaymentSessionRequest, ProviderError, ProviderRefund, RefundRequest,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Records each payment session (its amount and consent text) and each off-session call;
/// declines, refuses or fails (as the network would) off-session calls when told to.
struct Provider {
    sessions: Mutex<Vec<String>>,
    consents: Mutex<Vec<Option<String>>>,
    /// `create KEY AMOUNT METHOD` and `confirm PAYMENT`, in order.
    calls: Mutex<Vec<String>>,
    /// The next this many off-session calls get no answer.
    outages: AtomicU32,
    /// The next this many confirmations get no answer.
    confirm_outages: AtomicU32,
    declines: AtomicBool,
    refuses: AtomicBool,
    /// What a confirmation answers (unless declining).
    outcome: Mutex<OffSessionOutcome>,
    /// Creations are refused with this status and code.
    refusal: Mutex<Option<(u16, String)>>,
}

impl Default for Provider {
    fn default() -> Provider {
        Provider {
            sessions: Mutex::default(),
            consents: Mutex::default(),
            calls: Mutex::default(),
            outages: AtomicU32::default(),
            confirm_outages: AtomicU32::default(),
            declines: AtomicBool::default(),
            refuses: AtomicBool::default(),
            outcome: Mutex::new(OffSessionOutcome::Succeeded),
            refusal: Mutex::default(),
        }
    }
}

impl Provider {
    fn sessions(&self) -> Vec<String> {
        self.sessions.lock().unwrap().clone()
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

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
impl PaymentProvider for Provider {
    async fn create_payment_session(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError> {
        self.sessions
            .lock()
            .unwrap()
            .push(request.amount.to_string());
        self.consents
            .lock()
            .unwrap()
            .push(request.save_for_later.clone());
        Ok(PaymentSession {
            id: "cs_1".into(),
            url: "https://pay.example/cs_1".into(),
        })
    }

    async fn refund(&self, _: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn cancel_subscription(
        &self,
        _: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn create_off_session_payment(
        &self,
        request: &OffSessionPayment,
    ) -> Result<String, ProviderError> {
        if self.refuses.load(Ordering::SeqCst) {
            return Err(ProviderError::Rejected {
                status: 400,
                code: "resource_missing".into(),
            });
        }
        if let Some((status, code)) = self.refusal.lock().unwrap().clone() {
            return Err(ProviderError::Rejected { status, code });
        }
        self.answer(format!(
            "create {} {} {}",
            request.idempotency_key, request.amount, request.method.payment_method
        ))?;
        Ok(format!("pi_{}", request.seq))
    }

    async fn confirm_off_session_payment(
        &self,
        payment: &str,
        _: &str,
    ) -> Result<OffSessionOutcome, ProviderError> {
        if self.confirm_outages.load(Ordering::SeqCst) > 0 {
            self.confirm_outages.fetch_sub(1, Ordering::SeqCst);
            return Err(ProviderError::Transport(TransportError::Timeout(
                std::time::Duration::from_secs(10),
            )));
        }
        self.answer(format!("confirm {payment}"))?;
        Ok(if self.declines.load(Ordering::SeqCst) {
            OffSessionOutcome::Declined {
                code: "card_declined".into(),
            }
        } else {
            self.outcome.lock().unwrap().clone()
        })
    }

    async fn cancel_off_session_payment(&self, payment: &str) -> Result<bool, ProviderError> {
        self.answer(format!("cancel {payment}"))?;
        Ok(true)
    }
}

struct Plan {
    app: sellerdesk::app::App,
    clock: Arc<sellerdesk::domain::clock::SettableClock>,
    provider: Arc<Provider>,
    vendor: Value,
    order_id: String,
    token: String,
}

impl Plan {
    async fn new(plan: Value) -> Plan {
        Plan::new_priced(json!({"amount": "10.00", "currency": "EUR"}), plan).await
    }

    async fn new_priced(price: Value, plan: Value) -> Plan {
        let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
        let provider = Arc::new(Provider::default());
        let app = app.with_payments(provider.clone());
        let (vendor, order) = common::vendor_with_order_at(&app, price, plan).await;
        Plan {
            app,
            clock,
            provider,
            vendor,
            order_id: order["order_id"].as_str().unwrap().to_string(),
            token: common::token_of(&order["customer_link"]),
        }
    }

    /// `POST /portal/orders/{token}/pay`: the status and error code.
    async fn pay(&self) -> (u16, String) {
        let path = format!("/portal/orders/{}/pay", self.token);
        let (status, answer) = call(&self.app, Method::POST, &path, None, Value::Null).await;
        (
            status,
            answer["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// The vendor's card of the order.
    async fn card(&self) -> Value {
        let path = format!("/api/orders/{}", self.order_id);
        let key = self.vendor["api_key"].as_str();
        let (status, card) = call(&self.app, Method::GET, &path, key, Value::Null).await;
        assert_eq!(status, 200, "{card}");
        card
    }

    /// The order's customer as the vendor sees it (R-C5's count and tags).
    async fn customer(&self) -> Value {
        let card = self.card().await;
        let path = format!(
            "/api/customers/{}",
            card["customer"]["id"].as_str().unwrap()
        );
        let key = self.vendor["api_key"].as_str();
        call(&self.app, Method::GET, &path, key, Value::Null)
            .await
            .1
    }

    /// One run of the sweeps at the clock's time: what the collection did.
    async fn sweep(&self) -> sellerdesk::usecases::payments::collection::CollectionReport {
        self.app.run_sweeps().await.unwrap().collection
    }

    /// The `payment_request` e-mails sent so far.
    async fn payment_requests(&self) -> Vec<sellerdesk::outbox::local::SentEmail> {
        common::dispatched(&self.app.store, self.clock.clone())
            .await
            .emails()
            .await
            .unwrap()
            .into_iter()
            .filter(|mail| {
                mail.kind == sellerdesk::domain::notifications::EmailKind::PaymentRequest
            })
            .collect()
    }

    /// The first rate paid through a session that saved the card for the later rates, as
    /// Stripe reports it: the session, then its payment intent with the saved method.
    async fn pay_first_rate_saving_the_card(&self) {
        self.deliver(&session_payment(&self.order_id, "cs_1", "pi_1", 398))
            .await;
        let mut intent = intent_succeeded("pi_1", "ch_1", None, 398, ours(&self.order_id));
        intent["data"]["object"]["setup_future_usage"] = json!("off_session");
        intent["data"]["object"]["payment_method"] = json!("pm_1");
        self.deliver(&intent).await;
    }

    /// Stripe's report that the off-session payment `pi` of `cents` went through.
    async fn off_session_paid(&self, pi: &str, cents: i64) {
        let mut metadata = ours(&self.order_id);
        metadata["schedule_seq"] = json!(pi.trim_start_matches("pi_"));
        self.deliver(&intent_succeeded(
            pi,
            &pi.replace("pi_", "ch_"),
            None,
            cents,
            metadata,
        ))
        .await;
    }

    async fn states(&self) -> Vec<String> {
        self.card().await["schedule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["status"].as_str().unwrap().to_string())
            .collect()
    }

    async fn deliver(&self, event: &Value) {
        assert_eq!(
            common::deliver_stripe(&self.app, &self.vendor, self.clock.now(), event).await,
            200
        );
    }
}

// R-P4 (issue 15, defect 3): a paid-up subscription has nothing to pay — Stripe bills the next
// month itself, so a second payment of it would charge the customer twice
#[tokio::test]
async fn a_paid_up_subscription_has_nothing_to_pay() {
    // given a monthly plan whose first month is paid
    let plan = Plan::new(json!({"kind": "subscription", "interval": "month"})).await;
    assert_eq!(plan.pay().await.0, 200, "the first month is due");
    plan.deliver(&session_subscription(
        &plan.order_id,
        "cs_1",
        "sub_1",
        "in_1",
        1190,
    ))
    .await;
    // when the customer presses "pay" during the month, and on the last day before the next
    // (and when the next period is due or overdue: Stripe's subscription charges it)
    for now in [
        "2026-11-30T12:00:00Z",
        "2026-12-23T20:00:00Z",
        "2026-12-24T09:30:00Z",
        "2026-12-27T09:00:00Z",
    ] {
        plan.clock.freeze(at(now));
        // then nothing is open
        assert_eq!(plan.pay().await, (409, "nothing_open".to_string()), "{now}");
    }
    assert_eq!(plan.provider.sessions(), vec!["11.90 EUR"]);
}

// R-P4 (issue 15, defect 3): an instalment is paid through the link once it is due — not
// before, unless the vendor allows early instalments, and then exactly the next rate
#[tokio::test]
async fn an_instalment_is_payable_from_its_due_day_or_early_where_the_vendor_allows() {
    // given three monthly instalments of 11.90 (3.98, 3.96, 3.96), the first paid
    let plan = Plan::new(json!({"kind": "installments", "count": 3, "interval": "month"})).await;
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 398))
        .await;
    // when the customer presses "pay" before the second is due
    plan.clock.freeze(at("2026-12-10T09:00:00Z"));
    assert_eq!(plan.pay().await, (409, "nothing_open".to_string()));
    // then on its due day it can be paid
    plan.clock.freeze(at("2026-12-24T07:00:00Z"));
    assert_eq!(plan.pay().await.0, 200);
    // and where the vendor allows early instalments, the next rate is payable before its day
    let key = plan.vendor["api_key"].as_str();
    let (status, settings) = call(
        &plan.app,
        Method::PUT,
        "/api/settings",
        key,
        json!({"allow_early_instalments": true}),
    )
    .await;
    assert_eq!(
        (status, &settings["allow_early_instalments"]),
        (200, &json!(true)),
        "{settings}"
    );
    plan.deliver(&intent_succeeded(
        "pi_2",
        "ch_2",
        None,
        396,
        ours(&plan.order_id),
    ))
    .await;
    assert_eq!(plan.pay().await.0, 200);
    assert_eq!(plan.provider.sessions(), vec!["3.96 EUR", "3.96 EUR"]);
}

// R-C5 (issue 15, defect 4): an order whose money all went back is no longer a paid order —
// the count falls and the automatic `regular` tag goes with it
#[tokio::test]
async fn a_fully_refunded_order_no_longer_counts_as_paid() {
    // given a vendor for whom one paid order makes a regular customer, and a paid order
    let plan = Plan::new(json!({"kind": "one_time"})).await;
    let key = plan.vendor["api_key"].as_str();
    let (status, _) = call(
        &plan.app,
        Method::PUT,
        "/api/settings",
        key,
        json!({"regular_customer_threshold": 1}),
    )
    .await;
    assert_eq!(status, 200);
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 1190))
        .await;
    let customer = plan.customer().await;
    assert_eq!(
        (&customer["paid_orders"], &customer["tags"]),
        (&json!(1), &json!(["regular"])),
        "{customer}"
    );
    // when all of it is refunded at Stripe
    plan.deliver(&charge_refunded(
        "evt_refunded",
        "ch_1",
        "pi_1",
        1190,
        1190,
        ours(&plan.order_id),
    ))
    .await;
    // then the customer has no paid order and is no longer tagged regular
    let customer = plan.customer().await;
    assert_eq!(
        (&customer["paid_orders"], &customer["tags"]),
        (&json!(0), &json!([])),
        "{customer}"
    );
}

// R-C5 (issue 15, defect 4): a dispute lost in full leaves the order refunded: no paid order
#[tokio::test]
async fn an_order_lost_to_a_dispute_no_longer_counts_as_paid() {
    let plan = Plan::new(json!({"kind": "one_time"})).await;
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 1190))
        .await;
    plan.deliver(&dispute_created("dp_1", "ch_1", "pi_1", 1190))
        .await;
    plan.deliver(&dispute_closed("dp_1", "ch_1", "pi_1", 1190, "lost"))
        .await;
    let card = plan.card().await;
    assert_eq!(card["status"], "refunded", "{card}");
    let customer = plan.customer().await;
    assert_eq!(customer["paid_orders"], 0, "{customer}");
}

// Issue 15 ("done when"): each item shows where it stands — scheduled, due, overdue, paid,
// refunded — and the plan its next charge
#[tokio::test]
async fn the_card_shows_each_instalments_state_and_the_next_charge() {
    // given three monthly instalments, the first paid
    let plan = Plan::new(json!({"kind": "installments", "count": 3, "interval": "month"})).await;
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 398))
        .await;
    let states = || async {
        let card = plan.card().await;
        let states: Vec<String> = card["schedule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["status"].as_str().unwrap().to_string())
            .collect();
        (
            states,
            card["next_charge_at"].clone(),
            card["schedule"][1]["due_at"].clone(),
        )
    };
    let (now, next, second_due) = states().await;
    assert_eq!(now, ["paid", "scheduled", "scheduled"]);
    assert_eq!(next, second_due, "the next charge is the second instalment");
    // when its due day comes, and passes
    plan.clock.freeze(at("2026-12-24T10:00:00Z"));
    assert_eq!(states().await.0, ["paid", "due", "scheduled"]);
    plan.clock.freeze(at("2026-12-26T10:00:00Z"));
    assert_eq!(states().await.0, ["paid", "overdue", "scheduled"]);
    // and when the first instalment's money goes back, it reads refunded
    plan.deliver(&charge_refunded(
        "evt_r1",
        "ch_1",
        "pi_1",
        398,
        398,
        ours(&plan.order_id),
    ))
    .await;
    assert_eq!(states().await.0[0], "refunded");
}

/// Three monthly instalments of 11.90 (3.98, 3.96, 3.96) due 24 Nov, 24 Dec and 24 Jan at
/// 10:00 Berlin time.
const INSTALMENTS: &str = r#"{"kind": "installments", "count": 3, "interval": "month"}"#;

fn instalments() -> Value {
    serde_json::from_str(INSTALMENTS).unwrap()
}

// R-P1, R-P3 (issue 15, defect 1; seed 001): the card saved at checkout pays each later rate
// on its due date, once, without the customer doing anything
#[tokio::test]
async fn instalments_are_charged_to_the_saved_card_on_their_due_dates() {
    // given three monthly instalments whose checkout asks to save the card for the later rates
    let plan = Plan::new(instalments()).await;
    assert_eq!(plan.pay().await.0, 200);
    let consent = plan.provider.consents.lock().unwrap()[0].clone().unwrap();
    assert!(
        consent.contains("2026-12-24 3.96 EUR") && consent.contains("2027-01-24 3.96 EUR"),
        "{consent}"
    );
    plan.pay_first_rate_saving_the_card().await;
    // when the sweeps run before the second rate is due, nothing is charged
    plan.clock.freeze(at("2026-12-21T09:00:00Z"));
    plan.sweep().await;
    plan.clock.freeze(at("2026-12-24T08:59:59Z"));
    plan.sweep().await;
    assert!(
        plan.provider.calls().is_empty(),
        "{:?}",
        plan.provider.calls()
    );
    // then at its due time exactly that rate is charged off-session, keyed by the rate
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    let report = plan.sweep().await;
    assert_eq!((report.charged, report.declined), (1, 0), "{report:?}");
    let second = format!("create collect-{}-2 3.96 EUR pm_1", plan.order_id);
    assert_eq!(plan.provider.calls(), [second.as_str(), "confirm pi_2"]);
    // and sweeping again charges nothing more
    plan.sweep().await;
    plan.clock.freeze(at("2026-12-25T09:00:00Z"));
    plan.sweep().await;
    assert_eq!(plan.provider.calls().len(), 2);
    // when Stripe reports the money, the rate is paid
    plan.off_session_paid("pi_2", 396).await;
    assert_eq!(plan.states().await, ["paid", "paid", "scheduled"]);
    // and the third rate is charged on its day, which completes the order
    plan.clock.freeze(at("2027-01-24T09:00:00Z"));
    plan.sweep().await;
    let third = format!("create collect-{}-3 3.96 EUR pm_1", plan.order_id);
    assert_eq!(plan.provider.calls()[2..], [third.as_str(), "confirm pi_3"]);
    plan.off_session_paid("pi_3", 396).await;
    let card = plan.card().await;
    assert_eq!(card["status"], "completed", "{card}");
    assert_eq!(card["paid"]["amount"], "11.90", "{card}");
    // and no one was asked to pay by e-mail: the card paid
    assert!(plan.payment_requests().await.is_empty());
}

// Issue 15, defect 1: a retry after a lost answer confirms the payment it recorded — never a
// second one, however late (Stripe keeps idempotency keys only about a day)
#[tokio::test]
async fn a_lost_answer_is_retried_on_the_recorded_payment_never_a_second_one() {
    // given a saved card, and a provider that answers neither the first creation nor the
    // first confirmation
    let plan = Plan::new(instalments()).await;
    plan.pay_first_rate_saving_the_card().await;
    plan.provider.outages.store(1, Ordering::SeqCst);
    plan.provider.confirm_outages.store(1, Ordering::SeqCst);
    // when the due-time sweep meets the outage, and the retries come a minute, then days later
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    assert_eq!(plan.sweep().await.retries_scheduled, 1);
    plan.clock.freeze(at("2026-12-24T09:01:00Z"));
    assert_eq!(plan.sweep().await.retries_scheduled, 1);
    assert_eq!(plan.provider.calls().len(), 1, "created, not confirmed");
    plan.clock.freeze(at("2026-12-27T09:00:00Z"));
    let report = plan.sweep().await;
    // then the payment was created once and confirmed once
    assert_eq!(report.charged, 1, "{report:?}");
    let created = format!("create collect-{}-2 3.96 EUR pm_1", plan.order_id);
    assert_eq!(plan.provider.calls(), [created.as_str(), "confirm pi_2"]);
    plan.clock.freeze(at("2026-12-28T09:00:00Z"));
    plan.sweep().await;
    assert_eq!(plan.provider.calls().len(), 2);
}

// Issue 15, defect 1 (seed 001: "Zahlungsaufforderung per E-Mail"): with no saved method the
// customer is asked to pay `request_days_before` days ahead and on the due date, once each
#[tokio::test]
async fn without_a_saved_method_the_customer_is_asked_ahead_and_on_the_due_date() {
    // given a vendor asking five days ahead, and a first rate paid without saving the card
    let plan = Plan::new(instalments()).await;
    let key = plan.vendor["api_key"].as_str();
    let (status, refused) = call(
        &plan.app,
        Method::PUT,
        "/api/settings",
        key,
        json!({"request_days_before": 31}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["fields"]["request_days_before"].is_string(),
        "{refused}"
    );
    let (status, settings) = call(
        &plan.app,
        Method::PUT,
        "/api/settings",
        key,
        json!({"request_days_before": 5}),
    )
    .await;
    assert_eq!((status, &settings["request_days_before"]), (200, &json!(5)));
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 398))
        .await;
    // when the sweeps run six days ahead, nothing is asked
    plan.clock.freeze(at("2026-12-18T09:00:00Z"));
    plan.sweep().await;
    assert!(plan.payment_requests().await.is_empty());
    // then five days ahead the customer gets one request with the due date and the link
    plan.clock.freeze(at("2026-12-19T09:00:00Z"));
    assert_eq!(plan.sweep().await.requested, 1);
    plan.sweep().await;
    let requests = plan.payment_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].to, "c@example.com");
    assert!(
        requests[0].text.contains("2026-12-24"),
        "{}",
        requests[0].text
    );
    assert!(
        requests[0].text.contains("3.96 EUR"),
        "{}",
        requests[0].text
    );
    assert!(
        requests[0].text.contains(&plan.token),
        "the pay link: {}",
        requests[0].text
    );
    assert!(
        requests[0]
            .text
            .contains("Ab diesem Tag können Sie sie hier bezahlen"),
        "the link pays it from its day on: {}",
        requests[0].text
    );
    // and on the due date a second one; no card is charged
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    assert_eq!(plan.sweep().await.requested, 1);
    plan.clock.freeze(at("2026-12-25T09:00:00Z"));
    assert_eq!(plan.sweep().await.requested, 0);
    assert_eq!(plan.payment_requests().await.len(), 2);
    assert!(plan.provider.calls().is_empty());
}

// R-P2, R-P4 (issue 15, defect 1): a declined rate counts its attempt, goes overdue and is
// paid through the link, which saves the new card for the rate after it
#[tokio::test]
async fn a_declined_instalment_counts_an_attempt_and_the_link_pays_it() {
    // given a saved card that is declined
    let plan = Plan::new(instalments()).await;
    plan.pay_first_rate_saving_the_card().await;
    plan.provider.declines.store(true, Ordering::SeqCst);
    // when the second rate is charged
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    let report = plan.sweep().await;
    assert_eq!((report.charged, report.declined), (1, 1), "{report:?}");
    let mut metadata = ours(&plan.order_id);
    metadata["schedule_seq"] = json!("2");
    plan.deliver(&intent_failed("evt_pi_2_failed", "pi_2", "ch_2", metadata))
        .await;
    // then the attempt counts and the rate goes overdue the day after
    let card = plan.card().await;
    assert_eq!(card["schedule"][1]["attempts"], 1, "{card}");
    plan.clock.freeze(at("2026-12-26T09:00:00Z"));
    plan.sweep().await;
    assert_eq!(plan.states().await, ["paid", "overdue", "scheduled"]);
    assert_eq!(
        plan.provider.calls().len(),
        2,
        "no second charge of its own"
    );
    // and the customer pays it through the link, saving the card for the third rate
    assert_eq!(plan.pay().await.0, 200);
    assert_eq!(plan.provider.sessions().last().unwrap(), "3.96 EUR");
    let consent = plan
        .provider
        .consents
        .lock()
        .unwrap()
        .last()
        .cloned()
        .flatten();
    assert!(consent.unwrap().contains("2027-01-24"));
    plan.deliver(&session_payment(&plan.order_id, "cs_2", "pi_link", 396))
        .await;
    assert_eq!(plan.states().await, ["paid", "paid", "scheduled"]);
}

// Issue 15, defect 1: a rate paid before its day, or of an order whose money went back, is
// not charged; a method the provider refuses makes a request instead
#[tokio::test]
async fn only_what_is_still_owed_is_charged() {
    // given a saved card, and the second rate paid early through the link
    let plan = Plan::new(instalments()).await;
    plan.pay_first_rate_saving_the_card().await;
    plan.deliver(&intent_succeeded(
        "pi_early",
        "ch_early",
        None,
        396,
        ours(&plan.order_id),
    ))
    .await;
    // when its due time comes, nothing is charged
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    assert_eq!(plan.sweep().await.nothing_to_collect, 1);
    assert!(plan.provider.calls().is_empty());
    // and when the provider refuses the saved card for the third, the customer is asked
    plan.provider.refuses.store(true, Ordering::SeqCst);
    plan.clock.freeze(at("2027-01-24T09:00:00Z"));
    assert_eq!(plan.sweep().await.requested, 1);
    plan.clock.freeze(at("2027-01-25T09:00:00Z"));
    assert_eq!(plan.sweep().await.requested, 0, "once");
    let requests = plan.payment_requests().await;
    assert_eq!(requests.len(), 1);

    // given another plan whose first rate is refunded in full
    let refunded = Plan::new(instalments()).await;
    refunded.pay_first_rate_saving_the_card().await;
    refunded
        .deliver(&charge_refunded(
            "evt_r1",
            "ch_1",
            "pi_1",
            398,
            398,
            ours(&refunded.order_id),
        ))
        .await;
    // then its later rates are never charged
    refunded.clock.freeze(at("2026-12-24T09:00:00Z"));
    assert_eq!(refunded.sweep().await.nothing_to_collect, 1);
    assert!(refunded.provider.calls().is_empty());
}

// R-O9 (issue 15, defect 4): a fully refunded order's card shows its item refunded and its
// access ended when the money went back, not a product duration still ahead
#[tokio::test]
async fn a_fully_refunded_order_shows_its_access_ended() {
    // given a paid one-time order of a product without an end
    let plan = Plan::new(json!({"kind": "one_time"})).await;
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 1190))
        .await;
    let card = plan.card().await;
    assert_eq!(card["lines"][0]["access"]["end"], Value::Null, "{card}");
    // when all of it is refunded two days later
    plan.clock.freeze(at("2026-11-26T12:00:00Z"));
    plan.deliver(&charge_refunded(
        "evt_refunded",
        "ch_1",
        "pi_1",
        1190,
        1190,
        ours(&plan.order_id),
    ))
    .await;
    // then the card shows the access ended then, and the item refunded
    plan.clock.freeze(at("2026-12-20T12:00:00Z"));
    let card = plan.card().await;
    let access = &card["lines"][0]["access"];
    assert_eq!(access["active"], false, "{card}");
    assert_eq!(
        at(access["end"].as_str().unwrap()),
        at("2026-11-26T12:00:00Z"),
        "{card}"
    );
    assert_eq!(card["schedule"][0]["status"], "refunded", "{card}");
}

// Issue 15 (review): an off-session payment pays the rate it was charged for — a declined
// earlier rate stays open for the link, and the rate charged is not left unpaid without a task
#[tokio::test]
async fn an_off_session_payment_pays_the_rate_it_was_charged_for() {
    // given a saved card declined for the second rate, which the customer leaves unpaid
    let plan = Plan::new(instalments()).await;
    plan.pay_first_rate_saving_the_card().await;
    plan.provider.declines.store(true, Ordering::SeqCst);
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    plan.sweep().await;
    // when the third rate is charged and paid
    plan.provider.declines.store(false, Ordering::SeqCst);
    plan.clock.freeze(at("2027-01-24T09:00:00Z"));
    assert_eq!(plan.sweep().await.charged, 1);
    plan.off_session_paid("pi_3", 396).await;
    // then the third rate is paid and the second still waits for the customer
    assert_eq!(plan.states().await, ["paid", "overdue", "paid"]);
    assert_eq!(plan.pay().await.0, 200);
    assert_eq!(plan.provider.sessions().last().unwrap(), "3.96 EUR");
}

// R-O2 (issue 15, review): a superseded order paid after all is the vendor's to resume: its
// later rates are not charged beside the order that replaced it
#[tokio::test]
async fn a_superseded_order_paid_after_all_charges_nothing_by_itself() {
    // given an unpaid instalment order superseded by the same customer's second checkout
    let plan = Plan::new(instalments()).await;
    let (_, offers) = call(
        &plan.app,
        Method::GET,
        "/api/offers",
        plan.vendor["api_key"].as_str(),
        Value::Null,
    )
    .await;
    let customer =
        json!({"email": "c@example.com", "first_name": "C", "last_name": "D", "country": "DE"});
    let (status, _) = call(
        &plan.app,
        Method::POST,
        "/checkout",
        None,
        json!({"offer_id": offers["items"][0]["id"], "customer": customer, "previous_order": plan.token}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(plan.card().await["status"], "superseded");
    // when its first rate is paid after all, saving the card
    plan.pay_first_rate_saving_the_card().await;
    // then its later rates are never charged
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    plan.sweep().await;
    plan.clock.freeze(at("2027-01-24T09:00:00Z"));
    plan.sweep().await;
    assert!(
        plan.provider.calls().is_empty(),
        "{:?}",
        plan.provider.calls()
    );
    // and it asks for no more: its later rates are not owed, the link has nothing to pay
    assert_eq!(plan.states().await, ["paid", "cancelled", "cancelled"]);
    assert_eq!(plan.card().await["overdue"]["amount"], "0.00");
    assert_eq!(plan.pay().await, (409, "nothing_open".to_string()));
}

// R-O2 (issue 15, review): money beyond the schedule is shown refundable only until it is
// refunded
#[tokio::test]
async fn a_surplus_refunded_is_no_longer_shown() {
    let plan = Plan::new(json!({"kind": "one_time"})).await;
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 2500))
        .await;
    assert_eq!(plan.card().await["surplus"]["amount"], "13.10");
    plan.deliver(&charge_refunded(
        "evt_refunded",
        "ch_1",
        "pi_1",
        2500,
        2500,
        ours(&plan.order_id),
    ))
    .await;
    let card = plan.card().await;
    assert_eq!(
        (&card["status"], &card["surplus"]["amount"]),
        (&json!("refunded"), &json!("0.00")),
        "{card}"
    );
}

// Issue 15 (review): a retry whose rate was partly paid meanwhile does not confirm the payment
// made for the whole rate: it is cancelled and the customer pays the rest through the link
#[tokio::test]
async fn a_retry_after_the_rate_changed_cancels_the_payment_it_made() {
    // given a payment created for the second rate whose confirmation got no answer
    let plan = Plan::new(instalments()).await;
    plan.pay_first_rate_saving_the_card().await;
    plan.provider.confirm_outages.store(1, Ordering::SeqCst);
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    assert_eq!(plan.sweep().await.retries_scheduled, 1);
    // when the vendor records 1.00 of it received by hand before the retry
    let path = format!("/api/orders/{}/payments", plan.order_id);
    let (status, answer) = call(
        &plan.app,
        Method::POST,
        &path,
        plan.vendor["api_key"].as_str(),
        json!({"amount": {"amount": "1.00", "currency": "EUR"}, "method": "bank_transfer"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    plan.clock.freeze(at("2026-12-24T09:05:00Z"));
    let report = plan.sweep().await;
    // then the payment for the whole rate is cancelled, never confirmed, and the customer asked
    assert_eq!(report.requested, 1, "{report:?}");
    let created = format!("create collect-{}-2 3.96 EUR pm_1", plan.order_id);
    assert_eq!(plan.provider.calls(), [created.as_str(), "cancel pi_2"]);
    let requests = plan.payment_requests().await;
    assert!(
        requests[0].text.contains("2.96 EUR"),
        "{}",
        requests[0].text
    );
}

// Issue 15 (review): a payment the provider cancelled reports no failure: the customer is
// asked; a refusal that is the operator's to mend (a revoked key) is retried, never an e-mail
#[tokio::test]
async fn a_cancelled_payment_asks_the_customer_and_a_revoked_key_waits_for_the_operator() {
    let plan = Plan::new(instalments()).await;
    plan.pay_first_rate_saving_the_card().await;
    *plan.provider.outcome.lock().unwrap() = OffSessionOutcome::Canceled;
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    plan.sweep().await;
    assert_eq!(plan.payment_requests().await.len(), 1);
    // when the platform's key is refused for the third rate
    *plan.provider.refusal.lock().unwrap() = Some((401, "api_key_expired".into()));
    plan.clock.freeze(at("2027-01-24T09:00:00Z"));
    assert_eq!(plan.sweep().await.retries_scheduled, 1);
    plan.clock.freeze(at("2027-01-24T10:00:00Z"));
    assert_eq!(plan.sweep().await.retries_scheduled, 1);
    // then nobody is asked to pay while the operator mends it
    assert_eq!(plan.payment_requests().await.len(), 1);
    // and once mended, the retry charges the rate
    *plan.provider.refusal.lock().unwrap() = None;
    *plan.provider.outcome.lock().unwrap() = OffSessionOutcome::Succeeded;
    plan.clock.freeze(at("2027-01-24T12:00:00Z"));
    assert_eq!(plan.sweep().await.charged, 1);
}

// Issue 15 (review): the consent above Stripe's button fits its 1200 characters however long
// the plan and the vendor's name
#[tokio::test]
async fn a_long_plans_consent_fits_stripes_page() {
    // given 36 weekly rates of some 280,000 EUR each, sold by a vendor with a 200-letter name
    let plan = Plan::new_priced(
        json!({"amount": "8500000.00", "currency": "EUR"}),
        json!({"kind": "installments", "count": 36, "interval": "week"}),
    )
    .await;
    let (status, _) = call(
        &plan.app,
        Method::PUT,
        "/api/settings",
        plan.vendor["api_key"].as_str(),
        json!({"name": "K".repeat(200)}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(plan.pay().await.0, 200);
    let consent = plan.provider.consents.lock().unwrap()[0].clone().unwrap();
    // then Stripe can show it: the rates are summed up
    assert!(consent.chars().count() <= 1200, "{}", consent.len());
    assert!(consent.contains("35 Raten"), "{consent}");
    assert!(consent.contains("bis 2027-07-27"), "{consent}");
}

// R-P4 (issue 15, review): a subscription whose first payment failed is paid through the link
// again, starting the plan anew — not left unpayable
#[tokio::test]
async fn a_subscriptions_failed_first_payment_is_paid_through_the_link() {
    let plan = Plan::new(json!({"kind": "subscription", "interval": "month"})).await;
    assert_eq!(plan.pay().await.0, 200);
    let failed = json!({"id": "evt_cs_failed", "object": "event",
        "type": "checkout.session.async_payment_failed",
        "data": {"object": {"id": "cs_1", "object": "checkout.session", "payment_status": "unpaid",
            "subscription": "sub_1", "metadata": ours(&plan.order_id)}}});
    plan.deliver(&failed).await;
    assert_eq!(plan.card().await["schedule"][0]["attempts"], 1);
    assert_eq!(
        plan.pay().await.0,
        200,
        "the first period is still the link's to pay"
    );
    assert_eq!(plan.provider.sessions(), ["11.90 EUR", "11.90 EUR"]);
}

// R-P2 (issue 15, review): each declined renewal counts on the period it billed, so two
// unpaid months show as two, and its notice does not send the customer to a link that cannot
// pay it (the provider tries again itself)
#[tokio::test]
async fn a_declined_renewal_counts_on_its_own_period() {
    let plan = Plan::new(json!({"kind": "subscription", "interval": "month"})).await;
    plan.deliver(&session_subscription(
        &plan.order_id,
        "cs_1",
        "sub_1",
        "in_1",
        1190,
    ))
    .await;
    for (invoice, start, end) in [
        ("in_2", "2026-12-24T09:00:00Z", "2027-01-24T09:00:00Z"),
        ("in_3", "2027-01-24T09:00:00Z", "2027-02-24T09:00:00Z"),
    ] {
        plan.clock.freeze(at(start));
        let mut declined = invoice_failed(
            &plan.order_id,
            invoice,
            "sub_1",
            &format!("pi_{invoice}"),
            &format!("ch_{invoice}"),
            1,
        );
        declined["data"]["object"]["lines"] = json!({"object": "list", "data": [{"amount": 1190,
            "currency": "eur", "period": {"start": at(start).timestamp(), "end": at(end).timestamp()}}]});
        plan.deliver(&declined).await;
    }
    plan.clock.freeze(at("2027-01-26T09:00:00Z"));
    let card = plan.card().await;
    let attempts: Vec<&Value> = card["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["attempts"])
        .collect();
    assert_eq!(attempts, [&json!(0), &json!(1), &json!(1)], "{card}");
    assert_eq!(card["open"]["amount"], "23.80", "{card}");
    let mailbox = common::dispatched(&plan.app.store, plan.clock.clone()).await;
    let failed: Vec<String> = mailbox
        .emails()
        .await
        .unwrap()
        .into_iter()
        .filter(|mail| mail.kind == sellerdesk::domain::notifications::EmailKind::PaymentFailed)
        .map(|mail| mail.text)
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .all(|text| text.contains("automatisch erneut versucht")),
        "{failed:?}"
    );
}

// Issue 15 (review): a plan whose first rate is paid after the second was due asks for that
// rate as overdue — not "due today" — promises no charge on a past day, and never shows access
// ending before it starts
#[tokio::test]
async fn a_plan_paid_late_asks_for_its_overdue_rate_as_overdue() {
    let plan = Plan::new(instalments()).await;
    plan.clock.freeze(at("2026-12-26T09:00:00Z"));
    assert_eq!(plan.pay().await.0, 200);
    let consent = plan.provider.consents.lock().unwrap()[0].clone().unwrap();
    assert!(consent.contains("2026-12-26 3.96 EUR"), "{consent}");
    assert!(!consent.contains("2026-12-24"), "{consent}");
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 398))
        .await;
    let access = plan.card().await["lines"][0]["access"].clone();
    assert!(
        access["end"].as_str().unwrap() >= access["start"].as_str().unwrap(),
        "{access}"
    );
    assert_eq!(plan.sweep().await.requested, 1);
    let requests = plan.payment_requests().await;
    assert!(
        requests[0].subject.starts_with("Überfällig"),
        "{}",
        requests[0].subject
    );
    assert!(
        requests[0]
            .text
            .contains("war am 2026-12-24 fällig und ist noch offen"),
        "{}",
        requests[0].text
    );
}

// R-O9, R-R3, R-R4 (issue 16, item 4): an instalment plan ended by a refund of its last rate
// keeps access to the end of its last period paid and not refunded; its remaining rates are
// cancelled and give none
#[tokio::test]
async fn a_plan_ended_by_a_refund_keeps_access_to_its_last_kept_period() {
    // given three monthly instalments, the first two paid
    let plan = Plan::new(instalments()).await;
    plan.deliver(&session_payment(&plan.order_id, "cs_1", "pi_1", 398))
        .await;
    plan.deliver(&intent_succeeded(
        "pi_2",
        "ch_2",
        None,
        396,
        ours(&plan.order_id),
    ))
    .await;
    // when the customer's refund request is executed (R-R3: the last charge, and the plan ends)
    let path = format!("/portal/orders/{}/tickets", plan.token);
    let (status, opened) = call(
        &plan.app,
        Method::POST,
        &path,
        None,
        json!({"type": "refund", "message": "Bitte"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    plan.clock.freeze(at("2026-11-26T09:00:00Z"));
    plan.app.run_sweeps().await.unwrap();
    // then the second rate reads refunded, the third cancelled, and access lasts to the end of
    // the first period (the second rate's due time)
    assert_eq!(plan.states().await, ["paid", "refunded", "cancelled"]);
    let card = plan.card().await;
    let access = &card["lines"][0]["access"];
    assert_eq!(
        at(access["end"].as_str().unwrap()),
        at("2026-12-24T09:00:00Z"),
        "{card}"
    );
    assert_eq!(access["active"], true, "{card}");
    plan.clock.freeze(at("2026-12-24T09:00:00Z"));
    assert_eq!(plan.card().await["lines"][0]["access"]["active"], false);
    // and nothing more is collected
    plan.clock.freeze(at("2027-01-24T09:00:00Z"));
    plan.sweep().await;
    assert!(plan.provider.calls().is_empty());
}
