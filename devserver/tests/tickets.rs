//! Tickets over HTTP against the dev server (R-T0–R-T9, R-R2–R-R5): the flow through a
//! refund ticket's grace period across a weekend, and the rules both sides meet on the way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ADMIN, get, new_offer, new_vendor, post_json, start_server, token_of};
use serde_json::{Value, json};

struct Shop {
    server: devserver::RunningServer,
    url: String,
    key: String,
}

impl Shop {
    async fn open(name: &str, at: &str) -> Shop {
        let server = start_server(name).await;
        let url = server.url();
        // Frozen: due times are compared to the second.
        post_json(
            &url,
            "/_dev/clock",
            None,
            &json!({"now": at, "frozen": true}),
        )
        .await;
        let vendor = new_vendor(&url, name).await;
        let key = vendor["api_key"].as_str().unwrap().to_string();
        Shop { server, url, key }
    }

    /// A paid order of `plan` at 9.99 net: (order id, customer token).
    async fn paid_order(&self, plan: Value) -> (String, String) {
        let offer = new_offer(&self.url, &self.key, "9.99", plan).await;
        let order = common::checkout_as(&self.url, &offer["id"], "anna@example.com")
            .await
            .json();
        let token = token_of(&order["customer_link"]);
        let paid = post_json(
            &self.url,
            &format!("/_dev/pay/{token}"),
            None,
            &json!({"outcome": "succeeded"}),
        )
        .await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        (order["order_id"].as_str().unwrap().to_string(), token)
    }

    async fn at(&self, now: &str) {
        let set = post_json(
            &self.url,
            "/_dev/clock",
            None,
            &json!({"now": now, "frozen": true}),
        )
        .await;
        assert_eq!(set.status, 200, "{}", set.text);
    }

    async fn sweep(&self) -> Value {
        let answer = post_json(&self.url, "/_dev/sweep", None, &json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    }

    async fn emails(&self, kind: &str) -> Vec<Value> {
        common::sent_emails(&self.url, kind).await
    }

    async fn page(&self, token: &str) -> Value {
        get(&self.url, &format!("/portal/orders/{token}"), None)
            .await
            .json()
    }

    async fn ledger_debits(&self, order_id: &str) -> usize {
        let history = get(
            &self.url,
            &format!("/api/orders/{order_id}/transactions"),
            Some(&self.key),
        )
        .await
        .json();
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "refund")
            .count()
    }
}

