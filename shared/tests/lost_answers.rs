//! A committed write whose answer is lost is never applied again (issue 11, §1 and §2), on both
//! store adapters: the `Idempotency-Key` claim moves to `committed` in the same transaction as
//! the effect, so neither the use case's own retry nor the client's retry with the same key can
//! decide again; a claim whose request died before committing is taken over by a later retry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::Method;
use sellerdesk::app::App;
use sellerdesk::app::idempotency;
use sellerdesk::domain::clock::{Clock, SettableClock};
use sellerdesk::store::{Condition, Item, ItemStore, Key, Page, Query, StoreError, Write};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// How the next committed write's answer is lost.
const KEEP_ANSWERS: u8 = 0;
/// As a timeout or a reset connection after the commit: an error the use case does not retry.
const LOSE_AS_FAILURE: u8 = 1;
/// As an SDK retry of a committed call that fails its own conditions: contention, which the
/// use case retries by deciding again.
const LOSE_AS_CONTENTION: u8 = 2;

/// A store that commits each write, and loses the answer of the next one when armed.
struct LosesAnswers {
    inner: Arc<dyn ItemStore>,
    armed: AtomicU8,
}

impl LosesAnswers {
    fn arm(&self, how: u8) {
        self.armed.store(how, Ordering::SeqCst);
    }

    fn answer(&self, result: Result<(), StoreError>) -> Result<(), StoreError> {
        result?;
        match self.armed.swap(KEEP_ANSWERS, Ordering::SeqCst) {
            LOSE_AS_FAILURE => Err(StoreError::backend(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the connection closed after the commit",
            ))),
            LOSE_AS_CONTENTION => Err(StoreError::ConditionFailed {
                index: 0,
                key: Key::new("lost", "answer"),
            }),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl ItemStore for LosesAnswers {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.get_many(keys).await
    }

    // The claim's own records are kept out: the answer lost is the effect's.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let claim = item.key.pk.starts_with("IDEMPOTENCY#");
        let result = self.inner.put(item, condition).await;
        if claim { result } else { self.answer(result) }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let result = self.inner.delete(key, condition).await;
        if key.pk.starts_with("IDEMPOTENCY#") {
            result
        } else {
            self.answer(result)
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let result = self.inner.transact(writes).await;
        self.answer(result)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.inner.put_batch(items).await
    }

    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError> {
        self.inner.add(key, delta).await
    }

    async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        self.inner.counter(key).await
    }
}

struct World {
    app: App,
    clock: Arc<SettableClock>,
    store: Arc<LosesAnswers>,
    vendor_key: String,
    vendor_id: String,
    order_id: String,
    offer_id: String,
}

/// Given a vendor with one unpaid 11.90 EUR order, over `store` whose answers can be lost.
async fn world(store: Arc<dyn ItemStore>) -> World {
    let store = Arc::new(LosesAnswers {
        inner: store,
        armed: AtomicU8::new(KEEP_ANSWERS),
    });
    let (app, clock) = common::app_at(
        Arc::clone(&store) as Arc<dyn ItemStore>,
        at("2026-12-01T09:00:00Z"),
    );
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let vendor_key = vendor["api_key"].as_str().unwrap().to_string();
    let vendor_id = vendor["vendor_id"].as_str().unwrap().to_string();
    let order_id = order["order_id"].as_str().unwrap().to_string();
    let (_, card) = common::call(
        &app,
        Method::GET,
        &format!("/api/orders/{order_id}"),
        Some(&vendor_key),
        Value::Null,
    )
    .await;
    let offer_id = card["offer"]["id"].as_str().unwrap_or_default().to_string();
    World {
        app,
        clock,
        store,
        vendor_key,
        vendor_id,
        order_id,
        offer_id,
    }
}

impl World {
    async fn post(&self, path: &str, key: &str, body: &Value, bearer: bool) -> (u16, Value) {
        let mut request = common::request(
            Method::POST,
            path,
            bearer.then_some(self.vendor_key.as_str()),
            body.to_string().into_bytes(),
        );
        request
            .headers
            .insert("idempotency-key", key.parse().unwrap());
        let answer = self.app.handle(&request, |_| true).await;
        let json = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        (answer.status.as_u16(), json)
    }

    async fn pay(&self, key: &str) -> (u16, Value) {
        self.pay_amount(key, "5.00").await
    }

    async fn pay_amount(&self, key: &str, amount: &str) -> (u16, Value) {
        let body =
            json!({"amount": {"amount": amount, "currency": "EUR"}, "method": "bank_transfer"});
        let path = format!("/api/orders/{}/payments", self.order_id);
        self.post(&path, key, &body, true).await
    }

