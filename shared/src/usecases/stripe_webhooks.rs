//! `POST /webhooks/stripe/{vendor_id}` (R-P1): verified on the raw bytes first, then applied at
//! most once per event id — the event record is created in the same transaction as its effect, so
//! a duplicate (even a concurrent one) cannot apply twice.

use super::checkout::order_key;
use super::notices::payment_notice;
use super::transactions::{self, Transaction, TransactionKind};
use super::{UseCaseError, retry_on_contention};
use crate::domain::clock::Clock;
use crate::domain::customer::{Customer, record_paid_order};
use crate::domain::emails::{payment_failed, payment_receipt};
use crate::domain::ids::{Entropy, OrderId, VendorId};
use crate::domain::ledger::charge_credit;
use crate::domain::money::{Currency, Money};
use crate::domain::order::{ItemStatus, Order};
use crate::domain::token::LinkKey;
use crate::domain::vendor::Vendor;
use crate::outbox::{DomainEvent, EventType, Message, enqueue};
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
    // No read of the event record: its create in the effect's transaction is the duplicate check.
    let record_key = event_key(&vendor.id, &event.id);
    let object = &event.data.object;
    let outcome = retry_on_contention(|| async {
        let now = clock.now();
        let effect = match event.event_type.as_str() {
            "checkout.session.completed" if text(object, "payment_status") == Some("paid") => {
                let key = text(object, "invoice").or(text(object, "payment_intent")).or(text(object, "id"));
                money_arrived(store, entropy, link_keys, &vendor, object, key, "amount_total", now).await?
            }
            "checkout.session.async_payment_succeeded" => {
                let key = text(object, "invoice").or(text(object, "payment_intent")).or(text(object, "id"));
                money_arrived(store, entropy, link_keys, &vendor, object, key, "amount_total", now).await?
            }
            "invoice.paid" => money_arrived(store, entropy, link_keys, &vendor, object, text(object, "id"), "amount_paid", now).await?,
            "checkout.session.async_payment_failed" | "invoice.payment_failed" => {
                payment_failed_attempt(store, entropy, link_keys, &vendor, object, now).await?
            }
            "charge.succeeded" => charge_seen(store, &vendor, object).await?,
            "customer.subscription.deleted" => subscription_ended(store, entropy, &vendor, object, now).await?,
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

/// The order an event is about: `metadata.order_id` set at checkout (on the session, the
/// payment intent, the subscription — invoices carry it under `subscription_details` or
/// `parent.subscription_details`), else the subscription id recorded on the order.
async fn find_order_id(
    store: &dyn ItemStore,
    vendor: &Vendor,
    object: &Value,
) -> Result<Option<OrderId>, UseCaseError> {
    let paths = [
        "/metadata/order_id",
        "/subscription_details/metadata/order_id",
        "/parent/subscription_details/metadata/order_id",
    ];
    if let Some(id) = paths
        .iter()
        .filter_map(|path| object.pointer(path).and_then(Value::as_str))
        .find_map(|id| OrderId::parse(id).ok())
    {
        return Ok(Some(id));
    }
    let subscription = match text(object, "object") {
        Some("subscription") => text(object, "id"),
        _ => text(object, "subscription"),
    };
    let Some(subscription) = subscription else {
        return Ok(None);
    };
    let Some(found) = store
        .get(&subscription_key(&vendor.id, subscription))
        .await?
    else {
        return Ok(None);
    };
    Ok(found.body["order_id"]
        .as_str()
        .and_then(|id| OrderId::parse(id).ok()))
}

fn subscription_key(vendor: &VendorId, subscription: &str) -> Key {
    Key::new(
        vendor_pk(vendor),
        format!("SUBSCRIPTION#stripe#{subscription}"),
    )
}

async fn load(
    store: &dyn ItemStore,
    vendor: &Vendor,
    object: &Value,
) -> Result<Option<Loaded>, UseCaseError> {
    let Some(order_id) = find_order_id(store, vendor, object).await? else {
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

/// Remembers the provider's ids on the order; with a subscription, the lookup item for later events.
fn remember_refs(order: &mut Order, object: &Value) -> Option<String> {
    let refs = &mut order.provider;
    if let Some(intent) = text(object, "payment_intent") {
        refs.payment_intent = Some(intent.to_string());
    }
    if let Some(customer) = text(object, "customer") {
        refs.customer = Some(customer.to_string());
    }
    let subscription = text(object, "subscription").map(str::to_string);
    if subscription.is_some() {
        refs.subscription = subscription.clone();
    }
    subscription
}

fn encode<T: serde::Serialize>(key: &Key, value: &T) -> Result<Value, StoreError> {
    serde_json::to_value(value).map_err(|source| StoreError::Malformed {
        key: key.clone(),
        source,
    })
}

/// Money arrived (a paid checkout session or invoice): schedule, ledger, customer, receipt,
/// event — unless this provider payment was applied already, which only refreshes the ids.
#[allow(clippy::too_many_arguments)]
async fn money_arrived(
    store: &dyn ItemStore,
    entropy: &dyn Entropy,
    link_keys: &LinkKey,
    vendor: &Vendor,
    object: &Value,
    payment_key: Option<&str>,
    amount_field: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let (Some(mut loaded), Some(payment_key)) = (load(store, vendor, object).await?, payment_key)
    else {
        return Ok(None);
    };
    let currency: Option<Currency> = text(object, "currency").and_then(|c| c.parse().ok());
    let (Some(units), Some(currency)) =
        (object.get(amount_field).and_then(Value::as_i64), currency)
    else {
        return Ok(None);
    };
    let amount = Money::from_minor_units(units, currency);
    let before = loaded.order.clone();
    let subscription = remember_refs(&mut loaded.order, object);
    let mut writes = Vec::new();
    if let Some(subscription) = &subscription {
        let key = subscription_key(&vendor.id, subscription);
        writes.push(Write::Put {
            item: Item::new(key, json!({ "order_id": loaded.order.id })),
            condition: crate::store::Condition::Always,
        });
    }
    let applied = match loaded.order.apply_payment_once(payment_key, amount, now) {
        Ok(applied) => applied,
        Err(_) => return Ok(None),
    };
    let Some(applied) = applied else {
        if loaded.order == before {
            return Ok(None);
        }
        writes.push(Write::update(
            loaded.item.next(encode(&loaded.item.key, &loaded.order)?),
        ));
        return Ok(Some(writes));
    };
    let credit = charge_credit(
        &vendor.id,
        applied.amount,
        applied.tax_part,
        payment_key,
        now,
        entropy,
    )
    .map_err(|_| UseCaseError::NotFound)?;
    let ledger_key = Key::new(vendor_pk(&vendor.id), format!("LEDGER#{}", credit.id));
    if applied.first_payment {
        record_paid_order(&mut loaded.customer, vendor.regular_customer_threshold);
    }
    let receipt = payment_notice(
        vendor,
        link_keys,
        &loaded.order,
        &loaded.customer,
        amount,
        payment_receipt,
    );
    let event = DomainEvent {
        event_type: EventType::OrderPaid,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "amount": amount, "revived": applied.revived }),
    };
    let to_store = |source| StoreError::Malformed {
        key: loaded.item.key.clone(),
        source,
    };
    let transaction = Transaction {
        kind: TransactionKind::Payment,
        amount,
        provider: "stripe".into(),
        reference: payment_key.to_string(),
        at: now,
    };
    writes.extend([
        transactions::record(&vendor.id, &loaded.order.id, &transaction, entropy)?,
        Write::update(loaded.item.next(encode(&loaded.item.key, &loaded.order)?)),
        Write::update(
            loaded
                .customer_item
                .next(encode(&loaded.customer_item.key, &loaded.customer)?),
        ),
        Write::create(Item::new(ledger_key.clone(), encode(&ledger_key, &credit)?)),
        enqueue(&vendor.id, Message::Email(receipt), now, entropy).map_err(to_store)?,
        enqueue(&vendor.id, Message::Event(event), now, entropy).map_err(to_store)?,
    ]);
    Ok(Some(writes))
}

/// `charge.succeeded`: the charge id and card fingerprint, for blocking by fingerprint (R-C6).
async fn charge_seen(
    store: &dyn ItemStore,
    vendor: &Vendor,
    object: &Value,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let (Some(mut loaded), Some(charge)) = (load(store, vendor, object).await?, text(object, "id"))
    else {
        return Ok(None);
    };
    let fingerprint = object
        .pointer("/payment_method_details/card/fingerprint")
        .and_then(Value::as_str)
        .map(str::to_string);
    if loaded.order.provider.charges.get(charge) == Some(&fingerprint) {
        return Ok(None);
    }
    loaded
        .order
        .provider
        .charges
        .insert(charge.to_string(), fingerprint.clone());
    let mut writes = vec![Write::update(
        loaded.item.next(encode(&loaded.item.key, &loaded.order)?),
    )];
    // The fingerprint joins the customer, and the index that finds customers sharing it (R-C6).
    if let Some(fingerprint) = fingerprint
        && loaded.customer.fingerprints.insert(fingerprint.clone())
    {
        writes.push(Write::update(
            loaded
                .customer_item
                .next(encode(&loaded.customer_item.key, &loaded.customer)?),
        ));
        let index =
            super::customers::fingerprint_key(&vendor.id, &fingerprint, &loaded.customer.id);
        writes.push(Write::Put {
            item: Item::new(index, json!({ "customer_id": loaded.customer.id })),
            condition: crate::store::Condition::Always,
        });
    }
    Ok(Some(writes))
}

/// `customer.subscription.deleted`: the plan is cancelled (R-R4 effects), announced.
async fn subscription_ended(
    store: &dyn ItemStore,
    entropy: &dyn Entropy,
    vendor: &Vendor,
    object: &Value,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Write>>, UseCaseError> {
    let Some(mut loaded) = load(store, vendor, object).await? else {
        return Ok(None);
    };
    if !loaded.order.cancel_plan(now) {
        return Ok(None);
    }
    let event = DomainEvent {
        event_type: EventType::SubscriptionCancelled,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number }),
    };
    let to_store = |source| StoreError::Malformed {
        key: loaded.item.key.clone(),
        source,
    };
    Ok(Some(vec![
        Write::update(loaded.item.next(encode(&loaded.item.key, &loaded.order)?)),
        enqueue(&vendor.id, Message::Event(event), now, entropy).map_err(to_store)?,
    ]))
}

/// R-P2: a failed charge counts an attempt on the first open payment and keeps it open.
async fn payment_failed_attempt(
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
    let notice = payment_notice(
        vendor,
        link_keys,
        &loaded.order,
        &loaded.customer,
        amount,
        payment_failed,
    );
    let event = DomainEvent {
        event_type: EventType::PaymentFailed,
        detail: json!({ "order_id": loaded.order.id, "order_number": loaded.order.number, "amount": amount }),
    };
    let to_store = |source| StoreError::Malformed {
        key: loaded.item.key.clone(),
        source,
    };
    let transaction = Transaction {
        kind: TransactionKind::PaymentFailed,
        amount,
        provider: "stripe".into(),
        reference: text(object, "id").unwrap_or_default().to_string(),
        at: now,
    };
    Ok(Some(vec![
        transactions::record(&vendor.id, &loaded.order.id, &transaction, entropy)?,
        Write::update(loaded.item.next(encode(&loaded.item.key, &loaded.order)?)),
        enqueue(&vendor.id, Message::Email(notice), now, entropy).map_err(to_store)?,
        enqueue(&vendor.id, Message::Event(event), now, entropy).map_err(to_store)?,
    ]))
}