// R-T1, R-T5, R-R2, R-R3, R-R5, R-T9: the flow
#[tokio::test]
async fn a_refund_request_waits_out_the_weekend_and_executes_once_on_monday() {
    // given an order paid Friday morning in Berlin
    let shop = Shop::open("weekend", "2026-11-27T09:00:00Z").await;
    let (order_id, token) = shop.paid_order(json!({"kind": "one_time"})).await;
    // when the customer asks for a refund on Friday evening (20:00 Berlin)
    shop.at("2026-11-27T19:00:00Z").await;
    let opened = post_json(
        &shop.url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "refund", "message": "Bitte Geld zurück"}),
    )
    .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let opened = opened.json();
    // then it is due Monday 20:00 Berlin (Saturday 20:00 deferred off the weekend)
    assert_eq!(opened["due_at"], "2026-11-30T19:00:00Z");
    let ticket_token = token_of(&opened["ticket_link"]);
    // and a second request on the same order is refused while it is open (R-T0)
    let second = post_json(
        &shop.url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "refund", "message": "nochmal"}),
    )
    .await;
    assert_eq!(
        (second.status, second.error_code().as_str()),
        (409, "ticket_already_open")
    );
    // both sides were told, in the one ticket format, the customer with the ticket link
    let opened_mails = shop.emails("ticket_opened").await;
    assert_eq!(opened_mails.len(), 2);
    assert!(
        opened_mails
            .iter()
            .any(|m| m["text"].as_str().unwrap().contains(&ticket_token))
    );

    // nothing happens on Saturday or Sunday
    for weekend in [
        "2026-11-28T19:00:00Z",
        "2026-11-29T19:00:00Z",
        "2026-11-30T18:59:59Z",
    ] {
        shop.at(weekend).await;
        let swept = shop.sweep().await;
        assert_eq!(
            swept["tickets"]["refunds_executed"], 0,
            "{weekend}: {swept}"
        );
        assert_eq!(
            shop.page(&token).await["payment_status"],
            "paid",
            "{weekend}"
        );
    }
    // on Monday at the due time the refund is executed
    shop.at("2026-11-30T19:00:00Z").await;
    shop.sweep().await;
    let page = shop.page(&token).await;
    assert_eq!(
        (page["status"].as_str(), page["payment_status"].as_str()),
        (Some("refunded"), Some("refunded")),
        "{page}"
    );
    assert_eq!(page["lines"][0]["access"]["active"], false);
    // the ticket is closed as executed
    let ticket = get(&shop.url, &format!("/portal/tickets/{ticket_token}"), None)
        .await
        .json();
    assert_eq!(
        (ticket["state"].as_str(), ticket["close_reason"].as_str()),
        (Some("closed"), Some("executed")),
        "{ticket}"
    );
    // two confirmations (customer and vendor) and exactly one ledger debit, the balance negative
    assert_eq!(shop.emails("refund_confirmation").await.len(), 2);
    assert_eq!(shop.ledger_debits(&order_id).await, 1);
    let balance = get(&shop.url, "/api/balance", Some(&shop.key)).await.json();
    assert_eq!(
        balance["balances"],
        json!([{"currency": "EUR", "pending": "9.99", "available": "-9.99"}])
    );
    // running the sweep twice more changes nothing
    for _ in 0..2 {
        let swept = shop.sweep().await;
        assert_eq!(swept["tickets"]["refunds_executed"], 0, "{swept}");
    }
    assert_eq!(shop.emails("refund_confirmation").await.len(), 2);
    assert_eq!(shop.ledger_debits(&order_id).await, 1);
    assert_eq!(
        get(&shop.url, "/api/balance", Some(&shop.key)).await.json(),
        balance
    );
    // and the order may get a new request again (nothing left to refund, though)
    let after = post_json(
        &shop.url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "refund", "message": "?"}),
    )
    .await;
    // issue 10, defect 12: the same code and status as on the vendor's refund route
    assert_eq!(
        (after.status, after.error_code().as_str()),
        (409, "nothing_to_refund")
    );
    shop.server.stop();
}

