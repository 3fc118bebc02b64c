//! Blocks by payment fingerprint (R-C6; issue 16, item 13): each block is a reason of its own,
//! and a payment with a blocked customer's card blocks its payer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Duration;
use common::call;
use common::stripe_shapes::*;
use http::Method;
use sellerdesk::domain::clock::Clock;
use serde_json::{Value, json};

struct Shop {
    app: sellerdesk::app::App,
    clock: std::sync::Arc<sellerdesk::domain::clock::SettableClock>,
    vendor: Value,
    offer: Value,
}

impl Shop {
    async fn new() -> Shop {
        let (app, clock, vendor, offer) = common::shop_with_one_offer().await;
        Shop {
            app,
            clock,
            vendor,
            offer,
        }
    }

    fn key(&self) -> Option<&str> {
        self.vendor["api_key"].as_str()
    }

    /// A checkout by `email`: the status, and its order id when it was taken.
    async fn checkout(&self, email: &str) -> (u16, Option<String>) {
        self.clock.advance(Duration::seconds(1));
        let customer =
            json!({"email": email, "first_name": "K", "last_name": "L", "country": "DE"});
        let (status, order) = call(
            &self.app,
            Method::POST,
            "/checkout",
            None,
            json!({"offer_id": self.offer, "customer": customer}),
        )
        .await;
        (status, order["order_id"].as_str().map(str::to_string))
    }

    /// `email` buys and pays with the card `fingerprint`: the customer's id.
    async fn buys_with_card(&self, email: &str, fingerprint: &str) -> String {
        let order = self.checkout(email).await.1.unwrap();
        let pi = format!("pi_{order}");
        let ch = format!("ch_{order}");
        for event in [
            session_payment(&order, &format!("cs_{order}"), &pi, 1190),
            charge_succeeded(&ch, &pi, None, 1190, fingerprint, ours(&order)),
        ] {
            let status =
                common::deliver_stripe(&self.app, &self.vendor, self.clock.now(), &event).await;
            assert_eq!(status, 200);
        }
        let path = format!("/api/orders/{order}");
        let (_, card) = call(&self.app, Method::GET, &path, self.key(), Value::Null).await;
        card["customer"]["id"].as_str().unwrap().to_string()
    }

    async fn customer(&self, id: &str) -> Value {
        let path = format!("/api/customers/{id}");
        call(&self.app, Method::GET, &path, self.key(), Value::Null)
            .await
            .1
    }

    async fn act(&self, id: &str, action: &str) {
        let path = format!("/api/customers/{id}/{action}");
        let (status, answer) = call(&self.app, Method::POST, &path, self.key(), json!({})).await;
        assert_eq!(status, 200, "{answer}");
    }
}

// R-C6 (issue 16, item 13): a block made on a customer already blocked through a shared card is
// kept when the other one is unblocked
#[tokio::test]
async fn a_customers_own_block_outlasts_the_one_through_a_shared_card() {
    let shop = Shop::new().await;
    let anna = shop.buys_with_card("anna@example.com", "fp_shared").await;
    let ben = shop.buys_with_card("ben@example.com", "fp_shared").await;
    shop.act(&anna, "block").await;
    assert_eq!(shop.customer(&ben).await["blocked_via"], json!([anna]));
    // when the vendor blocks Ben too, then unblocks Anna
    shop.act(&ben, "block").await;
    shop.act(&anna, "unblock").await;
    // then Ben stays blocked by his own block, and still cannot check out
    let ben_now = shop.customer(&ben).await;
    assert_eq!(
        (&ben_now["blocked"], &ben_now["blocked_via"]),
        (&json!(true), &json!([])),
        "{ben_now}"
    );
    assert_eq!(shop.checkout("ben@example.com").await.0, 403);
    assert_eq!(shop.checkout("anna@example.com").await.0, 201);
}

// R-C6 (issue 16, item 13): a new customer who pays with a blocked customer's card is blocked
// through them, and cannot check out again
#[tokio::test]
async fn paying_with_a_blocked_customers_card_blocks_the_payer() {
    let shop = Shop::new().await;
    let anna = shop.buys_with_card("anna@example.com", "fp_stolen").await;
    shop.act(&anna, "block").await;
    // when another customer pays with the same card
    let carl = shop.buys_with_card("carl@example.com", "fp_stolen").await;
    // then Carl is blocked through Anna
    let carl_now = shop.customer(&carl).await;
    assert_eq!(
        (&carl_now["blocked"], &carl_now["blocked_via"]),
        (&json!(true), &json!([anna])),
        "{carl_now}"
    );
    assert_eq!(shop.checkout("carl@example.com").await.0, 403);
    // and one with another card is not
    let dora = shop.buys_with_card("dora@example.com", "fp_other").await;
    assert_eq!(shop.customer(&dora).await["blocked"], false);
    // and unblocking Anna lifts Carl's block with hers
    shop.act(&anna, "unblock").await;
    assert_eq!(shop.customer(&carl).await["blocked"], false);
}

// R-C6 (issue 16, item 13, review): unblocking a customer lifts the blocks it gave, also one
// that reached a customer sharing a card only with another blocked through it
#[tokio::test]
async fn unblocking_reaches_every_customer_blocked_through_it() {
    let shop = Shop::new().await;
    let anna = shop.buys_with_card("anna@example.com", "fp_1").await;
    let ben = shop.buys_with_card("ben@example.com", "fp_1").await;
    assert_eq!(shop.buys_with_card("ben@example.com", "fp_2").await, ben);
    shop.act(&anna, "block").await;
    assert_eq!(shop.customer(&ben).await["blocked"], true);
    // Dora pays with a card only Ben used: blocked through Anna
    let dora = shop.buys_with_card("dora@example.com", "fp_2").await;
    assert_eq!(shop.customer(&dora).await["blocked_via"], json!([anna]));
    shop.act(&anna, "unblock").await;
    assert_eq!(shop.customer(&dora).await["blocked"], false);
    assert_eq!(shop.checkout("dora@example.com").await.0, 201);
}