    async fn paid(&self) -> Value {
        let (_, card) = common::call(
            &self.app,
            Method::GET,
            &format!("/api/orders/{}", self.order_id),
            Some(&self.vendor_key),
            Value::Null,
        )
        .await;
        card["paid"]["amount"].clone()
    }

    async fn orders(&self) -> Value {
        let (_, list) = common::call(
            &self.app,
            Method::GET,
            "/api/orders",
            Some(&self.vendor_key),
            Value::Null,
        )
        .await;
        list["total"].clone()
    }
}

fn error_code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or(""))
}

mod cases {
    use super::*;

    pub async fn a_payment_whose_commit_answer_was_lost_is_applied_once(store: Arc<dyn ItemStore>) {
        let w = world(store).await;
        // when the manual payment's commit loses its answer (a reset connection)
        w.store.arm(LOSE_AS_FAILURE);
        let first = w.pay("pay-1").await;
        // then the caller sees a server error, and the payment is applied
        assert_eq!(first.0, 500, "{}", first.1);
        assert_eq!(w.paid().await, "5.00");
        // and the client's retry with the same key applies nothing again and says why, at once
        let retry = w.pay("pay-1").await;
        assert_eq!(error_code(&retry), (409, "idempotency_key_committed"));
        assert_eq!(w.paid().await, "5.00");
        // also once no request can still be running
        w.clock.advance(idempotency::IN_FLIGHT_AT_MOST);
        let later = w.pay("pay-1").await;
        assert_eq!(error_code(&later), (409, "idempotency_key_committed"));
        assert_eq!(w.paid().await, "5.00");
        // while another key pays again
        assert_eq!(w.pay("pay-2").await.0, 201);
        assert_eq!(w.paid().await, "10.00");
    }

    // Issue 13, defect 9: a refund whose commit answer was lost refunds once.
    pub async fn a_refund_whose_commit_answer_was_lost_refunds_once(store: Arc<dyn ItemStore>) {
        let w = world(store).await;
        assert_eq!(w.pay_amount("pay-all", "11.90").await.0, 201);
        let w = &w;
        let path = format!("/api/orders/{}/refunds", w.order_id);
        let body = json!({"amount": {"amount": "5.00", "currency": "EUR"}, "reason": "Kulanz"});
        let refund = |key: &'static str| w.post(&path, key, &body, true);
        let refunded = || async {
            let (_, card) = common::call(
                &w.app,
                Method::GET,
                &format!("/api/orders/{}", w.order_id),
                Some(&w.vendor_key),
                Value::Null,
            )
            .await;
            card["refunded"]["amount"].clone()
        };
        // when the refund's commit loses its answer
        w.store.arm(LOSE_AS_FAILURE);
        let first = refund("refund-1").await;
        assert_eq!(first.0, 500, "{}", first.1);
        assert_eq!(refunded().await, "5.00");
        // then the retry refunds nothing again and says why
        let retry = refund("refund-1").await;
        assert_eq!(error_code(&retry), (409, "idempotency_key_committed"));
        assert_eq!(refunded().await, "5.00");
        // while another key refunds again
        assert_eq!(refund("refund-2").await.0, 201);
        assert_eq!(refunded().await, "10.00");
    }

    pub async fn a_use_case_retry_after_a_lost_answer_decides_nothing_again(
        store: Arc<dyn ItemStore>,
    ) {
        let w = world(store).await;
        // when the payment commits but the store answers as if its conditions had failed (an
        // SDK retry of the committed call), so the use case takes it for contention and retries
        w.store.arm(LOSE_AS_CONTENTION);
        let first = w.pay("pay-1").await;
        // then its retry fails on the committed mark instead of paying a second time
        assert_eq!(error_code(&first), (409, "idempotency_key_committed"));
        assert_eq!(w.paid().await, "5.00");
        // and when the lost commit paid everything open, the answer is not "nothing open": the
        // backend names the use case's failed condition, and the claim says it was this request
        w.store.arm(LOSE_AS_CONTENTION);
        let rest = w.pay_amount("pay-2", "6.90").await;
        assert_eq!(
            error_code(&rest),
            (409, "idempotency_key_committed"),
            "{rest:?}"
        );
        assert_eq!(w.paid().await, "11.90");
    }

