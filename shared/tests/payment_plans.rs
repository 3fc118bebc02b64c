//! Payment plans (issue 15): the payment link pays only what is due.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::call;
use common::stripe_shapes::*;
use http::Method;
use sellerdesk::domain::clock::Clock;
use sellerdesk::payments::{
    CancelSubscriptionRequest, PaymentProvider, PaymentSession, PaymentSessionRequest,
    ProviderError, ProviderRefund, RefundRequest,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Records the amount of each payment session it is asked for.
#[derive(Default)]
struct Sessions(Mutex<Vec<String>>);

#[async_trait]
impl PaymentProvider for Sessions {
    async fn create_payment_session(
        &self,
        request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError> {
        self.0.lock().unwrap().push(request.amount.to_string());
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
}

struct Plan {
    app: sellerdesk::app::App,
    clock: Arc<sellerdesk::domain::clock::SettableClock>,
    sessions: Arc<Sessions>,
    vendor: Value,
    order_id: String,
    token: String,
}

impl Plan {
    async fn new(plan: Value) -> Plan {
        let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
        let sessions = Arc::new(Sessions::default());
        let app = app.with_payments(sessions.clone());
        let (vendor, order) = common::vendor_with_order(&app, plan).await;
        Plan {
            app,
            clock,
            sessions,
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
    assert_eq!(*plan.sessions.0.lock().unwrap(), vec!["11.90 EUR"]);
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
    assert_eq!(
        *plan.sessions.0.lock().unwrap(),
        vec!["3.96 EUR", "3.96 EUR"]
    );
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
