//! The provider's word on a refund (R-R5): accepted, succeeded or failed, recorded once; a
//! failure gives the money back to the order and the ledger and tells the vendor.

use crate::domain::ids::{RefundId, VendorId};
use crate::domain::notifications::Message;
use crate::domain::notifications::emails::{RefundNotice, refund_failed};
use crate::domain::orders::payments::PaymentSource;
use crate::domain::refunds::{Refund, RefundPart, RefundState};
use crate::domain::vendors::ledger::{EntryReason, immediate};
use crate::outbox::enqueue;
use crate::store::keys::{refund_key, vendor_pk};
use crate::store::{Key, StoreError, Write};
use crate::usecases::ports::{
    Ports, UseCaseError, encode, load_order, load_vendor, retry_on_contention,
};
use chrono::{DateTime, Utc};

/// What the provider said about a refund (R-R5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// It took the request; the outcome comes later.
    Accepted,
    Succeeded,
    Failed,
}

/// Which part of a refund the provider speaks of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartRef {
    /// Our own call's part (the task's, or the refund's `refund_part` metadata).
    Index(u32),
    /// The provider's refund id, for a report that names no part: the part it was given to, else
    /// the first provider part not yet given one, else the refund's only provider part.
    ProviderRefund(String),
}

/// Records the provider's word on one part of a refund, once: a failure gives that part's money
/// back to the order and the ledger and tells the vendor. Answers whether anything changed.
pub async fn settle(
    ports: Ports<'_>,
    vendor_id: &VendorId,
    refund_id: &RefundId,
    part: PartRef,
    settlement: Settlement,
    provider_refund: Option<String>,
    // When the provider said so (its event's time); `None`: now.
    reported_at: Option<DateTime<Utc>>,
) -> Result<bool, UseCaseError> {
    let store = ports.store;
    retry_on_contention(|| async {
        let now = ports.clock.now();
        let Some(item) = store.get(&refund_key(vendor_id, refund_id)).await? else {
            return Err(UseCaseError::NotFound);
        };
        let mut refund: Refund = item.decode()?;
        let before = refund.clone();
        let index = match &part {
            PartRef::Index(index) => usize::try_from(*index).ok(),
            PartRef::ProviderRefund(id) => refund
                .parts
                .iter()
                .position(|p| p.provider_refund.as_deref() == Some(id))
                .or_else(|| {
                    refund.parts.iter().position(|p| {
                        p.provider_refund.is_none() && p.part.source != PaymentSource::Manual
                    })
                })
                .or_else(|| {
                    // Our refund id with one provider part: the report is about that part.
                    let mut provider_parts = refund
                        .parts
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.part.source != PaymentSource::Manual);
                    match (provider_parts.next(), provider_parts.next()) {
                        (Some((index, _)), None) => Some(index),
                        _ => None,
                    }
                }),
        };
        let Some(target) = index.and_then(|index| refund.parts.get_mut(index)) else {
            return Err(UseCaseError::NotFound);
        };
        if target.part.source == PaymentSource::Manual {
            return Ok(false);
        }
        if target.provider_refund.is_none() {
            target.provider_refund = provider_refund.clone();
        }
        let mut writes = Vec::new();
        // Failed is final; a succeeded refund can still fail later (some payment methods).
        match (target.state, settlement) {
            (RefundState::Pending, Settlement::Succeeded) => target.state = RefundState::Succeeded,
            (RefundState::Pending | RefundState::Succeeded, Settlement::Failed) => {
                target.state = RefundState::Failed;
                let failed = target.part.clone();
                let failed_at = reported_at.unwrap_or(now);
                writes.extend(reversal(ports, &refund, &failed, failed_at, now).await?);
            }
            _ => {}
        }
        refund.state = Refund::combined_state(&refund.parts);
        if refund == before {
            return Ok(false);
        }
        refund.updated_at = now;
        writes.push(Write::update(item.next(encode(&item.key, &refund)?)));
        store.transact(writes).await?;
        Ok(true)
    })
    .await
}

/// R-R5: a failed provider refund gives the part's money back to the order and its net to the
/// ledger, and tells the vendor.
async fn reversal(
    ports: Ports<'_>,
    refund: &Refund,
    part: &RefundPart,
    failed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Write>, UseCaseError> {
    let vendor = load_vendor(ports.store, &refund.vendor_id).await?;
    let mut context = load_order(ports.store, &vendor.id, &refund.order_id).await?;
    let status_before = context.order.status;
    context
        .order
        .reverse_refund(part, failed_at, now)
        .map_err(|_| UseCaseError::NotFound)?;
    let customer_write =
        context.paid_order_count_write(status_before, vendor.regular_customer_threshold)?;
    let credit = immediate(
        &vendor.id,
        part.net,
        EntryReason::RefundReversal,
        refund.id.as_str(),
        now,
        ports.entropy,
    );
    let ledger_key = Key::new(vendor_pk(&vendor.id), format!("LEDGER#{}", credit.id));
    let notice = refund_failed(&RefundNotice {
        to: vendor.ticket_email(),
        language: &vendor.default_language,
        vendor_name: &vendor.name,
        order_number: &context.order.number,
        amount: &part.amount.to_string(),
        in_progress: false,
        plan_ended: false,
    });
    let failed = crate::domain::notifications::DomainEvent {
        event_type: crate::domain::notifications::EventType::RefundFailed,
        detail: serde_json::json!({ "refund_id": refund.id, "order_id": refund.order_id, "order_number": context.order.number, "amount": part.amount }),
    };
    let to_store = |source| StoreError::Malformed {
        key: ledger_key.clone(),
        source,
    };
    let mut writes = vec![
        Write::update(
            context
                .item
                .next(encode(&context.item.key, &context.order)?),
        ),
        crate::usecases::vendors::balance::entry_write(&credit)?,
        enqueue(&vendor.id, Message::Email(notice), now, ports.entropy).map_err(to_store)?,
        enqueue(&vendor.id, Message::Event(failed), now, ports.entropy).map_err(to_store)?,
    ];
    writes.extend(customer_write);
    Ok(writes)
}
