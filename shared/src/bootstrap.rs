//! Building the application from its environment: on Lambda (and `devserver --aws`) the AWS
//! adapters; each client is built once and shared.

use crate::app::App;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::ids::OsEntropy;
use crate::domain::token::{LinkKey, SecretDigest};
use crate::outbox::dispatch::Dispatcher;
use crate::outbox::eventbridge::EventBridgePublisher;
use crate::outbox::ses::SesMailer;
use crate::payments::https::{HttpsClient, native_roots};
use crate::payments::stripe_api::{STRIPE_API, StripeApi};
use crate::payments::{NoProvider, PaymentProvider};
use crate::store::dynamo::DynamoStore;
use crate::webhooks::paypal_signature::{HttpsCertificates, PayPalVerifier};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is malformed")]
    Malformed(&'static str),
    #[error("the HTTPS client could not be set up")]
    Https(#[source] crate::payments::https::TransportError),
}

pub const TABLE_ENV: &str = "SELLERDESK_TABLE";
pub const ADMIN_TOKEN_DIGEST_ENV: &str = "SELLERDESK_ADMIN_TOKEN_SHA256";
pub const LINK_KEY_ENV: &str = "SELLERDESK_LINK_KEY";
pub const MAIL_FROM_ENV: &str = "SELLERDESK_MAIL_FROM";
pub const EVENT_BUS_ENV: &str = "SELLERDESK_EVENT_BUS";
/// The SES configuration set mail is sent with; its bounces and complaints feed the
/// suppression list (`outbox::suppression`).
pub const MAIL_CONFIGURATION_SET_ENV: &str = "SELLERDESK_MAIL_CONFIGURATION_SET";
/// The endpoint secrets Stripe issued to the platform's webhook, comma-separated (several during
/// a rotation).
pub const STRIPE_WEBHOOK_SECRETS_ENV: &str = "SELLERDESK_STRIPE_WEBHOOK_SECRETS";
/// The abuse limits on public routes: `off`, or `on` (the defaults) with overrides per hour,
/// e.g. `on,checkouts_per_recipient=10`.
pub const RATE_LIMITS_ENV: &str = "SELLERDESK_RATE_LIMITS";
/// The platform frontend's base URL: a new vendor's `portal_base_url`; `https://` only.
pub const PORTAL_BASE_URL_ENV: &str = "SELLERDESK_PORTAL_BASE_URL";
/// The id PayPal gave the platform's webhook.
pub const PAYPAL_WEBHOOK_ID_ENV: &str = "SELLERDESK_PAYPAL_WEBHOOK_ID";
/// The platform's Stripe secret key; without it, payment pages answer `provider_unavailable`.
pub const STRIPE_SECRET_KEY_ENV: &str = "SELLERDESK_STRIPE_SECRET_KEY";
/// Stripe's API address (tests point it at a local mock).
pub const STRIPE_API_URL_ENV: &str = "SELLERDESK_STRIPE_API_URL";
/// How long one call to a provider or for a certificate may take.
pub use crate::payments::https::OUTBOUND_TIMEOUT;

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

/// The key customer links are derived from (base64url, 32 bytes): the same in every function
/// and every cold start, or links would stop working.
pub fn link_key_from_env() -> Result<LinkKey, BootstrapError> {
    let text = std::env::var(LINK_KEY_ENV).map_err(|_| BootstrapError::Missing(LINK_KEY_ENV))?;
    LinkKey::from_base64(&text).map_err(|_| BootstrapError::Malformed(LINK_KEY_ENV))
}

/// Where the AWS resources are: the table, the sender, the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub table: String,
    pub mail_from: String,
    pub mail_configuration_set: Option<String>,
    pub event_bus: String,
}