// R-T2, R-T4, R-T8: the vendor answers, the customer converts, the vendor saves the sale
#[tokio::test]
async fn either_side_talks_converts_and_closes_and_the_vendors_actions_are_reviewed() {
    let shop = Shop::open("talk", "2026-11-23T09:00:00Z").await;
    let (order_id, token) = shop.paid_order(json!({"kind": "one_time"})).await;
    // the customer opens a support ticket; the vendor's help desk answers by API
    let opened = post_json(
        &shop.url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "support", "message": "Download kaputt"}),
    )
    .await
    .json();
    assert_eq!(opened["due_at"], Value::Null);
    let ticket_token = token_of(&opened["ticket_link"]);
    let id = opened["ticket_id"].as_str().unwrap();
    let answer = post_json(
        &shop.url,
        &format!("/api/tickets/{id}/comments"),
        Some(&shop.key),
        &json!({"message": "Bitte neu laden", "via": "api"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["awaiting"], "customer");
    // the customer turns it into a refund request: due a day later
    shop.at("2026-11-24T09:00:00Z").await;
    let converted = post_json(
        &shop.url,
        &format!("/portal/tickets/{ticket_token}/type"),
        None,
        &json!({"type": "refund"}),
    )
    .await;
    assert_eq!(converted.status, 200, "{}", converted.text);
    assert_eq!(converted.json()["due_at"], "2026-11-25T09:00:00Z");
    // the vendor saves the sale by turning it back into support before it is due
    let saved = post_json(
        &shop.url,
        &format!("/api/tickets/{id}/type"),
        Some(&shop.key),
        &json!({"type": "support"}),
    )
    .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.json()["due_at"], Value::Null);
    shop.at("2026-11-25T10:00:00Z").await;
    shop.sweep().await;
    assert_eq!(shop.page(&token).await["payment_status"], "paid");
    // the vendor cannot make it a request; the review log has the vendor's conversion
    let refused = post_json(
        &shop.url,
        &format!("/api/tickets/{id}/type"),
        Some(&shop.key),
        &json!({"type": "refund"}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (403, "only_customer_requests")
    );
    let reviews = get(&shop.url, "/admin/reviews", Some(ADMIN)).await.json();
    assert_eq!(reviews["items"].as_array().unwrap().len(), 1, "{reviews}");
    assert_eq!(reviews["items"][0]["from_type"], "refund");
    assert_eq!(reviews["items"][0]["to_type"], "support");
    // the order card lists the ticket with its history
    let card = get(
        &shop.url,
        &format!("/api/orders/{order_id}"),
        Some(&shop.key),
    )
    .await
    .json();
    assert_eq!(
        card["tickets"][0]["comments"].as_array().unwrap().len(),
        2,
        "{card}"
    );
    // each event e-mailed both sides: opened, reply, changed ×2
    assert_eq!(shop.emails("ticket_changed").await.len(), 4);
    assert_eq!(shop.emails("ticket_reply").await.len(), 2);
    // the list filters by type and state
    let open_support = get(
        &shop.url,
        "/api/tickets?type=support&status=open",
        Some(&shop.key),
    )
    .await
    .json();
    assert_eq!(open_support["total"], 1);
    let refunds = get(&shop.url, "/api/tickets?type=refund", Some(&shop.key))
        .await
        .json();
    assert_eq!(refunds["total"], 0);
    shop.server.stop();
}

// R-T2, R-T3, R-V4
#[tokio::test]
async fn a_restricted_vendor_cannot_save_the_sale_and_its_customers_wait_five_minutes() {
    let shop = Shop::open("restricted", "2026-11-28T09:00:00Z").await;
    let (_, token) = shop.paid_order(json!({"kind": "one_time"})).await;
    let vendor_id = get(&shop.url, "/api/settings", Some(&shop.key))
        .await
        .json()["vendor_id"]
        .as_str()
        .unwrap()
        .to_string();
    // only the platform restricts
    let denied = post_json(
        &shop.url,
        &format!("/admin/vendors/{vendor_id}/restrict"),
        Some(&shop.key),
        &json!({}),
    )
    .await;
    assert_eq!(denied.status, 401);
    let restricted = post_json(
        &shop.url,
        &format!("/admin/vendors/{vendor_id}/restrict"),
        Some(ADMIN),
        &json!({}),
    )
    .await;
    assert_eq!(restricted.json()["restricted"], true);
    // a Saturday refund request is due in five minutes
    let opened = post_json(
        &shop.url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "refund", "message": "zurück"}),
    )
    .await
    .json();
    assert_eq!(opened["due_at"], "2026-11-28T09:05:00Z");
    let id = opened["ticket_id"].as_str().unwrap();
    let close = post_json(
        &shop.url,
        &format!("/api/tickets/{id}/close"),
        Some(&shop.key),
        &json!({}),
    )
    .await;
    assert_eq!(
        (close.status, close.error_code().as_str()),
        (403, "vendor_restricted")
    );
    shop.at("2026-11-28T09:05:00Z").await;
    shop.sweep().await;
    assert_eq!(shop.page(&token).await["status"], "refunded");
    shop.server.stop();
}

