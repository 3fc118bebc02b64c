//! Calls to the payment provider that a committed decision still owes (a refund, a plan's
//! cancellation). The task is written in the decision's transaction, so it cannot be lost; it is
//! run right after the commit and by every sweep until the provider took it. Each call carries
//! an idempotency key derived from the task, so running it twice is one call at the provider.

use crate::domain::clock::Budget;
use crate::domain::ids::{OrderId, RefundId, VendorId};
use crate::domain::money::Money;
use crate::domain::orders::payments::PaymentSource;
use crate::payments::{
    CancelSubscriptionRequest, PaymentProvider, ProviderError, RefundRequest, RefundState,
};
use crate::store::keys::{DueQueue, backed_off, due_entry, due_partitions, due_up_to, vendor_pk};
use crate::store::{Index, Item, Key, Query, SortRange, StoreError, Write};
use crate::usecases::ports::Ports;
use crate::usecases::ports::UseCaseError;
use crate::usecases::ports::encode;
use crate::usecases::refunds::settle::{self, Settlement};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long a running call keeps other sweeps away.
pub const LEASE: Duration = Duration::minutes(2);
/// After this many failed calls the task leaves the due-index and waits for the operator.
pub const MAX_ATTEMPTS: u32 = 8;
/// A refund the provider took as pending is confirmed by its events within this time; one still
/// pending then is reported to the operator ("refund still pending at the provider", an alarm),
/// and again every `STILL_PENDING_AGAIN` until it is settled.
pub const CONFIRMATION_EXPECTED_WITHIN: Duration = Duration::hours(48);
pub const STILL_PENDING_AGAIN: Duration = Duration::hours(24);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderTask {
    /// One part of a refund, to the provider its payment came from, against the payment's
    /// reference (`None`: not known, so no call can be made).
    Refund {
        refund_id: RefundId,
        #[serde(default)]
        part: u32,
        #[serde(default = "stripe")]
        source: PaymentSource,
        payment: Option<String>,
        amount: Money,
        order_id: OrderId,
    },
    CancelSubscription {
        order_id: OrderId,
        subscription: String,
    },
}

impl ProviderTask {
    /// One task per refund and per cancelled order: also the provider's idempotency key.
    fn id(&self) -> String {
        match self {
            ProviderTask::Refund {
                refund_id, part: 0, ..
            } => format!("refund-{refund_id}"),
            ProviderTask::Refund {
                refund_id, part, ..
            } => format!("refund-{refund_id}-{part}"),
            ProviderTask::CancelSubscription { order_id, .. } => format!("cancel-{order_id}"),
        }
    }
}

fn stripe() -> PaymentSource {
    PaymentSource::Stripe
}

