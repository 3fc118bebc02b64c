//! Logs never hold secrets (DESIGN.md "Observability"): the request span names the route's
//! template, never a path that carries a customer-link or ticket token (issue 10, defect 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{get, new_offer, post_json, start_binary, temp_dir, token_of};
use serde_json::json;

#[tokio::test]
async fn the_log_of_a_customer_journey_holds_no_token_key_or_secret() {
    // given the real binary with its log captured
    let data = temp_dir("logs");
    let mut server = start_binary(&data, Some("logs-admin-token-0123456789")).await;
    let url = server.url.clone();
    let vendor = post_json(
        &url,
        "/admin/vendors",
        Some(&server.admin_token),
        &json!({"name": "Kurswerk", "email": "info@kurswerk.example"}),
    )
    .await
    .json();
    let api_key = vendor["api_key"].as_str().unwrap().to_string();
    let offer = new_offer(&url, &api_key, "9.99", json!({"kind": "one_time"})).await;
    // when a customer checks out, opens the order page, the payment page and a ticket
    let checkout = common::checkout_as(&url, &offer["id"], "anna@example.com").await;
    assert_eq!(checkout.status, 201, "{}", checkout.text);
    let token = token_of(&checkout.json()["customer_link"]);
    assert_eq!(
        get(&url, &format!("/portal/orders/{token}"), None)
            .await
            .status,
        200
    );
    let pay = post_json(
        &url,
        &format!("/portal/orders/{token}/pay"),
        None,
        &json!({}),
    )
    .await;
    let pay_path = pay.json()["payment_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&url)
        .to_string();
    assert_eq!(get(&url, &pay_path, None).await.status, 200);
    let ticket = post_json(
        &url,
        &format!("/portal/orders/{token}/tickets"),
        None,
        &json!({"type": "support", "message": "Wo ist mein Zugang?"}),
    )
    .await;
    assert_eq!(ticket.status, 201, "{}", ticket.text);
    let ticket_token = token_of(&ticket.json()["ticket_link"]);
    assert_eq!(
        get(&url, &format!("/portal/tickets/{ticket_token}"), None)
            .await
            .status,
        200
    );
    assert_eq!(get(&url, "/api/settings", Some(&api_key)).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.child.kill().await.unwrap();
    // then the log names the routes it served by their templates
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("/portal/orders/{token}"), "{log}");
    assert!(log.contains("/portal/tickets/{ticket_token}"), "{log}");
    // and holds none of the secrets
    let secret_part = |token: &str| token.rsplit('.').next().unwrap().to_string();
    let webhook_secret = server.stripe_webhook_secret.clone();
    assert!(
        webhook_secret.starts_with("whsec_"),
        "the banner shows the generated secret"
    );
    for (what, secret) in [
        ("customer-link token", secret_part(&token)),
        ("ticket token", secret_part(&ticket_token)),
        ("api key", secret_part(&api_key)),
        ("webhook secret", webhook_secret.to_string()),
        ("admin token", server.admin_token.clone()),
    ] {
        assert!(!log.contains(&secret), "the log holds the {what}");
    }
}