    pub async fn a_checkout_whose_commit_answer_was_lost_writes_one_order(
        store: Arc<dyn ItemStore>,
    ) {
        let w = world(store).await;
        assert_eq!(w.orders().await, 1);
        let body = json!({"offer_id": w.offer_id, "customer": {"email": "e@example.com", "first_name": "E", "last_name": "F", "country": "DE"}});
        // when a checkout's commit loses its answer, both ways, and the client retries
        for (how, key) in [
            (LOSE_AS_FAILURE, "3f0c9d2e-1b4a-4c8e-9f7d-5a6b2c1d0e91"),
            (LOSE_AS_CONTENTION, "3f0c9d2e-1b4a-4c8e-9f7d-5a6b2c1d0e92"),
        ] {
            w.store.arm(how);
            let first = w.post("/checkout", key, &body, false).await;
            assert!(first.0 == 500 || first.0 == 409, "{first:?}");
            let retry = w.post("/checkout", key, &body, false).await;
            assert_eq!(error_code(&retry), (409, "idempotency_key_committed"));
        }
        // then each checkout wrote one order
        assert_eq!(w.orders().await, 3);
    }

    pub async fn a_key_past_its_keeping_time_is_a_new_key(store: Arc<dyn ItemStore>) {
        let w = world(store).await;
        assert_eq!(w.pay("pay-1").await.0, 201);
        assert_eq!(w.pay("pay-1").await.0, 201);
        assert_eq!(w.paid().await, "5.00");
        // when the key comes again after its 24 hours, before the table's TTL removed it
        w.clock.advance(chrono::Duration::hours(24));
        assert_eq!(w.pay("pay-1").await.0, 201);
        // then it is a new request
        assert_eq!(w.paid().await, "10.00");
    }

    pub async fn a_claim_whose_request_died_before_committing_is_taken_over(
        store: Arc<dyn ItemStore>,
    ) {
        let w = world(store).await;
        // given a request that claimed its key and died before writing anything
        let path = format!("/api/orders/{}/payments", w.order_id);
        let body =
            json!({"amount": {"amount": "5.00", "currency": "EUR"}, "method": "bank_transfer"});
        let mut dead = common::request(
            Method::POST,
            &path,
            Some(&w.vendor_key),
            body.to_string().into_bytes(),
        );
        dead.headers
            .insert("idempotency-key", "pay-1".parse().unwrap());
        let principal = format!("vendor:{}", w.vendor_id);
        let claimed = idempotency::claim(w.store.as_ref(), &dead, &principal, w.clock.now())
            .await
            .unwrap();
        assert!(matches!(claimed, Some(idempotency::Claim::Fresh(_))));
        // when its retry comes while it could still be running, then it waits
        let early = w.pay("pay-1").await;
        assert_eq!(error_code(&early), (409, "idempotency_key_in_progress"));
        // and when no request can still be running, the retry runs, once
        w.clock.advance(idempotency::IN_FLIGHT_AT_MOST);
        assert_eq!(w.pay("pay-1").await.0, 201);
        assert_eq!(w.pay("pay-1").await.0, 201);
        assert_eq!(w.paid().await, "5.00");
    }
}

macro_rules! on_adapter {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use super::*;

            #[tokio::test]
            async fn a_payment_whose_commit_answer_was_lost_is_applied_once() {
                let Some(store) = $make else { return };
                cases::a_payment_whose_commit_answer_was_lost_is_applied_once(store).await;
            }

            #[tokio::test]
            async fn a_use_case_retry_after_a_lost_answer_decides_nothing_again() {
                let Some(store) = $make else { return };
                cases::a_use_case_retry_after_a_lost_answer_decides_nothing_again(store).await;
            }

            #[tokio::test]
            async fn a_refund_whose_commit_answer_was_lost_refunds_once() {
                let Some(store) = $make else { return };
                cases::a_refund_whose_commit_answer_was_lost_refunds_once(store).await;
            }

            #[tokio::test]
            async fn a_checkout_whose_commit_answer_was_lost_writes_one_order() {
                let Some(store) = $make else { return };
                cases::a_checkout_whose_commit_answer_was_lost_writes_one_order(store).await;
            }

            #[tokio::test]
            async fn a_key_past_its_keeping_time_is_a_new_key() {
                let Some(store) = $make else { return };
                cases::a_key_past_its_keeping_time_is_a_new_key(store).await;
            }

            #[tokio::test]
            async fn a_claim_whose_request_died_before_committing_is_taken_over() {
                let Some(store) = $make else { return };
                cases::a_claim_whose_request_died_before_committing_is_taken_over(store).await;
            }
        }
    };
}

on_adapter!(embedded, Some(common::embedded()));
on_adapter!(dynamodb, common::dynamodb().await);
