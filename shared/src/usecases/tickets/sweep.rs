//! The tickets' sweep (R-T5–R-T8): reads only the due tickets from the due-index, fires each
//! one's due timer and commits it with its effects on the ticket's version. A sweep that runs
//! twice, or two that overlap, fire each timer once: the loser's version check fails and the
//! ticket's next timer is no longer due.

use crate::domain::catalogue::Plan;
use crate::domain::clock::Budget;
use crate::domain::money::Money;
use crate::domain::notifications::{DomainEvent, EventType, Message};
use crate::domain::orders::OrderStatus;
use crate::domain::refunds::{RefundError, RefundOrigin, VENDOR_WINDOW_DAYS, request_refund};
use crate::domain::tickets::emails::{NotExecutableWhy, TicketNews};
use crate::domain::tickets::{CloseReason, Fired, Party, Ticket, TicketType};
use crate::domain::vendors::Vendor;
use crate::domain::vendors::vendor_zone;
use crate::outbox::enqueue;
use crate::payments::PaymentProvider;
use crate::store::keys::{DueQueue, backed_off, due_partitions, due_up_to, vendor_pk};
use crate::store::{Condition, Index, Item, Key, Query, SortRange, StoreError, Write};
use crate::usecases::ports::Ports;
use crate::usecases::ports::UseCaseError;
use crate::usecases::ports::{OrderContext, encode, load_order};
use crate::usecases::refunds::provider_tasks::{self, ProviderTask, task_write};
use crate::usecases::refunds::{self, RefundCause};
use crate::usecases::tickets::{notify_both, ticket_event, ticket_item};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

/// Due tickets read per partition per run; the rest wait for the next run.
const BATCH: u32 = 100;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TicketSweepReport {
    pub refunds_executed: u32,
    pub cancellations_executed: u32,
    pub warnings_sent: u32,
    pub closed_inactive: u32,
    /// Read from the due-index (the cost of the sweep).
    pub items_read: u32,
    /// Another sweep got there first, or nothing was due after all.
    pub skipped: u32,
    /// Due, but left for the next sweep: this one's time was spent.
    pub deferred: u32,
    /// Failed (their order cannot be loaded, say): recorded on the item, due again after a
    /// backoff, and the sweep went on with the rest.
    pub failed: u32,
    /// Vendors' own refund requests left open: the available balance does not cover them (R-R1).
    pub waiting_for_balance: u32,
}