// R-R4, R-T2: a vendor-opened cancellation executes in five minutes; access to the period's end
#[tokio::test]
async fn a_cancel_request_ends_the_plan_without_a_refund() {
    let shop = Shop::open("cancel", "2026-11-23T09:00:00Z").await;
    let (order_id, token) = shop
        .paid_order(json!({"kind": "subscription", "interval": "month"}))
        .await;
    let one_time = shop.paid_order(json!({"kind": "one_time"})).await;
    let refused = post_json(
        &shop.url,
        &format!("/portal/orders/{}/tickets", one_time.1),
        None,
        &json!({"type": "cancel", "message": "kündigen"}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (422, "cancel_needs_subscription")
    );
    let opened = post_json(
        &shop.url,
        &format!("/api/orders/{order_id}/tickets"),
        Some(&shop.key),
        &json!({"type": "cancel", "message": "Auf Wunsch gekündigt"}),
    )
    .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    assert_eq!(opened.json()["due_at"], "2026-11-23T09:05:00Z");
    shop.at("2026-11-23T09:05:00Z").await;
    shop.sweep().await;
    let page = shop.page(&token).await;
    assert_eq!(
        (page["status"].as_str(), page["refunded"]["amount"].as_str()),
        (Some("cancelled"), Some("0.00")),
        "{page}"
    );
    assert_eq!(
        page["lines"][0]["access"]["active"], true,
        "access lasts to the end of the paid period"
    );
    assert_eq!(page["lines"][0]["access"]["end"], "2026-12-23T09:00:00Z");
    assert_eq!(shop.emails("cancellation_confirmation").await.len(), 2);
    shop.server.stop();
}

// R-T6: inactivity warnings and auto-close, each once even when sweeps repeat
#[tokio::test]
async fn an_unanswered_ticket_is_warned_twice_and_closed_once() {
    let shop = Shop::open("inactive", "2026-11-23T09:00:00Z").await;
    let (_, token) = shop.paid_order(json!({"kind": "one_time"})).await;
    let opened = post_json(
        &shop.url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "support", "message": "Hallo?"}),
    )
    .await
    .json();
    let ticket_token = token_of(&opened["ticket_link"]);
    for (at, warnings) in [("2026-11-25T09:00:00Z", 2), ("2026-11-27T09:00:00Z", 4)] {
        shop.at(at).await;
        shop.sweep().await;
        shop.sweep().await;
        assert_eq!(
            shop.emails("ticket_inactivity_warning").await.len(),
            warnings,
            "{at}"
        );
    }
    // +144 h is Sunday: closed Monday
    shop.at("2026-11-29T09:00:00Z").await;
    shop.sweep().await;
    assert_eq!(
        get(&shop.url, &format!("/portal/tickets/{ticket_token}"), None)
            .await
            .json()["state"],
        "open"
    );
    shop.at("2026-11-30T09:00:00Z").await;
    shop.sweep().await;
    shop.sweep().await;
    let ticket = get(&shop.url, &format!("/portal/tickets/{ticket_token}"), None)
        .await
        .json();
    assert_eq!(
        (ticket["state"].as_str(), ticket["close_reason"].as_str()),
        (Some("closed"), Some("inactive"))
    );
    assert_eq!(shop.emails("ticket_closed").await.len(), 2);
    let customer_warning = shop
        .emails("ticket_inactivity_warning")
        .await
        .into_iter()
        .find(|m| m["to"] == "anna@example.com")
        .unwrap();
    assert!(
        customer_warning["text"]
            .as_str()
            .unwrap()
            .contains("Erstattungsanfrage"),
        "{customer_warning}"
    );
    shop.server.stop();
}

