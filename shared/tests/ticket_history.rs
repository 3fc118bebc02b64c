//! Ticket histories at random (issue 16, "done when"): opens, type changes, comments and closes by
//! either side, and the clock moving with sweeps on time or three days late. Whatever happened,
//! every request that closed at its due time did exactly what its final type asked, or closed
//! `not_executable`/`nothing_to_cancel` having done nothing; each side got one notice per change
//! and the two sides the same ones; the notices' facts are true; a warning precedes the next
//! warning or the inactivity close by the normal gap (R-T1–R-T9, R-R3, R-R4, R-N1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use common::stripe_shapes::*;
use common::{ADMIN, call, token_of};
use http::Method;
use proptest::prelude::*;
use sellerdesk::domain::clock::Clock;
use sellerdesk::domain::notifications::EmailKind;
use sellerdesk::payments::{
    CancelSubscriptionRequest, OffSessionOutcome, OffSessionPayment, PaymentProvider,
    PaymentSession, PaymentSessionRequest, ProviderError, ProviderRefund, RefundRequest,
    RefundState,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A provider that carries out every refund and cancellation at once.
struct Obliging;

#[async_trait]
impl PaymentProvider for Obliging {
    async fn create_payment_session(
        &self,
        _request: &PaymentSessionRequest,
    ) -> Result<PaymentSession, ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        Ok(ProviderRefund {
            id: format!("re_{}", request.idempotency_key()),
            state: RefundState::Succeeded,
        })
    }

    async fn cancel_subscription(
        &self,
        _request: &CancelSubscriptionRequest,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn create_off_session_payment(
        &self,
        _request: &OffSessionPayment,
    ) -> Result<String, ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn confirm_off_session_payment(
        &self,
        _payment: &str,
        _idempotency_key: &str,
    ) -> Result<OffSessionOutcome, ProviderError> {
        Err(ProviderError::NotConfigured)
    }

    async fn cancel_off_session_payment(&self, _payment: &str) -> Result<bool, ProviderError> {
        Err(ProviderError::NotConfigured)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Customer,
    Vendor,
}

#[derive(Debug, Clone)]
enum Step {
    Open(Side, &'static str),
    Comment(Side, usize),
    ChangeType(Side, usize, &'static str),
    Close(Side, usize),
    /// The clock moves on by hours; `late`: no sweep runs for three days more, then one does.
    Wait {
        hours: i64,
        late: bool,
    },
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Customer), Just(Side::Vendor)]
}

fn kind() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("support"), Just("refund"), Just("cancel")]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (side(), kind()).prop_map(|(s, k)| Step::Open(s, k)),
        2 => (side(), 0..4usize).prop_map(|(s, t)| Step::Comment(s, t)),
        2 => (side(), 0..4usize, kind()).prop_map(|(s, t, k)| Step::ChangeType(s, t, k)),
        1 => (side(), 0..4usize).prop_map(|(s, t)| Step::Close(s, t)),
        3 => (1..60i64, proptest::bool::weighted(0.3)).prop_map(|(hours, late)| Step::Wait { hours, late }),
    ]
}

struct Shop {
    app: sellerdesk::app::App,
    clock: Arc<sellerdesk::domain::clock::SettableClock>,
    vendor: Value,
    order_id: String,
    token: String,
    /// The tickets in the order they were opened.
    tickets: Vec<String>,
    /// Successful changes per ticket: what each side must have been told of.
    changes: BTreeMap<String, usize>,
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

impl Shop {
    /// A paid order (11.90 EUR) on Thursday 26 November 2026, made by a vendor that may be
    /// restricted (R-T3).
    async fn new(subscription: bool, restricted: bool) -> Shop {
        let (app, clock) = common::app_at(common::embedded(), at("2026-11-26T09:00:00Z"));
        let app = app.with_payments(Arc::new(Obliging));
        let plan = if subscription {
            json!({"kind": "subscription", "interval": "month"})
        } else {
            json!({"kind": "one_time"})
        };
        let (vendor, order) = common::vendor_with_order(&app, plan).await;
        let order_id = order["order_id"].as_str().unwrap().to_string();
        let paid = if subscription {
            session_subscription(&order_id, "cs_1", "sub_1", "in_1", 1190)
        } else {
            session_payment(&order_id, "cs_1", "pi_1", 1190)
        };
        assert_eq!(
            common::deliver_stripe(&app, &vendor, clock.now(), &paid).await,
            200
        );
        if restricted {
            let path = format!(
                "/admin/vendors/{}/restrict",
                vendor["vendor_id"].as_str().unwrap()
            );
            assert_eq!(
                call(&app, Method::POST, &path, Some(ADMIN), Value::Null)
                    .await
                    .0,
                200
            );
        }
        Shop {
            app,
            clock,
            vendor,
            order_id,
            token: token_of(&order["customer_link"]),
            tickets: Vec::new(),
            changes: BTreeMap::new(),
        }
    }

