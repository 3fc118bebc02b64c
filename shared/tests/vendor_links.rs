//! Who holds which link (issue 16, items 6–8; R-O4, R-T9, R-U1): the vendor holds the order's pay
//! link and its own ticket links, the customer the customer link and the customer's ticket links.
//! A vendor's ticket link acts as the vendor, so R-T3 and the review log apply to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{DateTime, Utc};
use common::stripe_shapes::*;
use common::{ADMIN, call, token_of};
use http::Method;
use sellerdesk::domain::clock::Clock;
use serde_json::{Value, json};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

const VENDOR_MAIL: &str = "v@example.com";
const CUSTOMER_MAIL: &str = "c@example.com";

struct Shop {
    app: sellerdesk::app::App,
    clock: Arc<sellerdesk::domain::clock::SettableClock>,
    vendor: Value,
    order_id: String,
    customer_link: Value,
}

impl Shop {
    /// A vendor's one-time order (11.90 EUR), paid through Stripe on Tuesday 24 November.
    async fn paid() -> Shop {
        let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
        let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
        let shop = Shop {
            app,
            clock,
            vendor,
            order_id: order["order_id"].as_str().unwrap().to_string(),
            customer_link: order["customer_link"].clone(),
        };
        let paid = session_payment(&shop.order_id, "cs_1", "pi_1", 1190);
        assert_eq!(
            common::deliver_stripe(&shop.app, &shop.vendor, shop.clock.now(), &paid).await,
            200
        );
        shop
    }

    fn key(&self) -> Option<&str> {
        self.vendor["api_key"].as_str()
    }

    async fn call(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        call(&self.app, method, path, None, body).await
    }

    async fn vendor_call(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        call(&self.app, method, path, self.key(), body).await
    }

    /// The customer opens a ticket of `kind` from the order link: its id and link.
    async fn customer_opens(&self, kind: &str) -> (String, Value) {
        let path = format!("/portal/orders/{}/tickets", token_of(&self.customer_link));
        let body = json!({"type": kind, "message": "Bitte"});
        let (status, opened) = self.call(Method::POST, &path, body).await;
        assert_eq!(status, 201, "{opened}");
        (
            opened["ticket_id"].as_str().unwrap().to_string(),
            opened["ticket_link"].clone(),
        )
    }

    /// Every e-mail sent so far, as (recipient, text).
    async fn mails(&self) -> Vec<(String, String)> {
        common::dispatched(&self.app.store, self.clock.clone())
            .await
            .emails()
            .await
            .unwrap()
            .into_iter()
            .map(|mail| (mail.to, mail.text))
            .collect()
    }

