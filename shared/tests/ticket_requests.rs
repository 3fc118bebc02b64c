//! Refund and cancel requests (issue 16, items 1–3): every change into a request type is checked
//! as an opening is, the vendor only closes a request or turns it into support, and a due request
//! that cannot run says so — never `executed` — while a refund that ends a plan announces it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::call;
use common::stripe_shapes::*;
use http::Method;
use sellerdesk::domain::clock::Clock;
use serde_json::{Value, json};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

struct Shop {
    app: sellerdesk::app::App,
    clock: Arc<sellerdesk::domain::clock::SettableClock>,
    vendor: Value,
    order_id: String,
    token: String,
}

impl Shop {
    /// A vendor's order on `plan` (11.90 EUR), paid through Stripe on Tuesday 24 November.
    async fn paid(plan: Value) -> Shop {
        let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
        let (vendor, order) = common::vendor_with_order(&app, plan.clone()).await;
        let shop = Shop {
            app,
            clock,
            vendor,
            order_id: order["order_id"].as_str().unwrap().to_string(),
            token: common::token_of(&order["customer_link"]),
        };
        let paid = if plan["kind"] == "subscription" {
            session_subscription(&shop.order_id, "cs_1", "sub_1", "in_1", 1190)
        } else {
            session_payment(&shop.order_id, "cs_1", "pi_1", 1190)
        };
        shop.deliver(&paid).await;
        shop
    }

    fn key(&self) -> Option<&str> {
        self.vendor["api_key"].as_str()
    }

    async fn deliver(&self, event: &Value) {
        assert_eq!(
            common::deliver_stripe(&self.app, &self.vendor, self.clock.now(), event).await,
            200
        );
    }

    /// The customer opens a request of `kind` from the order link: the ticket's id and token.
    async fn request(&self, kind: &str) -> (String, String) {
        let path = format!("/portal/orders/{}/tickets", self.token);
        let body = json!({"type": kind, "message": "Bitte"});
        let (status, opened) = call(&self.app, Method::POST, &path, None, body).await;
        assert_eq!(status, 201, "{opened}");
        (
            opened["ticket_id"].as_str().unwrap().to_string(),
            common::token_of(&opened["ticket_link"]),
        )
    }

    /// The vendor's change of the ticket's type: the status and error code.
    async fn vendor_changes(&self, ticket: &str, kind: &str) -> (u16, String) {
        let path = format!("/api/tickets/{ticket}/type");
        let (status, answer) = call(
            &self.app,
            Method::POST,
            &path,
            self.key(),
            json!({"type": kind}),
        )
        .await;
        (status, code(&answer))
    }

    /// The customer's change through the ticket link: the status and error code.
    async fn customer_changes(&self, ticket_token: &str, kind: &str) -> (u16, String) {
        let path = format!("/portal/tickets/{ticket_token}/type");
        let (status, answer) =
            call(&self.app, Method::POST, &path, None, json!({"type": kind})).await;
        (status, code(&answer))
    }

    async fn ticket(&self, ticket: &str) -> Value {
        let path = format!("/api/tickets/{ticket}");
        call(&self.app, Method::GET, &path, self.key(), Value::Null)
            .await
            .1
    }

    async fn card(&self) -> Value {
        let path = format!("/api/orders/{}", self.order_id);
        call(&self.app, Method::GET, &path, self.key(), Value::Null)
            .await
            .1
    }

    /// The clock moves on by `by` and the sweeps run.
    async fn later(&self, by: Duration) {
        self.clock.advance(by);
        self.app.run_sweeps().await.unwrap();
    }

    async fn outbox(&self) -> sellerdesk::outbox::local::LocalOutbox {
        common::dispatched(&self.app.store, self.clock.clone()).await
    }

    async fn events(&self, event_type: &str) -> usize {
        self.outbox()
            .await
            .events()
            .await
            .unwrap()
            .iter()
            .filter(|event| event.event_type == event_type)
            .count()
    }