impl ProviderTask {
    /// The refund reaches nobody: its payment's reference is unknown, or no adapter calls its
    /// provider yet (PayPal). It stays pending and the operator is told, never marked done.
    fn unreachable(&self) -> bool {
        match self {
            ProviderTask::Refund {
                source, payment, ..
            } => payment.is_none() || *source != PaymentSource::Stripe,
            // A PayPal subscription (`I-…`) is never sent to Stripe.
            ProviderTask::CancelSubscription { subscription, .. } => {
                !subscription.starts_with("sub_")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TaskRecord {
    vendor_id: VendorId,
    task: ProviderTask,
    attempts: u32,
    last_error: Option<String>,
    given_up: bool,
    /// The provider took the refund as pending at this time: the task now only watches for its
    /// confirmation, and never calls the provider again.
    #[serde(default)]
    accepted_at: Option<DateTime<Utc>>,
}

fn task_key(vendor: &VendorId, task: &ProviderTask) -> Key {
    Key::new(vendor_pk(vendor), format!("PROVIDERTASK#{}", task.id()))
}

fn due(item: Item, task: &ProviderTask, at: DateTime<Utc>) -> Item {
    let (pk, sk) = due_entry(DueQueue::Provider, at, &task.id());
    item.with_index(Index::Due, pk, sk)
}

/// The task as a write of the deciding transaction, due at once.
pub fn task_write(
    vendor: &VendorId,
    task: &ProviderTask,
    now: DateTime<Utc>,
) -> Result<Write, StoreError> {
    let key = task_key(vendor, task);
    let record = TaskRecord {
        vendor_id: vendor.clone(),
        task: task.clone(),
        attempts: 0,
        last_error: None,
        given_up: false,
        accepted_at: None,
    };
    let body = encode(&key, &record)?;
    Ok(Write::create(due(Item::new(key, body), task, now)))
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProviderReport {
    pub done: u32,
    pub retries_scheduled: u32,
    pub given_up: u32,
    pub skipped: u32,
    /// Due, but left for the next sweep: this one's time was spent.
    pub deferred: u32,
    /// Refunds the provider took but has not confirmed within `CONFIRMATION_EXPECTED_WITHIN`.
    pub still_pending: u32,
    /// Tasks that failed on our side (their refund cannot be read, say): due again later.
    pub failed: u32,
}

/// Runs every task due now.
pub async fn run_due(
    ports: Ports<'_>,
    provider: &dyn PaymentProvider,
    budget: Budget,
) -> Result<ProviderReport, UseCaseError> {
    let now = ports.clock.now();
    let mut report = ProviderReport::default();
    for partition in due_partitions(DueQueue::Provider) {
        let query = Query::index(Index::Due, partition, SortRange::UpTo(due_up_to(now))).limit(100);
        for item in ports.store.query(&query).await?.items {
            if !budget.allows_for(ports.clock.now(), call_takes_at_most()) {
                report.deferred += 1;
                continue;
            }
            let kept = item.clone();
            if let Err(error) = run_one(ports, provider, item, now, &mut report).await {
                // One broken task never stops the ones behind it: recorded, due again later.
                report.failed += 1;
                let id = kept
                    .key
                    .sk
                    .strip_prefix("PROVIDERTASK#")
                    .unwrap_or(&kept.key.sk)
                    .to_string();
                tracing::error!(pk = %kept.key.pk, sk = %kept.key.sk, error = %error, "provider task failed: given up until its backoff ends");
                let later = backed_off(&kept, DueQueue::Provider, &id, &error.to_string(), now);
                match ports.store.transact(vec![Write::update(later)]).await {
                    Ok(()) => {}
                    Err(error) if error.is_contention() => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
    }
    Ok(report)
}

/// Runs the task the decision just committed, if it is still due (right after the commit) and
/// `budget` has a call's time left; else the sweeps run it.
pub async fn run_now(
    ports: Ports<'_>,
    provider: &dyn PaymentProvider,
    vendor: &VendorId,
    task: &ProviderTask,
    budget: Budget,
) -> Result<ProviderReport, UseCaseError> {
    let mut report = ProviderReport::default();
    if !budget.allows_for(ports.clock.now(), call_takes_at_most()) {
        report.deferred += 1;
        return Ok(report);
    }
    // One that reaches nobody is left to the sweeps, whose log raises the operator's alarm.
    if task.unreachable() {
        return Ok(report);
    }
    if let Some(item) = ports.store.get(&task_key(vendor, task)).await? {
        run_one(ports, provider, item, ports.clock.now(), &mut report).await?;
    }
    Ok(report)
}

/// The longest a provider call may take (its client's timeout).
fn call_takes_at_most() -> Duration {
    Duration::from_std(crate::payments::https::OUTBOUND_TIMEOUT).unwrap_or(Duration::MAX)
}

fn backoff(attempts: u32) -> Duration {
    Duration::minutes(1i64 << attempts.saturating_sub(1).min(6))
}

async fn run_one(
    ports: Ports<'_>,
    provider: &dyn PaymentProvider,
    item: Item,
    now: DateTime<Utc>,
    report: &mut ProviderReport,
) -> Result<(), UseCaseError> {
    let mut record: TaskRecord = item.decode()?;
    if record.given_up || item.index_key(Index::Due).is_none() {
        return Ok(());
    }
    if let Some(accepted_at) = record.accepted_at {
        return watch(ports, item, &record, accepted_at, now, report).await;
    }
    if record.task.unreachable() {
        return unreachable(ports, item, record, now, report).await;
    }
    // Claim it: another sweep that read the same item loses the version check.
    record.attempts += 1;
    let claimed = due(
        item.next(encode(&item.key, &record)?),
        &record.task,
        now + LEASE,
    );
    match ports
        .store
        .transact(vec![Write::update(claimed.clone())])
        .await
    {
        Ok(()) => {}
        Err(error) if error.is_contention() => {
            report.skipped += 1;
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    }
    let outcome = call(provider, &record.vendor_id, &record.task).await;
    // Refused for good: by the provider, or an amount it cannot take (issue 14, defect 4) —
    // no retry can change either.
    let refused = match &outcome {
        // The provider's own trouble (5xx, 429) is tried again, never a failed refund.
        Err(error) if error.is_transient() => None,
        Err(ProviderError::Rejected { code, .. }) => Some(code.clone()),
        Err(ProviderError::Amount(_)) => Some("amount_not_payable".to_string()),
        _ => None,
    };
    let settle = match (&outcome, &record.task) {
        (
            Ok(Some(answer)),
            ProviderTask::Refund {
                refund_id, part, ..
            },
        ) => Some((refund_id, *part, answer.clone())),
        // The provider refused for good: the refund failed (R-R5).
        (
            Err(_),
            ProviderTask::Refund {
                refund_id, part, ..
            },
        ) if refused.is_some() => Some((
            refund_id,
            *part,
            (
                format!("refused: {}", refused.as_deref().unwrap_or_default()),
                RefundState::Failed,
            ),
        )),
        _ => None,
    };
    let permanent = outcome.is_ok() || refused.is_some();
    if permanent {
        report.done += 1;
        // Settle first, then drop the task: a function killed in between leaves the task, which
        // runs again after its lease (the provider answers the same refund to the same key, and
        // settling is idempotent) — never a dropped task with its refund pending for ever.
        let mut accepted = false;
        if let Some((refund_id, part, (provider_refund, state))) = settle {
            let settlement = match state {
                RefundState::Succeeded => Settlement::Succeeded,
                RefundState::Failed => Settlement::Failed,
                RefundState::Pending => Settlement::Accepted,
            };
            accepted = settlement == Settlement::Accepted;
            settle::settle(
                ports,
                &record.vendor_id,
                refund_id,
                settle::PartRef::Index(part),
                settlement,
                Some(provider_refund),
                None,
            )
            .await?;
        }
        if accepted {
            // Taken, not yet done: the task stays to watch for the provider's confirmation.
            record.accepted_at = Some(now);
            let watching = due(
                claimed.next(encode(&claimed.key, &record)?),
                &record.task,
                now + CONFIRMATION_EXPECTED_WITHIN,
            );
            ports.store.transact(vec![Write::update(watching)]).await?;
            return Ok(());
        }
        let mut writes = vec![Write::Delete {
            key: claimed.key.clone(),
            condition: crate::store::Condition::VersionIs(claimed.version),
        }];
        // The provider refused the cancellation: the vendor must stop it there (R-R4).
        if let (
            Err(_),
            ProviderTask::CancelSubscription {
                order_id,
                subscription,
            },
        ) = (&outcome, &record.task)
        {
            writes.extend(
                cancellation_failed(ports, &record.vendor_id, order_id, subscription, now).await?,
            );
        }
        ports.store.transact(writes).await?;
        return Ok(());
    }
    if let Err(error) = outcome {
        tracing::warn!(task = %record.task.id(), attempts = record.attempts, error = %error, "provider call failed");
        record.last_error = Some(error.to_string());
    }
    let next = if record.attempts >= MAX_ATTEMPTS {
        report.given_up += 1;
        // The template's metric filter turns this line into the operator's alarm.
        tracing::error!(vendor_id = %record.vendor_id, task = %record.task.id(), "provider call given up");
        record.given_up = true;
        // A refund never taken by its provider failed (R-R5): the money counts as not refunded
        // again, the ledger is credited back and the vendor told — never pending for ever.
        if let ProviderTask::Refund {
            refund_id, part, ..
        } = &record.task
        {
            settle::settle(
                ports,
                &record.vendor_id,
                refund_id,
                settle::PartRef::Index(*part),
                Settlement::Failed,
                None,
                None,
            )
            .await?;
        }
        claimed
            .next(encode(&claimed.key, &record)?)
            .without_index(Index::Due)
    } else {
        report.retries_scheduled += 1;
        due(
            claimed.next(encode(&claimed.key, &record)?),
            &record.task,
            now + backoff(record.attempts),
        )
    };
    ports.store.transact(vec![Write::update(next)]).await?;
    Ok(())
}

/// A call that reaches nobody (see [`ProviderTask::unreachable`]). A refund stays pending: the
/// operator is told now ("still pending", the alarm) and every `STILL_PENDING_AGAIN`, and both
/// sides were told it is in progress; nothing is marked done without the provider. A
/// cancellation is given up at once with the operator's alarm.
async fn unreachable(
    ports: Ports<'_>,
    item: Item,
    mut record: TaskRecord,
    now: DateTime<Utc>,
    report: &mut ProviderReport,
) -> Result<(), UseCaseError> {
    let mut writes = Vec::new();
    let next = match &record.task {
        ProviderTask::Refund { refund_id, .. } => {
            report.still_pending += 1;
            tracing::error!(vendor_id = %record.vendor_id, refund_id = %refund_id, task = %record.task.id(), "refund still pending: no call reaches its provider");
            due(
                item.next(item.body.clone()),
                &record.task,
                now + STILL_PENDING_AGAIN,
            )
        }
        ProviderTask::CancelSubscription {
            order_id,
            subscription,
        } => {
            report.given_up += 1;
            tracing::error!(vendor_id = %record.vendor_id, task = %record.task.id(), "provider call given up: the subscription is not at Stripe");
            writes.extend(
                cancellation_failed(ports, &record.vendor_id, order_id, subscription, now).await?,
            );
            record.given_up = true;
            record.last_error = Some("no adapter for the subscription's provider".into());
            item.next(encode(&item.key, &record)?)
                .without_index(Index::Due)
        }
    };
    writes.insert(0, Write::update(next));
    match ports.store.transact(writes).await {
        Err(error) if error.is_contention() => report.skipped += 1,
        other => other?,
    }
    Ok(())
}

/// The vendor is told (e-mail and `subscription.cancel_failed`) that a cancellation did not
/// reach the provider, so it stops the subscription there (issue 13, defect 6).
async fn cancellation_failed(
    ports: Ports<'_>,
    vendor_id: &VendorId,
    order_id: &OrderId,
    subscription: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Write>, UseCaseError> {
    use crate::domain::notifications::emails::{CancellationNotice, cancellation_failed};
    use crate::domain::notifications::{DomainEvent, EventType, Message};
    let vendor = crate::usecases::ports::load_vendor(ports.store, vendor_id).await?;
    let order = crate::usecases::ports::load_order(ports.store, vendor_id, order_id)
        .await?
        .order;
    let notice = cancellation_failed(&CancellationNotice {
        to: vendor.ticket_email(),
        language: &vendor.default_language,
        order_number: &order.number,
        subscription,
    });
    let event = DomainEvent {
        event_type: EventType::CancellationFailed,
        detail: serde_json::json!({ "order_id": order.id, "order_number": order.number, "subscription": subscription }),
    };
    let to_store = |source| StoreError::Malformed {
        key: crate::store::keys::order_key(vendor_id, order_id),
        source,
    };
    Ok(vec![
        crate::outbox::enqueue(vendor_id, Message::Email(notice), now, ports.entropy)
            .map_err(to_store)?,
        crate::outbox::enqueue(vendor_id, Message::Event(event), now, ports.entropy)
            .map_err(to_store)?,
    ])
}

/// A refund the provider took: dropped once its events settled it; still pending, the operator
/// is told (the template's metric filter on "still pending" raises the alarm) and told again
/// later. The provider is not called again: its idempotency keys expire, a second call could
/// refund twice.
async fn watch(
    ports: Ports<'_>,
    item: Item,
    record: &TaskRecord,
    accepted_at: DateTime<Utc>,
    now: DateTime<Utc>,
    report: &mut ProviderReport,
) -> Result<(), UseCaseError> {
    let ProviderTask::Refund { refund_id, .. } = &record.task else {
        return Ok(());
    };
    let refund: Option<crate::domain::refunds::Refund> = match ports
        .store
        .get(&crate::store::keys::refund_key(
            &record.vendor_id,
            refund_id,
        ))
        .await?
    {
        Some(found) => Some(found.decode()?),
        None => None,
    };
    let pending =
        refund.is_some_and(|refund| refund.state == crate::domain::refunds::RefundState::Pending);
    let write = if pending {
        report.still_pending += 1;
        tracing::error!(vendor_id = %record.vendor_id, refund_id = %refund_id, %accepted_at, "refund still pending at the provider");
        Write::update(due(
            item.next(item.body.clone()),
            &record.task,
            now + STILL_PENDING_AGAIN,
        ))
    } else {
        Write::Delete {
            key: item.key.clone(),
            condition: crate::store::Condition::VersionIs(item.version),
        }
    };
    match ports.store.transact(vec![write]).await {
        Err(error) if error.is_contention() => report.skipped += 1,
        other => other?,
    }
    Ok(())
}

/// The provider call; a refund answers the provider's refund id and state.
async fn call(
    provider: &dyn PaymentProvider,
    vendor: &VendorId,
    task: &ProviderTask,
) -> Result<Option<(String, RefundState)>, ProviderError> {
    match task {
        // Never called (`unreachable`); answered as the provider would refuse it.
        ProviderTask::Refund { payment: None, .. } => Err(ProviderError::Rejected {
            status: 0,
            code: "no_payment_reference".into(),
        }),
        ProviderTask::Refund {
            refund_id,
            part,
            payment: Some(payment),
            amount,
            order_id,
            ..
        } => {
            let answer = provider
                .refund(&RefundRequest {
                    vendor_id: vendor.clone(),
                    payment: payment.clone(),
                    amount: *amount,
                    order_id: order_id.clone(),
                    refund_id: refund_id.to_string(),
                    part: *part,
                })
                .await?;
            Ok(Some((answer.id, answer.state)))
        }
        ProviderTask::CancelSubscription { subscription, .. } => {
            provider
                .cancel_subscription(&CancelSubscriptionRequest {
                    subscription: subscription.clone(),
                    idempotency_key: task.id(),
                })
                .await?;
            Ok(None)
        }
    }
}
