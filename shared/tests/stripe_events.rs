//! Provider events as Stripe really sends them (issue 14): each payment counted once whichever
//! events name it, events that come before what they refer to applied when it appears, disputes
//! found by their charge, every decline an attempt — on both store adapters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Utc};
use common::call;
use common::stripe_shapes::*;
use http::Method;
use sellerdesk::domain::clock::Clock;
use sellerdesk::store::ItemStore;
use serde_json::{Value, json};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// 2026-11-24T09:00:00Z and a month later: the first period of a monthly plan made then.
const PERIOD_1: (i64, i64) = (1_795_510_800, 1_798_189_200);
const PERIOD_2: (i64, i64) = (1_798_189_200, 1_800_867_600);

struct Shop {
    app: sellerdesk::app::App,
    clock: Arc<sellerdesk::domain::clock::SettableClock>,
    store: Arc<dyn ItemStore>,
    vendor: Value,
    order_id: String,
    /// The checkout's answer: the customer link goes to the customer, never to the vendor.
    customer_link: Value,
}

impl Shop {
    /// A vendor's 10.00 EUR net offer on `plan` and a German customer's unpaid order (11.90).
    async fn new(store: Arc<dyn ItemStore>, plan: Value) -> Shop {
        let (app, clock) = common::app_at(Arc::clone(&store), at("2026-11-24T09:00:00Z"));
        let (vendor, order) = common::vendor_with_order(&app, plan).await;
        Shop {
            app,
            clock,
            store,
            vendor,
            order_id: order["order_id"].as_str().unwrap().to_string(),
            customer_link: order["customer_link"].clone(),
        }
    }

    async fn one_time(store: Arc<dyn ItemStore>) -> Shop {
        Shop::new(store, json!({"kind": "one_time"})).await
    }

    async fn monthly(store: Arc<dyn ItemStore>) -> Shop {
        Shop::new(store, json!({"kind": "subscription", "interval": "month"})).await
    }

    fn key(&self) -> &str {
        self.vendor["api_key"].as_str().unwrap()
    }

    /// Delivers `event`, expecting 200 (Stripe stops retrying on any 2xx).
    async fn deliver(&self, event: &Value) {
        let status = common::deliver_stripe(&self.app, &self.vendor, self.clock.now(), event).await;
        assert_eq!(status, 200, "{}", event["type"]);
    }

    async fn order(&self) -> Value {
        let path = format!("/api/orders/{}", self.order_id);
        let (status, order) =
            call(&self.app, Method::GET, &path, Some(self.key()), Value::Null).await;
        assert_eq!(status, 200, "{order}");
        order
    }

    async fn transactions(&self) -> Vec<Value> {
        let path = format!("/api/orders/{}/transactions", self.order_id);
        let (status, page) =
            call(&self.app, Method::GET, &path, Some(self.key()), Value::Null).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().cloned().unwrap_or_default()
    }

    async fn balance(&self) -> Value {
        let (_, balance) = call(
            &self.app,
            Method::GET,
            "/api/balance",
            Some(self.key()),
            Value::Null,
        )
        .await;
        balance["balances"][0].clone()
    }

    /// What the vendor's balance holds in all, pending and available (R-V2).
    async fn credited(&self) -> String {
        let balance = self.balance().await;
        let part = |name: &str| -> rust_decimal::Decimal {
            balance[name].as_str().unwrap_or("0").parse().unwrap()
        };
        format!("{:.2}", part("pending") + part("available"))
    }

