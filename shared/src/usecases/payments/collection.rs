//! Instalments collected on their due dates (issue 15, defect 1; R-P1, R-P3, seed 001).
//!
//! When an instalment plan's first payment arrives, one collection task per later rate is
//! written in that payment's transaction (the order remembers which rates have one, so each
//! rate is collected once). A task is due `request_days_before` days before its rate (the
//! vendor's setting) and again at the rate's due time:
//! - where the customer saved a payment method at checkout, the due-time run creates the
//!   provider's off-session payment of exactly the rest of that rate, records its id in the
//!   task, then confirms it — a retry (hours or days later) confirms the recorded payment and
//!   never creates a second one, whatever the provider's idempotency keys still remember; its
//!   money or decline arrives as the usual events (a decline counts as R-P2's attempt);
//! - where none is saved (PayPal without a billing agreement, a method that cannot be reused,
//!   one the provider refuses), the customer gets a `payment_request` e-mail with the pay link
//!   on both dates (the early one only while nothing is saved).
//!
//! A rate that is paid, cancelled or refunded by then, or of an order that ended, is collected
//! no more: the task goes. The sweep reads only due tasks (due-index).

use crate::domain::clock::Budget;
use crate::domain::customers::Customer;
use crate::domain::money::Money;
use crate::domain::notifications::Message;
use crate::domain::notifications::emails::RequestTiming;
use crate::domain::orders::{ItemStatus, Order, OrderStatus};
use crate::domain::vendors::Vendor;
use crate::outbox::enqueue;
use crate::payments::{OffSessionOutcome, OffSessionPayment, PaymentProvider, ProviderError};
use crate::store::keys::{DueQueue, backed_off, due_partitions, due_up_to};
use crate::store::{Condition, Index, Item, Query, SortRange, StoreError, Write};
use crate::usecases::orders::collections::{CollectionTask, Stage, due, task_key};
use crate::usecases::orders::notices::payment_request_notice;
use crate::usecases::ports::{Ports, UseCaseError, encode, load_order, load_vendor};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// How long a running charge keeps other sweeps away.
pub const LEASE: Duration = Duration::minutes(2);
/// After this many failed provider calls the task leaves the due-index for the operator.
pub const MAX_ATTEMPTS: u32 = 8;
/// A rate of a disputed order waits for the dispute's end, looking again after this time.
const WHILE_DISPUTED: Duration = Duration::days(1);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CollectionReport {
    /// Off-session payments confirmed (their outcome arrives as events).
    pub charged: u32,
    /// Of those, declined or waiting for the customer (3-D Secure).
    pub declined: u32,
    /// `payment_request` e-mails written.
    pub requested: u32,
    /// Rates paid, cancelled or ended by then: nothing collected.
    pub nothing_to_collect: u32,
    pub retries_scheduled: u32,
    pub given_up: u32,
    /// Claimed by another sweep at the same time.
    pub skipped: u32,
    /// Due, but left for the next sweep: this one's time was spent.
    pub deferred: u32,
    /// Tasks that failed on our side (their order cannot be read): due again later.
    pub failed: u32,
}

