//! The outbox (R-N1, R-N4): every e-mail and domain event is an item written in the same
//! transaction as the state change that causes it; the dispatcher sends it later, once.

pub mod dispatch;
#[cfg(feature = "aws")]
pub mod eventbridge;
pub mod local;
#[cfg(feature = "aws")]
pub mod ses;

use crate::domain::ids::{Entropy, OutboxId, VendorId};
use crate::store::keys::{DueQueue, due_entry, outbox_sk, vendor_pk};
use crate::store::{Index, Item, Key, Write};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The e-mail kinds of R-N3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    OrderConfirmation,
    PaymentReceipt,
    PaymentFailed,
    PaymentReminder,
    RefundConfirmation,
    CancellationConfirmation,
    TicketOpened,
    TicketReply,
    TicketChanged,
    TicketClosed,
    TicketInactivityWarning,
    VendorMessage,
    Campaign,
    EmailChanged,
    InvoiceCopy,
    /// To the vendor: a customer disputed a charge (beyond R-N3's list: "vendor told").
    DisputeOpened,
    /// To the vendor: the provider did not carry out a refund; its debit was reversed (R-R5).
    RefundFailed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub kind: EmailKind,
    pub language: String,
}

/// The domain events of R-N4, published to the event bus for integrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.paid")]
    OrderPaid,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "payment.overdue")]
    PaymentOverdue,
    #[serde(rename = "refund.executed")]
    RefundExecuted,
    #[serde(rename = "subscription.cancelled")]
    SubscriptionCancelled,
    #[serde(rename = "ticket.opened")]
    TicketOpened,
    #[serde(rename = "ticket.closed")]
    TicketClosed,
    #[serde(rename = "order.disputed")]
    OrderDisputed,
    #[serde(rename = "customer.blocked")]
    CustomerBlocked,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderPaid => "order.paid",
            EventType::PaymentFailed => "payment.failed",
            EventType::PaymentOverdue => "payment.overdue",
            EventType::RefundExecuted => "refund.executed",
            EventType::SubscriptionCancelled => "subscription.cancelled",
            EventType::TicketOpened => "ticket.opened",
            EventType::TicketClosed => "ticket.closed",
            EventType::OrderDisputed => "order.disputed",
            EventType::CustomerBlocked => "customer.blocked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Message {
    Email(Email),
    Event(DomainEvent),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    /// Claimed by a dispatcher until `lease_until`; after that another may take it over.
    Sending {
        lease_until: DateTime<Utc>,
    },
    Sent {
        at: DateTime<Utc>,
    },
    /// Gave up after `MAX_ATTEMPTS`; kept for the operator, out of the due-index.
    Failed {
        at: DateTime<Utc>,
    },
}

/// One outbox item as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: OutboxId,
    pub vendor_id: VendorId,
    pub created_at: DateTime<Utc>,
    pub message: Message,
    pub delivery: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl OutboxEntry {
    pub fn key(&self) -> Key {
        Key::new(vendor_pk(&self.vendor_id), outbox_sk(&self.id))
    }
}

/// The write that puts a message into the outbox, due now; add it to the transaction of the
/// state change that causes it.
pub fn enqueue(
    vendor: &VendorId,
    message: Message,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<Write, serde_json::Error> {
    let entry = OutboxEntry {
        id: OutboxId::generate(now, entropy),
        vendor_id: vendor.clone(),
        created_at: now,
        message,
        delivery: DeliveryState::Pending,
        attempts: 0,
        last_error: None,
    };
    let (due_pk, due_sk) = due_entry(DueQueue::Outbox, now, entry.id.as_str());
    let item = Item::new(entry.key(), serde_json::to_value(&entry)?).with_index(
        Index::Due,
        due_pk,
        due_sk,
    );
    Ok(Write::create(item))
}

impl DomainEvent {
    /// What integrations receive as the event's detail: the outbox id (to drop repeats), the
    /// vendor, and the event's own data. The same on EventBridge and in the dev outbox.
    pub fn envelope(&self, id: &OutboxId, vendor: &VendorId) -> serde_json::Value {
        serde_json::json!({ "id": id, "vendor_id": vendor, "data": self.detail })
    }
}

/// Why a delivery did not go out; the dispatcher retries later.
#[derive(Debug, thiserror::Error)]
#[error("delivery through {channel} failed")]
pub struct DeliveryError {
    pub channel: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl DeliveryError {
    pub fn new(
        channel: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        DeliveryError {
            channel,
            source: Box::new(source),
        }
    }
}

/// Sends one e-mail. `id` names the outbox item so the channel can refuse a repeat.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(
        &self,
        id: &OutboxId,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError>;
}

/// Publishes one domain event to the integrations bus.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(
        &self,
        id: &OutboxId,
        vendor: &VendorId,
        event: &DomainEvent,
        now: DateTime<Utc>,
    ) -> Result<(), DeliveryError>;
}