impl AwsSettings {
    /// From the environment; the table is required unless a default is given (the dev server's).
    pub fn from_env(default_table: Option<&str>) -> Result<AwsSettings, BootstrapError> {
        let table = match (std::env::var(TABLE_ENV), default_table) {
            (Ok(table), _) if !table.is_empty() => table,
            (_, Some(default)) => default.to_string(),
            _ => return Err(BootstrapError::Missing(TABLE_ENV)),
        };
        Ok(AwsSettings {
            table,
            mail_from: std::env::var(MAIL_FROM_ENV)
                .unwrap_or_else(|_| "noreply@sellerdesk.invalid".into()),
            mail_configuration_set: std::env::var(MAIL_CONFIGURATION_SET_ENV)
                .ok()
                .filter(|name| !name.is_empty()),
            event_bus: std::env::var(EVENT_BUS_ENV).unwrap_or_else(|_| "default".into()),
        })
    }
}

/// The AWS adapters a process needs, from one SDK configuration.
pub struct AwsAdapters {
    pub store: Arc<DynamoStore>,
    pub mailer: Arc<SesMailer>,
    pub events: Arc<EventBridgePublisher>,
}

pub async fn aws_adapters(settings: &AwsSettings) -> AwsAdapters {
    let config = crate::aws::load_function_config().await;
    AwsAdapters {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&config),
            &settings.table,
        )),
        mailer: Arc::new(
            SesMailer::new(aws_sdk_sesv2::Client::new(&config), &settings.mail_from)
                .with_configuration_set(settings.mail_configuration_set.clone()),
        ),
        events: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&config),
            &settings.event_bus,
        )),
    }
}

/// The application as a Lambda function runs it.
pub async fn aws_app_from_env() -> Result<App, BootstrapError> {
    Ok(aws_runtime_from_env().await?.0)
}

/// The application and the outbox dispatcher over the same clients (the worker functions).
pub async fn aws_runtime_from_env() -> Result<(App, Dispatcher), BootstrapError> {
    let adapters = aws_adapters(&AwsSettings::from_env(None)?).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let https = HttpsClient::new(OUTBOUND_TIMEOUT).map_err(BootstrapError::Https)?;
    let payments: Arc<dyn PaymentProvider> = match std::env::var(STRIPE_SECRET_KEY_ENV) {
        Ok(key) if !key.is_empty() => {
            let base = std::env::var(STRIPE_API_URL_ENV).unwrap_or_else(|_| STRIPE_API.into());
            Arc::new(StripeApi::new(https.clone(), &base, key))
        }
        _ => Arc::new(NoProvider),
    };
    let paypal = PayPalVerifier::new(Arc::new(HttpsCertificates(https)), native_roots());
    let dispatcher = Dispatcher::new(
        adapters.store.clone(),
        adapters.mailer,
        adapters.events,
        clock.clone(),
    );
    let app = App::new(
        adapters.store,
        clock,
        Arc::new(OsEntropy),
        admin_token_from_env()?,
        link_key_from_env()?,
    )
    .with_payments(payments)
    .with_paypal(paypal)
    .with_webhook_secrets(webhook_secrets_from_env())
    .with_limits(rate_limits(
        &std::env::var(RATE_LIMITS_ENV).unwrap_or_else(|_| "on".into()),
    )?)
    .with_portal(portal_policy(std::env::var(PORTAL_BASE_URL_ENV).ok())?);
    Ok((app, dispatcher))
}

