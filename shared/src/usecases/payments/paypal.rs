//! `POST /webhooks/paypal` (R-P1): the platform app's events; the transmission signature is
//! verified against the platform's PayPal webhook id before the body is parsed; the event is then
//! translated into a provider-neutral fact and applied at most once per event id to the order its
//! `custom_id` names (`{vendor_id}/{order_id}`, set by the platform).

use crate::domain::ids::{OrderId, VendorId};
use crate::domain::money::{Currency, Money};
use crate::payments::RefundState;
use crate::store::StoreError;
use crate::usecases::payments::{
    self, Fact, Outcome, Provider, ProviderEvent, ProviderIds, RefundReport,
};
use crate::usecases::ports::Ports;
use crate::usecases::ports::UseCaseError;
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

/// `webhook_id`: the id PayPal gave the platform's webhook, part of every signed transmission.
pub async fn receive(
    ports: Ports<'_>,
    verifier: &PayPalVerifier,
    webhook_id: Option<&str>,
    transmission: Result<Transmission, PayPalSignatureError>,
    body: &[u8],
) -> Result<Outcome, PayPalWebhookError> {
    let transmission = transmission.map_err(PayPalWebhookError::InvalidSignature)?;
    verifier
        .verify(&transmission, webhook_id, body, ports.clock.now())
        .await
        .map_err(PayPalWebhookError::InvalidSignature)?;
    let event: Event = serde_json::from_slice(body).map_err(PayPalWebhookError::Malformed)?;
    Ok(payments::receive(ports, translate(event)).await?)
}

/// The vendor and order of a `custom_id` the platform set: `{vendor_id}/{order_id}`.
pub fn custom_id(vendor: &VendorId, order: &OrderId) -> String {
    format!("{vendor}/{order}")
}

fn parse_custom_id(text: &str) -> Option<(VendorId, OrderId)> {
    let (vendor, order) = text.split_once('/')?;
    Some((VendorId::parse(vendor).ok()?, OrderId::parse(order).ok()?))
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
            intent: None,
            by_session: false,
            rate: None,
            period_start: None,
        },
        ("BILLING.SUBSCRIPTION.PAYMENT.FAILED", Some(id)) => {
            subscription = text(resource, "/id");
            // Each failed billing attempt is its own event.
            Fact::PaymentFailed {
                reference: id,
                failure_key: event.id.clone(),
                intent: None,
                by_session: false,
                rate: None,
                period_start: None,
            }
        }
        ("BILLING.SUBSCRIPTION.CANCELLED", Some(_)) => {
            subscription = text(resource, "/id");
            Fact::PlanEnded
        }
        // A refund made in PayPal (the platform starts none there yet): recorded once as a
        // refund of the capture it names (issue 13, defect 10).
        ("PAYMENT.CAPTURE.REFUNDED", Some(refund)) => {
            refund_report(resource, refund).map_or(Fact::Nothing, |report| Fact::Refunds {
                reports: vec![report],
                charge_total: None,
            })
        }
        _ => Fact::Nothing,
    };
    let placed = ["/custom_id", "/custom", "/purchase_units/0/custom_id"]
        .iter()
        .filter_map(|pointer| text(resource, pointer))
        .find_map(parse_custom_id);
    let (vendor_id, order_id) = placed.unzip();
    ProviderEvent {
        provider: Provider::PayPal,
        vendor_id,
        order_id,
        customer_id: None,
        ids: ProviderIds {
            subscription: subscription.map(str::to_string),
            ..ProviderIds::default()
        },
        fact,
        // Only a Stripe charge's total needs its report's time (dashboard refunds).
        created: None,
        id: event.id,
        event_type: event.event_type,
    }
}

/// A PayPal refund as the provider-neutral report: the capture it refunds is its `up` link.
fn refund_report(resource: &Value, refund: String) -> Option<RefundReport> {
    let currency: Currency = text(resource, "/amount/currency_code")?.parse().ok()?;
    let amount = Money::parse(text(resource, "/amount/value")?, currency).ok()?;
    let state = match text(resource, "/status")? {
        "COMPLETED" => RefundState::Succeeded,
        "FAILED" | "CANCELLED" => RefundState::Failed,
        _ => RefundState::Pending,
    };
    let capture = resource
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|link| link.get("rel").and_then(Value::as_str) == Some("up"))
        .and_then(|link| link.get("href").and_then(Value::as_str))
        .and_then(|href| href.rsplit('/').next())
        .map(str::to_string);
    Some(RefundReport {
        provider_refund: refund,
        refund_id: None,
        amount,
        state,
        part: None,
        payment: capture,
    })
}

/// PayPal amounts are decimal strings in the currency's unit.
fn money(payment_key: String, value: Option<&str>, currency: Option<&str>) -> Fact {
    let currency: Option<Currency> = currency.and_then(|code| code.parse().ok());
    match (value, currency) {
        (Some(value), Some(currency)) => match Money::parse(value, currency) {
            Ok(amount) => Fact::MoneyArrived {
                payment_key,
                ids: Vec::new(),
                amount,
                period_start: None,
                rate: None,
            },
            Err(_) => Fact::Nothing,
        },
        _ => Fact::Nothing,
    }
}
