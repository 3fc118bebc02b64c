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

pub async fn card(
    store: &dyn ItemStore,
    vendor: &VendorId,
    id: &OrderId,
) -> Result<OrderCard, UseCaseError> {
    let order: Order = store
        .get(&order_key(vendor, id))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?;
    let customer = store
        .get(&Key::new(
            vendor_pk(vendor),
            format!("CUSTOMER#{}", order.customer_id),
        ))
        .await?
        .ok_or(UseCaseError::NotFound)?
        .decode()?;
    Ok(OrderCard { order, customer })
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
