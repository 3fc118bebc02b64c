//! Issue 15 ("done when"): payment plans run by themselves on the dev server. A 3-instalment
//! order and a monthly subscription run for three months of dev-server clock with sweeps, as a
//! vendor and its customers would see them over HTTP; the simulated provider charges what is
//! due (declining the `+decline` customer) and sends Stripe's events through the webhook route.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{checkout_as, get, new_vendor, post_json, start_server, token_of};
use serde_json::{Value, json};

struct Shop {
    url: String,
    key: String,
}

/// One customer's order: its id and customer-link token.
struct Bought {
    order_id: String,
    token: String,
}

impl Shop {
    /// An offer of a product with `access_days` (`null`: no end) on `plan`, 10.00 EUR net.
    async fn offer(&self, access_days: Value, plan: Value) -> Value {
        let product = post_json(
            &self.url,
            "/api/products",
            Some(&self.key),
            &json!({"name": "Kurs", "access_days": access_days}),
        )
        .await;
        assert_eq!(product.status, 201, "{}", product.text);
        let body = json!({"name": "Kurs", "products": [product.json()["id"]],
            "price": {"amount": "10.00", "currency": "EUR"}, "plan": plan});
        let offer = post_json(&self.url, "/api/offers", Some(&self.key), &body).await;
        assert_eq!(offer.status, 201, "{}", offer.text);
        offer.json()["id"].clone()
    }

    async fn checkout(&self, offer: &Value, email: &str) -> Bought {
        let order = checkout_as(&self.url, offer, email).await;
        assert_eq!(order.status, 201, "{}", order.text);
        let order = order.json();
        Bought {
            order_id: order["order_id"].as_str().unwrap().to_string(),
            token: token_of(&order["customer_link"]),
        }
    }

    /// Checks out and pays the first payment on the simulated provider's page.
    async fn buy(&self, offer: &Value, email: &str) -> Bought {
        let bought = self.checkout(offer, email).await;
        assert_eq!(self.pay(&bought).await, 200);
        bought
    }

    /// The customer presses "pay" and pays on the simulated page: the status of "pay".
    async fn pay(&self, bought: &Bought) -> u16 {
        let path = format!("/portal/orders/{}/pay", bought.token);
        let started = post_json(&self.url, &path, None, &json!({})).await;
        if started.status != 200 {
            return started.status;
        }
        let page = format!("/_dev/pay/{}", bought.token);
        let paid = post_json(&self.url, &page, None, &json!({"outcome": "succeeded"})).await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        for sent in paid.json()["sent"].as_array().unwrap() {
            assert_eq!(sent["status"], 200, "{sent}");
        }
        200
    }

    async fn card(&self, bought: &Bought) -> Value {
        let card = get(
            &self.url,
            &format!("/api/orders/{}", bought.order_id),
            Some(&self.key),
        )
        .await;
        assert_eq!(card.status, 200, "{}", card.text);
        card.json()
    }

