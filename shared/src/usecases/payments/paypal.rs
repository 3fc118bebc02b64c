//! `POST /webhooks/paypal/{vendor_id}` (R-P1): the transmission signature is verified against
//! the vendor's PayPal webhook id before the body is parsed; the event is then translated into a
//! provider-neutral fact and applied at most once per event id.

use crate::domain::ids::{OrderId, VendorId};
use crate::domain::money::{Currency, Money};
use crate::domain::vendors::Vendor;
use crate::store::StoreError;
use crate::usecases::payments::{self, Fact, Outcome, Provider, ProviderEvent, ProviderIds};
use crate::usecases::ports::UseCaseError;
use crate::usecases::ports::{Freshness, Ports};
use crate::webhooks::paypal_signature::{PayPalSignatureError, PayPalVerifier, Transmission};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum PayPalWebhookError {
    #[error("invalid signature")]
    InvalidSignature(#[source] PayPalSignatureError),
    #[error("the event is not a PayPal event")]
    Malformed(#[source] serde_json::Error),
    #[error(transparent)]
    UseCase(#[from] UseCaseError),
}

impl From<StoreError> for PayPalWebhookError {
    fn from(error: StoreError) -> Self {
        PayPalWebhookError::UseCase(UseCaseError::Store(error))
    }
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    event_type: String,
    resource: Value,
}

fn text<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

pub async fn receive(
    ports: Ports<'_>,
    verifier: &PayPalVerifier,
    vendor_id: &VendorId,
    transmission: Result<Transmission, PayPalSignatureError>,
    body: &[u8],
) -> Result<Outcome, PayPalWebhookError> {
    let now = ports.clock.now();
    let refused = || PayPalWebhookError::InvalidSignature(PayPalSignatureError::NoWebhookId);
    let Some((kept, freshness)) = ports.vendors.get(ports.store, vendor_id, now).await? else {
        return Err(refused());
    };
    let transmission = transmission.map_err(PayPalWebhookError::InvalidSignature)?;
    let verify = |vendor: Vendor| async {
        let checked = verifier
            .verify(
                &transmission,
                vendor.paypal_webhook_id.as_deref(),
                body,
                now,
            )
            .await;
        checked.map(|()| vendor)
    };
    let vendor = match (verify(kept).await, freshness) {
        (Ok(vendor), _) => vendor,
        // A kept profile may predate a new webhook id: check once against a fresh read.
        (Err(_), Freshness::Kept) => {
            let fresh = ports
                .vendors
                .read(ports.store, vendor_id, now)
                .await?
                .ok_or_else(refused)?;
            verify(fresh)
                .await
                .map_err(PayPalWebhookError::InvalidSignature)?
        }
        (Err(error), Freshness::Read) => return Err(PayPalWebhookError::InvalidSignature(error)),
    };
    let event: Event = serde_json::from_slice(body).map_err(PayPalWebhookError::Malformed)?;
    Ok(payments::apply(ports, &vendor, &translate(event)).await?)
}

/// What a PayPal event says, in the provider-neutral terms of `usecases::payments`.
fn translate(event: Event) -> ProviderEvent {
    let resource = &event.resource;
    let resource_id = text(resource, "/id").map(str::to_string);
    let mut subscription = None;
    let fact = match (event.event_type.as_str(), resource_id.clone()) {
        ("PAYMENT.CAPTURE.COMPLETED", Some(capture)) => money(
            capture,
            text(resource, "/amount/value"),
            text(resource, "/amount/currency_code"),
        ),
        ("PAYMENT.SALE.COMPLETED", Some(sale)) => {
            subscription = text(resource, "/billing_agreement_id");
            money(
                sale,
                text(resource, "/amount/total"),
                text(resource, "/amount/currency"),
            )
        }
        ("PAYMENT.CAPTURE.DENIED", Some(capture)) => Fact::PaymentFailed {
            failure_key: capture.clone(),
            reference: capture,
        },
        ("BILLING.SUBSCRIPTION.PAYMENT.FAILED", Some(id)) => {
            subscription = text(resource, "/id");
            // Each failed billing attempt is its own event.
            Fact::PaymentFailed {
                reference: id,
                failure_key: event.id.clone(),
            }
        }
        ("BILLING.SUBSCRIPTION.CANCELLED", Some(_)) => {
            subscription = text(resource, "/id");
            Fact::PlanEnded
        }
        // Refunds are confirmed with the refund flow (R-R5); until then recorded as ignored.
        _ => Fact::Nothing,
    };
    let order_id = ["/custom_id", "/custom", "/purchase_units/0/custom_id"]
        .iter()
        .filter_map(|pointer| text(resource, pointer))
        .find_map(|id| OrderId::parse(id).ok());
    ProviderEvent {
        provider: Provider::PayPal,
        order_id,
        customer_id: None,
        ids: ProviderIds {
            subscription: subscription.map(str::to_string),
            ..ProviderIds::default()
        },
        fact,
        id: event.id,
        event_type: event.event_type,
    }
}

/// PayPal amounts are decimal strings in the currency's unit.
fn money(payment_key: String, value: Option<&str>, currency: Option<&str>) -> Fact {
    let currency: Option<Currency> = currency.and_then(|code| code.parse().ok());
    match (value, currency) {
        (Some(value), Some(currency)) => match Money::parse(value, currency) {
            Ok(amount) => Fact::MoneyArrived {
                payment_key,
                amount,
            },
            Err(_) => Fact::Nothing,
        },
        _ => Fact::Nothing,
    }
}
