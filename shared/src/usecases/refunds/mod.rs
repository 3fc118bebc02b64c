//! Refunds and cancellations. Beside this file: vendor refunds (`by_vendor`), the calls owed to
//! the provider — refunds and plan cancellations — (`provider_tasks`), and the provider's word on
//! a refund (`settle`).
//!
//! Executing refunds (R-R1, R-R5): the order, the refund record, the ledger debit, the call to
//! the provider still to make, the confirmations and `refund.executed` commit in one transaction
//! on the order's version — two concurrent refunds of the same money cannot both commit; the one
//! that loses re-reads the order and finds it refunded.

pub mod by_vendor;
pub mod provider_tasks;
pub mod settle;

use crate::domain::ids::{Entropy, RefundId, TicketId};
use crate::domain::notifications::emails::{RefundNotice, refund_confirmation};
use crate::domain::notifications::{DomainEvent, EventType, Message};
use crate::domain::orders::payments::PaymentSource;
use crate::domain::refunds::{Refund, RefundOrigin, RefundPlan, RefundState, RefundedPart};
use crate::domain::vendors::Vendor;
use crate::domain::vendors::ledger::{EntryReason, immediate};
use crate::outbox::enqueue;
use crate::store::keys::refund_key;
use crate::store::{Item, StoreError, Write};
use crate::usecases::orders::transactions::{self, Transaction, TransactionKind};
use crate::usecases::ports::{OrderContext, UseCaseError, encode};
use crate::usecases::refunds::provider_tasks::{ProviderTask, task_write};
use crate::usecases::vendors::balance;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Why and by whom a refund is made.
pub struct RefundCause<'a> {
    pub origin: RefundOrigin,
    pub reason: &'a str,
    pub ticket_id: Option<TicketId>,
    /// Made at the provider already (a dashboard refund we learn from its webhook): nothing to
    /// start there, and it succeeded.
    pub done_at_provider: Option<String>,
    /// A customer's refund of a plan's charge ends the plan (R-R3); a vendor's only when full.
    pub ends_plan: bool,
}

