//! The provider's word on a refund (R-R5): accepted, succeeded or failed, recorded once; a
//! failure gives the money back to the order and the ledger and tells the vendor.

use crate::domain::ids::{RefundId, VendorId};
use crate::domain::notifications::Message;
use crate::domain::notifications::emails::{RefundNotice, refund_failed};
use crate::domain::refunds::{Refund, RefundState};
use crate::domain::vendors::ledger::{EntryReason, immediate};
use crate::outbox::enqueue;
use crate::store::keys::{refund_key, vendor_pk};
use crate::store::{Item, Key, StoreError, Write};
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

/// Records the provider's word on a refund, once: a failure reverses the ledger debit and the
/// order's refunded amount, and tells the vendor. Answers whether anything changed.
pub async fn settle(
    ports: Ports<'_>,
    vendor_id: &VendorId,
    refund_id: &RefundId,
    settlement: Settlement,
    provider_refund: Option<String>,
) -> Result<bool, UseCaseError> {
    let store = ports.store;
    retry_on_contention(|| async {
        let now = ports.clock.now();
        let Some(item) = store.get(&refund_key(vendor_id, refund_id)).await? else {
            return Err(UseCaseError::NotFound);
        };
        let mut refund: Refund = item.decode()?;
        let before = refund.clone();
        if refund.provider_refund.is_none() {
            refund.provider_refund = provider_refund.clone();
        }
        let mut writes = Vec::new();
        // Failed is final; a succeeded refund can still fail later (some payment methods).
        match (refund.state, settlement) {
            (RefundState::Pending, Settlement::Succeeded) => refund.state = RefundState::Succeeded,
            (RefundState::Pending | RefundState::Succeeded, Settlement::Failed) => {
                refund.state = RefundState::Failed;
                writes.extend(reversal(ports, &refund, now).await?);
            }
            _ => {}
        }
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

/// R-R5: a failed provider refund gives the money back to the order and the ledger.
async fn reversal(
    ports: Ports<'_>,
    refund: &Refund,
    now: DateTime<Utc>,
) -> Result<Vec<Write>, UseCaseError> {
    let vendor = load_vendor(ports.store, &refund.vendor_id).await?;
    let mut context = load_order(ports.store, &vendor.id, &refund.order_id).await?;
    context
        .order
        .reverse_refund(refund.amount, now)
        .map_err(|_| UseCaseError::NotFound)?;
    let credit = immediate(
        &vendor.id,
        refund.net,
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
        amount: &refund.amount.to_string(),
    });
    let to_store = |source| StoreError::Malformed {
        key: ledger_key.clone(),
        source,
    };
    Ok(vec![
        Write::update(
            context
                .item
                .next(encode(&context.item.key, &context.order)?),
        ),
        Write::create(Item::new(ledger_key.clone(), encode(&ledger_key, &credit)?)),
        enqueue(&vendor.id, Message::Email(notice), now, ports.entropy).map_err(to_store)?,
    ])
}
