//! Lists that hold still and find what they are asked for (issue 16, item 14; R-D1, R-D3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Duration;
use common::call;
use http::Method;
use serde_json::{Value, json};

struct Shop {
    app: sellerdesk::app::App,
    clock: std::sync::Arc<sellerdesk::domain::clock::SettableClock>,
    key: String,
    offer: Value,
}

impl Shop {
    /// A vendor with one offer and one order (c@example.com).
    async fn new() -> Shop {
        let (app, clock, vendor, offer) = common::shop_with_one_offer().await;
        Shop {
            app,
            clock,
            key: vendor["api_key"].as_str().unwrap().to_string(),
            offer,
        }
    }

    /// A checkout a second later: its order id.
    async fn order(&self, email: &str, first_name: &str) -> String {
        self.clock.advance(Duration::seconds(1));
        let customer = json!({"email": email, "first_name": first_name, "last_name": "Muster", "country": "DE"});
        let (status, order) = call(
            &self.app,
            Method::POST,
            "/checkout",
            None,
            json!({"offer_id": self.offer, "customer": customer}),
        )
        .await;
        assert_eq!(status, 201, "{order}");
        order["order_id"].as_str().unwrap().to_string()
    }

    async fn get(&self, path: &str) -> Value {
        let (status, answer) =
            call(&self.app, Method::GET, path, Some(&self.key), Value::Null).await;
        assert_eq!(status, 200, "{path}: {answer}");
        answer
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

// R-D1 (issue 16, item 14): a filtered list's next page starts after the last order given — a
// new order meanwhile repeats nothing and skips nothing
#[tokio::test]
async fn a_new_order_does_not_shift_the_next_filtered_page() {
    // given three orders of customers named Anna, newest first: a3, a2, a1
    let shop = Shop::new().await;
    let a1 = shop.order("anna1@example.com", "Anna").await;
    let a2 = shop.order("anna2@example.com", "Anna").await;
    let a3 = shop.order("anna3@example.com", "Anna").await;
    let first = shop.get("/api/orders?q=anna&limit=2").await;
    assert_eq!(ids(&first), [a3.clone(), a2.clone()]);
    assert_eq!(first["total"], 3);
    // when a fourth arrives before the next page is read
    let a4 = shop.order("anna4@example.com", "Anna").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let next = shop
        .get(&format!("/api/orders?q=anna&limit=2&cursor={cursor}"))
        .await;
    // then the next page is the one order after the last given, and says there is no more
    assert_eq!(ids(&next), std::slice::from_ref(&a1));
    assert_eq!(next["next_cursor"], Value::Null);
    assert_eq!(next["total"], 4, "the total counts the new one");
    let again = shop.get("/api/orders?q=anna&limit=2").await;
    assert_eq!(ids(&again), [a4, a3]);
    // and a cursor naming no order of the list is refused, never a restart
    let forged = format!("k{}", a1.replace("ord_", "ord_0"));
    let (status, refused) = call(
        &shop.app,
        Method::GET,
        &format!("/api/orders?q=anna&cursor={forged}"),
        Some(&shop.key),
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    // and a cursor that is not ours is refused
    let (status, refused) = call(
        &shop.app,
        Method::GET,
        "/api/orders?q=anna&cursor=k..%2Fx",
        Some(&shop.key),
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
}

// R-D3 (issue 16, item 14): `GET /api/customers?q=` finds customers by e-mail or name, and the
// customer card lists the customer's orders
#[tokio::test]
async fn customers_are_found_by_q_and_their_card_lists_their_orders() {
    let shop = Shop::new().await;
    shop.order("berta@example.com", "Berta").await;
    let first = shop.order("zoe@example.com", "Zoë").await;
    let second = shop.order("zoe@example.com", "Zoë").await;
    let found = shop.get("/api/customers?q=ZO").await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["email"], "zoe@example.com");
    assert_eq!(shop.get("/api/customers?q=example").await["total"], 3);
    // search ignores accents and folds case fully (`zoe` finds Zoë)
    assert_eq!(shop.get("/api/customers?q=zoe%20muster").await["total"], 1);
    assert_eq!(shop.get("/api/orders?q=ZOE%20MUSTER").await["total"], 2);
    assert_eq!(shop.get("/api/customers").await["total"], 3);
    let id = found["items"][0]["id"].as_str().unwrap();
    let card = shop.get(&format!("/api/customers/{id}")).await;
    let orders: Vec<&str> = card["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| order["id"].as_str().unwrap())
        .collect();
    assert_eq!(orders, [second.as_str(), first.as_str()], "{card}");
    assert_eq!(card["orders_total"], 2);
    assert_eq!(card["email"], "zoe@example.com");
}

// R-O7 (issue 16, item 15): `null` clears an order's stage and manager; absent leaves them
#[tokio::test]
async fn null_clears_the_stage_and_the_manager() {
    let shop = Shop::new().await;
    let order = shop.order("anna@example.com", "Anna").await;
    let path = format!("/api/orders/{order}");
    let patch = |body: Value| {
        let (app, path, key) = (&shop.app, path.clone(), shop.key.clone());
        async move { call(app, Method::PATCH, &path, Some(&key), body).await }
    };
    let (status, card) = patch(json!({"stage": "Nachfassen", "manager": "Eva"})).await;
    assert_eq!(status, 200, "{card}");
    let (_, card) = patch(json!({"tags": ["vip"]})).await;
    assert_eq!(
        (&card["stage"], &card["manager"]),
        (&json!("Nachfassen"), &json!("Eva"))
    );
    let (status, card) = patch(json!({"stage": null, "manager": null})).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(
        (&card["stage"], &card["manager"]),
        (&Value::Null, &Value::Null),
        "{card}"
    );
    for nothing in ["", "\u{200B}"] {
        let (status, _) = patch(json!({"manager": nothing})).await;
        assert_eq!(status, 400, "{nothing:?} is no manager: null clears");
    }
}

// R-O7, seed 002 (issue 16, item 15): the card shows what the order was sold at — list price and
// discount, as they were then — each line's access before anything is paid, and each payment
// with its provider, how it came and the vendor's note on it
#[tokio::test]
async fn the_card_shows_the_price_sold_at_each_lines_access_and_each_payment() {
    // given an offer at 100.00 less 20.00 of a product with 30 days of access
    let shop = Shop::new().await;
    let (_, product) = call(
        &shop.app,
        Method::POST,
        "/api/products",
        Some(&shop.key),
        json!({"name": "Kurs", "access_days": 30}),
    )
    .await;
    let terms = |discount: &str| {
        json!({"name": "Kurs", "products": [product["id"]], "plan": {"kind": "one_time"},
        "price": {"amount": "100.00", "currency": "EUR"}, "discount": {"amount": discount, "currency": "EUR"}})
    };
    let (status, offer) = call(
        &shop.app,
        Method::POST,
        "/api/offers",
        Some(&shop.key),
        terms("20.00"),
    )
    .await;
    assert_eq!(status, 201, "{offer}");
    let customer =
        json!({"email": "b@example.com", "first_name": "B", "last_name": "C", "country": "DE"});
    let (status, order) = call(
        &shop.app,
        Method::POST,
        "/checkout",
        None,
        json!({"offer_id": offer["id"], "customer": customer}),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    // when the offer's discount changes afterwards
    let path = format!("/api/offers/{}", offer["id"].as_str().unwrap());
    let (status, _) = call(
        &shop.app,
        Method::PUT,
        &path,
        Some(&shop.key),
        terms("50.00"),
    )
    .await;
    assert_eq!(status, 200);
    // then the card shows the terms the order was sold at, and the line's 30 days before payment
    let card_path = format!("/api/orders/{}", order["order_id"].as_str().unwrap());
    let card = shop.get(&card_path).await;
    assert_eq!(card["offer"]["list_price"]["amount"], "100.00", "{card}");
    assert_eq!(card["offer"]["discount"]["amount"], "20.00");
    assert_eq!(card["net"]["amount"], "80.00");
    assert_eq!(card["lines"][0]["access_days"], 30);
    assert_eq!(card["lines"][0]["access"]["start"], Value::Null);
    assert_eq!(card["payments"], json!([]));
    // when the vendor records a bank transfer with a note
    let (status, card) = call(
        &shop.app,
        Method::POST,
        &format!("{card_path}/payments"),
        Some(&shop.key),
        json!({"amount": {"amount": "50.00", "currency": "EUR"}, "method": "bank_transfer", "comment": "Überweisung vom 23.11."}),
    )
    .await;
    assert_eq!(status, 201, "{card}");
    // then the card lists the payment with its provider, method and note
    let payment = &card["payments"][0];
    assert_eq!(
        (
            &payment["provider"],
            &payment["method"],
            &payment["comment"],
            &payment["amount"]["amount"]
        ),
        (
            &json!("manual"),
            &json!("bank_transfer"),
            &json!("Überweisung vom 23.11."),
            &json!("50.00")
        ),
        "{card}"
    );
    assert_eq!(payment["schedule_seqs"], json!([1]));
    // and the customer's page lists the payment, never the vendor's note
    let token = common::token_of(&order["customer_link"]);
    let (_, page) = call(
        &shop.app,
        Method::GET,
        &format!("/portal/orders/{token}"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(page["payments"][0]["provider"], "manual", "{page}");
    assert!(page["payments"][0].get("comment").is_none(), "{page}");
    assert_eq!(page["offer"]["discount"]["amount"], "20.00");
}