    /// The closing notices of tickets: (to, text).
    async fn closing_notices(&self) -> Vec<(String, String)> {
        self.outbox()
            .await
            .emails()
            .await
            .unwrap()
            .into_iter()
            .filter(|mail| mail.kind == sellerdesk::domain::notifications::EmailKind::TicketClosed)
            .map(|mail| (mail.to, mail.text))
            .collect()
    }
}

fn code(answer: &Value) -> String {
    answer["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// R-T4 (issue 16, item 1): the vendor may close a request or turn it into support — never turn
// a refund into a cancellation (which would refund nothing) or back
#[tokio::test]
async fn a_vendor_can_only_close_a_request_or_turn_it_into_support() {
    let shop = Shop::paid(json!({"kind": "subscription", "interval": "month"})).await;
    let (ticket, _) = shop.request("refund").await;
    assert_eq!(
        shop.vendor_changes(&ticket, "cancel").await,
        (403, "only_customer_requests".to_string())
    );
    assert_eq!(shop.ticket(&ticket).await["type"], "refund");
    assert_eq!(shop.vendor_changes(&ticket, "support").await.0, 200);
}

// R-R4, R-R2 (issue 16, item 1): a change into a request type is checked as an opening is —
// a one-time order cannot be cancelled, and a refund asked for after its window is refused
#[tokio::test]
async fn a_change_into_a_request_type_is_checked_as_an_opening_is() {
    // given a refund request on a one-time order
    let one_time = Shop::paid(json!({"kind": "one_time"})).await;
    let (ticket, token) = one_time.request("refund").await;
    // when the customer turns it into a cancellation, then it is refused and stays a refund
    assert_eq!(
        one_time.customer_changes(&token, "cancel").await,
        (422, "cancel_needs_subscription".to_string())
    );
    assert_eq!(one_time.ticket(&ticket).await["type"], "refund");

    // given a subscription whose only charge is 61 days old, and a cancel request on it
    let plan = Shop::paid(json!({"kind": "subscription", "interval": "month"})).await;
    plan.clock.advance(Duration::days(61));
    let (ticket, token) = plan.request("cancel").await;
    // when the customer turns it into a refund, then the window refuses it
    assert_eq!(
        plan.customer_changes(&token, "refund").await,
        (422, "refund_window_passed".to_string())
    );
    // and at due time the subscription is cancelled, nothing refunded
    plan.later(Duration::days(2)).await;
    let closed = plan.ticket(&ticket).await;
    assert_eq!(
        (&closed["type"], &closed["close_reason"]),
        (&json!("cancel"), &json!("executed")),
        "{closed}"
    );
    let card = plan.card().await;
    assert_eq!(
        (&card["status"], &card["refunded"]["amount"]),
        (&json!("cancelled"), &json!("0.00")),
        "{card}"
    ); // and a change of the executed ticket is refused as closed
    assert_eq!(
        plan.customer_changes(&token, "refund").await,
        (409, "ticket_closed".to_string())
    );
}

// R-T5, R-N1 (issue 16, item 1): a due refund request that cannot run — refunded meanwhile at
// Stripe — closes `not_executable` and tells both sides why, never "executed"
#[tokio::test]
async fn a_due_refund_that_cannot_run_closes_not_executable_and_says_why() {
    let shop = Shop::paid(json!({"kind": "one_time"})).await;
    let (ticket, _) = shop.request("refund").await;
    shop.deliver(&charge_refunded(
        "evt_dashboard",
        "ch_1",
        "pi_1",
        1190,
        1190,
        ours(&shop.order_id),
    ))
    .await;
    // when the request comes due
    shop.later(Duration::days(2)).await;
    // then it closed without running, and both sides read why
    let closed = shop.ticket(&ticket).await;
    assert_eq!(
        (&closed["state"], &closed["close_reason"]),
        (&json!("closed"), &json!("not_executable")),
        "{closed}"
    );
    let closed_events: Vec<Value> = shop
        .outbox()
        .await
        .events()
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.event_type == "ticket.closed")
        .map(|event| event.detail)
        .collect();
    assert_eq!(closed_events.len(), 1);
    assert_eq!(
        closed_events[0]["data"]["close_reason"], "not_executable",
        "the event says so too: {closed_events:?}"
    );
    let notices = shop.closing_notices().await;
    assert_eq!(notices.len(), 2, "{notices:?}");
    for (to, text) in &notices {
        assert!(
            text.contains("nicht ausgeführt: es ist nichts mehr zu erstatten"),
            "{to}: {text}"
        );
        assert!(!text.contains("wurde ausgeführt"), "{to}: {text}");
    }
}

// R-T5, R-N1 (issue 16, item 2): a cancel request on a plan that ended already cancels nothing
// again — no second `subscription.cancelled`, no provider call — and closes `nothing_to_cancel`
#[tokio::test]
async fn a_cancel_request_on_an_ended_plan_closes_with_nothing_to_cancel() {
    let shop = Shop::paid(json!({"kind": "subscription", "interval": "month"})).await;
    let (ticket, _) = shop.request("cancel").await;
    // when Stripe ends the subscription before the request is due
    let ended = json!({"id": "evt_sub_deleted", "object": "event", "type": "customer.subscription.deleted",
        "created": shop.clock.now().timestamp(),
        "data": {"object": {"id": "sub_1", "object": "subscription", "status": "canceled",
            "metadata": ours(&shop.order_id)}}});
    shop.deliver(&ended).await;
    let announced = shop.events("subscription.cancelled").await;
    shop.later(Duration::days(2)).await;
    // then the ticket closes saying there was nothing to cancel
    let closed = shop.ticket(&ticket).await;
    assert_eq!(closed["close_reason"], "nothing_to_cancel", "{closed}");
    assert_eq!(shop.events("subscription.cancelled").await, announced);
    let sweep = shop.app.run_sweeps().await.unwrap();
    assert_eq!(
        (sweep.provider.done, sweep.provider.given_up),
        (0, 0),
        "no provider cancellation is owed: {sweep:?}"
    );
    let notices = shop.closing_notices().await;
    assert!(
        notices
            .iter()
            .all(|(_, text)| text.contains("Es gab nichts zu kündigen")),
        "{notices:?}"
    );
}

// R-R3, R-N4 (issue 16, item 3): a refund of a plan's charge ends the plan, and says so — to
// both sides and to the event bus
#[tokio::test]
async fn a_refund_that_ends_a_plan_announces_it() {
    let shop = Shop::paid(json!({"kind": "subscription", "interval": "month"})).await;
    shop.request("refund").await;
    shop.later(Duration::days(2)).await;
    assert_eq!(shop.card().await["status"], "refunded");
    assert_eq!(shop.events("subscription.cancelled").await, 1);
    let told: Vec<String> = shop
        .outbox()
        .await
        .emails()
        .await
        .unwrap()
        .into_iter()
        .filter(|mail| {
            mail.kind == sellerdesk::domain::notifications::EmailKind::RefundConfirmation
        })
        .map(|mail| mail.text)
        .collect();
    assert!(!told.is_empty());
    for text in told.iter().filter(|text| text.contains("Erstattung über")) {
        assert!(text.contains("Der Plan wurde damit beendet"), "{text}");
    }
}

// R-T4 (issue 16, item 10): the platform's review log reports how many reviews there are, not
// the page's length
#[tokio::test]
async fn the_review_log_reports_its_real_total() {
    let shop = Shop::paid(json!({"kind": "one_time"})).await;
    let (ticket, token) = shop.request("refund").await;
    assert_eq!(shop.vendor_changes(&ticket, "support").await.0, 200);
    assert_eq!(shop.customer_changes(&token, "refund").await.0, 200);
    let path = format!("/api/tickets/{ticket}/close");
    let (status, _) = call(&shop.app, Method::POST, &path, shop.key(), json!({})).await;
    assert_eq!(status, 200);
    let (status, reviews) = call(
        &shop.app,
        Method::GET,
        "/admin/reviews?limit=1",
        Some(common::ADMIN),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{reviews}");
    assert_eq!(reviews["items"].as_array().unwrap().len(), 1);
    assert_eq!(reviews["total"], 2, "{reviews}");
    assert!(reviews["next_cursor"].is_string());
}

// R-R3, R-N1 (issue 16, item 3, review): a vendor's refund that ends a plan says so to both
#[tokio::test]
async fn a_vendors_refund_that_ends_a_plan_says_so() {
    let shop = Shop::paid(json!({"kind": "subscription", "interval": "month"})).await;
    shop.clock.advance(Duration::days(8));
    let path = format!("/api/orders/{}/refunds", shop.order_id);
    let (status, refund) = call(
        &shop.app,
        Method::POST,
        &path,
        shop.key(),
        json!({"reason": "Kulanz"}),
    )
    .await;
    assert_eq!(status, 201, "{refund}");
    assert_eq!(shop.card().await["status"], "refunded");
    let told: Vec<String> = shop
        .outbox()
        .await
        .emails()
        .await
        .unwrap()
        .into_iter()
        .filter(|mail| {
            mail.kind == sellerdesk::domain::notifications::EmailKind::RefundConfirmation
        })
        .map(|mail| mail.text)
        .collect();
    assert_eq!(told.len(), 2);
    assert!(
        told.iter()
            .all(|text| text.contains("Der Plan wurde damit beendet")),
        "{told:?}"
    );
}

// Seed 004, R-T1 (issue 16, item 10): a request taken by phone is opened by the platform for
// the customer — due as the customer's would be, e-mailed as if the customer had opened it,
// marked `via: platform` in its history; only requests, only with the admin token
#[tokio::test]
async fn the_platform_opens_a_request_for_a_customer() {
    let shop = Shop::paid(json!({"kind": "one_time"})).await;
    let path = format!(
        "/admin/vendors/{}/orders/{}/tickets",
        shop.vendor["vendor_id"].as_str().unwrap(),
        shop.order_id
    );
    let body = json!({"type": "refund", "message": "Telefonisch: bitte erstatten"});
    let (status, _) = call(&shop.app, Method::POST, &path, shop.key(), body.clone()).await;
    assert_eq!(status, 401, "a vendor's key is not the admin token");
    let (status, support) = call(
        &shop.app,
        Method::POST,
        &path,
        Some(common::ADMIN),
        json!({"type": "support", "message": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{support}");
    let (status, opened) = call(&shop.app, Method::POST, &path, Some(common::ADMIN), body).await;
    assert_eq!(status, 201, "{opened}");
    // Tuesday 24 November 09:00 UTC + 24 h: due Wednesday, as the customer's request
    assert_eq!(opened["due_at"], "2026-11-25T09:00:00Z");
    assert!(
        opened.get("ticket_link").is_none(),
        "the link goes to the customer only"
    );
    let ticket = shop.ticket(opened["ticket_id"].as_str().unwrap()).await;
    assert_eq!(
        (&ticket["opened_by"], &ticket["comments"][0]["via"]),
        (&json!("customer"), &json!("platform")),
        "{ticket}"
    );
    let mails = shop.outbox().await.emails().await.unwrap();
    let opened_mails: Vec<&str> = mails
        .iter()
        .filter(|mail| mail.kind == sellerdesk::domain::notifications::EmailKind::TicketOpened)
        .map(|mail| mail.to.as_str())
        .collect();
    assert_eq!(
        opened_mails.len(),
        2,
        "both sides are told: {opened_mails:?}"
    );
    // and it executes like the customer's own
    shop.later(Duration::days(2)).await;
    assert_eq!(shop.card().await["status"], "refunded");
}