    async fn states(&self, bought: &Bought) -> Vec<String> {
        self.card(bought).await["schedule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["status"].as_str().unwrap().to_string())
            .collect()
    }

    /// Moves the frozen clock to `now` and runs the sweeps (twice: a second run finds nothing
    /// more to do).
    async fn at(&self, now: &str) {
        let clock = post_json(
            &self.url,
            "/_dev/clock",
            None,
            &json!({"now": now, "frozen": true}),
        )
        .await;
        assert_eq!(clock.status, 200, "{}", clock.text);
        for _ in 0..2 {
            let swept = post_json(&self.url, "/_dev/sweep", None, &json!({})).await;
            assert_eq!(swept.status, 200, "{}", swept.text);
        }
    }

    /// The e-mails of `kind` sent to `to`.
    async fn emails(&self, kind: &str, to: &str) -> usize {
        let outbox = get(&self.url, "/_dev/outbox", None).await.json();
        outbox["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind && e["to"] == to)
            .count()
    }
}

// R-P1, R-P2, R-P3, R-P4, R-O9 (issue 15): instalments and renewals are charged once each on
// their due dates without the customer doing anything; access follows the paid periods; a
// declined rate goes overdue and is paid through the link; "pay" has nothing to pay otherwise
#[tokio::test]
async fn payment_plans_run_by_themselves_for_three_months() {
    // given a vendor selling a course in three monthly instalments and as a monthly
    // subscription (each 11.90 gross), and three customers who paid their first payment on
    // 24 November — the third one's card is declined from then on
    let server = start_server("payment-plans").await;
    let url = server.url();
    let vendor = new_vendor(&url, "kurswerk").await;
    let shop = Shop {
        url: url.clone(),
        key: vendor["api_key"].as_str().unwrap().to_string(),
    };
    shop.at("2026-11-24T09:00:00Z").await;
    let instalments = shop
        .offer(
            Value::Null,
            json!({"kind": "installments", "count": 3, "interval": "month"}),
        )
        .await;
    let monthly = shop
        .offer(
            json!(30),
            json!({"kind": "subscription", "interval": "month"}),
        )
        .await;
    let alice = shop.checkout(&instalments, "alice@example.com").await;
    let page = get(&url, &format!("/_dev/pay/{}", alice.token), None).await;
    assert!(
        page.text.contains("2026-12-24 3.96 EUR") && page.text.contains("2027-01-24 3.96 EUR"),
        "the page asks to save the card for the later rates: {}",
        page.text
    );
    assert_eq!(shop.pay(&alice).await, 200);
    let bob = shop.buy(&monthly, "bob@example.com").await;
    let carol = shop.buy(&instalments, "carol+decline@example.com").await;
    assert_eq!(
        shop.states(&alice).await,
        ["paid", "scheduled", "scheduled"]
    );

    // when a fortnight passes, nothing is due: "pay" has nothing to pay
    shop.at("2026-12-10T09:00:00Z").await;
    for bought in [&alice, &bob, &carol] {
        assert_eq!(shop.pay(bought).await, 409);
    }

    // when the second month begins, each plan is charged by itself
    shop.at("2026-12-24T09:00:00Z").await;
    // then alice's second rate and bob's second period are paid
    assert_eq!(shop.states(&alice).await, ["paid", "paid", "scheduled"]);
    let card = shop.card(&bob).await;
    assert_eq!(card["paid"]["amount"], "23.80", "{card}");
    assert_eq!(card["schedule"][1]["status"], "paid", "{card}");
    assert_eq!(
        card["lines"][0]["access"]["active"], true,
        "the renewal extends access: {card}"
    );
    let end = card["lines"][0]["access"]["end"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        end.as_str() >= "2027-01-24",
        "access to the end of the paid period: {end}"
    );
    // and carol's declined rate counts one attempt, goes overdue, and is paid through the link
    let card = shop.card(&carol).await;
    assert_eq!(card["schedule"][1]["attempts"], 1, "{card}");
    shop.at("2026-12-26T09:00:00Z").await;
    assert_eq!(shop.states(&carol).await, ["paid", "overdue", "scheduled"]);
    // (access follows the payments: carol's pauses while her rate is overdue, alice's runs)
    let access = |card: &Value| card["lines"][0]["access"].clone();
    assert_eq!(access(&shop.card(&carol).await)["active"], false);
    let alices = access(&shop.card(&alice).await);
    assert_eq!(alices["active"], true, "{alices}");
    assert!(alices["end"].as_str().unwrap() >= "2027-01-24", "{alices}");
    assert_eq!(shop.pay(&alice).await, 409, "alice owes nothing now");
    assert_eq!(shop.pay(&carol).await, 200);
    assert_eq!(shop.states(&carol).await, ["paid", "paid", "scheduled"]);
    assert_eq!(access(&shop.card(&carol).await)["active"], true);

    // when the third month begins
    shop.at("2027-01-24T09:00:00Z").await;
    // then alice's plan is complete, and bob's third period paid
    let card = shop.card(&alice).await;
    assert_eq!(
        (&card["status"], &card["paid"]["amount"]),
        (&json!("completed"), &json!("11.90")),
        "{card}"
    );
    // (paid in full, the product's access has no end)
    assert_eq!(
        access(&card),
        json!({"start": card["lines"][0]["access"]["start"], "end": null, "active": true})
    );
    assert_eq!(shop.card(&bob).await["paid"]["amount"], "35.70");

    // and a month later only the subscription is charged again
    shop.at("2027-02-24T09:00:00Z").await;
    let card = shop.card(&bob).await;
    assert_eq!(card["paid"]["amount"], "47.60", "{card}");
    let end = card["lines"][0]["access"]["end"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(end.as_str() >= "2027-03-24", "{end}");
    assert_eq!(shop.card(&alice).await["paid"]["amount"], "11.90");
    // carol's third rate was declined too, and waits for her
    let card = shop.card(&carol).await;
    assert_eq!(card["schedule"][2]["attempts"], 1, "{card}");
    assert_eq!(card["paid"]["amount"], "7.94", "{card}");

    // and every charge was made once: one receipt per payment, one failure notice per decline
    assert_eq!(shop.emails("payment_receipt", "alice@example.com").await, 3);
    assert_eq!(shop.emails("payment_receipt", "bob@example.com").await, 4);
    assert_eq!(
        shop.emails("payment_receipt", "carol+decline@example.com")
            .await,
        2
    );
    assert_eq!(
        shop.emails("payment_failed", "carol+decline@example.com")
            .await,
        2
    );
    // and nobody with a saved card was asked to pay by e-mail
    assert_eq!(shop.emails("payment_request", "alice@example.com").await, 0);
    server.stop();
}