    fn key(&self) -> Option<&str> {
        self.vendor["api_key"].as_str()
    }

    /// The customer's link of each ticket, from the customer's order page (R-U1).
    async fn customer_links(&self) -> BTreeMap<String, String> {
        let path = format!("/portal/orders/{}", self.token);
        let (_, page) = call(&self.app, Method::GET, &path, None, Value::Null).await;
        page["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), token_of(&t["link"])))
            .collect()
    }

    async fn send(&self, side: Side, ticket: &str, what: &str, body: Value) -> u16 {
        let path = match side {
            Side::Customer => {
                let links = self.customer_links().await;
                format!("/portal/tickets/{}/{what}", links[ticket])
            }
            Side::Vendor => format!("/api/tickets/{ticket}/{what}"),
        };
        let key = if side == Side::Vendor {
            self.key()
        } else {
            None
        };
        call(&self.app, Method::POST, &path, key, body).await.0
    }

    async fn apply(&mut self, step: &Step) {
        let status = match step {
            Step::Open(side, kind) => {
                let body = json!({"type": kind, "message": "Bitte"});
                let (status, opened) = match side {
                    Side::Customer => {
                        let path = format!("/portal/orders/{}/tickets", self.token);
                        call(&self.app, Method::POST, &path, None, body).await
                    }
                    Side::Vendor => {
                        let path = format!("/api/orders/{}/tickets", self.order_id);
                        call(&self.app, Method::POST, &path, self.key(), body).await
                    }
                };
                assert!(status < 500, "{step:?}: {status} {opened}");
                if status == 201 {
                    let id = opened["ticket_id"].as_str().or(opened["id"].as_str());
                    let id = id.unwrap().to_string();
                    self.changes.insert(id.clone(), 1);
                    self.tickets.push(id);
                }
                return;
            }
            Step::Comment(side, n) | Step::Close(side, n) | Step::ChangeType(side, n, _) => {
                let Some(ticket) = self.pick(*n) else { return };
                let (what, body) = match step {
                    Step::Comment(..) => ("comments", json!({"message": "Und?"})),
                    Step::Close(..) => ("close", Value::Null),
                    Step::ChangeType(_, _, kind) => ("type", json!({"type": kind})),
                    Step::Wait { .. } | Step::Open(..) => unreachable!(),
                };
                let status = self.send(*side, &ticket, what, body).await;
                if status == 200 {
                    *self.changes.entry(ticket).or_default() += 1;
                }
                status
            }
            Step::Wait { hours, late } => {
                if *late {
                    self.clock.advance(Duration::hours(hours + 72));
                    self.sweep().await;
                } else {
                    for _ in 0..*hours {
                        self.clock.advance(Duration::hours(1));
                        self.sweep().await;
                    }
                }
                return;
            }
        };
        assert!(status < 500, "{step:?}: {status}");
    }

    fn pick(&self, n: usize) -> Option<String> {
        (!self.tickets.is_empty()).then(|| self.tickets[n % self.tickets.len()].clone())
    }

    /// A sweep, and the mail it wrote sent at once (so a mail's time is when it was written).
    async fn sweep(&self) {
        self.app.run_sweeps().await.unwrap();
        self.dispatch().await;
    }

    async fn dispatch(&self) -> sellerdesk::outbox::local::LocalOutbox {
        common::dispatched(&self.app.store, self.clock.clone()).await
    }

    async fn ticket(&self, id: &str) -> Value {
        let path = format!("/api/tickets/{id}");
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
}

/// The ticket a mail is about: the ticket link in it, whichever side's it is.
async fn ticket_of(
    app: &sellerdesk::app::App,
    text: &str,
    known: &mut BTreeMap<String, String>,
) -> Option<String> {
    let link = text.split_whitespace().find(|w| w.contains("/tickets/"))?;
    let token = token_of(&json!(link));
    if let Some(id) = known.get(&token) {
        return Some(id.clone());
    }
    let (_, ticket) = call(
        app,
        Method::GET,
        &format!("/portal/tickets/{token}"),
        None,
        Value::Null,
    )
    .await;
    let id = ticket["id"].as_str()?.to_string();
    known.insert(token, id.clone());
    Some(id)
}

/// One mail about a ticket: its kind, when it went out, its text.
type Told = (EmailKind, DateTime<Utc>, String);

const CLOSING: [EmailKind; 3] = [
    EmailKind::TicketClosed,
    EmailKind::RefundConfirmation,
    EmailKind::CancellationConfirmation,
];

async fn check_history(subscription: bool, restricted: bool, steps: Vec<Step>) {
    // given a paid order and a history of ticket steps
    let mut shop = Shop::new(subscription, restricted).await;
    for step in &steps {
        shop.apply(step).await;
        shop.dispatch().await;
    }
    // when a month passes with sweeps, so every timer has fired
    for _ in 0..(30 * 4) {
        shop.clock.advance(Duration::hours(6));
        shop.sweep().await;
    }
    // then every request that came due did what its final type asked, or nothing
    let mut executed = BTreeMap::<&str, usize>::new();
    let mut tickets = BTreeMap::new();
    for id in &shop.tickets {
        let ticket = shop.ticket(id).await;
        assert_eq!(ticket["state"], "closed", "every timer has fired: {ticket}");
        let reason = ticket["close_reason"].as_str().unwrap().to_string();
        let kind = ticket["type"].as_str().unwrap().to_string();
        match reason.as_str() {
            "executed" => {
                assert_ne!(kind, "support", "{ticket}");
                *executed
                    .entry(if kind == "refund" { "refund" } else { "cancel" })
                    .or_default() += 1;
            }
            "not_executable" => assert_eq!(kind, "refund", "{ticket}"),
            "nothing_to_cancel" => assert_eq!(kind, "cancel", "{ticket}"),
            "inactive" => assert_eq!(
                kind, "support",
                "requests never close for inactivity: {ticket}"
            ),
            "closed_by_customer" | "closed_by_vendor" => {}
            other => panic!("unknown close reason {other}"),
        }
        tickets.insert(id.clone(), (kind, reason));
    }
    let refunds = executed.get("refund").copied().unwrap_or(0);
    let cancels = executed.get("cancel").copied().unwrap_or(0);
    assert!(refunds <= 1 && cancels <= 1, "{tickets:?}");
    if !subscription {
        assert_eq!(cancels, 0, "{tickets:?}");
    }
    let card = shop.card().await;
    let refunded = if refunds == 1 { "11.90" } else { "0.00" };
    assert_eq!(card["refunded"]["amount"], refunded, "{tickets:?} {card}");
    let status = card["status"].as_str().unwrap();
    match (refunds, cancels) {
        (1, _) => assert_eq!(status, "refunded", "{tickets:?}"),
        (0, 1) => assert_eq!(status, "cancelled", "{tickets:?}"),
        _ => assert!(
            status == "completed" || status == "active",
            "{status} {tickets:?}"
        ),
    }
    let outbox = shop.dispatch().await;
    if subscription {
        let ended = outbox
            .events()
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type == "subscription.cancelled")
            .count();
        assert_eq!(ended, usize::from(refunds + cancels > 0), "{tickets:?}");
    }
    // and each side was told of each change once, the two sides alike, the facts true
    let mails = outbox.emails().await.unwrap();
    let mut known = BTreeMap::new();
    let mut told: BTreeMap<(String, bool), Vec<Told>> = BTreeMap::new();
    // (mails written at one instant have no order among them: each side's are sorted by time,
    // and compared as sets of kinds)
    for mail in &mails {
        let Some(id) = ticket_of(&shop.app, &mail.text, &mut known).await else {
            continue;
        };
        let to_customer = mail.to == "c@example.com";
        told.entry((id, to_customer)).or_default().push((
            mail.kind,
            mail.sent_at,
            mail.text.clone(),
        ));
    }
    for (id, (kind, reason)) in &tickets {
        let sorted = |to_customer: bool| {
            let mut mails = told
                .get(&(id.clone(), to_customer))
                .cloned()
                .unwrap_or_default();
            mails.sort_by_key(|m| (m.1, CLOSING.contains(&m.0)));
            mails
        };
        let (customer, vendor) = (sorted(true), sorted(false));
        let kinds = |mails: &[Told]| {
            let mut kinds: Vec<String> = mails.iter().map(|m| format!("{:?}", m.0)).collect();
            kinds.sort();
            kinds
        };
        assert_eq!(
            kinds(&customer),
            kinds(&vendor),
            "both sides told alike: {id}"
        );
        let closing: Vec<_> = customer.iter().filter(|m| CLOSING.contains(&m.0)).collect();
        assert_eq!(
            closing.len(),
            1,
            "one closing notice: {id} {:?}",
            kinds(&customer)
        );
        let changes = shop.changes[id];
        let timed = customer
            .iter()
            .filter(|m| {
                m.0 == EmailKind::TicketInactivityWarning
                    || (m.0 == EmailKind::TicketChanged && m.2.contains("Guthaben"))
            })
            .count();
        let by_timer = usize::from(matches!(
            reason.as_str(),
            "executed" | "not_executable" | "nothing_to_cancel" | "inactive"
        ));
        assert_eq!(
            customer.len(),
            changes + timed + by_timer,
            "one notice per change: {id} {:?}",
            kinds(&customer)
        );
        let text = &closing[0].2;
        match (kind.as_str(), reason.as_str()) {
            ("refund", "executed") => assert!(
                text.contains("Erstattung über 11,90") || text.contains("11.90"),
                "{text}"
            ),
            ("cancel", "executed") => assert!(text.contains("gekündigt"), "{text}"),
            ("refund", "not_executable") => assert!(text.contains("nicht ausgeführt"), "{text}"),
            ("cancel", "nothing_to_cancel") => {
                assert!(text.contains("nichts zu kündigen"), "{text}")
            }
            (_, "inactive") => assert!(text.contains("keine Antwort"), "{text}"),
            _ => assert!(
                !text.contains("ausgeführt") && !text.contains("gekündigt"),
                "{reason}: {text}"
            ),
        }
        // a warning is followed by the next warning or the close only after the normal gap
        for pair in customer.windows(2) {
            let warned = pair[0].0 == EmailKind::TicketInactivityWarning;
            let next_timed = pair[1].0 == EmailKind::TicketInactivityWarning
                || (pair[1].0 == EmailKind::TicketClosed && pair[1].2.contains("keine Antwort"));
            if warned && next_timed {
                assert!(
                    pair[1].1 - pair[0].1 >= Duration::hours(48),
                    "{id}: {:?}",
                    kinds(&customer)
                );
            }
        }
    }
    let distinct: BTreeSet<&String> = shop.tickets.iter().collect();
    assert_eq!(distinct.len(), shop.tickets.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    // R-T1–R-T9, R-R3, R-R4, R-N1 (issue 16, "done when")
    #[test]
    fn every_ticket_history_ends_true(
        subscription in proptest::bool::ANY,
        restricted in proptest::bool::weighted(0.25),
        steps in proptest::collection::vec(step(), 1..10),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check_history(subscription, restricted, steps));
    }
}