/// The limits a `SELLERDESK_RATE_LIMITS` value names (see there); anything else is refused at
/// start, so a typo cannot switch the limits off.
pub fn rate_limits(text: &str) -> Result<Option<crate::usecases::limits::Limits>, BootstrapError> {
    use crate::usecases::limits::{Limits, Rate};
    let mut parts = text.split(',').map(str::trim);
    match parts.next() {
        Some("off") => return Ok(None),
        Some("on") | Some("") | None => {}
        Some(_) => return Err(BootstrapError::Malformed(RATE_LIMITS_ENV)),
    }
    let mut limits = Limits::DEFAULT;
    for part in parts.filter(|p| !p.is_empty()) {
        let (name, count) = part
            .split_once('=')
            .ok_or(BootstrapError::Malformed(RATE_LIMITS_ENV))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| BootstrapError::Malformed(RATE_LIMITS_ENV))?;
        let slot = match name.trim() {
            "checkouts_per_source" => &mut limits.checkouts_per_source,
            "checkouts_per_recipient" => &mut limits.checkouts_per_recipient,
            "checkouts_per_vendor" => &mut limits.checkouts_per_vendor,
            "tickets_per_source" => &mut limits.tickets_per_source,
            "comments_per_ticket" => &mut limits.comments_per_ticket,
            "ticket_changes_per_recipient" => &mut limits.ticket_changes_per_recipient,
            _ => return Err(BootstrapError::Malformed(RATE_LIMITS_ENV)),
        };
        *slot = Rate::per_hour(count);
    }
    Ok(Some(limits))
}

/// On AWS customer links point at the platform's frontend over HTTPS only: a missing or plain
/// HTTP base URL stops the function at start, so no customer mail goes out with a localhost link.
pub fn portal_policy(
    base_url: Option<String>,
) -> Result<crate::domain::vendors::PortalPolicy, BootstrapError> {
    let base = base_url
        .map(|url| url.trim().trim_end_matches('/').to_string())
        .filter(|url| !url.is_empty())
        .ok_or(BootstrapError::Missing(PORTAL_BASE_URL_ENV))?;
    if !base.starts_with("https://") || base.len() <= "https://".len() {
        return Err(BootstrapError::Malformed(PORTAL_BASE_URL_ENV));
    }
    Ok(crate::domain::vendors::PortalPolicy {
        default_base_url: base,
        require_https: true,
    })
}

/// The secrets of a comma-separated list (a rotation names the new one beside the old).
pub fn secret_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .map(str::to_string)
        .collect()
}

/// The platform's webhook secrets from the environment; none set, every webhook is refused.
pub fn webhook_secrets_from_env() -> crate::app::WebhookSecrets {
    crate::app::WebhookSecrets {
        stripe: secret_list(&std::env::var(STRIPE_WEBHOOK_SECRETS_ENV).unwrap_or_default()),
        paypal_webhook_id: std::env::var(PAYPAL_WEBHOOK_ID_ENV)
            .ok()
            .filter(|id| !id.trim().is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 12, §1: rotating the platform's Stripe secret is a configuration change with both
    // secrets current at once.
    #[test]
    fn a_rotation_lists_the_old_and_the_new_secret() {
        assert_eq!(
            secret_list(" whsec_old , whsec_new,"),
            vec!["whsec_old".to_string(), "whsec_new".to_string()]
        );
        assert!(secret_list("").is_empty());
    }

    // Issue 12, §3: the limits are settings; a typo never switches them off.
    #[test]
    fn rate_limits_are_on_by_default_and_read_their_overrides() {
        use crate::usecases::limits::{Limits, Rate};
        assert_eq!(rate_limits("on").unwrap(), Some(Limits::DEFAULT));
        assert_eq!(rate_limits("").unwrap(), Some(Limits::DEFAULT));
        assert_eq!(rate_limits("off").unwrap(), None);
        let raised = rate_limits("on, checkouts_per_recipient=10")
            .unwrap()
            .unwrap();
        assert_eq!(raised.checkouts_per_recipient, Rate::per_hour(10));
        for bad in ["of", "on,checkouts=3", "on,tickets_per_source=many"] {
            assert!(rate_limits(bad).is_err(), "{bad}");
        }
    }

    // Issue 12, §4: no customer link over plain HTTP, nor to localhost, on AWS.
    #[test]
    fn the_portal_on_aws_is_https_only() {
        let policy = portal_policy(Some("https://app.example.com/".into())).unwrap();
        assert_eq!(policy.default_base_url, "https://app.example.com");
        assert!(policy.require_https);
        for bad in [
            None,
            Some(String::new()),
            Some("http://localhost:3000".into()),
        ] {
            assert!(portal_policy(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
