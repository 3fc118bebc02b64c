//! A function's secrets come from Secrets Manager, read once at its cold start (issue 12, §4):
//! the link keys, the admin token the stack generated, the Stripe key and the webhook's endpoint
//! secrets; the function's environment holds only their ARNs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sellerdesk::bootstrap::{self, BootstrapError, Secret};
use sellerdesk::store::dynamo::DynamoStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn create_secret(config: &aws_config::SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(format!("{name}-{}", std::process::id()))
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string()
}

/// A Stripe stand-in that records the `Authorization` header of each call and fails it.
async fn recording_stripe() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (seen, heard) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 16 * 1024];
            let read = stream.read(&mut buffer).await.unwrap_or(0);
            let text = String::from_utf8_lossy(&buffer[..read]).to_string();
            let authorization = text
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("authorization")
                        .then(|| value.trim().to_string())
                })
                .unwrap_or_default();
            let _ = seen.send(authorization);
            let _ = stream
                .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .await;
        }
    });
    (address, heard)
}

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

// Issue 12, §4
#[tokio::test]
async fn a_function_reads_its_secrets_from_secrets_manager_at_cold_start() {
    let Some(config) = common::aws_config().await else {
        return;
    };
    // given the stack's secrets: a generated link key ring and admin token, the operator's
    // Stripe key and the webhook's two endpoint secrets (a rotation in progress)
    let table = format!("secrets-{}", std::process::id());
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &table)
        .create_table_if_missing()
        .await
        .unwrap();
    let admin_token = common::ADMIN;
    let link_keys = create_secret(
        &config,
        "link-keys",
        r#"{"current":"1","1":"k8Jd2LqP0vX7zN4mB9cR5tW1yH6sF3gAeUoIiQaZ"}"#,
    )
    .await;
    let admin = create_secret(&config, "admin-token", admin_token).await;
    let stripe_key = create_secret(&config, "stripe-key", "sk_test_fromsecretsmanager").await;
    let webhook = create_secret(&config, "webhook", "whsec_old,whsec_new").await;
    let (stripe_api, mut stripe_calls) = recording_stripe().await;
    // when a function starts with only their ARNs in its environment
    let env = settings(&[
        ("SELLERDESK_TABLE", &table),
        ("SELLERDESK_PORTAL_BASE_URL", "https://app.example.com"),
        ("SELLERDESK_RATE_LIMITS", "off"),
        ("SELLERDESK_STRIPE_API_URL", &stripe_api),
        (bootstrap::LINK_KEY_SECRET.arn_env, &link_keys),
        (bootstrap::ADMIN_TOKEN_SECRET.arn_env, &admin),
        (bootstrap::STRIPE_SECRET_KEY_SECRET.arn_env, &stripe_key),
        (bootstrap::STRIPE_WEBHOOK_SECRETS_SECRET.arn_env, &webhook),
    ]);
    let (app, _) = bootstrap::aws_runtime(&env, &config).await.unwrap();
    // then the stack's admin token opens the admin routes, and no other does
    let create = json!({"name": "V", "email": "v@example.com"});
    let (status, _) = common::call(
        &app,
        http::Method::POST,
        "/admin/vendors",
        Some("not-the-token"),
        create.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let (vendor, order) = common::vendor_with_order(&app, json!({"kind": "one_time"})).await;
    // ... the customer link comes from the key ring
    assert!(
        order["customer_link"]
            .as_str()
            .unwrap()
            .starts_with("https://app.example.com/orders/")
    );
    // ... the payment page calls Stripe with the key from Secrets Manager
    let pay = format!(
        "/portal/orders/{}/pay",
        common::token_of(&order["customer_link"])
    );
    let (status, _) = common::call(&app, http::Method::POST, &pay, None, Value::Null).await;
    assert_eq!(status, 502);
    assert_eq!(
        stripe_calls.recv().await.unwrap(),
        "Bearer sk_test_fromsecretsmanager"
    );
    // ... and a webhook signed with either endpoint secret is verified
    for secret in ["whsec_old", "whsec_new", "whsec_someone_else"] {
        let body = json!({"id": "evt_1", "type": "customer.created", "created": 1_764_000_000,
            "data": {"object": {"id": "cus_1", "object": "customer"}}})
        .to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature =
            sellerdesk::webhooks::stripe_signature::header_for(secret, now, body.as_bytes());
        let mut request = common::request(
            http::Method::POST,
            "/webhooks/stripe",
            None,
            body.into_bytes(),
        );
        request
            .headers
            .insert("stripe-signature", signature.parse().unwrap());
        let status = app.handle(&request, |_| true).await.status.as_u16();
        let verified = secret != "whsec_someone_else";
        assert_eq!(
            status != 400 && status != 401,
            verified,
            "{secret}: {status}"
        );
    }
    assert!(vendor["vendor_id"].is_string());
}

// Issue 12, §4: a secret the stack created but nobody filled in is no secret; one that cannot be
// read stops the function at start, naming the secret and never a value.
#[tokio::test]
async fn a_placeholder_is_no_secret_and_an_unreadable_one_stops_the_start() {
    let Some(config) = common::aws_config().await else {
        return;
    };
    let placeholder = create_secret(&config, "placeholder", bootstrap::UNSET_SECRET).await;
    let env = settings(&[(bootstrap::STRIPE_SECRET_KEY_SECRET.arn_env, &placeholder)]);
    let reader = bootstrap::SecretReader::new(&env, &config);
    assert_eq!(
        reader
            .read(bootstrap::STRIPE_SECRET_KEY_SECRET)
            .await
            .unwrap(),
        None
    );
    // a plain variable serves local runs; the ARN wins where both are set
    let both = settings(&[
        (bootstrap::STRIPE_SECRET_KEY_SECRET.arn_env, &placeholder),
        (
            bootstrap::STRIPE_SECRET_KEY_SECRET.plain_env,
            "sk_test_plain",
        ),
    ]);
    let reader = bootstrap::SecretReader::new(&both, &config);
    assert_eq!(
        reader
            .read(bootstrap::STRIPE_SECRET_KEY_SECRET)
            .await
            .unwrap(),
        None
    );
    let plain = settings(&[(
        bootstrap::STRIPE_SECRET_KEY_SECRET.plain_env,
        "sk_test_plain",
    )]);
    let reader = bootstrap::SecretReader::new(&plain, &config);
    assert_eq!(
        reader
            .read(bootstrap::STRIPE_SECRET_KEY_SECRET)
            .await
            .unwrap()
            .as_deref(),
        Some("sk_test_plain")
    );
    let missing = Secret {
        arn_env: "SELLERDESK_TEST_SECRET_ARN",
        plain_env: "SELLERDESK_TEST_SECRET",
    };
    let env = settings(&[(
        "SELLERDESK_TEST_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:nothing-here",
    )]);
    let reader = bootstrap::SecretReader::new(&env, &config);
    match reader.read(missing).await {
        Err(error @ BootstrapError::Secret { .. }) => {
            assert!(
                error.to_string().contains("SELLERDESK_TEST_SECRET_ARN"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
}