pub async fn sweep(
    ports: Ports<'_>,
    provider: &dyn PaymentProvider,
    budget: Budget,
) -> Result<TicketSweepReport, UseCaseError> {
    let now = ports.clock.now();
    let mut report = TicketSweepReport::default();
    for partition in due_partitions(DueQueue::Tickets) {
        let query =
            Query::index(Index::Due, partition, SortRange::UpTo(due_up_to(now))).limit(BATCH);
        let page = ports.store.query(&query).await?;
        for item in page.items {
            if !budget.allows(ports.clock.now()) {
                // Still due: the next sweep takes it.
                report.deferred += 1;
                continue;
            }
            report.items_read += 1;
            let key = item.key.clone();
            let kept = item.clone();
            if let Err(error) = fire(ports, provider, item, now, budget, &mut report).await {
                report.failed += 1;
                let id = key.sk.strip_prefix("TICKET#").unwrap_or(&key.sk);
                // The template's metric filter on "given up" raises the operator's alarm.
                tracing::error!(pk = %key.pk, sk = %key.sk, error = %error, "sweep item failed: given up until its backoff ends");
                let later = backed_off(&kept, DueQueue::Tickets, id, &error.to_string(), now);
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

async fn fire(
    ports: Ports<'_>,
    provider: &dyn PaymentProvider,
    item: Item,
    now: DateTime<Utc>,
    budget: Budget,
    report: &mut TicketSweepReport,
) -> Result<(), UseCaseError> {
    let mut ticket: Ticket = item.decode()?;
    // Kept profiles: a sweep fires the due tickets of few vendors, each read once.
    let Some((vendor, _)) = ports
        .vendors
        .get(ports.store, &ticket.vendor_id, now)
        .await?
    else {
        return Err(UseCaseError::NotFound);
    };
    let before = ticket.clone();
    let Some(fired) = ticket.fire_due(now, ticket.calendar(vendor_zone(&vendor))) else {
        report.skipped += 1;
        return Ok(());
    };
    let mut context = load_order(ports.store, &vendor.id, &ticket.order_id).await?;
    // An executed refund debits the ledger: it moves the balance guard (R-R1).
    let guard = match fired {
        Fired::Execute(TicketType::Refund) => {
            crate::usecases::vendors::balance::read_guard(ports.store, &vendor.id).await?
        }
        _ => None,
    };
    // R-R1 (issue 13, defect 8): a vendor's own refund request is a vendor refund, held to the
    // available balance when it executes; uncovered, it stays open and is tried again daily.
    if fired == Fired::Execute(TicketType::Refund)
        && before.opened_by != Party::Customer
        && let Some((needed, available)) = uncovered(ports, &vendor, &context, &before, now).await?
    {
        let mut waiting = before;
        let first = waiting.wait_for_balance(now, BALANCE_RETRY);
        let mut writes = vec![Write::update(ticket_item(Some(&item), &waiting, &vendor)?)];
        if first {
            let news = TicketNews::RefundWaitsForBalance {
                needed: needed.to_string(),
                available: available.to_string(),
            };
            writes.extend(notify_both(
                ports,
                &vendor,
                &context.order,
                &context.customer,
                &waiting,
                &news,
                now,
            )?);
        }
        match ports.store.transact(writes).await {
            Err(error) if error.is_contention() => report.skipped += 1,
            Err(error) => return Err(error.into()),
            Ok(()) => report.waiting_for_balance += 1,
        }
        return Ok(());
    }
    let mut writes = vec![Write::update(ticket_item(Some(&item), &ticket, &vendor)?)];
    let mut tasks = Vec::new();
    let news = match fired {
        // The customer is told it may turn the ticket into a refund only where it may now.
        Fired::Warned => TicketNews::InactivityWarning {
            refund_possible: super::check_request(
                &context.order,
                TicketType::Refund,
                Party::Customer,
                now,
            )
            .is_ok()
                && super::open_request(ports.store, &vendor.id, &ticket.order_id)
                    .await?
                    .is_none(),
        },
        Fired::AutoClosed => {
            writes.push(ticket_event(
                ports,
                &vendor,
                &ticket,
                EventType::TicketClosed,
                now,
            )?);
            TicketNews::Closed
        }
        Fired::Execute(TicketType::Refund) => {
            writes.push(release_request(&vendor, &ticket));
            let (news, more, refund_tasks) =
                execute_refund(ports, &vendor, &ticket, &mut context, guard.as_ref(), now)?;
            if !matches!(
                news,
                TicketNews::RefundExecuted { .. } | TicketNews::RefundInProgress { .. }
            ) {
                // Nothing ran: the ticket says so, never `executed` (issue 16, item 1).
                ticket.not_executed(CloseReason::NotExecutable);
                writes[0] = Write::update(ticket_item(Some(&item), &ticket, &vendor)?);
            }
            // The event says how it closed (after the reason above is settled).
            writes.push(ticket_event(
                ports,
                &vendor,
                &ticket,
                EventType::TicketClosed,
                now,
            )?);
            writes.extend(more);
            tasks = refund_tasks;
            news
        }
        Fired::Execute(_) => {
            writes.push(release_request(&vendor, &ticket));
            // R-R4 on a plan that ended already (cancelled, refunded, superseded) or is no
            // subscription: nothing to cancel — no event, no provider call (issue 16, item 2).
            let cancellable = matches!(context.order.plan, Plan::Subscription { .. })
                && matches!(
                    context.order.status,
                    OrderStatus::Active | OrderStatus::PendingPayment
                );
            if !cancellable {
                ticket.not_executed(CloseReason::NothingToCancel);
                writes[0] = Write::update(ticket_item(Some(&item), &ticket, &vendor)?);
            }
            writes.push(ticket_event(
                ports,
                &vendor,
                &ticket,
                EventType::TicketClosed,
                now,
            )?);
            if cancellable {
                let (more, cancel_task) = execute_cancellation(ports, &vendor, &mut context, now)?;
                writes.extend(more);
                tasks.extend(cancel_task);
                TicketNews::CancellationExecuted
            } else {
                TicketNews::NothingToCancel
            }
        }
    };
    writes.extend(notify_both(
        ports,
        &vendor,
        &context.order,
        &context.customer,
        &ticket,
        &news,
        now,
    )?);
    match ports.store.transact(writes).await {
        Err(error) if error.is_contention() => {
            report.skipped += 1;
            return Ok(());
        }
        Err(error) => return Err(error.into()),
        Ok(()) => {}
    }
    match (fired, &news) {
        (Fired::Warned, _) => report.warnings_sent += 1,
        (Fired::AutoClosed, _) => report.closed_inactive += 1,
        (
            Fired::Execute(_),
            TicketNews::RefundExecuted { .. } | TicketNews::RefundInProgress { .. },
        ) => report.refunds_executed += 1,
        (Fired::Execute(_), TicketNews::CancellationExecuted) => report.cancellations_executed += 1,
        (Fired::Execute(_), _) => {}
    }
    tracing::info!(vendor_id = %vendor.id, ticket_id = %ticket.id, ?fired, "ticket timer fired");
    for task in &tasks {
        if let Err(error) = provider_tasks::run_now(ports, provider, &vendor.id, task, budget).await
        {
            tracing::warn!(ticket_id = %ticket.id, error = %error, "provider call left to the next sweep");
        }
    }
    Ok(())
}

/// How long a vendor's refund request waits for its balance before it is tried again.
pub const BALANCE_RETRY: chrono::Duration = chrono::Duration::days(1);

/// The net part a vendor's own refund request would debit and the available balance, when that
/// balance does not cover it (R-R1); `None` when it does, or nothing is to be refunded.
async fn uncovered(
    ports: Ports<'_>,
    vendor: &Vendor,
    context: &OrderContext,
    ticket: &Ticket,
    now: DateTime<Utc>,
) -> Result<Option<(Money, Money)>, UseCaseError> {
    let requested_at = ticket.requested_at.unwrap_or(ticket.opened_at);
    let Ok(plan) = request_refund(&context.order, requested_at, VENDOR_WINDOW_DAYS) else {
        return Ok(None);
    };
    let needed = plan.debit().map_err(|_| UseCaseError::NotFound)?;
    if needed.is_zero() {
        return Ok(None);
    }
    let currency = needed.currency();
    let available = crate::usecases::vendors::balance::balance(ports.store, &vendor.id, now)
        .await?
        .iter()
        .find(|b| b.currency == currency)
        .and_then(|b| Money::new(b.available, currency).ok())
        .unwrap_or(Money::zero(currency));
    Ok((available.amount() < needed.amount()).then_some((needed, available)))
}

/// The order may get a new request once this one is done.
fn release_request(vendor: &Vendor, ticket: &Ticket) -> Write {
    Write::Delete {
        key: Key::new(
            vendor_pk(&vendor.id),
            format!("OPENREQUEST#{}", ticket.order_id),
        ),
        condition: Condition::Always,
    }
}

type Executed = (TicketNews, Vec<Write>, Vec<ProviderTask>);

/// Why `request_refund` refused, as the notice says it.
fn not_executable(error: &RefundError) -> NotExecutableWhy {
    match error {
        RefundError::NothingToRefund => NotExecutableWhy::NothingToRefund,
        RefundError::WindowPassed => NotExecutableWhy::WindowPassed,
        _ => NotExecutableWhy::NotRefundable,
    }
}

/// R-T5 with R-R2/R-R3: whatever the balance; the window was checked when it was requested.
fn execute_refund(
    ports: Ports<'_>,
    vendor: &Vendor,
    ticket: &Ticket,
    context: &mut OrderContext,
    balance_guard: Option<&Item>,
    now: DateTime<Utc>,
) -> Result<Executed, UseCaseError> {
    let plan = match super::requested_refund(ticket, &context.order) {
        Ok(plan) => plan,
        // R-O10: a chargeback is open: the request closes without a refund, and says why.
        Err(RefundError::Disputed) => {
            return Ok((TicketNews::ClosedDisputed, Vec::new(), Vec::new()));
        }
        // Refunded meanwhile (the vendor did it), the window passed: it says why.
        Err(error) => {
            let why = not_executable(&error);
            return Ok((TicketNews::NotExecutable { why }, Vec::new(), Vec::new()));
        }
    };
    let cause = RefundCause {
        origin: RefundOrigin::Ticket,
        reason: "refund request",
        ticket_id: Some(ticket.id.clone()),
        done_at_provider: None,
        ends_plan: true,
    };
    let (refund, writes, tasks) = refunds::execute(
        vendor,
        context,
        balance_guard,
        &plan,
        cause,
        now,
        ports.entropy,
    )?;
    let amount = refund.amount.to_string();
    let plan_ended = refund.ended_plan;
    let news = if refund.reaches_no_provider() {
        TicketNews::RefundInProgress { amount, plan_ended }
    } else {
        TicketNews::RefundExecuted { amount, plan_ended }
    };
    Ok((news, writes, tasks))
}

/// R-R4: no refund, no further charges; access lasts to the end of the paid period.
fn execute_cancellation(
    ports: Ports<'_>,
    vendor: &Vendor,
    context: &mut OrderContext,
    now: DateTime<Utc>,
) -> Result<(Vec<Write>, Option<ProviderTask>), UseCaseError> {
    let order = &mut context.order;
    order.cancel_plan(now);
    let mut writes = vec![Write::update(
        context.item.next(encode(&context.item.key, order)?),
    )];
    let event = DomainEvent {
        event_type: EventType::SubscriptionCancelled,
        detail: json!({ "order_id": order.id, "order_number": order.number }),
    };
    writes.push(
        enqueue(&vendor.id, Message::Event(event), now, ports.entropy).map_err(|source| {
            StoreError::Malformed {
                key: context.item.key.clone(),
                source,
            }
        })?,
    );
    let task =
        order
            .provider
            .subscription
            .clone()
            .map(|subscription| ProviderTask::CancelSubscription {
                order_id: order.id.clone(),
                subscription,
            });
    if let Some(task) = &task {
        writes.push(task_write(&vendor.id, task, now)?);
    }
    Ok((writes, task))
}