    /// The card fingerprints recorded on the order's customer (R-C6).
    async fn fingerprints(&self) -> Vec<String> {
        let order = self.order().await;
        let vendor =
            sellerdesk::domain::ids::VendorId::parse(self.vendor["vendor_id"].as_str().unwrap())
                .unwrap();
        let customer =
            sellerdesk::domain::ids::CustomerId::parse(order["customer"]["id"].as_str().unwrap())
                .unwrap();
        let item = self
            .store
            .get(&sellerdesk::store::keys::customer_key(&vendor, &customer))
            .await
            .unwrap()
            .unwrap();
        item.body["fingerprints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    }

    /// A monthly plan's first period paid in Stripe's usual order (see [`first_period`]).
    async fn first_period_paid(&self) {
        for event in first_period(&self.order_id) {
            self.deliver(&event).await;
        }
    }
}

/// A monthly plan's first period as Stripe reports it, in its usual order: charge, invoice,
/// session, payment intent (card 1).
fn first_period(order_id: &str) -> [Value; 4] {
    [
        charge_succeeded("ch_1", "pi_1", Some("in_1"), 1190, "fp_card_1", json!({})),
        invoice_paid(
            order_id,
            "in_1",
            "sub_1",
            "pi_1",
            "ch_1",
            1190,
            PERIOD_1,
            "subscription_create",
        ),
        session_subscription(order_id, "cs_1", "sub_1", "in_1", 1190),
        intent_succeeded("pi_1", "ch_1", Some("in_1"), 1190, json!({})),
    ]
}

/// The second period's renewal charged to the card `fingerprint`: its charge, invoice and
/// payment intent, none naming the order but the invoice.
fn renewal(order_id: &str, fingerprint: &str) -> [Value; 3] {
    [
        charge_succeeded("ch_2", "pi_2", Some("in_2"), 1190, fingerprint, json!({})),
        invoice_paid(
            order_id,
            "in_2",
            "sub_1",
            "pi_2",
            "ch_2",
            1190,
            PERIOD_2,
            "subscription_cycle",
        ),
        intent_succeeded("pi_2", "ch_2", Some("in_2"), 1190, json!({})),
    ]
}

async fn each_store(scenario: impl AsyncFn(Arc<dyn ItemStore>)) {
    scenario(common::embedded()).await;
    if let Some(dynamodb) = common::dynamodb().await {
        scenario(dynamodb).await;
    }
}

// R-P1, R-V2 (issue 14, defect 1): an invoice, its payment intent and its charge are one
// payment, whichever of their events comes first
#[tokio::test]
async fn one_subscription_payment_counts_once_whichever_events_name_it() {
    each_store(async |store| {
        // given a monthly plan whose first period is paid
        let shop = Shop::monthly(store).await;
        shop.first_period_paid().await;
        // when the renewal is reported by its intent first, then its invoice and charge, then
        // its intent again
        let [charge, invoice, intent] = renewal(&shop.order_id, "fp_card_1");
        shop.clock.freeze(at("2026-12-24T09:05:00Z"));
        for event in [&intent, &invoice, &charge, &intent] {
            shop.deliver(event).await;
        }
        // then two periods are paid, each once, and the vendor is credited twice
        let order = shop.order().await;
        assert_eq!(order["paid"]["amount"], "23.80", "{order}");
        let payments: Vec<_> = shop
            .transactions()
            .await
            .into_iter()
            .filter(|t| t["kind"] == "payment")
            .collect();
        assert_eq!(payments.len(), 2, "{payments:?}");
        assert_eq!(order["schedule"][0]["status"], "paid");
        assert_eq!(order["schedule"][1]["status"], "paid");
        assert_eq!(order["schedule"][2]["status"], "scheduled");
        assert_eq!(shop.credited().await, "20.00");
    })
    .await;
}

// R-P1 (issue 14, defect 2): a refund made in Stripe's dashboard that arrives before the checkout
// event is applied when the payment arrives, not lost
#[tokio::test]
async fn a_dashboard_refund_before_the_checkout_event_is_applied_when_the_payment_arrives() {
    each_store(async |store| {
        // given an unpaid one-time order
        let shop = Shop::one_time(store).await;
        // when the dashboard refund of its charge comes first (the charge carries the intent's
        // metadata), then the checkout event
        let refunded = charge_refunded(
            "evt_refunded",
            "ch_1",
            "pi_1",
            1190,
            1190,
            ours(&shop.order_id),
        );
        let paid = session_payment(&shop.order_id, "cs_1", "pi_1", 1190);
        shop.deliver(&refunded).await;
        shop.deliver(&paid).await;
        // then the order is paid and refunded, its access off, and the vendor's credit taken back
        let order = shop.order().await;
        assert_eq!(order["paid"]["amount"], "11.90", "{order}");
        assert_eq!(order["refunded"]["amount"], "11.90", "{order}");
        assert_eq!(order["status"], "refunded");
        assert_eq!(order["lines"][0]["access"]["active"], false);
        assert_eq!(shop.credited().await, "0.00");
        // and a redelivery of either changes nothing
        shop.deliver(&refunded).await;
        shop.deliver(&paid).await;
        assert_eq!(shop.order().await["refunded"]["amount"], "11.90");
    })
    .await;
}

// R-P1, R-C6 (issue 14, defect 2): a renewal's charge arrives before its invoice (Stripe's usual
// order) and names no order: its card fingerprint still reaches the customer
#[tokio::test]
async fn a_renewal_charge_before_its_invoice_keeps_its_fingerprint() {
    each_store(async |store| {
        // given a monthly plan whose first period is paid with card 1
        let shop = Shop::monthly(store).await;
        shop.first_period_paid().await;
        // when the renewal is charged to card 2 and its charge comes before the invoice
        let [charge, invoice, _] = renewal(&shop.order_id, "fp_card_2");
        shop.clock.freeze(at("2026-12-24T09:05:00Z"));
        shop.deliver(&charge).await;
        shop.deliver(&invoice).await;
        // then both cards are the customer's
        assert_eq!(shop.fingerprints().await, vec!["fp_card_1", "fp_card_2"]);
    })
    .await;
}

// R-P1 (issue 14, defect 3): a dispute names only its charge and payment intent; it finds a
// subscription's renewal by the charge, even when it comes before the renewal's invoice
#[tokio::test]
async fn a_dispute_on_a_renewal_finds_the_order_by_its_charge() {
    each_store(async |store| {
        // given a monthly plan with two paid periods, the second's charge seen before its invoice
        let shop = Shop::monthly(store).await;
        shop.first_period_paid().await;
        shop.clock.freeze(at("2026-12-24T09:05:00Z"));
        // when the renewal's dispute arrives before anything else of it
        let [charge, invoice, _] = renewal(&shop.order_id, "fp_card_1");
        shop.deliver(&dispute_created("dp_2", "ch_2", "pi_2", 1190))
            .await;
        shop.deliver(&charge).await;
        shop.deliver(&invoice).await;
        // then the order is disputed and the renewal's net debited
        let order = shop.order().await;
        assert_eq!(order["status"], "disputed", "{order}");
        assert_eq!(shop.credited().await, "10.00");
        // and a dispute of the first period's charge finds the order too
        shop.deliver(&dispute_created("dp_1", "ch_1", "pi_1", 1190))
            .await;
        assert_eq!(shop.credited().await, "0.00");
    })
    .await;
}

// R-P2, seed 002 (issue 14, defect 8): checkout keeps one payment intent across card retries;
// each declined charge is an attempt of its own, and one decline reported twice counts once
#[tokio::test]
async fn each_declined_charge_of_one_intent_is_an_attempt() {
    // given an unpaid one-time order
    let shop = Shop::one_time(common::embedded()).await;
    // when three cards are declined on its one payment intent, the last decline delivered twice
    for (evt, ch) in [
        ("evt_f1", "ch_a"),
        ("evt_f2", "ch_b"),
        ("evt_f3", "ch_c"),
        ("evt_f3", "ch_c"),
    ] {
        shop.deliver(&intent_failed(evt, "pi_1", ch, ours(&shop.order_id)))
            .await;
    }
    // and a fourth attempt fails 3-D Secure, making no charge (its intent's latest is ch_c)
    let mut unauthenticated = intent_failed("evt_f4", "pi_1", "ch_c", ours(&shop.order_id));
    unauthenticated["data"]["object"]["last_payment_error"] = json!({"type": "card_error",
        "code": "payment_intent_authentication_failure"});
    shop.deliver(&unauthenticated).await;
    // then four attempts are counted and the customer told four times
    let order = shop.order().await;
    assert_eq!(order["schedule"][0]["attempts"], 4, "{order}");
    let mailbox = common::dispatched(&shop.store, shop.clock.clone()).await;
    let declines = mailbox
        .emails()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == sellerdesk::domain::notifications::EmailKind::PaymentFailed)
        .count();
    assert_eq!(declines, 4);
}

// R-P2 (issue 14, defect 8): a renewal's decline is reported by its invoice and its payment
// intent; it is one attempt
#[tokio::test]
async fn a_decline_reported_by_invoice_and_intent_is_one_attempt() {
    let shop = Shop::monthly(common::embedded()).await;
    shop.first_period_paid().await;
    shop.clock.freeze(at("2026-12-24T09:05:00Z"));
    shop.deliver(&invoice_failed(
        &shop.order_id,
        "in_2",
        "sub_1",
        "pi_2",
        "ch_x",
        1,
    ))
    .await;
    shop.deliver(&intent_failed("evt_pi_2_failed", "pi_2", "ch_x", json!({})))
        .await;
    let order = shop.order().await;
    let open = order["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "due")
        .unwrap()
        .clone();
    assert_eq!(open["attempts"], 1, "{order}");
}

/// The e-mails of `kind` sent so far.
async fn mails(
    shop: &Shop,
    kind: sellerdesk::domain::notifications::EmailKind,
) -> Vec<sellerdesk::outbox::local::SentEmail> {
    let mailbox = common::dispatched(&shop.store, shop.clock.clone()).await;
    mailbox
        .emails()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

// R-O2 (issue 14, defect 6): 25.00 paid on an 11.90 order is kept — the card shows the surplus,
// it can be refunded, and the vendor is told once
#[tokio::test]
async fn money_beyond_what_was_open_is_shown_refundable_and_told() {
    // given an unpaid 11.90 order
    let shop = Shop::one_time(common::embedded()).await;
    // when 25.00 arrive for it, delivered twice
    for _ in 0..2 {
        shop.deliver(&session_payment(&shop.order_id, "cs_1", "pi_1", 2500))
            .await;
    }
    // then the order is paid with a surplus of 13.10
    let order = shop.order().await;
    assert_eq!(order["paid"]["amount"], "25.00", "{order}");
    assert_eq!(order["surplus"]["amount"], "13.10", "{order}");
    assert_eq!(order["status"], "completed");
    // and the vendor is told once, with the surplus
    let told = mails(
        &shop,
        sellerdesk::domain::notifications::EmailKind::PaymentSurplus,
    )
    .await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].to, "v@example.com");
    assert!(told[0].text.contains("13.10 EUR"), "{}", told[0].text);
    // and once the credit is available, the surplus is refunded from the card
    shop.clock.freeze(at("2026-12-02T09:00:00Z"));
    let path = format!("/api/orders/{}/refunds", shop.order_id);
    let (status, refund) = call(
        &shop.app,
        Method::POST,
        &path,
        Some(shop.key()),
        json!({"amount": {"amount": "13.10", "currency": "EUR"}, "reason": "overpaid"}),
    )
    .await;
    assert_eq!(status, 201, "{refund}");
}

// R-O2 (issue 14, defects 6 and 7): a superseded order owes nothing — not open, not overdue,
// not listed as overdue — and money that still comes for it revives it and is told
#[tokio::test]
async fn a_superseded_order_owes_nothing_until_it_is_paid_after_all() {
    // given an order superseded by the customer's second checkout of the offer
    let shop = Shop::one_time(common::embedded()).await;
    let token = common::token_of(&shop.customer_link);
    let customer =
        json!({"email": "c@example.com", "first_name": "C", "last_name": "D", "country": "DE"});
    let (_, orders) = call(
        &shop.app,
        Method::GET,
        "/api/offers",
        Some(shop.key()),
        Value::Null,
    )
    .await;
    let offer = orders["items"][0]["id"].clone();
    let (status, newer) = call(
        &shop.app,
        Method::POST,
        "/checkout",
        None,
        json!({"offer_id": offer, "customer": customer, "previous_order": token}),
    )
    .await;
    assert_eq!(status, 201, "{newer}");
    assert_eq!(shop.order().await["status"], "superseded");
    // when days pass
    shop.clock.freeze(at("2026-11-30T09:00:00Z"));
    // then it owes nothing and no overdue list shows it
    let order = shop.order().await;
    assert_eq!(order["open"]["amount"], "0.00", "{order}");
    assert_eq!(order["overdue"]["amount"], "0.00");
    let mut listing = common::request(Method::GET, "/api/orders", Some(shop.key()), Vec::new());
    listing.query = Some("payment_status=overdue".into());
    let overdue: Value =
        serde_json::from_slice(&shop.app.handle(&listing, |_| true).await.body).unwrap();
    let listed: Vec<_> = overdue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert!(!listed.contains(&json!(shop.order_id)), "{overdue}");
    let (_, page) = call(
        &shop.app,
        Method::GET,
        &format!("/portal/orders/{token}"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(page["overdue"]["amount"], "0.00", "{page}");
    // when it is paid after all
    shop.deliver(&session_payment(&shop.order_id, "cs_old", "pi_old", 1190))
        .await;
    // then it is active again and the vendor told
    assert_eq!(shop.order().await["status"], "completed");
    let told = mails(
        &shop,
        sellerdesk::domain::notifications::EmailKind::PaymentSurplus,
    )
    .await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].subject.contains("SD-000001"), "{}", told[0].subject);
    assert!(
        told[0].text.contains("11.90 EUR") && told[0].text.contains("ersetzt"),
        "{}",
        told[0].text
    );
}

// R-O2, R-N1 (issue 14, defect 5): money in another currency than the order's is recorded on
// the order, credited in its currency and told — never dropped, never paying the order
#[tokio::test]
async fn money_in_another_currency_is_recorded_credited_and_told() {
    each_store(async |store| {
        // given an unpaid EUR order
        let shop = Shop::one_time(store).await;
        // when 15.00 USD arrive for it, delivered twice
        let mut usd = session_payment(&shop.order_id, "cs_1", "pi_1", 1500);
        usd["data"]["object"]["currency"] = json!("usd");
        shop.deliver(&usd).await;
        shop.deliver(&usd).await;
        // then the order is not paid but shows the money
        let order = shop.order().await;
        assert_eq!(order["paid"]["amount"], "0.00", "{order}");
        assert_eq!(order["status"], "pending_payment");
        assert_eq!(
            order["other_currency_payments"][0]["amount"],
            json!({"amount": "15.00", "currency": "USD"})
        );
        assert_eq!(
            order["other_currency_payments"].as_array().unwrap().len(),
            1
        );
        // and the vendor is credited its net in USD (tax in the order's proportion: 2.39)
        let (_, balance) = call(
            &shop.app,
            Method::GET,
            "/api/balance",
            Some(shop.key()),
            Value::Null,
        )
        .await;
        assert_eq!(
            balance["balances"],
            json!([{"currency": "USD", "pending": "12.61", "available": "0.00"}])
        );
        // and the history says so, and the vendor is told
        let kinds: Vec<_> = shop
            .transactions()
            .await
            .iter()
            .map(|t| t["kind"].clone())
            .collect();
        assert_eq!(kinds, vec![json!("other_currency_payment")]);
        let told = mails(
            &shop,
            sellerdesk::domain::notifications::EmailKind::PaymentSurplus,
        )
        .await;
        assert_eq!(told.len(), 1);
        assert!(told[0].text.contains("15.00 USD"), "{}", told[0].text);
        // and 5.00 of it refunded at Stripe by the platform's operator is recorded once
        let mut refunded = charge_refunded("evt_usd_refund", "ch_1", "pi_1", 1500, 500, json!({}));
        refunded["data"]["object"]["currency"] = json!("usd");
        shop.deliver(&refunded).await;
        shop.deliver(&refunded).await;
        let order = shop.order().await;
        assert_eq!(
            order["other_currency_payments"][0]["refunded"]["amount"], "5.00",
            "{order}"
        );
        // and a dispute of that money debits the net of what is left (10.00) in USD, leaving
        // the order as it was: 4.20 net of the refund and 8.40 of the dispute
        let mut dispute = dispute_created("dp_1", "ch_1", "pi_1", 1500);
        dispute["data"]["object"]["currency"] = json!("usd");
        shop.deliver(&dispute).await;
        shop.deliver(&dispute).await;
        let (_, balance) = call(
            &shop.app,
            Method::GET,
            "/api/balance",
            Some(shop.key()),
            Value::Null,
        )
        .await;
        assert_eq!(
            balance["balances"],
            json!([{"currency": "USD", "pending": "12.61", "available": "-12.60"}])
        );
        assert_eq!(shop.order().await["status"], "pending_payment");
        let told = mails(
            &shop,
            sellerdesk::domain::notifications::EmailKind::DisputeOpened,
        )
        .await;
        assert_eq!(told.len(), 1);
    })
    .await;
}

// R-M1 (issue 14, defect 4): Stripe counts ISK in hundredths: 1190 ISK arrive as 119000, and
// pay the order exactly
#[tokio::test]
async fn an_isk_payment_is_counted_in_stripes_units() {
    // given an unpaid order of 1190 ISK (1000 net, German VAT)
    let store = common::embedded();
    let (app, clock) = common::app_at(Arc::clone(&store), at("2026-11-24T09:00:00Z"));
    let (vendor, order) = common::vendor_with_order_at(
        &app,
        json!({"amount": "1000", "currency": "ISK"}),
        json!({"kind": "one_time"}),
    )
    .await;
    let order_id = order["order_id"].as_str().unwrap();
    // when Stripe reports the session paid: 119000 in its units
    let mut paid = session_payment(order_id, "cs_1", "pi_1", 119_000);
    paid["data"]["object"]["currency"] = json!("isk");
    assert_eq!(
        common::deliver_stripe(&app, &vendor, clock.now(), &paid).await,
        200
    );
    // then exactly 1190 ISK are paid, nothing more
    let key = vendor["api_key"].as_str().unwrap();
    let (_, card) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        Some(key),
        Value::Null,
    )
    .await;
    assert_eq!(
        card["paid"],
        json!({"amount": "1190", "currency": "ISK"}),
        "{card}"
    );
    assert_eq!(card["surplus"]["amount"], "0");
    assert_eq!(card["status"], "completed");
    // and an amount Stripe could not send (öre) pays nothing
    let mut odd = session_payment(order_id, "cs_2", "pi_2", 119_050);
    odd["data"]["object"]["currency"] = json!("isk");
    odd["id"] = json!("evt_odd");
    assert_eq!(
        common::deliver_stripe(&app, &vendor, clock.now(), &odd).await,
        200
    );
    let (_, card) = call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        Some(key),
        Value::Null,
    )
    .await;
    assert_eq!(card["paid"]["amount"], "1190");
}

