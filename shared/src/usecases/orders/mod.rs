//! Orders and checkout. Here: the vendor's list (R-D1, newest first with cursor and total), the
//! order card (R-O7) with its editable fields and internal comments, and manual payments (R-O8);
//! beside it checkout, the customer's order page, entitlements, transactions and payment notices.

pub mod checkout;
pub mod collections;
pub mod entitlements;
pub mod notices;
pub mod portal;
pub mod transactions;

use crate::domain::customers::Customer;
use crate::domain::ids::{CustomerId, OrderId, ProductId, VendorId};
use crate::domain::orders::PaymentStatus;
use crate::domain::orders::{InternalComment, Order};
use crate::domain::validation::{FieldErrors, has_control_characters, is_line};
use crate::store::keys::{order_key, vendor_pk};
use crate::store::{Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use crate::usecases::counters::{self, Counter};
use crate::usecases::ports::{UseCaseError, retry_on_contention};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeSet;

pub struct OrderPage {
    pub orders: Vec<Order>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

/// The filters of `GET /api/orders` (R-D1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Order number, customer e-mail or name, or product name (case-insensitive, contained).
    pub q: Option<String>,
    pub payment_status: Option<PaymentStatus>,
    pub product_id: Option<ProductId>,
    pub customer_id: Option<CustomerId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl OrderFilter {
    pub fn is_empty(&self) -> bool {
        *self == OrderFilter::default()
    }

    fn matches(&self, order: &Order, now: DateTime<Utc>, tz: Tz) -> bool {
        use crate::domain::customers::search_key;
        let text = self.q.as_ref().map(|q| search_key(q.trim()));
        let text_ok = text.is_none_or(|q| {
            search_key(&order.number).contains(&q)
                || search_key(&order.customer_email).contains(&q)
                || search_key(&order.customer_name).contains(&q)
                || order
                    .lines
                    .iter()
                    .any(|line| search_key(&line.name).contains(&q))
        });
        let status_ok = self.payment_status.is_none_or(|wanted| {
            order
                .derived(now, tz)
                .is_ok_and(|d| d.payment_status == wanted)
        });
        text_ok
            && status_ok
            && self
                .product_id
                .as_ref()
                .is_none_or(|p| order.lines.iter().any(|l| &l.product_id == p))
            && self
                .customer_id
                .as_ref()
                .is_none_or(|c| &order.customer_id == c)
            && self.from.is_none_or(|from| order.created_at >= from)
            && self.to.is_none_or(|to| order.created_at < to)
    }
}

/// Newest first (order ids are time-ordered). Unfiltered: one page, and the order-number
/// sequence is the total (every order draws a number). Filtered: the vendor's orders are read
/// page by page and matched here, the total counted over all of them — cost grows with the
/// vendor's orders (a search index is the next step when vendors outgrow it).
pub async fn list(
    store: &dyn ItemStore,
    vendor: &VendorId,
    filter: &OrderFilter,
    limit: u32,
    cursor: Option<String>,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<OrderPage, UseCaseError> {
    let query = |limit: u32, cursor: Option<String>| {
        Query::table(vendor_pk(vendor), SortRange::Prefix("ORDER#".into()))
            .limit(limit)
            .after(cursor)
            .newest_first()
    };
    if filter.is_empty() {
        let page = store.query(&query(limit, cursor)).await?;
        return Ok(OrderPage {
            orders: page
                .items
                .iter()
                .map(Item::decode)
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
            total: counters::read(store, vendor, Counter::Orders).await?,
        });
    }
    // Filtered: the cursor is the last order given (issue 16, item 14).
    let page = crate::usecases::listing::list_matching(
        store,
        vendor,
        "ORDER#",
        limit,
        cursor,
        |order: &Order| filter.matches(order, now, tz),
    )
    .await?;
    Ok(OrderPage {
        orders: page.items,
        next_cursor: page.next_cursor,
        total: page.total,
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

/// `PATCH /api/orders/{id}`: only what is given changes; `null` clears the stage or the manager
/// (issue 16, item 15).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPatch {
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub stage: Option<Option<String>>,
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<String>)]
    pub manager: Option<Option<String>>,
    #[serde(default)]
    pub tags: Option<BTreeSet<String>>,
}

/// A field that was given: `Some(None)` for `null`, against `None` for absent.
fn given<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn check_text(field: &str, value: &str, max: usize, errors: &mut FieldErrors) {
    // Only invisible characters (a zero-width space) say nothing either.
    let says_nothing = value
        .chars()
        .all(|c| c.is_whitespace() || crate::domain::validation::is_invisible(c));
    if !is_line(value, max) || says_nothing {
        errors.insert(
            field.into(),
            format!("must be 1 to {max} characters without control characters"),
        );
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
    if let Some(Some(stage)) = &patch.stage {
        check_text("stage", stage, 100, &mut errors);
    }
    if let Some(Some(manager)) = &patch.manager {
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
            order.stage = stage.as_ref().map(|stage| stage.trim().to_string());
        }
        if let Some(manager) = &patch.manager {
            order.manager = manager.as_ref().map(|manager| manager.trim().to_string());
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
    // A comment may span lines; no other control characters.
    if body.trim().is_empty() || body.chars().count() > 5000 || has_control_characters(body, true) {
        return Err(UseCaseError::Invalid(FieldErrors::from([(
            "body".to_string(),
            "must be 1 to 5000 characters without control characters".to_string(),
        )])));
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManualMethod {
    BankTransfer,
    Prepayment,
    Cash,
    Other,
}

impl ManualMethod {
    /// Its name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ManualMethod::BankTransfer => "bank_transfer",
            ManualMethod::Prepayment => "prepayment",
            ManualMethod::Cash => "cash",
            ManualMethod::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
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
    link_keys: &crate::domain::token::LinkKeys,
    vendor: &crate::domain::vendors::Vendor,
    id: &OrderId,
    payment: ManualPayment,
    now: DateTime<Utc>,
) -> Result<Order, UseCaseError> {
    use crate::domain::notifications::{DomainEvent, EventType, Message};
    use crate::outbox::enqueue;
    use crate::usecases::orders::transactions::{self, Transaction, TransactionKind};
    let invalid = |field: &str, message: &str| {
        UseCaseError::Invalid(FieldErrors::from([(
            field.to_string(),
            message.to_string(),
        )]))
    };
    if payment
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > 500 || has_control_characters(c, true))
    {
        return Err(invalid(
            "comment",
            "at most 500 characters without control characters",
        ));
    }
    retry_on_contention(|| async {
        let (order_item, customer_item) = card_items(store, &vendor.id, id).await?;
        let mut order: Order = order_item.decode()?;
        let mut customer: crate::domain::customers::Customer = customer_item.decode()?;
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
            .apply_payment_once(
                &crate::domain::orders::payments::IncomingPayment::manual(payment_key.clone()),
                payment.amount,
                now,
            )
            .map_err(|_| invalid("amount", "cannot be applied"))?
            .ok_or_else(|| invalid("amount", "cannot be applied"))?;
        // The card shows how it came and the vendor's note (issue 16, item 15).
        if let Some(recorded) = order.payments.iter_mut().find(|p| p.key == payment_key) {
            recorded.method = Some(payment.method.as_str().to_string());
            recorded.comment = payment.comment.clone();
        }
        if applied.first_payment {
            crate::domain::customers::record_paid_order(&mut customer, vendor.regular_customer_threshold);
        }
        // Issue 15, defect 1: the plan's later instalments are collected on their due dates.
        let collections = if applied.revived {
            Vec::new()
        } else {
            crate::usecases::orders::collections::schedule(&mut order, vendor, now)?
        };
        let receipt = crate::usecases::orders::notices::payment_notice(vendor, link_keys, &order, &customer, payment.amount, crate::domain::notifications::emails::payment_receipt)?;
        let event = DomainEvent {
            event_type: EventType::OrderPaid,
            detail: serde_json::json!({ "order_id": order.id, "order_number": order.number, "amount": payment.amount, "manual": payment.method }),
        };
        let transaction = Transaction {
            kind: TransactionKind::ManualPayment,
            amount: payment.amount,
            provider: "manual".into(),
            reference: payment.comment.clone().unwrap_or_else(|| payment.method.as_str().to_string()),
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
            ].into_iter().chain(collections).collect())
            .await?;
        Ok(order)
    })
    .await
}
