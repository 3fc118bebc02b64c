//! What the DynamoDB adapter sends, read off the wire by an SDK interceptor (moto ignores it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use sellerdesk::store::dynamo::DynamoStore;
use sellerdesk::store::{Item, ItemStore, Key, Write};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Keeps the body of every TransactWriteItems request.
#[derive(Debug, Default, Clone)]
struct Transactions(Arc<Mutex<Vec<serde_json::Value>>>);

impl Intercept for Transactions {
    fn name(&self) -> &'static str {
        "Transactions"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let is_transaction = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|target| target.ends_with("TransactWriteItems"));
        if is_transaction && let Some(body) = request.body().bytes() {
            self.0.lock().unwrap().push(serde_json::from_slice(body)?);
        }
        Ok(())
    }
}

// Issue 11, §2: a committed transaction whose answer is lost must not apply twice when the SDK
// retries it, so every call carries a ClientRequestToken, the same across the SDK's own retries
// and new for the next call.
#[tokio::test]
async fn every_transaction_carries_its_own_client_request_token() {
    let Some(config) = common::aws_config().await else {
        return;
    };
    let sent = Transactions::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(sent.clone())
            .build(),
    );
    let store = DynamoStore::new(client, format!("tokens-{}", std::process::id()));
    store.create_table_if_missing().await.unwrap();
    // when two transactions are written
    for n in 0..2 {
        let item = Item::new(Key::new("V#ven_1", format!("ITEM#{n}")), json!({"n": n}));
        store.transact(vec![Write::create(item)]).await.unwrap();
    }
    // then each request carried a token, and not the same one
    let bodies = sent.0.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let tokens: Vec<&str> = bodies
        .iter()
        .map(|body| {
            body["ClientRequestToken"]
                .as_str()
                .expect("a ClientRequestToken")
        })
        .collect();
    assert!(
        tokens.iter().all(|t| !t.is_empty() && t.len() <= 36),
        "{tokens:?}"
    );
    assert_ne!(tokens[0], tokens[1]);
}
