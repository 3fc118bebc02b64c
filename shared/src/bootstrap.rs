//! Building the application from its environment: on Lambda (and `devserver --aws`) the AWS
//! adapters; each client is built once and shared.

use crate::app::App;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::ids::OsEntropy;
use crate::domain::token::SecretDigest;
use crate::outbox::eventbridge::EventBridgePublisher;
use crate::outbox::ses::SesMailer;
use crate::store::dynamo::DynamoStore;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is malformed")]
    Malformed(&'static str),
}

pub const TABLE_ENV: &str = "SELLERDESK_TABLE";
pub const ADMIN_TOKEN_DIGEST_ENV: &str = "SELLERDESK_ADMIN_TOKEN_SHA256";
pub const MAIL_FROM_ENV: &str = "SELLERDESK_MAIL_FROM";
pub const EVENT_BUS_ENV: &str = "SELLERDESK_EVENT_BUS";

fn required(name: &'static str) -> Result<String, BootstrapError> {
    std::env::var(name).map_err(|_| BootstrapError::Missing(name))
}

/// The admin token's SHA-256 from the environment (the deployment never sees the token itself).
pub fn admin_token_from_env() -> Result<Option<SecretDigest>, BootstrapError> {
    match std::env::var(ADMIN_TOKEN_DIGEST_ENV) {
        Err(_) => Ok(None),
        Ok(hex) if hex.is_empty() => Ok(None),
        Ok(hex) => SecretDigest::from_hex(&hex)
            .map(Some)
            .ok_or(BootstrapError::Malformed(ADMIN_TOKEN_DIGEST_ENV)),
    }
}

/// The AWS adapters a process needs, from one SDK configuration.
pub struct AwsAdapters {
    pub store: Arc<DynamoStore>,
    pub mailer: Arc<SesMailer>,
    pub events: Arc<EventBridgePublisher>,
}

pub async fn aws_adapters_from_env() -> Result<AwsAdapters, BootstrapError> {
    let config = crate::aws::load_config().await;
    let table = required(TABLE_ENV)?;
    let from = std::env::var(MAIL_FROM_ENV).unwrap_or_else(|_| "noreply@sellerdesk.invalid".into());
    let bus = std::env::var(EVENT_BUS_ENV).unwrap_or_else(|_| "default".into());
    Ok(AwsAdapters {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&config),
            table,
        )),
        mailer: Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(&config), from)),
        events: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&config),
            bus,
        )),
    })
}

/// The application as a Lambda function runs it.
pub async fn aws_app_from_env() -> Result<App, BootstrapError> {
    let adapters = aws_adapters_from_env().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ok(App::new(
        adapters.store,
        clock,
        Arc::new(OsEntropy),
        admin_token_from_env()?,
    ))
}