/// What an order's history must end in, whatever the order and number of deliveries: the
/// order's money and status, its schedule, the vendor's ledger, the customer's cards.
async fn outcome(shop: &Shop) -> Value {
    let order = shop.order().await;
    let schedule: Vec<_> = order["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| json!([item["amount"], item["status"]]))
        .collect();
    json!({
        "paid": order["paid"], "refunded": order["refunded"], "surplus": order["surplus"],
        "status": order["status"], "payment_status": order["payment_status"],
        "schedule": schedule, "balance": shop.balance().await,
        "fingerprints": shop.fingerprints().await,
    })
}

/// A monthly plan over two periods in Stripe's shapes: first period, renewal, a dashboard
/// refund of 5.00 of the first period's charge, a dispute of the renewal.
fn subscription_history(order_id: &str) -> Vec<Value> {
    let mut history: Vec<Value> = first_period(order_id).into();
    history.extend(renewal(order_id, "fp_card_2"));
    history.extend([
        charge_refunded("evt_refund_1", "ch_1", "pi_1", 1190, 500, json!({})),
        dispute_created("dp_2", "ch_2", "pi_2", 1190),
    ]);
    history
}

/// A one-time order in Stripe's shapes: paid, then refunded at Stripe in two steps.
fn one_time_history(order_id: &str) -> Vec<Value> {
    vec![
        charge_succeeded("ch_1", "pi_1", None, 1190, "fp_card_1", ours(order_id)),
        session_payment(order_id, "cs_1", "pi_1", 1190),
        intent_succeeded("pi_1", "ch_1", None, 1190, ours(order_id)),
        charge_refunded("evt_refund_1", "ch_1", "pi_1", 1190, 300, ours(order_id)),
        charge_refunded("evt_refund_2", "ch_1", "pi_1", 1190, 1190, ours(order_id)),
    ]
}

/// Delivers `deliveries` (indexes into the history) to a fresh shop of `plan`: its outcome.
async fn delivered(plan: Value, history: fn(&str) -> Vec<Value>, deliveries: &[usize]) -> Value {
    let shop = Shop::new(common::embedded(), plan).await;
    shop.clock.freeze(at("2026-12-24T09:05:00Z"));
    let events = history(&shop.order_id);
    for &index in deliveries {
        shop.deliver(&events[index]).await;
    }
    outcome(&shop).await
}

/// Each event of a history of `len` delivered 1 to 3 times, in any order.
fn deliveries(len: usize) -> impl proptest::strategy::Strategy<Value = Vec<usize>> {
    use proptest::prelude::*;
    proptest::collection::vec(1..=3usize, len).prop_flat_map(|copies| {
        let all: Vec<usize> = copies
            .iter()
            .enumerate()
            .flat_map(|(index, &n)| std::iter::repeat_n(index, n))
            .collect();
        Just(all).prop_shuffle()
    })
}

// R-P1 (issue 14): over Stripe's histories, each event delivered 1–3 times in any order, the
// order's money, status and schedule and the vendor's ledger end as the in-order single
// delivery ends
#[test]
fn any_delivery_of_a_stripe_history_ends_as_the_in_order_one() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (plan, history) in [
        (
            json!({"kind": "subscription", "interval": "month"}),
            subscription_history as fn(&str) -> Vec<Value>,
        ),
        (
            json!({"kind": "one_time"}),
            one_time_history as fn(&str) -> Vec<Value>,
        ),
    ] {
        let len = history("ord_x").len();
        let in_order: Vec<usize> = (0..len).collect();
        let expected = runtime.block_on(delivered(plan.clone(), history, &in_order));
        let config = ProptestConfig {
            cases: 40,
            ..ProptestConfig::default()
        };
        proptest!(config, |(order in deliveries(len))| {
            let got = runtime.block_on(delivered(plan.clone(), history, &order));
            prop_assert_eq!(&got, &expected, "deliveries {:?}", order);
        });
    }
}

