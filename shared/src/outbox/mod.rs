//! The outbox (R-N1, R-N4): every e-mail and domain event is an item written in the same
//! transaction as the state change that causes it; the dispatcher sends it later, once.

pub mod suppression;
pub mod dispatch;
#[cfg(feature = "aws")]
pub mod eventbridge;
pub mod local;
#[cfg(feature = "aws")]
pub mod ses;

use crate::domain::ids::{Entropy, OutboxId, VendorId};
use crate::domain::notifications::{DomainEvent, Email, Message};
use crate::store::keys::{DueQueue, due_entry, outbox_sk, vendor_pk};
use crate::store::{Index, Item, Key, Write};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

/// What kind of failure a delivery met, which decides what the dispatcher does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// It may work next time (a timeout, a 5xx): retried, each try spends one attempt.
    Transient,
    /// The channel's rate or quota is spent: retried later without spending an attempt, until
    /// the item is [`GIVE_UP_AFTER`](dispatch::GIVE_UP_AFTER) old.
    Throttled,
    /// It will never work (a rejected message, an unverified sender, a bad address): given up
    /// at once.
    Permanent,
}

/// Why a delivery did not go out, with the channel's own error code when it gave one.
#[derive(Debug, thiserror::Error)]
#[error("delivery through {channel} failed{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct DeliveryError {
    pub channel: &'static str,
    pub kind: FailureKind,
    /// The provider's error code (`MessageRejected`, `TooManyRequestsException`, …).
    pub code: Option<String>,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl DeliveryError {
    /// A transient failure without a provider code.
    pub fn new(
        channel: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        DeliveryError::classified(channel, FailureKind::Transient, None, source)
    }

    pub fn classified(
        channel: &'static str,
        kind: FailureKind,
        code: Option<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        DeliveryError {
            channel,
            kind,
            code,
            source: Box::new(source),
        }
    }

    /// What is stored on the item and shown to the operator: the channel, the code and the
    /// provider's message (never the message body, which is ours).
    pub fn describe(&self) -> String {
        let cause = self.source.to_string();
        match &self.code {
            Some(code) => format!("{}: {code}: {cause}", self.channel),
            None => format!("{}: {cause}", self.channel),
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
