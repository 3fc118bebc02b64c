//! The vendor's orders: the list (R-D1, newest first with cursor and total) and the order card
//! (R-O7) with its editable fields and internal comments.

use super::checkout::order_key;
use super::counters::{self, Counter};
use super::{UseCaseError, retry_on_contention};
use crate::domain::customer::Customer;
use crate::domain::ids::{OrderId, VendorId};
use crate::domain::order::{InternalComment, Order};
use crate::domain::vendor::FieldErrors;
use crate::store::keys::vendor_pk;
use crate::store::{Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeSet;

pub struct OrderPage {
    pub orders: Vec<Order>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

/// Newest first (order ids are time-ordered). Every order draws a number, so the order-number
/// sequence is the total.
pub async fn list(
    store: &dyn ItemStore,
    vendor: &VendorId,
    limit: u32,
    cursor: Option<String>,
) -> Result<OrderPage, UseCaseError> {
    let query = Query::table(vendor_pk(vendor), SortRange::Prefix("ORDER#".into()))
        .limit(limit)
        .after(cursor)
        .newest_first();
    let page = store.query(&query).await?;
    Ok(OrderPage {
        orders: page
            .items
            .iter()
            .map(Item::decode)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
        total: counters::read(store, vendor, Counter::OrderNumbers).await?,
    })
}

pub struct OrderCard {
    pub order: Order,
    pub customer: Customer,
}

/// The stored order and customer items, for a change that writes both back version-checked.
async fn card_items(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &OrderId,
) -> Result<(Item, Item), UseCaseError> {
    let order_item = store
        .get(&order_key(vendor, id))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    let order: Order = order_item.decode()?;
    let customer_item = store
        .get(&Key::new(
            vendor_pk(vendor),
            format!("CUSTOMER#{}", order.customer_id),
        ))
        .await?
        .ok_or(UseCaseError::NotFound)?;
    Ok((order_item, customer_item))
}

pub async fn card(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &OrderId,
) -> Result<OrderCard, UseCaseError> {
    let (order_item, customer_item) = card_items(store, vendor, id).await?;
    Ok(OrderCard {
        order: order_item.decode()?,
        customer: customer_item.decode()?,
    })
}

/// `PATCH /api/orders/{id}`: only what is given changes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPatch {
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub tags: Option<BTreeSet<String>>,
}

fn check_text(field: &str, value: &str, max: usize, errors: &mut FieldErrors) {
    if value.trim().is_empty() || value.chars().count() > max {
        errors.insert(field.into(), format!("must be 1 to {max} characters"));
    }
}

async fn change(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &OrderId,
    edit: impl Fn(&mut Order),
) -> Result<Order, UseCaseError> {
    let key = order_key(vendor, id);
    retry_on_contention(|| async {
        let item = store.get(&key).await?.ok_or(UseCaseError::NotFound)?;
        let mut order: Order = item.decode()?;
        edit(&mut order);
        let body = serde_json::to_value(&order).map_err(|source| StoreError::Malformed {
            key: key.clone(),
            source,
        })?;
        store.transact(vec![Write::update(item.next(body))]).await?;
        Ok(order)
    })
    .await
}

pub async fn patch(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &OrderId,
    patch: OrderPatch,
    now: DateTime<Utc>,
) -> Result<Order, UseCaseError> {
    let mut errors = FieldErrors::new();
    if let Some(stage) = &patch.stage {
        check_text("stage", stage, 100, &mut errors);
    }
    if let Some(manager) = &patch.manager {
        check_text("manager", manager, 200, &mut errors);
    }
    for tag in patch.tags.iter().flatten() {
        check_text("tags", tag, 50, &mut errors);
    }
    if patch.tags.as_ref().is_some_and(|tags| tags.len() > 50) {
        errors.insert("tags".into(), "at most 50 tags".into());
    }
    if !errors.is_empty() {
        return Err(UseCaseError::Invalid(errors));
    }
    change(store, vendor, id, |order| {
        if let Some(stage) = &patch.stage {
            order.stage = Some(stage.trim().to_string());
        }
        if let Some(manager) = &patch.manager {
            order.manager = Some(manager.trim().to_string());
        }
        if let Some(tags) = &patch.tags {
            order.tags = tags.iter().map(|t| t.trim().to_string()).collect();
        }
        order.updated_at = now;
    })
    .await
}

pub async fn comment(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &OrderId,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Order, UseCaseError> {
    let mut errors = FieldErrors::new();
    check_text("body", body, 5000, &mut errors);
    if !errors.is_empty() {
        return Err(UseCaseError::Invalid(errors));
    }
    change(store, vendor, id, |order| {
        order.comments.push(InternalComment {
            body: body.trim().to_string(),
            at: now,
        });
        order.updated_at = now;
    })
    .await
}

/// How a manually recorded payment was made (R-O8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManualMethod {
    BankTransfer,
    Prepayment,
    Cash,
    Other,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualPayment {
    pub amount: crate::domain::money::Money,
    pub method: ManualMethod,
    #[serde(default)]
    pub comment: Option<String>,
}

/// R-O8: the vendor records money received outside the platform (bank transfer, prepayment).
/// It pays the schedule and tells the customer, but credits no platform balance: the platform
/// never held that money (decision, docs/decisions.md).
pub async fn record_manual_payment(
    store: &dyn ItemStore,
    entropy: &dyn crate::domain::ids::Entropy,
    link_keys: &crate::domain::token::LinkKey,
    vendor: &crate::domain::vendor::Vendor,
    id: &OrderId,
    payment: ManualPayment,
    now: DateTime<Utc>,
) -> Result<Order, UseCaseError> {
    use super::transactions::{self, Transaction, TransactionKind};
    use crate::outbox::{DomainEvent, EventType, Message, enqueue};
    let invalid = |field: &str, message: &str| {
        UseCaseError::Invalid(FieldErrors::from([(
            field.to_string(),
            message.to_string(),
        )]))
    };
    if payment
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > 500)
    {
        return Err(invalid("comment", "at most 500 characters"));
    }
    retry_on_contention(|| async {
        let (order_item, customer_item) = card_items(store, &vendor.id, id).await?;
        let mut order: Order = order_item.decode()?;
        let mut customer: crate::domain::customer::Customer = customer_item.decode()?;
        let open = order
            .derived(now, chrono_tz::UTC)
            .map(|d| d.open)
            .map_err(|_| invalid("amount", "is not in the order's currency"))?;
        if payment.amount.currency() != open.currency() {
            return Err(invalid("amount", "must be in the order's currency"));
        }
        if payment.amount.is_zero() || payment.amount.is_negative() || payment.amount.amount() > open.amount() {
            return Err(invalid("amount", &format!("must be more than zero and at most the open {open}")));
        }
        let mut nonce = [0u8; 8];
        entropy.fill(&mut nonce);
        let payment_key = format!("manual:{}", hex::encode(nonce));
        let applied = order
            .apply_payment_once(&payment_key, payment.amount, now)
            .map_err(|_| invalid("amount", "cannot be applied"))?
            .ok_or_else(|| invalid("amount", "cannot be applied"))?;
        if applied.first_payment {
            crate::domain::customer::record_paid_order(&mut customer, vendor.regular_customer_threshold);
        }
        let receipt = super::notices::payment_notice(vendor, link_keys, &order, &customer, payment.amount, crate::domain::emails::payment_receipt);
        let event = DomainEvent {
            event_type: EventType::OrderPaid,
            detail: serde_json::json!({ "order_id": order.id, "order_number": order.number, "amount": payment.amount, "manual": payment.method }),
        };
        let transaction = Transaction {
            kind: TransactionKind::ManualPayment,
            amount: payment.amount,
            provider: "manual".into(),
            reference: payment.comment.clone().unwrap_or_else(|| format!("{:?}", payment.method).to_lowercase()),
            at: now,
        };
        let to_store = |source| StoreError::Malformed { key: order_item.key.clone(), source };
        store
            .transact(vec![
                Write::update(order_item.next(serde_json::to_value(&order).map_err(to_store)?)),
                Write::update(customer_item.next(serde_json::to_value(&customer).map_err(to_store)?)),
                transactions::record(&vendor.id, &order.id, &transaction, entropy)?,
                enqueue(&vendor.id, Message::Email(receipt), now, entropy).map_err(to_store)?,
                enqueue(&vendor.id, Message::Event(event), now, entropy).map_err(to_store)?,
            ])
            .await?;
        Ok(order)
    })
    .await
}
