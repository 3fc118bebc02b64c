//! What a frontend needs to render a ticket or a list without more calls (issue 16, item 16):
//! a ticket's order and sides, its deadlines and next step, what the caller may do now; list
//! rows with the customer; filters that refuse what they do not know.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::stripe_shapes::*;
use common::{ADMIN, call, token_of};
use http::Method;
use sellerdesk::domain::clock::Clock;
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
    vendor: Value,
    order_id: String,
    token: String,
}

impl Shop {
    /// A vendor ("V") selling "O" on `plan` (11.90 EUR) to C D, made on Tuesday 24 November.
    async fn new(plan: Value) -> Shop {
        let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
        let (vendor, order) = common::vendor_with_order(&app, plan).await;
        Shop {
            app,
            clock,
            vendor,
            order_id: order["order_id"].as_str().unwrap().to_string(),
            token: token_of(&order["customer_link"]),
        }
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

    async fn vendor_get(&self, path: &str) -> (u16, Value) {
        call(&self.app, Method::GET, path, self.key(), Value::Null).await
    }
}

// R-T9, R-R2, R-T4 (issue 16, item 16): a ticket's answer carries its order's number and
// product, the vendor's name, the refund window and the execution time, the next step if nobody
// acts, and what the caller may do now — each as the real routes then decide
#[tokio::test]
async fn a_ticket_answer_carries_its_facts_and_what_the_caller_may_do() {
    // given a paid one-time order and the customer's support ticket
    let shop = Shop::new(json!({"kind": "one_time"})).await;
    shop.deliver(&session_payment(&shop.order_id, "cs_1", "pi_1", 1190))
        .await;
    let path = format!("/portal/orders/{}/tickets", shop.token);
    let (status, opened) = call(
        &shop.app,
        Method::POST,
        &path,
        None,
        json!({"type": "support", "message": "Frage"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let ticket_path = format!("/portal/tickets/{}", token_of(&opened["ticket_link"]));
    // when the customer reads it
    let (_, ticket) = call(&shop.app, Method::GET, &ticket_path, None, Value::Null).await;
    // then it names the order, the product, the vendor and the customer
    assert_eq!(
        (
            &ticket["order_number"],
            &ticket["offer_name"],
            &ticket["vendor_name"],
            &ticket["customer_name"]
        ),
        (&json!("SD-000001"), &json!("O"), &json!("V"), &json!("C D")),
        "{ticket}"
    );
    // and the customer's refund window: 60 days from the payment (R-R2)
    assert_eq!(ticket["refund_window_ends_at"], "2027-01-23T09:00:00Z");
    // and the next step if the vendor does not answer: a warning 48 hours on (R-T6)
    assert_eq!(
        ticket["next_step"],
        json!({"action": "warn", "at": "2026-11-26T09:00:00Z"})
    );
    // and what the customer may do: answer, close, turn it into a refund — not a cancellation
    assert_eq!(
        ticket["allowed"],
        json!({"comment": true, "close": true, "change_type_to": ["refund"]})
    );
    // when the vendor reads it: the vendor's window is 90 days, and it may not make a request
    let ticket_id = opened["ticket_id"].as_str().unwrap();
    let (_, vendor_view) = shop.vendor_get(&format!("/api/tickets/{ticket_id}")).await;
    assert_eq!(vendor_view["refund_window_ends_at"], "2027-02-22T09:00:00Z");
    assert_eq!(
        vendor_view["allowed"],
        json!({"comment": true, "close": true, "change_type_to": []})
    );
    assert!(vendor_view.get("acting_as").is_none());
    // when the customer turns it into a refund request
    let (status, request) = call(
        &shop.app,
        Method::POST,
        &format!("{ticket_path}/type"),
        None,
        json!({"type": "refund"}),
    )
    .await;
    assert_eq!(status, 200, "{request}");
    // then its next step is the execution at its due time (R-T4: 24 h on), and the vendor may
    // close it or turn it into support
    assert_eq!(
        request["next_step"],
        json!({"action": "execute", "at": request["due_at"]})
    );
    assert_eq!(request["due_at"], "2026-11-25T09:00:00Z");
    assert_eq!(
        request["allowed"],
        json!({"comment": true, "close": true, "change_type_to": ["support"]})
    );
    let (_, vendor_view) = shop.vendor_get(&format!("/api/tickets/{ticket_id}")).await;
    assert_eq!(
        vendor_view["allowed"],
        json!({"comment": true, "close": true, "change_type_to": ["support"]})
    );
    // when the platform restricts the vendor (R-T3), the answer says so and the route agrees
    let vendor_id = shop.vendor["vendor_id"].as_str().unwrap();
    let restrict = format!("/admin/vendors/{vendor_id}/restrict");
    let (status, _) = call(&shop.app, Method::POST, &restrict, Some(ADMIN), Value::Null).await;
    assert_eq!(status, 200);
    let (_, vendor_view) = shop.vendor_get(&format!("/api/tickets/{ticket_id}")).await;
    assert_eq!(
        vendor_view["allowed"],
        json!({"comment": true, "close": false, "change_type_to": []})
    );
    let (status, _) = call(
        &shop.app,
        Method::POST,
        &format!("/api/tickets/{ticket_id}/close"),
        shop.key(),
        Value::Null,
    )
    .await;
    assert_eq!(status, 403);
    // when it is executed, nothing is allowed any more and nothing follows
    shop.clock.advance(Duration::days(2));
    shop.app.run_sweeps().await.unwrap();
    let (_, closed) = call(&shop.app, Method::GET, &ticket_path, None, Value::Null).await;
    assert_eq!(closed["close_reason"], "executed", "{closed}");
    assert_eq!(
        (&closed["next_step"], &closed["refund_window_ends_at"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        closed["allowed"],
        json!({"comment": false, "close": false, "change_type_to": []})
    );
}

// R-D1 (issue 16, item 16): the vendor's ticket list names each ticket's order and customer;
// the order list names each order's customer, and a subscription row its price per period
// beside what all its periods brought in
#[tokio::test]
async fn list_rows_name_the_order_and_the_customer() {
    // given a monthly subscription with two periods paid and a support ticket on it
    let shop = Shop::new(json!({"kind": "subscription", "interval": "month"})).await;
    for event in [
        invoice_paid(
            &shop.order_id,
            "in_1",
            "sub_1",
            "pi_1",
            "ch_1",
            1190,
            PERIOD_1,
            "subscription_create",
        ),
        session_subscription(&shop.order_id, "cs_1", "sub_1", "in_1", 1190),
    ] {
        shop.deliver(&event).await;
    }
    shop.clock.freeze(at("2026-12-24T09:00:05Z"));
    shop.deliver(&invoice_paid(
        &shop.order_id,
        "in_2",
        "sub_1",
        "pi_2",
        "ch_2",
        1190,
        PERIOD_2,
        "subscription_cycle",
    ))
    .await;
    let path = format!("/portal/orders/{}/tickets", shop.token);
    let (status, _) = call(
        &shop.app,
        Method::POST,
        &path,
        None,
        json!({"type": "support", "message": "Frage"}),
    )
    .await;
    assert_eq!(status, 201);
    // when the vendor lists its tickets and its orders
    let (_, tickets) = shop.vendor_get("/api/tickets").await;
    let (_, orders) = shop.vendor_get("/api/orders").await;
    // then each row names what a frontend shows
    let row = &tickets["items"][0];
    assert_eq!(
        (
            &row["order_number"],
            &row["customer_name"],
            &row["offer_name"]
        ),
        (&json!("SD-000001"), &json!("C D"), &json!("O")),
        "{tickets}"
    );
    let row = &orders["items"][0];
    assert_eq!(
        (&row["customer_name"], &row["customer_email"]),
        (&json!("C D"), &json!("c@example.com")),
        "{orders}"
    );
    assert_eq!(row["price_per_period"]["amount"], "11.90");
    assert_eq!(row["paid"]["amount"], "23.80");
    assert_eq!(
        row["plan"],
        json!({"kind": "subscription", "interval": "month"})
    );
}

// R-D1 (issue 16, item 16): a filter the route does not have, or a value it does not know, is a
// 400 naming it — never an unfiltered answer
#[tokio::test]
async fn an_unknown_filter_or_value_is_refused_by_name() {
    let shop = Shop::new(json!({"kind": "one_time"})).await;
    for (path, field) in [
        ("/api/orders?status=cancelled", "status"),
        ("/api/orders?payment_status=cancelled", "payment_status"),
        ("/api/orders?from=yesterday", "from"),
        ("/api/orders?to=2026-13-01", "to"),
        ("/api/tickets?state=open", "state"),
        ("/api/tickets?status=done", "status"),
        ("/api/customers?query=anna", "query"),
        ("/api/products?page=2", "page"),
    ] {
        let (status, answer) = shop.vendor_get(path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(
            answer["error"]["fields"].get(field).is_some(),
            "{path}: {answer}"
        );
    }
    let (status, answer) = shop
        .vendor_get("/api/orders?payment_status=pending&limit=5")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["total"], 1);
}

// R-D1, R-M3 (issue 16, item 16): a date filter takes a plain day in the vendor's time zone;
// `to` takes that whole day in
#[tokio::test]
async fn date_filters_take_days_in_the_vendors_time_zone() {
    // given an order at 23:30 UTC on 24 November: 00:30 on the 25th in Berlin
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T23:30:00Z"));
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    clock.freeze(at("2026-11-30T12:00:00Z"));
    let key = vendor["api_key"].as_str();
    let listed = |query: &'static str| {
        let app = app.clone();
        async move {
            let (status, page) = call(
                &app,
                Method::GET,
                &format!("/api/orders?{query}"),
                key,
                Value::Null,
            )
            .await;
            assert_eq!(status, 200, "{query}: {page}");
            page["total"].as_u64().unwrap()
        }
    };
    // then it is an order of the 25th there, not of the 24th
    assert_eq!(listed("from=2026-11-25").await, 1);
    assert_eq!(listed("to=2026-11-24").await, 0);
    assert_eq!(listed("from=2026-11-25&to=2026-11-25").await, 1);
    assert_eq!(listed("from=2026-11-26").await, 0);
    // and RFC 3339 times still mean themselves
    assert_eq!(listed("to=2026-11-24T23:59:59Z").await, 1);
    assert!(order["order_id"].is_string());
}

// R-T0, R-T4 (issue 16, item 16, review): `allowed` never offers a request while the order has
// another one open — the route would answer 409 `ticket_already_open`
#[tokio::test]
async fn no_second_request_is_offered_while_one_is_open() {
    // given a paid order with the customer's refund request and a support ticket
    let shop = Shop::new(json!({"kind": "one_time"})).await;
    shop.deliver(&session_payment(&shop.order_id, "cs_1", "pi_1", 1190))
        .await;
    let open = |kind: &'static str| {
        let (app, path) = (&shop.app, format!("/portal/orders/{}/tickets", shop.token));
        async move {
            let (status, opened) = call(
                app,
                Method::POST,
                &path,
                None,
                json!({"type": kind, "message": "x"}),
            )
            .await;
            assert_eq!(status, 201, "{opened}");
            format!("/portal/tickets/{}", token_of(&opened["ticket_link"]))
        }
    };
    let request = open("refund").await;
    let support = open("support").await;
    // then the support ticket offers no conversion into a request, and the route agrees
    let (_, ticket) = call(&shop.app, Method::GET, &support, None, Value::Null).await;
    assert_eq!(ticket["allowed"]["change_type_to"], json!([]), "{ticket}");
    let (status, _) = call(
        &shop.app,
        Method::POST,
        &format!("{support}/type"),
        None,
        json!({"type": "refund"}),
    )
    .await;
    assert_eq!(status, 409);
    // and the request says what it will refund
    let (_, open_request) = call(&shop.app, Method::GET, &request, None, Value::Null).await;
    assert_eq!(
        open_request["refund_amount"]["amount"], "11.90",
        "{open_request}"
    );
    assert_eq!(open_request["order_total"]["amount"], "11.90");
    assert_eq!(open_request["offer_name"], "O");
    // when the request is closed, the support ticket may become one
    let (status, _) = call(
        &shop.app,
        Method::POST,
        &format!("{request}/close"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (_, ticket) = call(&shop.app, Method::GET, &support, None, Value::Null).await;
    assert_eq!(
        ticket["allowed"]["change_type_to"],
        json!(["refund"]),
        "{ticket}"
    );
}

// R-T7, R-M3 (issue 16, item 16, review): a ticket's timers keep the calendar it was opened in,
// so a later change of the vendor's time zone moves neither what it shows nor when it fires
#[tokio::test]
async fn a_ticket_fires_when_it_says_after_the_vendor_changes_its_time_zone() {
    // given a support ticket the vendor opened at 23:30 UTC on Friday 27 November — Saturday
    // in Berlin, still Friday in Los Angeles — awaiting the customer for 7 business days
    let shop = Shop::new(json!({"kind": "one_time"})).await;
    shop.clock.freeze(at("2026-11-27T23:30:00Z"));
    let path = format!("/api/orders/{}/tickets", shop.order_id);
    let (status, opened) = call(
        &shop.app,
        Method::POST,
        &path,
        shop.key(),
        json!({"type": "support", "message": "Fragen?"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let ticket_path = format!("/api/tickets/{}", opened["id"].as_str().unwrap());
    let shown = opened["next_step"].clone();
    assert_eq!(shown["action"], "warn");
    // when the vendor moves to Los Angeles
    let (status, _) = call(
        &shop.app,
        Method::PUT,
        "/api/settings",
        shop.key(),
        json!({"timezone": "America/Los_Angeles"}),
    )
    .await;
    assert_eq!(status, 200);
    // then the ticket still shows the same next step
    let (_, ticket) = shop.vendor_get(&ticket_path).await;
    assert_eq!(ticket["next_step"], shown);
    // and the warning goes out then, not before
    let warn_at = at(shown["at"].as_str().unwrap());
    let warnings = |shop: &Shop| {
        let (store, clock) = (Arc::clone(&shop.app.store), shop.clock.clone());
        async move {
            common::dispatched(&store, clock)
                .await
                .emails()
                .await
                .unwrap()
                .iter()
                .filter(|m| {
                    m.kind == sellerdesk::domain::notifications::EmailKind::TicketInactivityWarning
                })
                .count()
        }
    };
    shop.clock.freeze(warn_at - Duration::minutes(1));
    shop.app.run_sweeps().await.unwrap();
    assert_eq!(warnings(&shop).await, 0);
    shop.clock.freeze(warn_at + Duration::minutes(1));
    shop.app.run_sweeps().await.unwrap();
    assert_eq!(warnings(&shop).await, 2, "one to each side");
}

// R-T6, R-R2 (issue 16, item 16, review): the customer's inactivity warning offers turning the
// ticket into a refund only while a refund can be asked for
#[tokio::test]
async fn the_warning_offers_a_refund_only_while_one_can_be_asked_for() {
    let mut told = Vec::new();
    for days_after_payment in [1, 61] {
        // given a support ticket opened some days after the payment
        let shop = Shop::new(json!({"kind": "one_time"})).await;
        shop.deliver(&session_payment(&shop.order_id, "cs_1", "pi_1", 1190))
            .await;
        shop.clock.advance(Duration::days(days_after_payment));
        let path = format!("/portal/orders/{}/tickets", shop.token);
        let (status, _) = call(
            &shop.app,
            Method::POST,
            &path,
            None,
            json!({"type": "support", "message": "Frage"}),
        )
        .await;
        assert_eq!(status, 201);
        // when the vendor does not answer for two days
        shop.clock.advance(Duration::hours(49));
        shop.app.run_sweeps().await.unwrap();
        let mails = common::dispatched(&shop.app.store, shop.clock.clone())
            .await
            .emails()
            .await
            .unwrap();
        let warning = mails
            .iter()
            .find(|m| {
                m.to == "c@example.com"
                    && m.kind
                        == sellerdesk::domain::notifications::EmailKind::TicketInactivityWarning
            })
            .unwrap();
        told.push(warning.text.contains("Erstattungsanfrage umwandeln"));
    }
    // then only the first customer is offered it
    assert_eq!(told, [true, false]);
}

// R-T3 (issue 16, item 16, review): a vendor's own refund request that waits for its balance
// says so; a link refuses the vendor API's `via`; a parameter given twice is refused
#[tokio::test]
async fn a_waiting_request_says_so_and_odd_input_is_refused() {
    let shop = Shop::new(json!({"kind": "one_time"})).await;
    shop.deliver(&session_payment(&shop.order_id, "cs_1", "pi_1", 1190))
        .await;
    let path = format!("/api/orders/{}/tickets", shop.order_id);
    let (status, opened) = call(
        &shop.app,
        Method::POST,
        &path,
        shop.key(),
        json!({"type": "refund", "message": "Kulanz"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["waits_for_balance"], false);
    // when it comes due while the payment's money is still pending
    shop.clock.advance(Duration::minutes(6));
    shop.app.run_sweeps().await.unwrap();
    let (_, ticket) = shop
        .vendor_get(&format!("/api/tickets/{}", opened["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        (&ticket["state"], &ticket["waits_for_balance"]),
        (&json!("open"), &json!(true)),
        "{ticket}"
    );
    // and through a link, `via` is no field
    let (_, page) = call(
        &shop.app,
        Method::GET,
        &format!("/portal/orders/{}", shop.token),
        None,
        Value::Null,
    )
    .await;
    let link = token_of(&page["tickets"][0]["link"]);
    let (status, _) = call(
        &shop.app,
        Method::POST,
        &format!("/portal/tickets/{link}/comments"),
        None,
        json!({"message": "x", "via": "api"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, answer) = shop.vendor_get("/api/orders?limit=1&limit=2").await;
    assert_eq!(status, 400);
    assert!(answer["error"]["fields"].get("limit").is_some(), "{answer}");
}
