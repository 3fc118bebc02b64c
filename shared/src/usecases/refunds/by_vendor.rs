//! `POST /api/orders/{id}/refunds` (R-R1): decided against the order and the available balance,
//! executed in one transaction (R-R5), then handed to the provider at once.

use crate::domain::clock::Budget;
use crate::domain::ids::OrderId;
use crate::domain::money::Money;
use crate::domain::refunds::{Refund, RefundError, RefundOrigin, vendor_refund};
use crate::domain::vendors::Vendor;
use crate::payments::PaymentProvider;
use crate::store::keys::refund_key;
use crate::usecases::ports::Ports;
use crate::usecases::ports::load_order;
use crate::usecases::ports::{UseCaseError, retry_on_contention};
use crate::usecases::refunds::provider_tasks;
use crate::usecases::refunds::{self, RefundCause};
use crate::usecases::vendors::balance;

#[derive(Debug, thiserror::Error)]
pub enum VendorRefundError {
    #[error(transparent)]
    Refused(RefundError),
    #[error(transparent)]
    UseCase(#[from] UseCaseError),
}

/// Refunds `requested` (everything refundable when `None`) of the order.
pub async fn refund_order(
    ports: Ports<'_>,
    provider: &dyn PaymentProvider,
    vendor: &Vendor,
    order_id: &OrderId,
    requested: Option<Money>,
    reason: &str,
) -> Result<Refund, VendorRefundError> {
    let store = ports.store;
    let decided = retry_on_contention(|| async {
        let now = ports.clock.now();
        // The guard, then the balance, then the order (consistent reads): a debit committed
        // after the guard was read moves it, so this commit fails and is decided again on the
        // new balance; one committed before shows in both the balance and the order.
        let guard = balance::read_guard(store, &vendor.id).await?;
        let balances = balance::balance(store, &vendor.id, now).await?;
        let mut context = load_order(store, &vendor.id, order_id).await?;
        let currency = context.order.total.currency();
        let available = balances
            .iter()
            .find(|b| b.currency == currency)
            .and_then(|b| Money::new(b.available, currency).ok())
            .unwrap_or(Money::zero(currency));
        let plan = match vendor_refund(&context.order, requested, available, now) {
            Ok(plan) => plan,
            Err(refused) => return Ok(Err(refused)),
        };
        let cause = RefundCause {
            origin: RefundOrigin::Vendor,
            reason,
            ticket_id: None,
            done_at_provider: None,
            ends_plan: false,
        };
        let (refund, mut writes, tasks) =
            refunds::execute(vendor, &mut context, guard.as_ref(), &plan, cause, now, ports.entropy)?;
        writes.extend(refunds::confirmations(vendor, &context, &refund, now, ports.entropy)?);
        store.transact(writes).await?;
        tracing::info!(vendor_id = %vendor.id, order_id = %order_id, refund_id = %refund.id, amount = %refund.amount, "refund executed");
        Ok(Ok((refund, tasks)))
    })
    .await?
    .map_err(VendorRefundError::Refused)?;
    let (decided, tasks) = decided;
    for task in &tasks {
        // The task is committed: a failure here is retried by the sweeps, never lost.
        if let Err(error) =
            provider_tasks::run_now(ports, provider, &vendor.id, task, Budget::unbounded()).await
        {
            tracing::warn!(refund_id = %decided.id, error = %error, "provider refund left to the sweeps");
        }
    }
    Ok(store
        .get(&refund_key(&vendor.id, &decided.id))
        .await
        .map_err(UseCaseError::from)?
        .map(|item| item.decode())
        .transpose()
        .map_err(UseCaseError::from)?
        .unwrap_or(decided))
}