/// Runs every collection task due now.
pub async fn run_due(
    ports: Ports<'_>,
    provider: &dyn PaymentProvider,
    budget: Budget,
) -> Result<CollectionReport, UseCaseError> {
    let now = ports.clock.now();
    let mut report = CollectionReport::default();
    let takes = Duration::from_std(crate::payments::https::OUTBOUND_TIMEOUT)
        .unwrap_or(Duration::MAX)
        .checked_mul(3)
        .unwrap_or(Duration::MAX);
    for partition in due_partitions(DueQueue::Collection) {
        let query = Query::index(Index::Due, partition, SortRange::UpTo(due_up_to(now))).limit(100);
        for item in ports.store.query(&query).await?.items {
            if !budget.allows_for(ports.clock.now(), takes) {
                report.deferred += 1;
                continue;
            }
            let kept = item.clone();
            if let Err(error) = run_one(ports, provider, item, now, &mut report).await {
                // One broken task never stops the ones behind it: recorded, due again later.
                report.failed += 1;
                let id = kept
                    .decode::<CollectionTask>()
                    .map_or_else(|_| kept.key.sk.clone(), |task| task.id());
                tracing::error!(pk = %kept.key.pk, sk = %kept.key.sk, error = %error, "collection task failed: given up until its backoff ends");
                let later = backed_off(&kept, DueQueue::Collection, &id, &error.to_string(), now);
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

/// What is still to collect of rate `seq`.
enum Owed {
    Rest(Money),
    /// The order is disputed: its rates wait for the dispute's end.
    Later,
    Nothing,
}

fn owed(order: &Order, seq: u32) -> Owed {
    match order.status {
        OrderStatus::Active => {}
        OrderStatus::Disputed => return Owed::Later,
        _ => return Owed::Nothing,
    }
    let Some(item) = order.schedule.iter().find(|item| item.seq == seq) else {
        return Owed::Nothing;
    };
    match item.amount.checked_sub(&item.paid) {
        Ok(rest) if item.status == ItemStatus::Open && !rest.is_zero() && !rest.is_negative() => {
            Owed::Rest(rest)
        }
        _ => Owed::Nothing,
    }
}

/// The task's item now: its body and due-index entry.
fn next_item(item: &Item, task: &CollectionTask, at: DateTime<Utc>) -> Result<Item, StoreError> {
    Ok(due(item.next(encode(&item.key, task)?), task, at))
}

fn delete(item: &Item) -> Write {
    Write::Delete {
        key: item.key.clone(),
        condition: Condition::VersionIs(item.version),
    }
}

/// Commits `writes`; another sweep that changed the task first wins.
async fn commit(
    ports: Ports<'_>,
    writes: Vec<Write>,
    report: &mut CollectionReport,
) -> Result<bool, UseCaseError> {
    match ports.store.transact(writes).await {
        Ok(()) => Ok(true),
        Err(error) if error.is_contention() => {
            report.skipped += 1;
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

async fn run_one(
    ports: Ports<'_>,
    provider: &dyn PaymentProvider,
    item: Item,
    now: DateTime<Utc>,
    report: &mut CollectionReport,
) -> Result<(), UseCaseError> {
    let mut task: CollectionTask = item.decode()?;
    if task.given_up || item.index_key(Index::Due).is_none() {
        return Ok(());
    }
    let vendor = load_vendor(ports.store, &task.vendor_id).await?;
    let context = load_order(ports.store, &task.vendor_id, &task.order_id).await?;
    let (order, customer) = (&context.order, &context.customer);
    let rest = match owed(order, task.seq) {
        Owed::Rest(rest) => rest,
        Owed::Later => {
            let later = next_item(&item, &task, now + WHILE_DISPUTED)?;
            commit(ports, vec![Write::update(later)], report).await?;
            return Ok(());
        }
        Owed::Nothing => {
            // A payment made for it and never confirmed stays so; cancelled where it can be.
            if let Some(payment) = &task.payment
                && let Err(error) = provider.cancel_off_session_payment(payment).await
            {
                tracing::warn!(task = %task.id(), error = %error, "an unneeded off-session payment was not cancelled");
            }
            if commit(ports, vec![delete(&item)], report).await? {
                report.nothing_to_collect += 1;
            }
            return Ok(());
        }
    };
    if task.stage == Stage::Announce && now < task.due_at {
        // The early request goes only where no payment method pays the rate by itself.
        let mut writes = Vec::new();
        if order.provider.saved_method.is_none() {
            writes.extend(request_write(
                ports, &vendor, order, customer, rest, &task, now, false,
            )?);
        }
        let requested = !writes.is_empty();
        task.stage = Stage::Collect;
        writes.insert(0, Write::update(next_item(&item, &task, task.due_at)?));
        if commit(ports, writes, report).await? && requested {
            report.requested += 1;
        }
        return Ok(());
    }
    let method = order.provider.saved_method.clone();
    if method.is_none() && task.payment.is_none() {
        let mut writes = vec![delete(&item)];
        writes.extend(request_write(
            ports, &vendor, order, customer, rest, &task, now, true,
        )?);
        if commit(ports, writes, report).await? {
            report.requested += 1;
        }
        return Ok(());
    }
    // What the customer is sent if the provider refuses the payment for good.
    let ask = request_write(ports, &vendor, order, customer, rest, &task, now, true)?;
    // Claim it: another sweep that read the same task loses the version check.
    task.attempts += 1;
    let claimed = next_item(&item, &task, now + LEASE)?;
    if !commit(ports, vec![Write::update(claimed.clone())], report).await? {
        return Ok(());
    }
    // A retry of a recorded payment whose rate changed meanwhile (part of it paid by hand or
    // through the link): that payment would charge more than is owed. Cancelled, the customer
    // pays the rest through the link; already charged, its money is on its way.
    if let (Some(payment), Some(amount)) = (&task.payment, task.payment_amount)
        && amount != rest
    {
        return match provider.cancel_off_session_payment(payment).await {
            Ok(cancelled) => {
                let mut writes = vec![delete(&claimed)];
                if cancelled {
                    writes.extend(ask);
                }
                if commit(ports, writes, report).await? {
                    if cancelled {
                        report.requested += 1;
                    } else {
                        report.charged += 1;
                    }
                }
                Ok(())
            }
            Err(error) => failed(ports, &claimed, task, error, ask, now, report).await,
        };
    }
    let (payment, claimed) = match (task.payment.clone(), method) {
        (Some(payment), _) => (payment, claimed),
        (None, Some(method)) => {
            let charge = OffSessionPayment {
                vendor_id: vendor.id.clone(),
                order_id: order.id.clone(),
                customer_id: order.customer_id.clone(),
                order_number: order.number.clone(),
                description: order.offer_name.clone(),
                seq: task.seq,
                amount: rest,
                method,
                customer_email: order.recipient(customer).to_string(),
                idempotency_key: task.id(),
            };
            match provider.create_off_session_payment(&charge).await {
                Ok(payment) => {
                    // Recorded before it is confirmed: a retry confirms this one.
                    task.payment = Some(payment.clone());
                    task.payment_amount = Some(rest);
                    let recorded = next_item(&claimed, &task, now + LEASE)?;
                    ports
                        .store
                        .transact(vec![Write::update(recorded.clone())])
                        .await?;
                    (payment, recorded)
                }
                Err(error) => {
                    return failed(ports, &claimed, task, error, ask, now, report).await;
                }
            }
        }
        (None, None) => return Ok(()),
    };
    // A key per attempt: Stripe replays a 5xx answer to its key for a day, and confirming
    // twice cannot charge twice — the adapter confirms only a payment still unconfirmed.
    let confirm_key = format!("{}-confirm-{}", task.id(), task.attempts);
    match provider
        .confirm_off_session_payment(&payment, &confirm_key)
        .await
    {
        Ok(outcome) => {
            report.charged += 1;
            if !matches!(
                outcome,
                OffSessionOutcome::Succeeded | OffSessionOutcome::Processing
            ) {
                report.declined += 1;
            }
            tracing::info!(vendor_id = %vendor.id, order_id = %order.id, seq = task.seq, payment = %payment, outcome = ?outcome, "instalment charged off-session");
            let mut writes = vec![delete(&claimed)];
            // A cancelled payment reports no failure: the customer is asked here.
            if outcome == OffSessionOutcome::Canceled {
                writes.extend(ask);
            }
            commit(ports, writes, report).await?;
            Ok(())
        }
        Err(error) => failed(ports, &claimed, task, error, ask, now, report).await,
    }
}

/// Whether the provider will not take this payment from the saved method (declined at
/// creation, the method or customer gone, an amount it cannot express): only the customer can
/// pay it now, through the link.
fn needs_the_customer(error: &ProviderError) -> bool {
    match error {
        ProviderError::Amount(_) => true,
        ProviderError::Rejected { status: 402, .. } => true,
        ProviderError::Rejected { code, .. } => {
            code == "resource_missing"
                || code.starts_with("payment_method")
                || code.starts_with("card_")
                || code == "expired_card"
        }
        _ => false,
    }
}

/// A provider call that failed. One only the customer can mend (see [`needs_the_customer`])
/// asks the customer to pay through the link instead, and the task goes. Anything else — no
/// answer, the provider's trouble, and refusals that are ours or the operator's to mend (a
/// revoked key, a request Stripe does not take) — is tried again after 1, 2, 4 … 64 minutes and
/// after `MAX_ATTEMPTS` given up with the operator's alarm; the customer is then asked to pay
/// only where no payment was made at the provider (one that was may still be charged).
async fn failed(
    ports: Ports<'_>,
    claimed: &Item,
    mut task: CollectionTask,
    error: ProviderError,
    request: Vec<Write>,
    now: DateTime<Utc>,
    report: &mut CollectionReport,
) -> Result<(), UseCaseError> {
    task.last_error = Some(error.to_string());
    let mut writes = Vec::new();
    if needs_the_customer(&error) {
        tracing::warn!(task = %task.id(), error = %error, "off-session payment refused: the customer is asked to pay");
        writes.push(delete(claimed));
        writes.extend(request);
        if commit(ports, writes, report).await? {
            report.requested += 1;
        }
        return Ok(());
    }
    if error.is_transient() {
        tracing::warn!(task = %task.id(), attempts = task.attempts, error = %error, "off-session payment call failed");
    } else {
        tracing::error!(task = %task.id(), attempts = task.attempts, error = %error, "off-session payment refused: the platform's request or key needs the operator");
    }
    if task.attempts >= MAX_ATTEMPTS {
        // The template's metric filter turns this line into the operator's alarm.
        tracing::error!(vendor_id = %task.vendor_id, task = %task.id(), "provider call given up");
        task.given_up = true;
        let ask = task.payment.is_none();
        writes.push(Write::update(
            claimed
                .next(encode(&claimed.key, &task)?)
                .without_index(Index::Due),
        ));
        if ask {
            writes.extend(request);
        }
        if commit(ports, writes, report).await? {
            report.given_up += 1;
            if ask {
                report.requested += 1;
            }
        }
        return Ok(());
    }
    let backoff = Duration::minutes(1i64 << task.attempts.saturating_sub(1).min(6));
    writes.push(Write::update(next_item(claimed, &task, now + backoff)?));
    if commit(ports, writes, report).await? {
        report.retries_scheduled += 1;
    }
    Ok(())
}

/// The customer's `payment_request` for the rest of the rate (none to a blocked customer).
#[allow(clippy::too_many_arguments)]
fn request_write(
    ports: Ports<'_>,
    vendor: &Vendor,
    order: &Order,
    customer: &Customer,
    rest: Money,
    task: &CollectionTask,
    now: DateTime<Utc>,
    // `false`: the request ahead of the due date.
    due_today: bool,
) -> Result<Vec<Write>, UseCaseError> {
    if customer.blocked.is_some() {
        return Ok(Vec::new());
    }
    let zone = order.calendar();
    let timing = if !due_today {
        // The link pays it before its day only where the vendor allows early instalments.
        let payable_now = crate::usecases::orders::portal::payable_item(order, vendor, now)
            .is_some_and(|item| item.seq == task.seq);
        RequestTiming::Ahead { payable_now }
    } else if now.with_timezone(&zone).date_naive() > task.due_at.with_timezone(&zone).date_naive()
    {
        RequestTiming::Overdue
    } else {
        RequestTiming::Today
    };
    let email = payment_request_notice(
        vendor,
        ports.link_keys,
        order,
        customer,
        rest,
        task.due_at,
        timing,
    )?;
    let to_store = |source| StoreError::Malformed {
        key: task_key(&task.vendor_id, &task.order_id, task.seq),
        source,
    };
    Ok(vec![
        enqueue(&vendor.id, Message::Email(email), now, ports.entropy).map_err(to_store)?,
    ])
}
