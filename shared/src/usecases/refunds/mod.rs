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
use crate::domain::refunds::{Refund, RefundOrigin, RefundPlan, RefundState};
use crate::domain::vendors::Vendor;
use crate::domain::vendors::ledger::{EntryReason, immediate};
use crate::outbox::enqueue;
use crate::store::keys::{refund_key, vendor_pk};
use crate::store::{Item, Key, StoreError, Write};
use crate::usecases::orders::transactions::{self, Transaction, TransactionKind};
use crate::usecases::ports::{OrderContext, UseCaseError, encode};
use crate::usecases::refunds::provider_tasks::{ProviderTask, task_write};
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

/// The writes that execute `plan` on the loaded order (R-R5). `context.order` is changed in
/// place; the caller adds its own e-mails and commits everything in one transaction.
pub fn execute(
    vendor: &Vendor,
    context: &mut OrderContext,
    plan: &RefundPlan,
    cause: RefundCause<'_>,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
) -> Result<(Refund, Vec<Write>), UseCaseError> {
    let order = &mut context.order;
    let ended_plan = order
        .apply_refund(plan, cause.ends_plan, now)
        .map_err(|_| UseCaseError::NotFound)?;
    // Paid outside a provider (manual payments, R-O8): the vendor returns the money itself.
    let payment = order.provider.payment_intent.clone();
    let refund = Refund {
        id: RefundId::generate(now, entropy),
        vendor_id: vendor.id.clone(),
        order_id: order.id.clone(),
        amount: plan.amount,
        net: plan.net,
        tax: plan.tax,
        state: if payment.is_some() && cause.done_at_provider.is_none() {
            RefundState::Pending
        } else {
            RefundState::Succeeded
        },
        reason: cause.reason.to_string(),
        origin: cause.origin,
        ticket_id: cause.ticket_id,
        payment: payment.clone(),
        provider_refund: cause.done_at_provider.clone(),
        created_at: now,
        updated_at: now,
    };
    let debit = immediate(
        &vendor.id,
        plan.net.negated(),
        EntryReason::Refund,
        refund.id.as_str(),
        now,
        entropy,
    );
    let ledger_key = Key::new(vendor_pk(&vendor.id), format!("LEDGER#{}", debit.id));
    let key = refund_key(&vendor.id, &refund.id);
    let executed = DomainEvent {
        event_type: EventType::RefundExecuted,
        detail: json!({ "refund_id": refund.id, "order_id": order.id, "order_number": order.number, "amount": plan.amount, "full": plan.full }),
    };
    let history = Transaction {
        kind: TransactionKind::Refund,
        amount: plan.amount,
        provider: if payment.is_some() {
            "stripe"
        } else {
            "manual"
        }
        .into(),
        reference: refund.id.to_string(),
        at: now,
    };
    let to_store = |source| StoreError::Malformed {
        key: key.clone(),
        source,
    };
    let mut writes = vec![
        Write::update(context.item.next(encode(&context.item.key, order)?)),
        Write::create(Item::new(key.clone(), encode(&key, &refund)?)),
        Write::create(Item::new(ledger_key.clone(), encode(&ledger_key, &debit)?)),
        transactions::record(&vendor.id, &order.id, &history, entropy)?,
        enqueue(&vendor.id, Message::Event(executed), now, entropy).map_err(to_store)?,
    ];
    // A plan ended here stops at the provider too: no further charges.
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
    if let Some(payment) = payment.filter(|_| cause.done_at_provider.is_none()) {
        writes.push(task_write(
            &vendor.id,
            &ProviderTask::Refund {
                refund_id: refund.id.clone(),
                payment,
                amount: plan.amount,
                order_id: order.id.clone(),
            },
            now,
        )?);
    }
    Ok((refund, writes))
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
