//! The dispatcher: reads due outbox items from the due-index, claims each with a version check
//! (so two dispatchers never both send it), sends it, and marks it sent, dropping it from the
//! index — a re-run finds nothing. A failed send is retried with backoff.
//!
//! The one window left is a crash after the channel accepted a message and before it is marked
//! sent: the lease expires and the item is sent again (at least once, R-N1). The outbox id travels
//! with every message (a tag on SES mail, the event's `id`) so receivers can drop that repeat.

use super::{DeliveryState, EventPublisher, FailureKind, Mailer, OutboxEntry};
use crate::domain::clock::{Budget, Clock};
use crate::domain::notifications::Message;
use crate::store::keys::{DueQueue, due_entry, due_partitions, due_up_to};
use crate::store::{Index, Item, ItemStore, Key, Query, SortRange, StoreError, Write};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::sync::Arc;

/// How long a claim keeps other dispatchers away.
pub const LEASE: Duration = Duration::minutes(2);
/// After this many failed sends an item is marked failed and leaves the due-index.
pub const MAX_ATTEMPTS: u32 = 8;
/// A throttled item is tried again this much later, until it is this old (a day's quota).
pub const THROTTLED_PAUSE: Duration = Duration::minutes(5);
pub const GIVE_UP_AFTER: Duration = Duration::hours(24);
/// Due items read per partition per run; the rest wait for the next run.
const BATCH: u32 = 100;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub emails_sent: u32,
    pub events_published: u32,
    pub retries_scheduled: u32,
    pub given_up: u32,
    /// Claimed by another dispatcher first.
    pub skipped: u32,
    /// Due, but left for the next run: this one's time was spent.
    pub deferred: u32,
}

pub struct Dispatcher {
    store: Arc<dyn ItemStore>,
    mailer: Arc<dyn Mailer>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

fn backoff(attempts: u32) -> Duration {
    // 1, 2, 4 … 64 minutes.
    Duration::minutes(1i64 << attempts.saturating_sub(1).min(6))
}

fn store_entry(item: &Item, entry: &OutboxEntry) -> Result<Item, StoreError> {
    let body = serde_json::to_value(entry).map_err(|source| StoreError::Malformed {
        key: item.key.clone(),
        source,
    })?;
    Ok(item.next(body))
}

fn due_at(item: Item, entry: &OutboxEntry, at: DateTime<Utc>) -> Item {
    let (due_pk, due_sk) = due_entry(DueQueue::Outbox, at, entry.id.as_str());
    item.with_index(Index::Due, due_pk, due_sk)
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn ItemStore>,
        mailer: Arc<dyn Mailer>,
        events: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
    ) -> Dispatcher {
        Dispatcher {
            store,
            mailer,
            events,
            clock,
        }
    }

    /// Sends everything due now.
    pub async fn dispatch_due(&self) -> Result<DispatchReport, StoreError> {
        self.dispatch_due_within(Budget::unbounded()).await
    }

    /// Sends what is due now while `budget` allows; the rest stays due for the next run.
    pub async fn dispatch_due_within(&self, budget: Budget) -> Result<DispatchReport, StoreError> {
        let now = self.clock.now();
        let mut report = DispatchReport::default();
        for partition in due_partitions(DueQueue::Outbox) {
            let query =
                Query::index(Index::Due, partition, SortRange::UpTo(due_up_to(now))).limit(BATCH);
            let page = self.store.query(&query).await?;
            for item in page.items {
                if !budget.allows(self.clock.now()) {
                    report.deferred += 1;
                    continue;
                }
                self.dispatch_one(item, now, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// Sends the outbox items at `keys` — what the table's stream reports as new — read by key,
    /// which is strongly consistent, where the due index may not show them yet.
    pub async fn dispatch_keys(&self, keys: &[Key]) -> Result<DispatchReport, StoreError> {
        let now = self.clock.now();
        let mut report = DispatchReport::default();
        for key in keys {
            if let Some(item) = self.store.get(key).await?
                && item.index_key(Index::Due).is_some()
            {
                self.dispatch_one(item, now, &mut report).await?;
            }
        }
        Ok(report)
    }

    async fn dispatch_one(
        &self,
        item: Item,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let mut entry: OutboxEntry = item.decode()?;
        if matches!(
            entry.delivery,
            DeliveryState::Sent { .. } | DeliveryState::Failed { .. }
        ) {
            // The index is eventually consistent on DynamoDB: a just-finished item may still show.
            return Ok(());
        }
        entry.delivery = DeliveryState::Sending {
            lease_until: now + LEASE,
        };
        entry.attempts += 1;
        let claimed = due_at(store_entry(&item, &entry)?, &entry, now + LEASE);
        match self
            .store
            .transact(vec![Write::update(claimed.clone())])
            .await
        {
            Ok(()) => {}
            Err(error) if error.is_contention() => {
                report.skipped += 1;
                return Ok(());
            }
            Err(error) => return Err(error),
        }
        let sent = match &entry.message {
            Message::Email(email) => self.mailer.send(&entry.id, email, now).await,
            Message::Event(event) => {
                self.events
                    .publish(&entry.id, &entry.vendor_id, event, now)
                    .await
            }
        };
        let finished = match sent {
            Ok(()) => {
                match entry.message {
                    Message::Email(_) => report.emails_sent += 1,
                    Message::Event(_) => report.events_published += 1,
                }
                entry.delivery = DeliveryState::Sent { at: now };
                entry.last_error = None;
                store_entry(&claimed, &entry)?.without_index(Index::Due)
            }
            Err(error) => {
                tracing::warn!(outbox_id = %entry.id, attempts = entry.attempts, kind = ?error.kind, code = ?error.code, "outbox delivery failed");
                entry.last_error = Some(error.describe());
                let throttled = error.kind == FailureKind::Throttled;
                if throttled {
                    // A spent rate or quota is no fault of the item: it does not use an attempt.
                    entry.attempts = entry.attempts.saturating_sub(1);
                }
                let exhausted = match error.kind {
                    FailureKind::Permanent => true,
                    FailureKind::Throttled => now - entry.created_at >= GIVE_UP_AFTER,
                    FailureKind::Transient => entry.attempts >= MAX_ATTEMPTS,
                };
                if exhausted {
                    // The template's metric filter turns this line into the operator's alarm.
                    tracing::error!(outbox_id = %entry.id, vendor_id = %entry.vendor_id, "outbox item given up");
                    report.given_up += 1;
                    entry.delivery = DeliveryState::Failed { at: now };
                    store_entry(&claimed, &entry)?.without_index(Index::Due)
                } else {
                    report.retries_scheduled += 1;
                    entry.delivery = DeliveryState::Pending;
                    let retry_at = if throttled {
                        now + THROTTLED_PAUSE
                    } else {
                        now + backoff(entry.attempts)
                    };
                    due_at(store_entry(&claimed, &entry)?, &entry, retry_at)
                }
            }
        };
        self.store.transact(vec![Write::update(finished)]).await
    }
}
