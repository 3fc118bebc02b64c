//! `POST /webhooks/stripe/{vendor_id}` (R-P1): verified on the raw bytes first, then applied at
//! most once per event id — the event record is created in the same transaction as its effect, so
//! a duplicate (even a concurrent one) cannot apply twice.

use super::checkout::{ORDER_SCOPE, customer_link, order_key};
use super::{UseCaseError, retry_on_contention};
use crate::domain::clock::Clock;
use crate::domain::customer::{Customer, record_paid_order};
use crate::domain::emails::{PaymentNotice, payment_failed, payment_receipt};
use crate::domain::ids::{Entropy, OrderId, VendorId};
use crate::domain::ledger::charge_credit;
use crate::domain::money::{Currency, Money};
use crate::domain::order::{ItemStatus, Order};
use crate::domain::token::LinkKey;
use crate::domain::vendor::Vendor;
use crate::outbox::{DomainEvent, Email, EventType, Message, enqueue};
use crate::store::keys::{VENDOR_PROFILE_SK, vendor_pk};
use crate::store::{Item, ItemStore, Key, StoreError, Write};
use crate::webhooks::stripe_signature::{self, SignatureError};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid signature")]
    InvalidSignature(#[source] SignatureError),
    #[error("the event is not a Stripe event")]
    Malformed(#[source] serde_json::Error),
    #[error(transparent)]
    UseCase(#[from] UseCaseError),
}

impl From<StoreError> for WebhookError {
    fn from(error: StoreError) -> Self {
        WebhookError::UseCase(UseCaseError::Store(error))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Recorded, changing nothing: a type we do not handle, or nothing to do (an unpaid session).
    Ignored,
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

pub fn event_key(vendor: &VendorId, event_id: &str) -> Key {
    Key::new(vendor_pk(vendor), format!("EVENT#stripe#{event_id}"))
}

fn text<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

pub async fn receive(
    store: &dyn ItemStore,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    link_keys: &LinkKey,
    vendor_id: &VendorId,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Outcome, WebhookError> {
    let vendor: Vendor = match store
        .get(&Key::new(vendor_pk(vendor_id), VENDOR_PROFILE_SK))
        .await?
    {
        Some(item) => item.decode()?,
        None => return Err(WebhookError::InvalidSignature(SignatureError::NoMatch)),
    };
    stripe_signature::verify(signature, body, &vendor.stripe_webhook_secrets, clock.now())
        .map_err(WebhookError::InvalidSignature)?;
    let event: Event = serde_json::from_slice(body).map_err(WebhookError::Malformed)?;
    let record_key = event_key(&vendor.id, &event.id);
    if store.get(&record_key).await?.is_some() {
        return Ok(Outcome::Duplicate);
    }
    let object = &event.data.object;
    let outcome = retry_on_contention(|| async {
        let now = clock.now();
        let effect = match event.event_type.as_str() {
            "checkout.session.completed" if text(object, "payment_status") == Some("paid") => {
                session_paid(store, entropy, link_keys, &vendor, object, now).await?
            }
            "checkout.session.async_payment_succeeded" => session_paid(store, entropy, link_keys, &vendor, object, now).await?,
            "checkout.session.async_payment_failed" => session_failed(store, entropy, link_keys, &vendor, object, now).await?,
            _ => None,
        };
        let outcome = if effect.is_some() { Outcome::Applied } else { Outcome::Ignored };
        let record = Item::new(
            record_key.clone(),
            json!({ "id": event.id, "type": event.event_type, "outcome": format!("{outcome:?}").to_lowercase(), "received_at": now }),
        );
        let mut writes = vec![Write::create(record)];
        writes.extend(effect.unwrap_or_default());
        match store.transact(writes).await {
            // Our own event record already exists: a concurrent delivery of the same event won.
            Err(StoreError::ConditionFailed { index: 0, .. }) => Ok(Outcome::Duplicate),
            Err(error) => Err(UseCaseError::Store(error)),
            Ok(()) => Ok(outcome),
        }
    })
    .await?;
    tracing::info!(vendor_id = %vendor.id, event_type = %event.event_type, ?outcome, "stripe event");
    Ok(outcome)
}

struct Loaded {
    item: Item,
    order: Order,
    customer_item: Item,
    customer: Customer,
}

async fn load(
    store: &dyn ItemStore,
    vendor: &Vendor,
    object: &Value,
) -> Result<Option<Loaded>, UseCaseError> {
    let Some(order_id) = object
        .pointer("/metadata/order_id")
        .and_then(Value::as_str)
        .and_then(|id| OrderId::parse(id).ok())
    else {
        return Ok(None);
    };
    let Some(item) = store.get(&order_key(&vendor.id, &order_id)).await? else {
        return Ok(None);
    };
    let order: Order = item.decode()?;
    let customer_key = Key::new(
        vendor_pk(&vendor.id),
        format!("CUSTOMER#{}", order.customer_id),
    );
    let customer_item = store
        .get(&customer_key)
        .await?
        .ok_or(UseCaseError::NotFound)?;
    let customer = customer_item.decode()?;
    Ok(Some(Loaded {
        item,
        order,
        customer_item,
        customer,
    }))
}

fn encode<T: serde::Serialize>(key: &Key, value: &T) -> Result<Value, StoreError> {
    serde_json::to_value(value).map_err(|source| StoreError::Malformed {
        key: key.clone(),
        source,
    })
}

fn notice_email(
    vendor: &Vendor,
    link_keys: &LinkKey,
    loaded: &Loaded,
    amount: Money,
    build: fn(&PaymentNotice<'_>) -> Email,
) -> Email {
    let token = link_keys.derive(
        &vendor.id,
        ORDER_SCOPE,
        loaded.order.id.as_str(),
        loaded.order.link_generation,
    );
    let language = loaded
        .customer
        .language
        .clone()
        .unwrap_or_else(|| vendor.default_language.clone());
    let name = format!(
        "{} {}",
        loaded.customer.first_name, loaded.customer.last_name
    );
    build(&PaymentNotice {
        to: &loaded.customer.email,
        language: &language,
        customer_name: &name,
        vendor_name: &vendor.name,
        order_number: &loaded.order.number,
        amount: &amount.to_string(),
        customer_link: &customer_link(vendor, &token),
    })
}

/// Money arrived for the order's first open payment: schedule, ledger, customer, receipt, event.
async fn session_paid(
    store: &dyn ItemStore,
    entropy: &dyn Entropy,
    link_keys: &LinkKey,
    vendor: &Vendor,
    object: &Value,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let Some(mut loaded) = load(store, vendor, object).await? else {
        return Ok(None);
    };
    let currency: Option<Currency> = text(object, "currency").and_then(|c| c.parse().ok());
    let (Some(units), Some(currency)) =
        (object.get("amount_total").and_then(Value::as_i64), currency)
    else {
        return Ok(None);
    };
    let amount = Money::from_minor_units(units, currency);
    let Ok(applied) = loaded.order.apply_payment(amount, now) else {
        return Ok(None);
    };
    let refs = &mut loaded.order.provider;
    refs.payment_intent = text(object, "payment_intent")
        .map(str::to_string)
        .or(refs.payment_intent.take());
    refs.customer = text(object, "customer")
        .map(str::to_string)
        .or(refs.customer.take());
    refs.subscription = text(object, "subscription")
        .map(str::to_string)
        .or(refs.subscription.take());
    let reference = text(object, "id").unwrap_or("stripe").to_string();
    let credit = charge_credit(
        &vendor.id,
        applied.amount,
        applied.tax_part,
        &reference,
        now,
        entropy,
    )
    .map_err(|_| UseCaseError::NotFound)?;
    let ledger_key = Key::new(vendor_pk(&vendor.id), format!("LEDGER#{}", credit.id));
    if applied.first_payment {
        record_paid_order(&mut loaded.customer, vendor.regular_customer_threshold);
    }
    let receipt = notice_email(vendor, link_keys, &loaded, amount, payment_receipt);
    let event = DomainEvent {
        event_type: EventType::OrderPaid,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "amount": amount, "revived": applied.revived }),
    };
    let to_store = |source| StoreError::Malformed {
        key: loaded.item.key.clone(),
        source,
    };
    Ok(Some(vec![
        Write::update(loaded.item.next(encode(&loaded.item.key, &loaded.order)?)),
        Write::update(
            loaded
                .customer_item
                .next(encode(&loaded.customer_item.key, &loaded.customer)?),
        ),
        Write::create(Item::new(ledger_key.clone(), encode(&ledger_key, &credit)?)),
        enqueue(&vendor.id, Message::Email(receipt), now, entropy).map_err(to_store)?,
        enqueue(&vendor.id, Message::Event(event), now, entropy).map_err(to_store)?,
    ]))
}

/// R-P2: a failed charge counts an attempt on the first open payment and keeps it open.
async fn session_failed(
    store: &dyn ItemStore,
    entropy: &dyn Entropy,
    link_keys: &LinkKey,
    vendor: &Vendor,
    object: &Value,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let Some(mut loaded) = load(store, vendor, object).await? else {
        return Ok(None);
    };
    let Some(item) = loaded
        .order
        .schedule
        .iter_mut()
        .find(|i| i.status == ItemStatus::Open)
    else {
        return Ok(None);
    };
    item.attempts += 1;
    let amount = item
        .amount
        .checked_sub(&item.paid)
        .map_err(|_| UseCaseError::NotFound)?;
    loaded.order.updated_at = now;
    let notice = notice_email(vendor, link_keys, &loaded, amount, payment_failed);
    let event = DomainEvent {
        event_type: EventType::PaymentFailed,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "amount": amount }),
    };
    let to_store = |source| StoreError::Malformed {
        key: loaded.item.key.clone(),
        source,
    };
    Ok(Some(vec![
        Write::update(loaded.item.next(encode(&loaded.item.key, &loaded.order)?)),
        enqueue(&vendor.id, Message::Email(notice), now, entropy).map_err(to_store)?,
        enqueue(&vendor.id, Message::Event(event), now, entropy).map_err(to_store)?,
    ]))
}
