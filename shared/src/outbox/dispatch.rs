//! The dispatcher: reads due outbox items from the due-index, claims each with a version check
//! (so two dispatchers never both send it), sends it, and marks it sent, dropping it from the
//! index — a re-run finds nothing. A failed send is retried with backoff.
//!
//! The one window left is a crash after the channel accepted a message and before it is marked
//! sent: the lease expires and the item is sent again (at least once, R-N1). The outbox id travels
//! with every message (a tag on SES mail, the event's `id`) so receivers can drop that repeat.
//!
//! A mail to a suppressed address (`suppression`) is not sent but given up at once. When a mail
//! to a customer is given up, the vendor is told in the same transaction (`MailUndeliverable`),
//! so no customer mail is lost in silence; a notice to the vendor that is given up tells only the
//! operator (the alarm on "outbox item given up").

use super::suppression;
use super::{DeliveryError, DeliveryState, EventPublisher, FailureKind, Mailer, OutboxEntry};
use crate::domain::clock::{Budget, Clock};
use crate::domain::ids::{Entropy, OsEntropy};
use crate::domain::notifications::emails::{UndeliverableNotice, mail_undeliverable};
use crate::domain::notifications::{Email, Message};
use crate::domain::vendors::Vendor;
use crate::store::keys::{
    DueQueue, VENDOR_PROFILE_SK, due_entry, due_partitions, due_up_to, vendor_pk,
};
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
/// How long a finished item is kept (the table's TTL then deletes it): for the operator's look
/// at what went out or was given up.
pub const KEEP_FINISHED: Duration = Duration::days(30);
/// The longest one send may take (the AWS SDK's operation timeout of the functions, a test
/// keeps them equal): a run starts a send only with this much of its budget left.
pub const SEND_TAKES_AT_MOST: Duration = Duration::seconds(15);
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
    /// Failed on our side (a broken item): recorded on it, due again after a backoff.
    pub failed: u32,
}

pub struct Dispatcher {
    store: Arc<dyn ItemStore>,
    mailer: Arc<dyn Mailer>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    /// Ids of the notices the dispatcher itself enqueues.
    entropy: Arc<dyn Entropy>,
}

/// The source of a refusal by the suppression list.
#[derive(Debug, thiserror::Error)]
#[error("the address is on the suppression list ({0})")]
struct Suppressed(&'static str);

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
            entropy: Arc::new(OsEntropy),
        }
    }

    /// Where the ids of the dispatcher's own notices come from (tests fix it).
    pub fn with_entropy(mut self, entropy: Arc<dyn Entropy>) -> Dispatcher {
        self.entropy = entropy;
        self
    }

    /// Puts bounced and complaining addresses on the suppression list (SES feedback).
    pub async fn suppress(
        &self,
        suppressions: &[suppression::Suppression],
    ) -> Result<(), StoreError> {
        suppression::record(self.store.as_ref(), suppressions, self.clock.now()).await
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
                if !budget.allows_for(self.clock.now(), SEND_TAKES_AT_MOST) {
                    report.deferred += 1;
                    continue;
                }
                self.dispatch_isolated(item, now, &mut report).await?;
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
                self.dispatch_isolated(item, now, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// One item; its failure is recorded on it and it is due again after a backoff, so one
    /// broken item never stops the items behind it. Only a failure to record that stops the run.
    async fn dispatch_isolated(
        &self,
        item: Item,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        let kept = item.clone();
        let Err(error) = self.dispatch_one(item, now, report).await else {
            return Ok(());
        };
        report.failed += 1;
        let id = kept
            .key
            .sk
            .strip_prefix("OUTBOX#")
            .unwrap_or(&kept.key.sk)
            .to_string();
        // The template's metric filter on "given up" raises the operator's alarm.
        tracing::error!(pk = %kept.key.pk, sk = %kept.key.sk, error = %error, "outbox item failed: given up until its backoff ends");
        let later =
            crate::store::keys::backed_off(&kept, DueQueue::Outbox, &id, &error.to_string(), now);
        match self.store.transact(vec![Write::update(later)]).await {
            Err(error) if !error.is_contention() => Err(error),
            _ => Ok(()),
        }
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
            Message::Email(email) => {
                match suppression::lookup(self.store.as_ref(), &email.to).await? {
                    Some(reason) => Err(DeliveryError::classified(
                        "suppression",
                        FailureKind::Permanent,
                        Some(reason.as_str().to_string()),
                        Suppressed(reason.as_str()),
                    )),
                    None => self.mailer.send(&entry.id, email, now).await,
                }
            }
            Message::Event(event) => {
                self.events
                    .publish(&entry.id, &entry.vendor_id, event, now)
                    .await
            }
        };
        let mut notices = Vec::new();
        let finished = match sent {
            Ok(()) => {
                match entry.message {
                    Message::Email(_) => report.emails_sent += 1,
                    Message::Event(_) => report.events_published += 1,
                }
                entry.delivery = DeliveryState::Sent { at: now };
                entry.last_error = None;
                // What was sent holds links (secret tokens): kept only as what, to whom, when.
                entry.message = entry.message.redacted();
                let mut sent = store_entry(&claimed, &entry)?.without_index(Index::Due);
                sent.expires_at = Some((now + KEEP_FINISHED).timestamp());
                sent
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
                    if let Message::Email(email) = &entry.message {
                        let reason = error.code.as_deref().unwrap_or("undeliverable");
                        notices.extend(self.tell_vendor(&entry, email, reason, now).await?);
                    }
                    entry.delivery = DeliveryState::Failed { at: now };
                    // Given up: kept for the operator as what, to whom, why — not its links.
                    entry.message = entry.message.redacted();
                    let mut failed = store_entry(&claimed, &entry)?.without_index(Index::Due);
                    failed.expires_at = Some((now + KEEP_FINISHED).timestamp());
                    failed
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
        let mut writes = vec![Write::update(finished)];
        writes.extend(notices);
        self.store.transact(writes).await
    }

    /// The vendor's notice of a given-up mail to its customer; none for a mail to the vendor
    /// itself (its own notices among them), so a failing vendor address cannot loop.
    async fn tell_vendor(
        &self,
        entry: &OutboxEntry,
        lost: &Email,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Write>, StoreError> {
        let key = Key::new(vendor_pk(&entry.vendor_id), VENDOR_PROFILE_SK);
        let Some(item) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let vendor: Vendor = item.decode()?;
        let to_vendor = [vendor.email.as_str(), vendor.ticket_email()]
            .iter()
            .any(|own| own.eq_ignore_ascii_case(lost.to.trim()));
        if to_vendor {
            return Ok(None);
        }
        let notice = mail_undeliverable(&UndeliverableNotice {
            to: vendor.ticket_email(),
            language: &vendor.default_language,
            recipient: &lost.to,
            subject: &lost.subject,
            reason,
        });
        super::enqueue(
            &vendor.id,
            Message::Email(notice),
            now,
            self.entropy.as_ref(),
        )
        .map(Some)
        .map_err(|source| StoreError::Malformed { key, source })
    }
}