/// The writes that execute `plan` on the loaded order (R-R5), and the provider calls they owe
/// (already among the writes; the caller may run them at once). `context.order` is changed in
/// place; the caller adds its own e-mails and commits everything in one transaction.
///
/// Each part goes back the way its money came: a provider payment by a refund at that provider
/// against the payment's own reference (pending until the provider confirms it), money paid by
/// hand by the vendor (succeeded at once, no call, no ledger debit: R-O8 credited nothing). The
/// ledger is debited the net of the provider parts.
pub fn execute(
    vendor: &Vendor,
    context: &mut OrderContext,
    // The vendor's balance guard as read before the balance (R-R1).
    balance_guard: Option<&Item>,
    plan: &RefundPlan,
    cause: RefundCause<'_>,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<(Refund, Vec<Write>, Vec<ProviderTask>), UseCaseError> {
    let status_before = context.order.status;
    let order = &mut context.order;
    let handles: Vec<Option<String>> = plan
        .parts
        .iter()
        .map(|part| {
            order
                .payments
                .iter()
                .find(|p| p.key == part.payment)
                .and_then(|p| p.refund_handle())
                .map(str::to_string)
        })
        .collect();
    let ended_plan = order
        .apply_refund(plan, cause.ends_plan, now)
        .map_err(|_| UseCaseError::NotFound)?;
    let id = RefundId::generate(now, entropy);
    let parts: Vec<RefundedPart> = plan
        .parts
        .iter()
        .zip(handles)
        .map(|(part, handle)| {
            let by_hand = part.source == PaymentSource::Manual;
            RefundedPart {
                part: part.clone(),
                handle,
                state: if by_hand || cause.done_at_provider.is_some() {
                    RefundState::Succeeded
                } else {
                    RefundState::Pending
                },
                provider_refund: cause.done_at_provider.clone().filter(|_| !by_hand),
            }
        })
        .collect();
    let refund = Refund {
        id,
        vendor_id: vendor.id.clone(),
        order_id: order.id.clone(),
        amount: plan.amount,
        net: plan.net,
        tax: plan.tax,
        state: Refund::combined_state(&parts),
        reason: cause.reason.to_string(),
        origin: cause.origin,
        ticket_id: cause.ticket_id,
        parts,
        ended_plan,
        created_at: now,
        updated_at: now,
    };
    let debit = plan.debit().map_err(|_| UseCaseError::NotFound)?;
    let key = refund_key(&vendor.id, &refund.id);
    let executed = DomainEvent {
        event_type: EventType::RefundExecuted,
        detail: json!({ "refund_id": refund.id, "order_id": order.id, "order_number": order.number, "amount": plan.amount, "full": plan.full }),
    };
    let to_store = |source| StoreError::Malformed {
        key: key.clone(),
        source,
    };
    let mut writes = vec![
        Write::update(context.item.next(encode(&context.item.key, order)?)),
        Write::create(Item::new(key.clone(), encode(&key, &refund)?)),
        enqueue(&vendor.id, Message::Event(executed), now, entropy).map_err(to_store)?,
    ];
    // Money paid by hand was never credited (R-O8): only the provider parts are debited.
    if !debit.is_zero() {
        let entry = immediate(
            &vendor.id,
            debit.negated(),
            EntryReason::Refund,
            refund.id.as_str(),
            now,
            entropy,
        );
        writes.push(crate::usecases::vendors::balance::entry_write(&entry)?);
        // Every debit moves the guard: a concurrent balance-checked refund decides again.
        writes.push(balance::guard_write(
            &vendor.id,
            balance_guard,
            refund.id.as_str(),
            now,
        ));
    }
    for part in &refund.parts {
        let history = Transaction {
            kind: TransactionKind::Refund,
            amount: part.part.amount,
            provider: part_provider(part.part.source).into(),
            reference: refund.id.to_string(),
            at: now,
        };
        writes.push(transactions::record(
            &vendor.id, &order.id, &history, entropy,
        )?);
    }
    // A plan ended here is announced (issue 16, item 3) and stops at the provider too.
    if ended_plan {
        let cancelled = DomainEvent {
            event_type: EventType::SubscriptionCancelled,
            detail: json!({ "order_id": order.id, "order_number": order.number, "by_refund": refund.id }),
        };
        writes
            .push(enqueue(&vendor.id, Message::Event(cancelled), now, entropy).map_err(to_store)?);
    }
    if let Some(subscription) = order.provider.subscription.clone().filter(|_| ended_plan) {
        writes.push(task_write(
            &vendor.id,
            &ProviderTask::CancelSubscription {
                order_id: order.id.clone(),
                subscription,
            },
            now,
        )?);
    }
    let mut tasks = Vec::new();
    if cause.done_at_provider.is_none() {
        for (index, part) in refund.parts.iter().enumerate() {
            if part.part.source == PaymentSource::Manual {
                continue;
            }
            let task = ProviderTask::Refund {
                refund_id: refund.id.clone(),
                part: u32::try_from(index).unwrap_or(u32::MAX),
                source: part.part.source,
                payment: part.handle.clone(),
                amount: part.part.amount,
                order_id: order.id.clone(),
            };
            writes.push(task_write(&vendor.id, &task, now)?);
            tasks.push(task);
        }
    }
    // R-C5: an order whose money all went back is no longer a paid order of its customer.
    writes
        .extend(context.paid_order_count_write(status_before, vendor.regular_customer_threshold)?);
    Ok((refund, writes, tasks))
}

fn part_provider(source: PaymentSource) -> &'static str {
    match source {
        PaymentSource::Stripe => "stripe",
        PaymentSource::Paypal => "paypal",
        PaymentSource::Manual => "manual",
    }
}

/// The plain confirmations of a refund made without a ticket, to the customer and the vendor.
pub fn confirmations(
    vendor: &Vendor,
    context: &OrderContext,
    refund: &Refund,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<Vec<Write>, StoreError> {
    let customer = &context.customer;
    let customer_language = customer
        .language
        .clone()
        .unwrap_or_else(|| vendor.default_language.clone());
    let amount = refund.amount.to_string();
    let notices = [
        (
            context.order.recipient(customer),
            customer_language.as_str(),
        ),
        (vendor.ticket_email(), vendor.default_language.as_str()),
    ];
    notices
        .into_iter()
        .map(|(to, language)| {
            let email = refund_confirmation(&RefundNotice {
                to,
                language,
                vendor_name: &vendor.name,
                order_number: &context.order.number,
                amount: &amount,
                in_progress: refund.reaches_no_provider(),
                plan_ended: refund.ended_plan,
            });
            enqueue(&vendor.id, Message::Email(email), now, entropy).map_err(|source| {
                StoreError::Malformed {
                    key: context.item.key.clone(),
                    source,
                }
            })
        })
        .collect()
}