// R-O10, R-P1: a dispute decided before its opening arrived ends on the payment it disputed —
// lost, that payment counts as refunded, as when the events come in order
#[tokio::test]
async fn an_early_lost_dispute_refunds_the_payment_it_disputed() {
    // given two paid instalments, each its own payment intent
    let shop = Shop::new(
        common::embedded(),
        json!({"kind": "installments", "count": 2, "interval": "month"}),
    )
    .await;
    shop.deliver(&session_payment(&shop.order_id, "cs_1", "pi_1", 595))
        .await;
    shop.deliver(&charge_succeeded(
        "ch_1",
        "pi_1",
        None,
        595,
        "fp_card_1",
        ours(&shop.order_id),
    ))
    .await;
    shop.deliver(&intent_succeeded(
        "pi_2",
        "ch_2",
        None,
        595,
        ours(&shop.order_id),
    ))
    .await;
    // when the first instalment's dispute is lost, the decision arriving before the opening
    shop.deliver(&dispute_closed("dp_1", "ch_1", "pi_1", 595, "lost"))
        .await;
    shop.deliver(&dispute_created("dp_1", "ch_1", "pi_1", 595))
        .await;
    // then the first payment is the refunded one, the second untouched
    let vendor =
        sellerdesk::domain::ids::VendorId::parse(shop.vendor["vendor_id"].as_str().unwrap())
            .unwrap();
    let order = sellerdesk::domain::ids::OrderId::parse(&shop.order_id).unwrap();
    let item = shop
        .store
        .get(&sellerdesk::store::keys::order_key(&vendor, &order))
        .await
        .unwrap()
        .unwrap();
    let refunded: Vec<(String, String)> = item.body["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap().to_string(),
                p["refunded"]["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        refunded,
        vec![
            ("pi_1".to_string(), "5.95".to_string()),
            ("pi_2".to_string(), "0.00".to_string())
        ]
    );
}

// R-P1: an early event that still waits when its order is placed — a dispute found before the
// money it disputes — is applied once that money, parked too, is applied in the same pass
#[tokio::test]
async fn a_parked_dispute_waits_for_the_parked_payment_it_disputes() {
    // given a dispute and the payment it disputes, both before anything names the order
    let shop = Shop::one_time(common::embedded()).await;
    shop.deliver(&dispute_created("dp_1", "ch_1", "pi_1", 1190))
        .await;
    shop.deliver(&intent_succeeded("pi_1", "ch_1", None, 1190, json!({})))
        .await;
    assert_eq!(shop.order().await["status"], "pending_payment");
    // when the charge names the order
    shop.deliver(&charge_succeeded(
        "ch_1",
        "pi_1",
        None,
        1190,
        "fp_card_1",
        ours(&shop.order_id),
    ))
    .await;
    // then the money and then the dispute are applied
    let order = shop.order().await;
    assert_eq!(
        (order["paid"]["amount"].as_str(), order["status"].as_str()),
        (Some("11.90"), Some("disputed")),
        "{order}"
    );
    assert_eq!(shop.credited().await, "0.00");
}

// R-R5 (issue 14, review): a charge's total made before one of our refunds failed still counts
// that refund; delivered after the failure, it is no dashboard refund — the money never left
#[tokio::test]
async fn a_total_older_than_a_refunds_failure_is_no_dashboard_refund() {
    for failure_first in [false, true] {
        // given a paid order and our refund of all of it, pending at Stripe
        let shop = Shop::one_time(common::embedded()).await;
        shop.deliver(&session_payment(&shop.order_id, "cs_1", "pi_1", 1190))
            .await;
        shop.clock.freeze(at("2026-12-02T09:00:00Z"));
        let path = format!("/api/orders/{}/refunds", shop.order_id);
        let (status, refund) = call(
            &shop.app,
            Method::POST,
            &path,
            Some(shop.key()),
            json!({"reason": "Kulanz"}),
        )
        .await;
        assert_eq!(status, 201, "{refund}");
        // when Stripe's total (counting it) and then its failure are delivered, in either order
        let mut total = charge_refunded(
            "evt_total",
            "ch_1",
            "pi_1",
            1190,
            1190,
            ours(&shop.order_id),
        );
        total["created"] = json!(1_796_202_000);
        let failure = json!({"id": "evt_failed", "object": "event", "type": "charge.refund.updated",
            "created": 1_796_202_060, "data": {"object": {"id": "re_1", "object": "refund",
            "amount": 1190, "currency": "eur", "charge": "ch_1", "payment_intent": "pi_1",
            "status": "failed", "metadata": {"order_id": shop.order_id, "refund_id": refund["id"], "refund_part": "0"}}}});
        let order: [&Value; 2] = if failure_first {
            [&failure, &total]
        } else {
            [&total, &failure]
        };
        for event in order {
            shop.deliver(event).await;
        }
        // then nothing is refunded and the vendor keeps its credit
        let card = shop.order().await;
        assert_eq!(
            card["refunded"]["amount"], "0.00",
            "failure first: {failure_first}: {card}"
        );
        assert_eq!(
            shop.credited().await,
            "10.00",
            "failure first: {failure_first}"
        );
    }
}

/// Delivers `events` to a fresh one-time shop in the given order and reversed: both outcomes.
async fn both_ways(events: fn(&str) -> Vec<Value>) -> (Value, Value) {
    let mut outcomes = Vec::new();
    for reversed in [false, true] {
        let shop = Shop::one_time(common::embedded()).await;
        let mut history = events(&shop.order_id);
        let first = history.remove(0);
        shop.deliver(&first).await;
        if reversed {
            history.reverse();
        }
        for event in &history {
            shop.deliver(event).await;
        }
        outcomes.push(outcome(&shop).await);
    }
    let reversed = outcomes.pop().unwrap();
    (outcomes.pop().unwrap(), reversed)
}

// R-P1, R-O10 (review of issue 14): a refund made at Stripe before the customer's bank disputed
// the charge takes the money once, whichever of their events comes first
#[tokio::test]
async fn a_refund_and_a_later_dispute_take_the_money_once_in_any_order() {
    fn history(order_id: &str) -> Vec<Value> {
        vec![
            session_payment(order_id, "cs_1", "pi_1", 1190),
            charge_refunded("evt_refund", "ch_1", "pi_1", 1190, 500, ours(order_id)),
            dispute_created("dp_1", "ch_1", "pi_1", 1190),
        ]
    }
    let (in_order, reversed) = both_ways(history).await;
    assert_eq!(in_order["balance"]["available"], "-10.00", "{in_order}");
    assert_eq!(reversed, in_order);
}

// R-P1, R-O10 (review of issue 14): a dashboard refund delivered after a dispute of the rest was
// lost is recorded as when it came first
#[tokio::test]
async fn a_refund_delivered_after_a_lost_dispute_is_recorded() {
    fn history(order_id: &str) -> Vec<Value> {
        vec![
            session_payment(order_id, "cs_1", "pi_1", 1190),
            charge_refunded("evt_refund", "ch_1", "pi_1", 1190, 500, ours(order_id)),
            dispute_created("dp_1", "ch_1", "pi_1", 690),
            dispute_closed("dp_1", "ch_1", "pi_1", 690, "lost"),
        ]
    }
    let (in_order, reversed) = both_ways(history).await;
    assert_eq!(in_order["refunded"]["amount"], "11.90", "{in_order}");
    assert_eq!(reversed, in_order);
}

// R-P1, R-M1 (review of issue 14): amounts Stripe never sends — a dispute of nothing or less,
// more than eight digits — change nothing
#[tokio::test]
async fn amounts_stripe_never_sends_change_nothing() {
    let shop = Shop::one_time(common::embedded()).await;
    shop.deliver(&session_payment(&shop.order_id, "cs_1", "pi_1", 1190))
        .await;
    let before = outcome(&shop).await;
    shop.deliver(&dispute_created("dp_0", "ch_1", "pi_1", 0))
        .await;
    shop.deliver(&dispute_created("dp_neg", "ch_1", "pi_1", -1190))
        .await;
    shop.deliver(&session_payment(&shop.order_id, "cs_2", "pi_2", i64::MAX))
        .await;
    shop.deliver(&charge_refunded(
        "evt_huge",
        "ch_1",
        "pi_1",
        1190,
        100_000_000,
        ours(&shop.order_id),
    ))
    .await;
    assert_eq!(outcome(&shop).await, before);
}

// R-P2, R-P1 (review of issue 14): a decline reported after its renewal went through counts on
// that renewal, as in order — not on the next period — and no "payment failed" follows the receipt
#[tokio::test]
async fn a_decline_reported_after_its_payment_counts_on_that_payment() {
    let mut attempts = Vec::new();
    for declines_first in [true, false] {
        // given a monthly plan whose first period is paid
        let shop = Shop::monthly(common::embedded()).await;
        shop.first_period_paid().await;
        shop.clock.freeze(at("2026-12-24T09:05:00Z"));
        // when the renewal is declined once, then goes through, its events in either order
        let [charge, invoice, intent] = renewal(&shop.order_id, "fp_card_1");
        let declines = [
            invoice_failed(&shop.order_id, "in_2", "sub_1", "pi_2", "ch_x", 1),
            intent_failed("evt_pi_2_failed", "pi_2", "ch_x", json!({})),
        ];
        let success = [charge, invoice, intent];
        let (first, second) = if declines_first {
            (&declines[..], &success[..])
        } else {
            (&success[..], &declines[..])
        };
        for event in first.iter().chain(second) {
            shop.deliver(event).await;
        }
        let order = shop.order().await;
        attempts.push((
            order["schedule"][1]["attempts"].clone(),
            order["schedule"][2]["attempts"].clone(),
        ));
        if !declines_first {
            let told = mails(
                &shop,
                sellerdesk::domain::notifications::EmailKind::PaymentFailed,
            )
            .await;
            assert!(
                told.is_empty(),
                "no decline notice after the receipt: {told:?}"
            );
        }
    }
    // then the renewal has its one attempt either way, and the next period none
    assert_eq!(attempts, vec![(json!(1), json!(0)), (json!(1), json!(0))]);
}