// Issue 12, §3: nobody floods one order's support: at most five support tickets are open at
// once, and closing one makes room
#[tokio::test]
async fn an_order_has_at_most_five_open_support_tickets() {
    let server = start_server("support-cap").await;
    let url = server.url();
    let vendor = new_vendor(&url, "cap").await;
    let key = vendor["api_key"].as_str().unwrap();
    let offer = new_offer(&url, key, "10.00", json!({"kind": "one_time"})).await;
    let order = common::checkout_as(&url, &offer["id"], "k@example.com")
        .await
        .json();
    let token = token_of(&order["customer_link"]);
    let open = || async {
        post_json(
            &url,
            &format!("/portal/orders/{token}/tickets"),
            None,
            &json!({"type": "support", "message": "Frage"}),
        )
        .await
    };
    let mut links = Vec::new();
    for _ in 0..5 {
        let answer = open().await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        links.push(answer.json()["ticket_link"].clone());
    }
    let sixth = open().await;
    assert_eq!(
        (sixth.status, sixth.error_code().as_str()),
        (409, "too_many_open_tickets")
    );
    let first = token_of(&links[0]);
    let closed = post_json(
        &url,
        &format!("/portal/tickets/{first}/close"),
        None,
        &json!({}),
    )
    .await;
    assert!(closed.status < 300, "{}", closed.text);
    assert_eq!(open().await.status, 201);
}

// Issue 12, §3 (review): a list of tickets stays a small answer: each shows its newest comments
// and how many it has; the ticket's own view shows them all
#[tokio::test]
async fn lists_show_each_tickets_newest_comments_and_the_ticket_all() {
    let server = start_server("ticket-lists").await;
    let url = server.url();
    let vendor = new_vendor(&url, "lists").await;
    let key = vendor["api_key"].as_str().unwrap();
    let offer = new_offer(&url, key, "10.00", json!({"kind": "one_time"})).await;
    let order = common::checkout_as(&url, &offer["id"], "k@example.com")
        .await
        .json();
    let token = token_of(&order["customer_link"]);
    let opened = post_json(
        &url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "support", "message": "Frage 0"}),
    )
    .await
    .json();
    let ticket = token_of(&opened["ticket_link"]);
    for n in 1..6 {
        let answer = post_json(
            &url,
            &format!("/portal/tickets/{ticket}/comments"),
            None,
            &json!({"message": format!("Frage {n}")}),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let list = get(&url, "/api/tickets", Some(key)).await.json();
    let listed = &list["items"][0];
    assert_eq!(listed["comment_count"], 6);
    let shown: Vec<&str> = listed["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(shown, ["Frage 3", "Frage 4", "Frage 5"]);
    let one = get(
        &url,
        &format!("/api/tickets/{}", opened["ticket_id"].as_str().unwrap()),
        Some(key),
    )
    .await
    .json();
    assert_eq!(one["comments"].as_array().unwrap().len(), 6);
}

// Issue 12, §3 (review): with the default limits, a customer's ticket activity mails one
// address at most 30 times an hour, however it is spread over tickets
#[tokio::test]
async fn ticket_changes_that_mail_one_address_are_limited() {
    let config = devserver::config::DevConfig {
        port: 0,
        data_dir: common::temp_dir("ticket-recipient-limit"),
        admin_token: Some(ADMIN.into()),
        stripe_webhook_secret: Some(common::STRIPE_SECRET.into()),
        rate_limits: true,
        aws: false,
        ..Default::default()
    };
    let server = devserver::start(config).await.unwrap();
    let url = server.url();
    let vendor = new_vendor(&url, "recipient").await;
    let key = vendor["api_key"].as_str().unwrap();
    let offer = new_offer(&url, key, "10.00", json!({"kind": "one_time"})).await;
    let order = common::checkout_as(&url, &offer["id"], "k@example.com")
        .await
        .json();
    let token = token_of(&order["customer_link"]);
    let mut statuses = Vec::new();
    for t in 0..5 {
        let opened = post_json(
            &url,
            &format!("/portal/orders/{token}/tickets"),
            None,
            &json!({"type": "support", "message": format!("Ticket {t}")}),
        )
        .await;
        assert_eq!(opened.status, 201, "{}", opened.text);
        let ticket = token_of(&opened.json()["ticket_link"]);
        for n in 0..7 {
            let answer = post_json(
                &url,
                &format!("/portal/tickets/{ticket}/comments"),
                None,
                &json!({"message": format!("Kommentar {n}")}),
            )
            .await;
            statuses.push(answer.status);
        }
    }
    let done = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((done, refused), (30, 5), "{statuses:?}");
}