    /// The ticket links the mails to `to` carry, newest last.
    async fn ticket_links_to(&self, to: &str) -> Vec<String> {
        self.mails()
            .await
            .into_iter()
            .filter(|(recipient, _)| recipient == to)
            .flat_map(|(_, text)| {
                text.split_whitespace()
                    .filter(|word| word.contains("/tickets/"))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The secret half of a link's token: what must never show where it does not belong.
fn secret_of(link: &str) -> String {
    token_of(&json!(link))
        .rsplit('.')
        .next()
        .unwrap()
        .to_string()
}

// R-O4 (issue 16, item 6): the vendor holds the order's pay link — its own scope, view and pay —
// and never the customer link or a customer's ticket link: not on the card, not in a list, not
// in the answer of a ticket it opens, not in its copies of the mails.
#[tokio::test]
async fn the_vendor_holds_the_pay_link_and_never_the_customers_links() {
    // given a paid order, a refund request by the customer and a support ticket by the vendor
    let shop = Shop::paid().await;
    let (request_id, request_link) = shop.customer_opens("refund").await;
    let open_path = format!("/api/orders/{}/tickets", shop.order_id);
    let (status, vendor_opened) = shop
        .vendor_call(
            Method::POST,
            &open_path,
            json!({"type": "support", "message": "Zugang?"}),
        )
        .await;
    assert_eq!(status, 201, "{vendor_opened}");
    assert!(
        vendor_opened.get("ticket_link").is_none(),
        "{vendor_opened}"
    );
    let mut customer_secrets = vec![
        secret_of(shop.customer_link.as_str().unwrap()),
        secret_of(request_link.as_str().unwrap()),
    ];
    let customer_ticket_links = shop.ticket_links_to(CUSTOMER_MAIL).await;
    assert_eq!(customer_ticket_links.len(), 2, "{customer_ticket_links:?}");
    customer_secrets.extend(customer_ticket_links.iter().map(|link| secret_of(link)));
    // when the vendor reads everything it can about the order
    let (_, card) = shop
        .vendor_call(
            Method::GET,
            &format!("/api/orders/{}", shop.order_id),
            Value::Null,
        )
        .await;
    let customer_id = card["customer"]["id"].as_str().unwrap().to_string();
    let mut seen = vec![card.clone(), vendor_opened];
    for path in [
        "/api/orders".to_string(),
        "/api/tickets".to_string(),
        format!("/api/tickets/{request_id}"),
        format!("/api/customers/{customer_id}"),
        format!("/api/orders/{}/transactions", shop.order_id),
    ] {
        let (status, answer) = shop.vendor_call(Method::GET, &path, Value::Null).await;
        assert_eq!(status, 200, "{path}: {answer}");
        seen.push(answer);
    }
    // then no answer and no mail to the vendor carries a customer's secret
    let vendor_mails: Vec<String> = shop
        .mails()
        .await
        .into_iter()
        .filter(|(to, _)| to == VENDOR_MAIL)
        .map(|(_, text)| text)
        .collect();
    assert!(!vendor_mails.is_empty());
    for secret in &customer_secrets {
        for answer in &seen {
            assert!(!answer.to_string().contains(secret.as_str()), "{answer}");
        }
        for mail in &vendor_mails {
            assert!(!mail.contains(secret.as_str()), "{mail}");
        }
    }
    // and the card's pay link opens the order to view and pay, nothing more
    let pay_token = token_of(&card["pay_link"]);
    let (status, page) = shop
        .call(
            Method::GET,
            &format!("/portal/orders/{pay_token}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["opened_with"], "pay_link");
    assert_eq!(page["number"], card["number"]);
    assert_eq!(page["tickets"], json!([]));
    let (status, answer) = shop
        .call(
            Method::POST,
            &format!("/portal/orders/{pay_token}/pay"),
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (409, &json!("nothing_open"))
    );
    let (status, _) = shop
        .call(
            Method::POST,
            &format!("/portal/orders/{pay_token}/tickets"),
            json!({"type": "support", "message": "Hallo"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = shop
        .call(
            Method::GET,
            &format!("/portal/tickets/{pay_token}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404);
    // while the customer link opens everything
    let (_, page) = shop
        .call(
            Method::GET,
            &format!("/portal/orders/{}", token_of(&shop.customer_link)),
            Value::Null,
        )
        .await;
    assert_eq!(page["opened_with"], "customer_link");
    assert_eq!(page["tickets"].as_array().unwrap().len(), 2);
}

// R-T9, R-T3, R-T4 (issue 16, item 7): the vendor's copy of a ticket mail carries the vendor's
// own ticket link — it answers without logging in — acting as the vendor: a restricted vendor
// cannot close through it, and a close through it is reviewed.
#[tokio::test]
async fn the_vendors_copy_of_a_ticket_mail_links_the_ticket_as_the_vendor() {
    // given the customer's refund request
    let shop = Shop::paid().await;
    let (request_id, request_link) = shop.customer_opens("refund").await;
    // then the vendor's mail links the ticket with a link of its own
    let vendor_links = shop.ticket_links_to(VENDOR_MAIL).await;
    assert_eq!(vendor_links.len(), 1, "{vendor_links:?}");
    let vendor_token = token_of(&json!(vendor_links[0]));
    assert_ne!(vendor_token, token_of(&request_link));
    let ticket_path = format!("/portal/tickets/{vendor_token}");
    let (status, ticket) = shop.call(Method::GET, &ticket_path, Value::Null).await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(
        (ticket["id"].as_str(), &ticket["acting_as"]),
        (Some(request_id.as_str()), &json!("vendor"))
    );
    // and it opens neither the order nor the vendor's API
    let (status, _) = shop
        .call(
            Method::GET,
            &format!("/portal/orders/{vendor_token}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404);
    // when the vendor answers through it, the answer is the vendor's and the customer is told
    let (status, answered) = shop
        .call(
            Method::POST,
            &format!("{ticket_path}/comments"),
            json!({"message": "Wir schauen nach"}),
        )
        .await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(
        answered["comments"].as_array().unwrap().last().unwrap()["author"],
        "vendor"
    );
    assert!(
        shop.mails()
            .await
            .iter()
            .any(|(to, text)| to == CUSTOMER_MAIL && text.contains("Wir schauen nach"))
    );
    // and it cannot turn the request into another request (R-T4: support or close only)
    let (status, refused) = shop
        .call(
            Method::POST,
            &format!("{ticket_path}/type"),
            json!({"type": "cancel"}),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    // when the platform restricts the vendor (R-T3), the link can no longer close or convert
    let vendor_id = shop.vendor["vendor_id"].as_str().unwrap();
    let (status, restricted) = call(
        &shop.app,
        Method::POST,
        &format!("/admin/vendors/{vendor_id}/restrict"),
        Some(ADMIN),
        Value::Null,
    )
    .await;
    // (no body restricts, as `{}` does)
    assert_eq!((status, &restricted["restricted"]), (200, &json!(true)));
    for (what, body) in [("close", Value::Null), ("type", json!({"type": "support"}))] {
        let (status, refused) = shop
            .call(Method::POST, &format!("{ticket_path}/{what}"), body)
            .await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (403, Some("vendor_restricted")),
            "{what}"
        );
    }
    // when the restriction is lifted and the vendor closes through the link (the sale saved)
    let (status, _) = call(
        &shop.app,
        Method::POST,
        &format!("/admin/vendors/{vendor_id}/restrict"),
        Some(ADMIN),
        json!({"restricted": false}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, closed) = shop
        .call(Method::POST, &format!("{ticket_path}/close"), Value::Null)
        .await;
    assert_eq!(status, 200, "{closed}");
    // then it closed as the vendor, and the platform reviews it
    assert_eq!(closed["close_reason"], "closed_by_vendor");
    let (_, reviews) = call(
        &shop.app,
        Method::GET,
        "/admin/reviews",
        Some(ADMIN),
        Value::Null,
    )
    .await;
    assert_eq!(reviews["total"], 1, "{reviews}");
    assert_eq!(reviews["items"][0]["ticket_id"], request_id.as_str());
}

// R-U1, R-O4 (issue 16, item 8): the customer's order page lists each ticket with its link, so a
// customer who lost the e-mail can answer, convert or close it.
#[tokio::test]
async fn the_customers_order_page_lists_each_ticket_with_its_link() {
    // given a support ticket the vendor opened (its link went to the customer by mail only)
    let shop = Shop::paid().await;
    let open_path = format!("/api/orders/{}/tickets", shop.order_id);
    let (status, opened) = shop
        .vendor_call(
            Method::POST,
            &open_path,
            json!({"type": "support", "message": "Haben Sie Fragen?"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    // when the customer opens the order page
    let page_path = format!("/portal/orders/{}", token_of(&shop.customer_link));
    let (_, page) = shop.call(Method::GET, &page_path, Value::Null).await;
    // then the ticket is listed with the customer's link — the one the mail carried
    let listed = &page["tickets"][0];
    assert_eq!(listed["id"], opened["id"]);
    let link = listed["link"].as_str().unwrap();
    assert_eq!(
        shop.ticket_links_to(CUSTOMER_MAIL).await,
        vec![link.to_string()]
    );
    // and through it the customer answers and turns it into a refund request
    let ticket_path = format!("/portal/tickets/{}", token_of(&json!(link)));
    let (status, answered) = shop
        .call(
            Method::POST,
            &format!("{ticket_path}/comments"),
            json!({"message": "Ja: ich möchte erstatten lassen"}),
        )
        .await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["acting_as"], "customer");
    assert_eq!(
        answered["comments"].as_array().unwrap().last().unwrap()["author"],
        "customer"
    );
    let (status, converted) = shop
        .call(
            Method::POST,
            &format!("{ticket_path}/type"),
            json!({"type": "refund"}),
        )
        .await;
    assert_eq!(status, 200, "{converted}");
    assert_eq!(converted["type"], "refund");
    // and the vendor's card lists the ticket without any link
    let (_, card) = shop
        .vendor_call(
            Method::GET,
            &format!("/api/orders/{}", shop.order_id),
            Value::Null,
        )
        .await;
    assert!(card["tickets"][0].get("link").is_none(), "{card}");
}

// R-O4 (issue 16, item 6, review): rotating an order's links renews its tickets' links too —
// whoever held the old customer link could read them on the order page — and a replay of the
// checkout that answered the old link refuses rather than hand out the new one
#[tokio::test]
async fn a_rotation_renews_the_tickets_links_and_no_replay_gives_the_new_customer_link() {
    // given an order made with an Idempotency-Key, and a ticket on it
    let (app, clock) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
    let (vendor, _) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str().unwrap();
    let (_, offers) = call(&app, Method::GET, "/api/offers", Some(key), Value::Null).await;
    let checkout_body = json!({"offer_id": offers["items"][0]["id"], "customer": {"email": "c@example.com", "first_name": "C", "last_name": "D", "country": "DE"}}).to_string();
    let checkout = || {
        let mut request = common::request(
            Method::POST,
            "/checkout",
            None,
            checkout_body.clone().into_bytes(),
        );
        request.headers.insert(
            "idempotency-key",
            "6f1d3a2b-8c4e-4f5a-9b7d-1e2f3a4b5c6d".parse().unwrap(),
        );
        let app = app.clone();
        async move {
            let answer = app.handle(&request, |_| true).await;
            let body: Value = serde_json::from_slice(&answer.body).unwrap();
            (answer.status.as_u16(), body)
        }
    };
    let (status, order) = checkout().await;
    assert_eq!(status, 201, "{order}");
    let token = token_of(&order["customer_link"]);
    let (status, opened) = call(
        &app,
        Method::POST,
        &format!("/portal/orders/{token}/tickets"),
        None,
        json!({"type": "support", "message": "Frage"}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let old_ticket = token_of(&opened["ticket_link"]);
    let mailbox = common::dispatched(&app.store, clock.clone()).await;
    let old_vendor_ticket = mailbox
        .emails()
        .await
        .unwrap()
        .iter()
        .filter(|m| m.to == VENDOR_MAIL)
        .find_map(|m| {
            m.text
                .split_whitespace()
                .find(|w| w.contains("/tickets/"))
                .map(|w| token_of(&json!(w)))
        })
        .unwrap();
    // when the vendor rotates the order's links
    let rotate = format!(
        "/api/orders/{}/customer-link/rotate",
        order["order_id"].as_str().unwrap()
    );
    let (status, _) = call(&app, Method::POST, &rotate, Some(key), Value::Null).await;
    assert_eq!(status, 200);
    // then neither of the ticket's old links opens it
    for old in [&old_ticket, &old_vendor_ticket] {
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("/portal/tickets/{old}"),
            None,
            Value::Null,
        )
        .await;
        assert_eq!(status, 404);
    }
    // and the customer finds the ticket's new link on the order page its new link opens
    let renewal = common::dispatched(&app.store, clock.clone())
        .await
        .emails()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.kind == sellerdesk::domain::notifications::EmailKind::OrderLinkRenewed)
        .unwrap();
    let new_link = renewal
        .text
        .split_whitespace()
        .find(|w| w.contains("/orders/"))
        .unwrap()
        .to_string();
    let (_, page) = call(
        &app,
        Method::GET,
        &format!("/portal/orders/{}", token_of(&json!(new_link))),
        None,
        Value::Null,
    )
    .await;
    let new_ticket = token_of(&page["tickets"][0]["link"]);
    assert_ne!(new_ticket, old_ticket);
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/portal/tickets/{new_ticket}"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    // and a replay of the checkout refuses: it would show a link the customer's mail alone carries
    let (status, replayed) = checkout().await;
    assert_eq!(
        (status, &replayed["error"]["code"]),
        (409, &json!("link_revoked")),
        "{replayed}"
    );
    assert!(!replayed.to_string().contains(&secret_of(&new_link)));
}

// R-N1, issue 12 §3 (issue 16, item 6, review): a vendor cannot flood its customer's inbox with
// the platform's mail — link renewals and manual orders count as checkout confirmations do
#[tokio::test]
async fn a_vendor_cannot_flood_a_customers_inbox() {
    let (app, _) = common::app_at(common::embedded(), at("2026-11-24T09:00:00Z"));
    let app = app.with_limits(Some(sellerdesk::usecases::limits::Limits::DEFAULT));
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    let key = vendor["api_key"].as_str();
    let rotate = format!(
        "/api/orders/{}/customer-link/rotate",
        order["order_id"].as_str().unwrap()
    );
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(call(&app, Method::POST, &rotate, key, Value::Null).await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    let (_, offers) = call(&app, Method::GET, "/api/offers", key, Value::Null).await;
    let body = json!({"offer_id": offers["items"][0]["id"], "customer": {"email": "z@example.com", "first_name": "Z", "last_name": "Y", "country": "DE"}});
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            call(&app, Method::POST, "/api/orders", key, body.clone())
                .await
                .0,
        );
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429]);
}

// R-O4 (issue 16, item 6, review): a rotation renews every ticket's links, however many the
// order has, also when it is asked with an Idempotency-Key
#[tokio::test]
async fn a_rotation_renews_the_links_of_every_ticket_however_many() {
    let shop = Shop::paid().await;
    let mut old = Vec::new();
    for _ in 0..40 {
        let (_, link) = shop.customer_opens("support").await;
        let token = token_of(&link);
        let path = format!("/portal/tickets/{token}/close");
        assert_eq!(shop.call(Method::POST, &path, Value::Null).await.0, 200);
        old.push(token);
    }
    let rotate = format!("/api/orders/{}/customer-link/rotate", shop.order_id);
    let mut request = common::request(Method::POST, &rotate, shop.key(), Vec::new());
    request.headers.insert(
        "idempotency-key",
        "3b241101-e2bb-4255-8caf-4136c566a962".parse().unwrap(),
    );
    let answer = shop.app.handle(&request, |_| true).await;
    assert_eq!(answer.status.as_u16(), 200);
    for token in &old {
        let path = format!("/portal/tickets/{token}");
        assert_eq!(shop.call(Method::GET, &path, Value::Null).await.0, 404);
    }
}
